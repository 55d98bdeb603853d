"""Cosine decay from the rate an LR range test suggests, down to 0 at the end."""

import argparse

from _common import digits, small_model
from lrdecay import CosineDecay, find_lr

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--plot", default=None, help="write the range test's PNG here")
args = parser.parse_args()
(x, y), validation = digits()

model = small_model()
result = find_lr(model, x, y)  # restores the model's weights afterwards
print(
    f"LR range test: {len(result.lrs)} batches, loss lowest at lr "
    f"{result.min_loss_lr:.3g}; suggested initial lr {result.suggested_lr:.3g}"
)
if args.plot:
    print("plot:", result.plot(args.plot))

decay = CosineDecay(initial_lr=result.suggested_lr, decay_epochs=args.epochs)
print("planned:", [round(lr, 5) for lr in decay.curve(args.epochs)])
history = model.fit(
    x,
    y,
    validation_data=validation,
    epochs=args.epochs,
    batch_size=64,
    callbacks=[decay],
    verbose=0,
)
rates = decay.lr_history
for (epoch, lr), accuracy in zip(rates, history.history["val_accuracy"], strict=True):
    print(f"epoch {epoch:3d}  lr {lr:.5f}  val_accuracy {accuracy:.4f}")

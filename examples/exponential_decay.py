"""Exponential decay with a 3-epoch linear warm-up: lr = 0.05 * exp(-0.1 * epoch)."""

from _common import digits, epochs_argument, small_model
from lrdecay import ExponentialDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
decay = ExponentialDecay(initial_lr=0.05, k=0.1, warmup_epochs=3, min_lr=1e-4)

model = small_model()
history = model.fit(
    x,
    y,
    validation_data=validation,
    epochs=epochs,
    batch_size=64,
    callbacks=[decay],
    verbose=0,
)
for (epoch, lr), accuracy in zip(
    decay.lr_history, history.history["val_accuracy"], strict=True
):
    print(f"epoch {epoch:3d}  lr {lr:.5f}  val_accuracy {accuracy:.4f}")

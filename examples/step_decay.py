"""Step decay: halve the learning rate every 10 epochs."""

from _common import digits, epochs_argument, small_model
from lrdecay import StepDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
decay = StepDecay(initial_lr=0.05, drop=0.5, epochs_drop=10)
print("planned:", [round(lr, 5) for lr in decay.curve(epochs)])

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
rates = decay.lr_history
for (epoch, lr), accuracy in zip(rates, history.history["val_accuracy"], strict=True):
    print(f"epoch {epoch:3d}  lr {lr:.5f}  val_accuracy {accuracy:.4f}")

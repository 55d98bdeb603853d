"""A step schedule and a plateau rule in one fit: reductions multiply the schedule."""

from _common import digits, epochs_argument, small_model
from lrdecay import PlateauDecay, StepDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
step = StepDecay(initial_lr=0.05, drop=0.5, epochs_drop=10)
plateau = PlateauDecay(monitor="val_loss", factor=0.5, patience=2)

model = small_model()
model.fit(
    x,
    y,
    validation_data=validation,
    epochs=epochs,
    batch_size=64,
    callbacks=[step, plateau],
    verbose=0,
)
reduced_after = {event.epoch for event in plateau.decay_events}
for (epoch, lr), scheduled in zip(step.lr_history, step.curve(epochs), strict=True):
    note = "  <- plateau reduction" if epoch in reduced_after else ""
    print(f"epoch {epoch:3d}  schedule {scheduled:.5f}  applied {lr:.5f}{note}")

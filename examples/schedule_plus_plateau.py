"""A step schedule and a plateau rule in one fit: reductions multiply the schedule.

The step schedule halves the rate every 10 epochs; the plateau rule halves it
again whenever val_loss has not improved for 2 epochs, and from then on every
scheduled rate is multiplied by what the plateau took away.
"""

from _common import digits, epochs_argument, small_model
from lrdecay import PlateauDecay, StepDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
step = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=10)
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
    note = "  <- plateau reduction after this epoch" if epoch in reduced_after else ""
    print(f"epoch {epoch:3d}  schedule {scheduled:.5f}  applied {lr:.5f}{note}")
print(
    f"{len(reduced_after)} plateau reduction(s); each one multiplies every later "
    "scheduled rate by 0.5"
)

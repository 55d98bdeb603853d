"""Plateau decay: halve the learning rate when val_loss stalls for 2 epochs.

SGD at 0.2 with momentum learns the digits fast and then wobbles: val_loss
stops improving within ten epochs, and the rule halves the rate each time it
has not improved for 2 epochs (Keras' ReduceLROnPlateau semantics).
"""

from _common import digits, epochs_argument, small_model
from lrdecay import PlateauDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
plateau = PlateauDecay(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-4)

model = small_model(learning_rate=0.2)
model.fit(
    x,
    y,
    validation_data=validation,
    epochs=epochs,
    batch_size=64,
    callbacks=[plateau],
    verbose=0,
)
print("rates:", [round(lr, 6) for _, lr in plateau.lr_history])
for event in plateau.decay_events:
    print(
        f"epoch {event.epoch}: val_loss {event.monitor_value:.4f} stalled for "
        f"{plateau.patience} epochs, lr {event.old_lr:.6f} -> {event.new_lr:.6f}"
    )
if not plateau.decay_events:
    print(f"no reduction in {epochs} epochs: val_loss kept improving")

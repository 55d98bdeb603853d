"""Plateau decay: cut the learning rate by 10x when val_loss stalls for 3 epochs."""

from _common import digits, epochs_argument, small_model
from lrdecay import PlateauDecay

epochs = epochs_argument(default=30)
(x, y), validation = digits()
plateau = PlateauDecay(monitor="val_loss", factor=0.1, patience=3, min_lr=1e-5)

model = small_model(learning_rate=0.05)
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
        f"epoch {event.epoch}: val_loss {event.monitor_value:.4f} stalled, "
        f"lr {event.old_lr:.6f} -> {event.new_lr:.6f}"
    )

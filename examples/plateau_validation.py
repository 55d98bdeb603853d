"""Validation-driven decay: which plateau patience gives the best val_loss?

The seed workflow, by hand: one fit per patience, each cutting the rate by 5x
when val_loss has not improved by at least 0.005 for `patience` epochs, each
tracked as an MLflow run (./mlflow.db), the best patience chosen by
validation loss. A search does the same in one command:

    lrdecay search --kinds plateau --decay-epochs 1,2,4 --epochs 20
"""

import argparse

from _common import digits, small_model
from lrdecay import MlflowLogger, PlateauDecay

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--patience", default="1,2,4", help="comma-separated grid")
args = parser.parse_args()
patiences = [int(value) for value in args.patience.split(",")]

(x, y), validation = digits()
results = []
for patience in patiences:
    plateau = PlateauDecay(
        monitor="val_loss",
        factor=0.2,
        patience=patience,
        min_delta=0.005,
        min_lr=1e-4,
    )
    logger = MlflowLogger(
        experiment_name="plateau_validation",
        run_name=f"plateau-patience-{patience}",
        tags={"example": "plateau_validation"},
    )
    model = small_model(learning_rate=0.05)
    history = model.fit(
        x,
        y,
        validation_data=validation,
        epochs=args.epochs,
        batch_size=64,
        callbacks=[plateau, logger],
        verbose=0,
    )
    best_val_loss = min(history.history["val_loss"])
    results.append((best_val_loss, patience, plateau.decay_events, logger.fit_run_id))

print(f"{'patience':>8}  {'best val_loss':>13}  reductions (epoch: old -> new lr)")
for best_val_loss, patience, events, _ in sorted(results):
    cuts = ", ".join(f"{e.epoch}: {e.old_lr:.4g} -> {e.new_lr:.4g}" for e in events)
    print(f"{patience:>8}  {best_val_loss:>13.4f}  {cuts or 'none'}")
best_val_loss, patience, _, run_id = min(results)
print(f"best: patience={patience} (val_loss {best_val_loss:.4f}), MLflow run {run_id}")
print("see them all: mlflow ui --backend-store-uri sqlite:///mlflow.db")

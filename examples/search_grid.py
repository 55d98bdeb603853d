"""Grid search of the decay: every kind x decay epochs [10, 20, 30, 50].

The seed workflow (a hand-written loop over decay epochs, keeping the best
validation loss) as one KerasTuner grid search, each trial an MLflow run
under one parent run. `--epochs 4 --decay-epochs 1,2` makes it a quick demo.
Run it again with `--resume` after an interruption to continue the search.
"""

import argparse

from _common import digits, small_model
from lrdecay import search

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--decay-epochs", default="10,20,30,50")
parser.add_argument("--kinds", default="step,exponential,plateau")
parser.add_argument("--max-trials", type=int, default=None)
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--tracking-uri", default=None)
parser.add_argument("--project-dir", default="lrdecay_project")
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()

(x, y), validation = digits()
result = search(
    lambda: small_model(learning_rate=0.05),
    x,
    y,
    validation_data=validation,
    algorithm="grid",
    kinds=tuple(args.kinds.split(",")),
    decay_epochs=[int(value) for value in args.decay_epochs.split(",")],
    epochs=args.epochs,
    max_trials=args.max_trials,
    batch_size=args.batch_size,
    project_dir=args.project_dir,
    project_name="search_grid",
    tuner_options={"overwrite": not args.resume},
    tracking=args.tracking_uri or True,
    progress=lambda e: print(
        f"trial {e.index}/{e.total} {e.trial_id} {e.kind} {e.settings} "
        f"{e.status} val_loss={e.score} (best {e.best_trial_id}: {e.best_score})"
    ),
)
print("best decay:", result.winner.decay, "val_loss:", round(result.winner.score, 4))
print("MLflow parent run:", result.parent_run_id)

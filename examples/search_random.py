"""Random search of the decay epochs over randint(10, 50), per decay kind.

KerasTuner's random search draws the decay epochs from the integer range
10..50 (`lrdecay.Range(10, 50)`); each trial is one MLflow run. The
flags shrink it for a quick demo: `--epochs 4 --low 1 --high 3 --max-trials 2`.
"""

import argparse

from _common import digits, small_model
from lrdecay import Range, search

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--low", type=int, default=10)
parser.add_argument("--high", type=int, default=50)
parser.add_argument("--kinds", default="step,exponential,plateau")
parser.add_argument("--max-trials", type=int, default=6)
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--seed", type=int, default=0)
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
    algorithm="random",
    kinds=tuple(args.kinds.split(",")),
    decay_epochs=Range(args.low, args.high),
    epochs=args.epochs,
    max_trials=args.max_trials,
    seed=args.seed,
    batch_size=args.batch_size,
    project_dir=args.project_dir,
    project_name="search_random",
    tuner_options={"overwrite": not args.resume},
    tracking=args.tracking_uri or True,
)
for trial in result.trials:
    print(trial.trial_id, trial.status, trial.kind, trial.settings, trial.score)
print("best decay:", result.winner.decay, "val_loss:", round(result.winner.score, 4))

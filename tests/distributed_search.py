"""One process of a distributed `lrdecay.search` (chief or worker), for tests.

The role comes from KerasTuner's variables (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); MLflow from
`MLFLOW_TRACKING_URI`. Every process of a search runs the same command:

```
python tests/distributed_search.py --project-name NAME --project-dir DIR \
    --experiment EXP [--epochs 3] [--stall-marker FILE]
```

Prints `FIT <tuner id>` when a trial's fit starts and, at the end,
`LRDECAY_RESULT <json>` (the chief: every trial's hyperparameters). Exits 3
when the search has already ended (`SearchEndedError`), 4 when the chief
stopped answering (`ChiefUnreachableError`). With `--stall-marker`
the process writes that file after its first epoch and then hangs, so a test
can kill it mid-trial; `--wait-for FILE` holds the search until FILE exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-name", required=True)
    parser.add_argument("--project-dir", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--kinds", default="step,exponential")
    parser.add_argument("--decay-epochs", default="1,2")
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--stall-marker", default=None)
    parser.add_argument("--wait-for", default=None)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    # One thread per process: the benchmark compares 1 and 2 workers.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    import lrdecay
    from lrdecay.tuning import distributed

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    y = y.astype("int32")
    x_train, y_train = x[: args.samples], y[: args.samples]
    x_val, y_val = x[1400:], y[1400:]
    tuner_id = os.environ.get(distributed.TUNER_ID_ENV, "single")

    def build_model() -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    from lrdecay.tuning.data.user_callbacks import StatelessCallback

    # Stateless harness callbacks: the trials still share prefixes.
    class Announce(StatelessCallback):
        def on_train_begin(self, logs: Any = None) -> None:
            print(f"FIT {tuner_id} {time.time():.3f}", flush=True)

    class Stall(StatelessCallback):
        """Hang after the first epoch, once the trial's run is RUNNING."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            marker = str(args.stall_marker)
            with open(marker + ".tmp", "w") as file:
                file.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
            time.sleep(3600)

    if args.wait_for:
        print(f"READY {tuner_id}", flush=True)
        # Start the search only once another process has reached a point.
        deadline = time.monotonic() + 600
        while not os.path.exists(args.wait_for) and time.monotonic() < deadline:
            time.sleep(0.2)
    callbacks: list[Any] = [Announce()]
    if args.stall_marker:
        callbacks.append(Stall())
    try:
        # This script owns its process: a gone chief interrupts it at once.
        with distributed.on_chief_gone(distributed.interrupt_or_exit):
            result = lrdecay.search(
                build_model,
                x_train,
                y_train,
                validation_data=(x_val, y_val),
                algorithm="grid",
                kinds=tuple(args.kinds.split(",")),
                decay_epochs=[int(value) for value in args.decay_epochs.split(",")],
                epochs=args.epochs,
                batch_size=32,
                seed=0,
                # These tests count the grid's trials; the control has its own tests.
                control=False,
                project_dir=args.project_dir,
                project_name=args.project_name,
                tracking={"experiment_name": args.experiment},
                callbacks=callbacks,
            )
    except distributed.SearchEndedError as error:
        print(f"SEARCH ENDED: {error}", file=sys.stderr, flush=True)
        return 3
    except distributed.ChiefUnreachableError as error:
        print(f"CHIEF GONE: {error}", file=sys.stderr, flush=True)
        return 4
    summary: dict[str, Any] = {
        "tuner_id": tuner_id,
        "parent_run_id": result.parent_run_id,
        "best_trial_id": "" if result.winner is None else result.winner.trial_id,
        "trials": {},
    }
    # A worker's oracle is the chief's, over gRPC: it has no `trials`.
    trials = getattr(result.tuner.oracle, "trials", None) or {}
    summary["trials"] = {
        trial_id: {"status": trial.status, "values": dict(trial.hyperparameters.values)}
        for trial_id, trial in trials.items()
    }
    print("LRDECAY_RESULT " + json.dumps(summary, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared-prefix grid vs independent runs: epochs trained and wall time.

    PYTHONPATH=plugin python benchmarks/bench_prefix.py [--quick]

Grids (digits, the CLI's default model: Dense(32) + SGD(0.1), batch 32, seed 0):
- step+plateau over decay epochs [10, 20, 30, 50] at 60 epochs (8 runs);
- the default search, step/exponential/plateau x [5, 10, 20, 30] at 40 epochs,
  plus the constant-rate control (13 runs).
Both sides use `EpochOrderedData`; the shared side's histories are checked
against the independent ones (relative 1e-5). One run each, not interleaved:
ratios, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pytest

from lrdecay import ExponentialDecay, PlateauDecay, StepDecay

# The trainer the tests check a branch with (not part of the library).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from prefix_trainer import train_independent, train_shared_prefix

LR = 0.1


def build_model():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LR),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def grid(kinds, decay_epochs, control):
    decays = []
    for kind in kinds:
        for epochs in decay_epochs:
            if kind == "step":
                decays.append(StepDecay(initial_lr=LR, drop=0.5, epochs_drop=epochs))
            elif kind == "exponential":
                decays.append(ExponentialDecay(initial_lr=LR, half_life=epochs))
            else:
                decays.append(PlateauDecay(factor=0.5, patience=epochs))
    if control:
        decays.append(StepDecay(initial_lr=LR, drop=1.0, epochs_drop=1))
    return decays


def measure(name, decays, epochs, data):
    x, y, x_val, y_val = data
    args = {
        "validation_data": (x_val, y_val),
        "epochs": epochs,
        "seed": 0,
        "batch_size": 32,
    }
    start = time.perf_counter()
    shared = train_shared_prefix(build_model, decays, x, y, **args)
    shared_seconds = time.perf_counter() - start
    start = time.perf_counter()
    independent = [
        train_independent(build_model, d, x, y, **args) for d in grid_copy(decays)
    ]
    independent_seconds = time.perf_counter() - start
    for branch, history in zip(shared.branches, independent, strict=True):
        for mine, theirs in zip(branch.history, history, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-5)
    row = {
        "grid": name,
        "runs": len(decays),
        "departures": [b.departure for b in shared.branches],
        "epochs_trained": shared.epochs_trained,
        "epochs_independent": shared.epochs_independent,
        "epochs_ratio": round(shared.epochs_trained / shared.epochs_independent, 3),
        "shared_seconds": round(shared_seconds, 1),
        "independent_seconds": round(independent_seconds, 1),
        "time_ratio": round(shared_seconds / independent_seconds, 3),
    }
    print(json.dumps(row), flush=True)


def grid_copy(decays):
    import copy

    return [copy.deepcopy(d) for d in decays]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    # About the search's 60/20/20 split.
    data = (x[:1078], y[:1078], x[1078:1437], y[1078:1437])
    measure(
        "default step/exponential/plateau x [5,10,20,30] + control @40",
        grid(("step", "exponential", "plateau"), (5, 10, 20, 30), True),
        20 if quick else 40,
        data,
    )
    if not quick:
        measure(
            "step+plateau x [10,20,30,50] @60",
            grid(("step", "plateau"), (10, 20, 30, 50), False),
            60,
            data,
        )


if __name__ == "__main__":
    main()

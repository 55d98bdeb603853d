"""The budget study: WSD cooldowns off one trunk against cosine, at each length.

For each data set (digits, breast cancer), regime (gentle, aggressive) and
seed of the decay study (benchmarks/study.py: the same splits, network and
optimizers), and each epoch budget B up to the study's 60 epochs:

- `lrdecay.budget()` with each cooldown shape (linear, 1-sqrt) and fraction
  (10%, 20%, 40%): one constant-rate trunk, a WSD cooldown branched off it
  per budget (each point exactly the independent WSD run of B epochs);
- `cosine`: `lrdecay.CosineDecay` to 0 over B epochs, an independent run of
  B epochs per budget (what a user would have trained instead).

Every point is the model after its B epochs (a WSD and a cosine run both end
at a rate of 0: the end is the model the run gives), scored once on the
held-out test split (accuracy and loss); nothing is chosen on it. The cost
of each method is the epochs it trained for all the budgets.

Usage: python benchmarks/study_budget.py [--quick] [--out DIR] [--jobs N] [--seeds N]
Writes DIR/study_budget.json and DIR/study_budget.png.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# First: the study's backend (JAX where installed) and its compilation cache.
import study  # noqa: I001


import _common
from _common import log
from study_budget_report import COSINE, costs, markdown, plot, summarize

SHAPES = ("linear", "1-sqrt")

FULL: dict[str, Any] = {
    "datasets": ["digits", "breast_cancer"],
    "regimes": ["gentle", "aggressive"],
    "seeds": 3,
    "budgets": [15, 30, 45, 60],
    "cooldowns": [0.1, 0.2, 0.4],
    "shapes": list(SHAPES),
    "batch_size": 64,
}
QUICK: dict[str, Any] = {
    "datasets": ["digits"],
    "regimes": ["aggressive"],
    "seeds": 1,
    "budgets": [2, 4],
    "cooldowns": [0.5],
    "shapes": ["1-sqrt"],
    "batch_size": 64,
}

# Module state, not callback state: KerasTuner deep-copies callbacks per trial.
_ENDS: list[dict[str, Any]] = []
_TEST: dict[str, Any] = {}


def _test_scorer() -> Any:
    """A callback scoring the model at the end of each fit on the test split.

    Stateless across epochs (it only reads the model when the fit ends), so
    the budget search keeps sharing its trunk with it in `callbacks=`.
    """
    from lrdecay.tuning.data.user_callbacks import StatelessCallback

    class TestScorer(StatelessCallback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.last = {"epoch": epoch, "val_loss": float((logs or {})["val_loss"])}

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            last = getattr(self, "last", None)
            if last is None:
                return
            x_test, y_test = _TEST["data"]
            loss, accuracy = self.model.evaluate(x_test, y_test, verbose=0)
            _ENDS.append(
                {
                    "epochs": last["epoch"] + 1,
                    "val_loss": last["val_loss"],
                    "test_loss": float(loss),
                    "test_accuracy": float(accuracy),
                }
            )

    return TestScorer()


def _wsd_points(result: Any, ends: list[dict[str, Any]]) -> dict[str, dict]:
    """Each budget's test scores: the fit that ended at B with the curve's value."""
    points = {}
    for curve in result.curves:
        value = curve.history["val_loss"][curve.budget - 1]
        matches = [
            end
            for end in ends
            if end["epochs"] == curve.budget
            and math.isclose(end["val_loss"], value, rel_tol=1e-6)
        ]
        if not matches:
            raise RuntimeError(f"no test score for the budget {curve.budget}")
        points[str(curve.budget)] = {**matches[-1], "val_loss": value}
    return points


def run_cell(dataset: str, regime: str, seed: int, plan: dict[str, Any]) -> dict:
    import keras

    import lrdecay

    data = study.load_dataset(dataset, seed)
    _TEST["data"] = data["test"]
    build_model = study.model_builder(data, regime, seed)
    rate = study.REGIMES[regime]["learning_rate"]
    x, y = data["train"]
    workdir = Path(tempfile.mkdtemp(prefix=f"lrdecay_budget_{dataset}_{regime}_"))
    cell: dict[str, Any] = {
        "dataset": dataset,
        "regime": regime,
        "seed": seed,
        "backend": keras.backend.backend(),
        "methods": {},
    }
    for shape in plan["shapes"]:
        for cooldown in plan["cooldowns"]:
            name = f"WSD {shape} {cooldown:.0%}"
            del _ENDS[:]
            start = time.perf_counter()
            result = lrdecay.budget(
                build_model, x, y, validation_data=data["val"],
                budgets=plan["budgets"], cooldown=cooldown, shape=shape,
                initial_lr=rate, objective="val_loss", seed=seed,
                project_dir=str(workdir), project_name=name.replace(" ", "_"),
                overwrite=True, tracking=False, batch_size=plan["batch_size"],
                verbose=0, callbacks=[_test_scorer()],
            )  # fmt: skip
            cell["methods"][name] = {
                "points": _wsd_points(result, list(_ENDS)),
                "epochs": result.epochs_trained,
                "epochs_independent": result.epochs_independent,
                "wall_s": time.perf_counter() - start,
                "constant_val_loss": {
                    str(point.budget): point.constant for point in result.points
                },
            }
            took = time.perf_counter() - start
            log(f"{dataset}/{regime}/seed {seed}: {name}: {took:.0f} s")
    del _ENDS[:]
    start = time.perf_counter()
    points = {}
    for budget in plan["budgets"]:
        model = build_model()
        model.fit(
            x, y, validation_data=data["val"], epochs=budget,
            batch_size=plan["batch_size"], verbose=0,
            callbacks=[
                lrdecay.CosineDecay(initial_lr=rate, decay_epochs=budget),
                _test_scorer(),
            ],
        )  # fmt: skip
        points[str(budget)] = dict(_ENDS[-1])
    cell["methods"][COSINE] = {
        "points": points,
        "epochs": sum(plan["budgets"]),
        "epochs_independent": sum(plan["budgets"]),
        "wall_s": time.perf_counter() - start,
    }
    log(f"{dataset}/{regime}/seed {seed}: cosine: {time.perf_counter() - start:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    return cell


def _run_cell_in_worker(arguments: tuple[str, str, int, dict[str, Any]]) -> dict:
    return run_cell(*arguments)


def run_cells(work: list[tuple[str, str, int, dict]], jobs: int) -> list[dict]:
    if jobs == 1:
        return [run_cell(*item) for item in work]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        return list(pool.map(_run_cell_in_worker, work))


# -- main ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 1 min)")
    parser.add_argument("--out", help="results directory")
    parser.add_argument(
        "--jobs", type=int, help="cells run side by side (default: 2, quick: 1)"
    )
    parser.add_argument("--seeds", type=int, help="override the number of seeds")
    parser.add_argument("--datasets", nargs="+", help="override the data sets")
    parser.add_argument("--regimes", nargs="+", help="override the regimes")
    parser.add_argument(
        "--budgets", type=int, nargs="+", help="override the budgets (epochs)"
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the plot and markdown from DIR/study_budget.json, run nothing",
    )
    args = parser.parse_args(argv)
    out = _common.out_dir(args.out)
    path = out / "study_budget.json"
    if args.replot:
        saved = json.loads(path.read_text())
        plot(
            saved["cells"], saved["summary"], saved["plan"], saved["regimes"],
            out / "study_budget.png",
        )  # fmt: skip
        saved["markdown"] = markdown(saved)
        _common.write_json(path, saved)
        return 0
    plan = dict(QUICK if args.quick else FULL)
    for key in ("seeds", "datasets", "regimes", "budgets"):
        if getattr(args, key):
            plan[key] = getattr(args, key)
    jobs = args.jobs or (1 if args.quick else 2)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    machine = _common.machine()
    work = [
        (dataset, regime, seed, plan)
        for dataset in plan["datasets"]
        for regime in plan["regimes"]
        for seed in range(plan["seeds"])
    ]
    log(f"budget study: {len(work)} cells, {jobs} job(s)")
    os.chdir(tempfile.mkdtemp(prefix="lrdecay_study_budget_"))
    cells = run_cells(work, jobs)
    summary = summarize(cells, plan)
    payload: dict[str, Any] = {
        "benchmark": "study_budget",
        "quick": args.quick,
        "machine": machine,
        "machine_after": {"load_average": _common.machine().get("load_average")},
        "backend": cells[0]["backend"] if cells else None,
        "versions": _common.versions("lrdecay", "keras", "jax", "keras-tuner"),
        "jobs": jobs,
        "plan": plan,
        "regimes": study.REGIMES,
        "cells": cells,
        "summary": summary,
        "costs": costs(cells, plan),
        "wall_time_s": time.perf_counter() - started,
    }
    try:
        plot(cells, summary, plan, study.REGIMES, out / "study_budget.png")
        payload["plots"] = ["study_budget.png"]
    except Exception as error:  # a plot is not worth losing the figures
        log(f"plot failed: {type(error).__name__}: {error}")
    payload["markdown"] = markdown(payload)
    _common.write_json(path, payload)
    log(f"wrote {path} in {payload['wall_time_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

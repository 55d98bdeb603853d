"""The budget search against independent WSD runs at each budget, in one run.

On the digits (the tests' split and model: Dense(32) + SGD(0.1), batch 32,
seed 0), `lrdecay.budget(budgets=(20, 40, 60, 80), cooldown=0.2,
shape="1-sqrt")` (one constant-rate trunk, a cooldown per budget) against
the same call with `share_prefix=False` (every budget trained whole: the
independent runs, through the same pipeline and MLflow store), and against
bare `model.fit` runs of each budget (`tests/prefix_trainer.train_independent`). Every
point of the budget search is checked against its bare run (every metric
of every epoch, relative 1e-5). Reported: epochs trained and wall time, as
ratios, after one untimed warm-up search. One run each, not interleaved:
ratios, not a timed test.

Usage: python benchmarks/bench_budget.py [--quick] [--out DIR]
Writes DIR/budget.json. `--quick`: budgets 4, 8, 12, 16.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common
from _common import log

FULL: dict[str, Any] = {"budgets": [20, 40, 60, 80], "cooldown": 0.2}
QUICK: dict[str, Any] = {"budgets": [4, 8, 12, 16], "cooldown": 0.2}
SEED = 0
SHAPE = "1-sqrt"
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def build_model() -> Any:
    return _common.build_digits_model(learning_rate=0.1, seed=SEED)


def budget_search(plan: dict[str, Any], share_prefix: bool) -> tuple[float, Any]:
    """(seconds, `BudgetResult`) of one budget search in a fresh project."""
    import lrdecay

    (x, y), validation = _common.digits_split()
    with tempfile.TemporaryDirectory(prefix="lrdecay-bench-budget-") as folder:
        return _common.timed(
            lambda: lrdecay.budget(
                build_model, x, y, validation_data=validation,
                budgets=plan["budgets"], cooldown=plan["cooldown"], shape=SHAPE,
                seed=SEED, share_prefix=share_prefix, batch_size=32,
                project_dir=os.path.join(folder, "proj"),
                tracking=f"sqlite:///{folder}/mlflow.db",
            )
        )  # fmt: skip


def bare_runs(plan: dict[str, Any]) -> tuple[float, dict[int, list[dict[str, float]]]]:
    """(seconds, budget -> per-epoch logs) of one bare WSD fit per budget."""
    from lrdecay import WSDDecay

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from prefix_trainer import train_independent

    (x, y), validation = _common.digits_split()

    def run_one(budget: int) -> list[dict[str, float]]:
        decay = WSDDecay(decay_epochs=budget, cooldown=plan["cooldown"], shape=SHAPE)
        return train_independent(
            build_model, decay, x, y, validation_data=validation, epochs=budget,
            seed=SEED, batch_size=32,
        )  # fmt: skip

    def run_all() -> dict[int, list[dict[str, float]]]:
        return {budget: run_one(budget) for budget in plan["budgets"]}

    return _common.timed(run_all)


def check_exact(result: Any, bare: dict[int, list[dict[str, float]]]) -> None:
    import math

    for curve in result.curves:
        for metric in METRICS:
            mine = curve.history[metric]
            theirs = [logs[metric] for logs in bare[curve.budget]]
            assert len(mine) == len(theirs), (curve.budget, metric)
            pairs = zip(mine, theirs, strict=True)
            assert all(math.isclose(a, b, rel_tol=1e-5) for a, b in pairs), (
                curve.budget,
                metric,
            )


def warm_up() -> None:
    """One short search first: imports and first compilations, untimed."""
    budget_search({"budgets": [2], "cooldown": 0.5}, share_prefix=True)


def measure(plan: dict[str, Any]) -> dict[str, Any]:
    warm_up()
    log(f"budget search, shared trunk: budgets {plan['budgets']}")
    shared_seconds, shared = budget_search(plan, share_prefix=True)
    log("budget search, every budget whole (share_prefix=False)")
    whole_seconds, whole = budget_search(plan, share_prefix=False)
    log("bare fits, one per budget")
    bare_seconds, bare = bare_runs(plan)
    check_exact(shared, bare)
    check_exact(whole, bare)
    return {
        "budgets": plan["budgets"],
        "cooldown": plan["cooldown"],
        "epochs_trained": shared.epochs_trained,
        "epochs_independent": shared.epochs_independent,
        "epochs_planned": shared.plan.epochs_trained(),
        "epochs_ratio": round(shared.epochs_trained / shared.epochs_independent, 3),
        "shared_seconds": round(shared_seconds, 1),
        "whole_seconds": round(whole_seconds, 1),
        "bare_seconds": round(bare_seconds, 1),
        "time_ratio_whole": round(shared_seconds / whole_seconds, 3),
        "time_ratio_bare": round(shared_seconds / bare_seconds, 3),
        "recommended": shared.recommended,
        "table": shared.table(),
        "verdict": shared.verdict,
    }


def markdown(row: dict[str, Any], quick: bool) -> str:
    budgets = ", ".join(str(b) for b in row["budgets"])
    return "\n".join(
        [
            "### Budget search against independent runs at each budget\n",
            f"`lrdecay.budget(budgets=({budgets}), cooldown={row['cooldown']}, "
            f'shape="{SHAPE}")` on the digits (Dense(32) + SGD(0.1), batch 32, '
            "seed 0), one constant-rate trunk and a cooldown per budget, "
            "against the same search with `share_prefix=False` (every budget "
            "trained whole) and against bare `model.fit` WSD runs; every point "
            "equals its bare run (every metric, every epoch, rel 1e-5)"
            + (" (quick: short budgets)" if quick else "")
            + ".\n",
            "| epochs trained / independent | epochs ratio | shared s | whole s "
            "| bare fits s | time ratio (to whole / to bare) |",
            "|---|---|---|---|---|---|",
            f"| {row['epochs_trained']} / {row['epochs_independent']} | "
            f"{row['epochs_ratio']:.2f} | {row['shared_seconds']} | "
            f"{row['whole_seconds']} | {row['bare_seconds']} | "
            f"{row['time_ratio_whole']:.2f} / {row['time_ratio_bare']:.2f} |",
            "",
            "```",
            row["table"],
            row["verdict"],
            "```",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    row = measure(plan)
    payload = {
        "title": "Budget search against independent runs",
        "machine": _common.machine(),
        "plan": plan,
        "rows": [row],
        "markdown": markdown(row, args.quick),
    }
    path = _common.write_json(_common.out_dir(args.out) / "budget.json", payload)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

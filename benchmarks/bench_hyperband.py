"""Hyperband from the command line against the default grid, in the same run.

For each seed, the README's two commands, as a user runs them, each in its
own temporary project and MLflow store:

    lrdecay search --seed S                        # the default grid
    lrdecay search --algorithm hyperband --seed S  # lrdecay's Hyperband

and the lines they print: `test accuracy X` (the best model on the held-out
test split) and `epochs: N trained of M`. The ratios: Hyperband's test
accuracy to the grid's (goal: >= 0.99) and Hyperband's epochs to the grid's
epochs trained (goal: <= 0.5; the grid already shares its constant-rate
prefixes) and to its independent epochs.

Usage: python benchmarks/bench_hyperband.py [--quick] [--out DIR]
Writes DIR/hyperband.json. `--quick`: 12 epochs, step decay only, one seed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common
from _common import log

REPO_DIR = Path(__file__).resolve().parent.parent
FULL: dict[str, Any] = {
    "seeds": [7, 1, 2],
    "grid": [],
    "hyperband": ["--algorithm", "hyperband"],
}
QUICK: dict[str, Any] = {
    "seeds": [7],
    "grid": ["--epochs", "12", "--kinds", "step", "--decay-epochs", "3,6"],
    "hyperband": ["--algorithm", "hyperband", "--epochs", "12", "--kinds", "step"],
}


def run_search(arguments: list[str], seed: int) -> dict[str, Any]:
    """`lrdecay search ARGUMENTS --seed SEED` in a fresh folder: what it printed."""
    with tempfile.TemporaryDirectory(prefix="lrdecay-bench-hb-") as folder:
        command = [
            sys.executable, "-m", "lrdecay", "search", *arguments,
            "--seed", str(seed),
            "--tracking-uri", f"sqlite:///{folder}/mlflow.db",
            "--project-dir", os.path.join(folder, "proj"),
        ]  # fmt: skip
        environment = dict(
            os.environ,
            MLFLOW_DISABLE_TELEMETRY="true",
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONPATH=os.pathsep.join(
                [str(REPO_DIR / "plugin"), os.environ.get("PYTHONPATH", "")]
            ),
        )
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=folder, env=environment, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"lrdecay search {' '.join(arguments)} exited {done.returncode}: "
            f"{done.stderr.strip()[-500:]}"
        )
    test = re.search(r"^test accuracy ([0-9.]+)", done.stdout, re.M)
    epochs = re.search(r"^epochs: (\d+) trained of (\d+)", done.stdout, re.M)
    trials = re.findall(r"^\[\d+(?:/\d+)?\] trial ", done.stdout, re.M)
    if test is None or epochs is None:
        raise RuntimeError(f"no test accuracy or epochs line in:\n{done.stdout}")
    return {
        "command": "lrdecay search " + " ".join([*arguments, "--seed", str(seed)]),
        "test_accuracy": float(test.group(1)),
        "epochs_trained": int(epochs.group(1)),
        "epochs_independent": int(epochs.group(2)),
        "trials": len(trials),
        "wall_s": wall,
    }


def measure(plan: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for seed in plan["seeds"]:
        grid = run_search(plan["grid"], seed)
        log(f"seed {seed}: grid {grid}")
        hyperband = run_search(plan["hyperband"], seed)
        log(f"seed {seed}: hyperband {hyperband}")
        test_ratio = hyperband["test_accuracy"] / grid["test_accuracy"]
        epochs_ratio = hyperband["epochs_trained"] / grid["epochs_trained"]
        rows.append(
            {
                "seed": seed,
                "grid_test": grid["test_accuracy"],
                "grid_epochs_trained": grid["epochs_trained"],
                "grid_epochs_independent": grid["epochs_independent"],
                "grid_trials": grid["trials"],
                "hyperband_test": hyperband["test_accuracy"],
                "hyperband_epochs": hyperband["epochs_trained"],
                "hyperband_trials": hyperband["trials"],
                "test_ratio": test_ratio,
                "epochs_ratio": epochs_ratio,
                "epochs_ratio_independent": hyperband["epochs_trained"]
                / grid["epochs_independent"],
                "within_1pct": test_ratio >= 0.99,
                "at_most_half_epochs": epochs_ratio <= 0.5,
                "grid_command": grid["command"],
                "hyperband_command": hyperband["command"],
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], quick: bool) -> str:
    parts = [
        "### Hyperband from the command line against the default grid\n",
        "Each seed runs `lrdecay search --seed S` (the default grid, sharing "
        "its constant-rate prefixes) and `lrdecay search --algorithm hyperband "
        "--seed S` (successive halving over fractions 0.25, 0.5, 0.75 of each "
        "trial's budget, budgets 5, 14 and 40 epochs) on the digits, and reads "
        "the lines they print"
        + (" (quick: 12 epochs, step decay only)" if quick else "")
        + ". Goals: test accuracy ratio >= 0.99, epochs ratio <= 0.5 of the "
        "grid's epochs trained.\n",
        "| seed | grid test | grid epochs (trained / independent) | Hyperband test "
        "| Hyperband epochs | test ratio | epochs ratio (to trained / to "
        "independent) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        parts.append(
            f"| {row['seed']} | {row['grid_test']:.4f} | "
            f"{row['grid_epochs_trained']} / {row['grid_epochs_independent']} | "
            f"{row['hyperband_test']:.4f} | {row['hyperband_epochs']} | "
            f"{row['test_ratio']:.3f} | {row['epochs_ratio']:.2f} / "
            f"{row['epochs_ratio_independent']:.2f} |"
        )
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    rows = measure(plan)
    payload = {
        "title": "Hyperband against the grid",
        "machine": _common.machine(),
        "plan": plan,
        "rows": rows,
        "markdown": markdown(rows, args.quick),
    }
    path = _common.write_json(_common.out_dir(args.out) / "hyperband.json", payload)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

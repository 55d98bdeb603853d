"""`lrdecay search --jobs 2` against `--jobs 1`: whole commands, side by side.

The README's main command (`lrdecay search`: the bundled digits, the default
grid of 13 trials x 40 epochs, MLflow's default local store) runs as a
whole process, start-up, imports and the end of the search included,
alternately with `--jobs 1` and `--jobs 2` (pairs in alternating order), each
in a fresh folder of its own (a new `mlflow.db`, a new project). What the
user waits for is the wall time; the ratio of the medians is the result
(goal <= 0.75x on 2 cores). Each run's timeline is read back from MLflow:
the parent run's start, the first trial's start, the last trial's end, the
parent's end, all from the command's start; CPU counts the worker processes
(they are waited for by the chief, and the chief by this script).

Usage: python benchmarks/bench_jobs.py [--quick] [--out DIR] [--pairs N]
Prints a markdown table; writes DIR/jobs.json (DIR defaults to
benchmarks/results). `--quick` (CI) runs one pair of a 3-epoch search.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log, machine, median, out_dir, versions, write_json

GOAL = 0.75
QUICK = ["--epochs", "3", "--decay-epochs", "1,2", "--kinds", "step"]


def run_command(folder: Path, jobs: int, extra: list[str]) -> dict[str, Any]:
    """One whole `lrdecay search --jobs N` in `folder`; its wall, CPU, timeline."""
    import mlflow

    environment = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    environment.pop("MLFLOW_TRACKING_URI", None)  # MLflow's default local store
    environment.pop("MLFLOW_EXPERIMENT_NAME", None)
    command = [sys.executable, "-m", "lrdecay", "search", "--jobs", str(jobs), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    done = subprocess.run(
        [*command, *extra], cwd=folder, env=environment, capture_output=True, text=True
    )
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(
            f"--jobs {jobs} exited {done.returncode}: {done.stderr[-2000:]}"
        )
    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("lrdecay")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("lrdecay.role") == "search")
    trials = [r for r in runs if r.data.tags.get("lrdecay.role") == "trial"]

    def since(milliseconds: int) -> float:
        return round(milliseconds / 1000 - started, 2)

    return {
        "jobs": jobs,
        "wall_s": round(wall, 2),
        "cpu_s": round(
            (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1
        ),
        "trials": len(trials),
        "parent_start_s": since(parent.info.start_time),
        "first_trial_s": since(min(r.info.start_time for r in trials)),
        "last_trial_end_s": since(max(r.info.end_time for r in trials)),
        "parent_end_s": since(parent.info.end_time),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small pair (CI)")
    parser.add_argument("--out", default=None, help="results directory")
    parser.add_argument("--pairs", type=int, default=None, help="default 4 (quick 1)")
    args = parser.parse_args(argv)
    pairs = args.pairs or (1 if args.quick else 4)
    extra = QUICK if args.quick else []

    rows = []
    with tempfile.TemporaryDirectory(prefix="lrdecay-bench-jobs-") as folder:
        for pair in range(pairs):
            # Alternate which goes first: a slow minute hits both.
            for jobs in (1, 2) if pair % 2 == 0 else (2, 1):
                place = Path(folder) / f"pair{pair}-jobs{jobs}"
                place.mkdir()
                log(f"pair {pair + 1}/{pairs}: lrdecay search --jobs {jobs}")
                rows.append({"pair": pair + 1, **run_command(place, jobs, extra)})
                log(f"  {rows[-1]}")

    def walls(jobs: int) -> list[float]:
        return [row["wall_s"] for row in rows if row["jobs"] == jobs]

    ratio = median(walls(2)) / median(walls(1))
    pair_ratios = [two / one for one, two in zip(walls(1), walls(2), strict=True)]
    lines = [
        "| pair | --jobs | wall (s) | CPU (s) | parent run starts (s) "
        "| first trial (s) | last trial ends (s) | parent ends (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['pair']} | {row['jobs']} | {row['wall_s']:.1f} "
            f"| {row['cpu_s']:.0f} | {row['parent_start_s']:.1f} "
            f"| {row['first_trial_s']:.1f} | {row['last_trial_end_s']:.1f} "
            f"| {row['parent_end_s']:.1f} |"
        )
    lines += [
        "",
        f"`--jobs 2` against `--jobs 1`, medians of the whole commands: "
        f"{median(walls(2)):.1f} s against {median(walls(1)):.1f} s, **{ratio:.2f}x** "
        f"(goal <= {GOAL}x); single pairs "
        + ", ".join(f"{value:.2f}x" for value in pair_ratios)
        + ". Times from the command's start; CPU counts the workers.",
    ]
    table = "\n".join(lines)
    print(table)
    payload = {
        "title": "Trials side by side: lrdecay search --jobs 2 against --jobs 1",
        "quick": args.quick,
        "command": "lrdecay search" + ("" if not extra else " " + " ".join(extra)),
        "rows": rows,
        "ratio": round(ratio, 3),
        "pair_ratios": [round(value, 3) for value in pair_ratios],
        "goal": GOAL,
        "meets_goal": ratio <= GOAL,
        "markdown": table,
        "machine": machine(),
        "versions": versions("tensorflow", "keras", "keras-tuner", "mlflow"),
    }
    path = write_json(out_dir(args.out) / "jobs.json", payload)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

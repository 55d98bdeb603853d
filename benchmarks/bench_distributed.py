"""Scale-out: trials per minute of a distributed search, 1 worker against 2.

The same grid search (digits, the tests' model, TensorFlow, one thread per
process: `OMP_NUM_THREADS=1`, `TF_NUM_INTRAOP_THREADS=1`,
`TF_NUM_INTEROP_THREADS=1` and `tf.config.threading`) runs twice in one run on
KerasTuner's distributed mode, each time a chief plus N workers on 127.0.0.1,
all logging to one real `mlflow server` (SQLite backend):

- `1 worker`: the baseline;
- `2 workers`: the scale-out.

Throughput is the number of trials over the span from the first trial run's
start to the last one's end, read back from MLflow (so process start-up, the
same for both, is left out); the wall time of each whole search, start-up
excluded (every process imports first, then all start together), is
reported beside it. The goal is a ratio >= 1.6 on 2 cores.

Usage: python benchmarks/bench_distributed.py [--quick] [--out DIR]
Prints a markdown table; writes DIR/distributed.json (DIR defaults to
benchmarks/results). `--quick` (CI) runs a smaller grid with fewer epochs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import REPO_DIR, log, machine, out_dir, versions, write_json
from mlflow_server import MlflowServer, free_port

SCRIPT = REPO_DIR / "tests" / "distributed_search.py"
EXPERIMENT = "bench-distributed"
GOAL = 1.6


def _env(server: MlflowServer, tuner_id: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": server.uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
    }


def run_search(
    root: Path, server: MlflowServer, workers: int, settings: dict[str, Any]
) -> dict[str, Any]:
    """One distributed search with `workers` workers; its trial throughput."""
    import mlflow

    project_name = f"bench-{workers}-workers"
    port = free_port()
    command = [
        sys.executable,
        str(SCRIPT),
        "--project-name",
        project_name,
        "--project-dir",
        str(root / "project"),
        "--experiment",
        EXPERIMENT,
        "--epochs",
        str(settings["epochs"]),
        "--kinds",
        settings["kinds"],
        "--decay-epochs",
        settings["decay_epochs"],
        "--samples",
        str(settings["samples"]),
    ]
    # Every process imports TensorFlow first, then all start searching at
    # once (`--wait-for`), so start-up skew does not count against 2 workers.
    go = root / f"{project_name}.go"
    command += ["--wait-for", str(go)]
    names = ["chief"] + [f"worker{index}" for index in range(1, workers + 1)]
    processes = {}
    for name in names:
        log_file = open(root / f"{project_name}-{name}.log", "wb")  # noqa: SIM115
        processes[name] = subprocess.Popen(
            command,
            cwd=root,
            env=_env(server, name, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        logs = [root / f"{project_name}-{name}.log" for name in names]
        deadline = time.monotonic() + 900
        while not all("READY " in path.read_text(errors="replace") for path in logs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{project_name}: processes never got ready")
            time.sleep(0.2)
        start = time.monotonic()
        go.touch()
        for name, process in processes.items():
            code = process.wait(timeout=1800)
            if code != 0:
                text = (root / f"{project_name}-{name}.log").read_text(errors="replace")
                raise RuntimeError(f"{name} exited {code}:\n{text[-3000:]}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    wall = time.monotonic() - start

    client = mlflow.MlflowClient(server.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parent = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`lrdecay.search` = '{project_name}' and "
        "tags.`lrdecay.role` = 'search'",
    )[0]
    trials = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
    )
    finished = [run for run in trials if run.info.status == "FINISHED"]
    if len(finished) != len(trials) or not finished:
        raise RuntimeError(
            f"{project_name}: trial runs {[r.info.status for r in trials]}"
        )
    span = (
        max(run.info.end_time for run in finished)
        - min(run.info.start_time for run in finished)
    ) / 1000.0
    mean_trial = sum(
        (run.info.end_time - run.info.start_time) / 1000.0 for run in finished
    ) / len(finished)
    return {
        "workers": workers,
        "trials": len(finished),
        "span_s": round(span, 2),
        "trials_per_minute": round(60.0 * len(finished) / span, 3),
        "mean_trial_s": round(mean_trial, 2),
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid (CI)")
    parser.add_argument("--out", default=None, help="results directory")
    args = parser.parse_args(argv)

    settings = (
        {
            "kinds": "step,exponential",
            "decay_epochs": "1,2",
            "epochs": 3,
            "samples": 700,
        }
        if args.quick
        else {
            "kinds": "step,exponential",
            "decay_epochs": "2,4,6,8",
            "epochs": 12,
            "samples": 1400,
        }
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="lrdecay-bench-distributed-") as folder:
        root = Path(folder)
        with MlflowServer(root / "mlflow") as server:
            for workers in (1, 2):
                log(f"distributed search with {workers} worker(s): {settings}")
                results.append(run_search(root, server, workers, settings))
                log(f"  {results[-1]}")
    baseline, scaled = results
    ratio = scaled["trials_per_minute"] / baseline["trials_per_minute"]
    wall_ratio = baseline["wall_s"] / scaled["wall_s"]

    lines = [
        "| workers | trials | trials/min | span (s) | mean trial (s) | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        lines.append(
            f"| {row['workers']} | {row['trials']} | {row['trials_per_minute']:.2f} "
            f"| {row['span_s']:.1f} | {row['mean_trial_s']:.2f} | {row['wall_s']:.0f} |"
        )
    lines.append("")
    lines.append(
        f"Speed-up, 2 workers against 1: **{ratio:.2f}x** trials per minute "
        f"(goal >= {GOAL}x); {wall_ratio:.2f}x in wall time (chief and workers "
        "started together after their imports)."
    )
    table = "\n".join(lines)
    print(table)
    payload = {
        "title": "Distributed search: 1 worker against 2",
        "quick": args.quick,
        "settings": settings,
        "rows": results,
        "speedup": round(ratio, 3),
        "wall_speedup": round(wall_ratio, 3),
        "goal": GOAL,
        "meets_goal": ratio >= GOAL,
        "markdown": table,
        "machine": machine(),
        "versions": versions("tensorflow", "keras", "keras-tuner", "mlflow", "grpcio"),
    }
    path = write_json(out_dir(args.out) / "distributed.json", payload)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

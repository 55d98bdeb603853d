"""Loading a user's table: `lrdecay`'s data path against `pandas.read_csv`.

A generated CSV of 200,000 rows x 20 features (17 numeric, 2 integer-coded
and 1 string categorical) and a binary target, written once, then loaded in
turn (interleaved, median of the repetitions) by:

- `pandas.read_csv` with its default parser: the baseline;
- `lrdecay.cli.tables.read_table`: lrdecay's reader (pandas' C parser);
- `lrdecay.cli.data.load_dataset`: the whole data path of `lrdecay search
  --data FILE --target COLUMN`: read, check every column, split, and encode
  every split with the training split's statistics (the arrays
  `keras.utils.FeatureSpace` gives, computed in numpy; the layer itself is
  built when the model is saved with its features);
- `load_dataset` on the same table as Parquet.

Done when: `load_dataset` takes at most 2x `pandas.read_csv`'s time.

Memory: a 2,000,000-row copy (quick: 200,000), loaded in a fresh process each
by `pandas.read_csv`, by `load_dataset` in memory, and by `load_dataset`
streamed (the default above a tenth of `--memory-budget`): the peak resident
memory above the process after `import keras`. The full run also times
`lrdecay search` on the 2M-row file and reports its peak memory.

Usage: python benchmarks/bench_tabular.py [--quick] [--out DIR]
Writes DIR/tabular.json (DIR defaults to benchmarks/results).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common
from _common import log, median

FEATURES = 20
TARGET = "label"
# Done when the whole load takes at most this many times `pandas.read_csv`'s.
LOAD_GOAL = 2.0
# The stated budget of the 2M-row search: its process's peak resident memory,
# TensorFlow's ~0.8 GiB included (the table alone in memory takes +2 GiB).
SEARCH_PEAK_MIB = 2048
VARIANTS = ("pandas.read_csv", "read_table", "load_dataset", "load_dataset parquet")

_CHILD = """
import sys, time
variant, path, parquet, streamed_budget = sys.argv[1:5]

def status(field):
    line = [l for l in open("/proc/self/status") if l.startswith(field)][0]
    return int(line.split()[1]) / 1024

import keras  # its own ~0.8 GiB, the same in every variant: the base
base = status("VmRSS")
started = time.perf_counter()
if variant == "pandas.read_csv":
    import pandas
    pandas.read_csv(path)
elif variant == "read_table":
    from pathlib import Path
    from lrdecay.cli import tables
    tables.read_table(Path(path), "label")
else:
    from lrdecay.cli import data
    from lrdecay.cli.columns import TableOptions
    budget = 10**6 if variant.endswith("in memory") else int(streamed_budget)
    data.load_dataset(parquet if variant.endswith("parquet") else path,
                      target="label", test_split=0.2,
                      table_options=TableOptions(memory_budget_mib=budget))
# VmHWM: this process's own peak (ru_maxrss keeps the parent's across exec).
print(time.perf_counter() - started, base, status("VmHWM"))
"""
_SEARCH_CHILD = """
import sys, time
from lrdecay.cli import main as cli
started = time.perf_counter()
code = cli.main(sys.argv[1:])
line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(code, time.perf_counter() - started, int(line.split()[1]) / 1024)
"""
MEMORY_VARIANTS = (
    "pandas.read_csv",
    "load_dataset in memory",
    "load_dataset streamed",
)


def write_table(path: Path, rows: int, seed: int = 0) -> Path:
    """The benchmark's CSV: 17 numeric, 2 integer-coded, 1 string column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {
        f"x{i}": rng.normal(size=rows).round(6) for i in range(FEATURES - 3)
    }
    columns["code_a"] = rng.integers(0, 4, rows)
    columns["code_b"] = rng.integers(0, 3, rows)
    columns["city"] = rng.choice(np.array(["paris", "lyon", "nice", "lille"]), rows)
    columns[TARGET] = (columns["x0"] + columns["code_a"] > 1.5).astype("int64")
    frame = pd.DataFrame(columns)
    frame.to_csv(path, index=False)
    frame.to_parquet(path.with_suffix(".parquet"), index=False)
    return path


def _loaders(path: Path) -> dict[str, Any]:
    import pandas as pd

    from lrdecay.cli import data, tables

    parquet = path.with_suffix(".parquet")
    return {
        "pandas.read_csv": lambda: pd.read_csv(path),
        "read_table": lambda: tables.read_table(path, TARGET),
        "load_dataset": lambda: data.load_dataset(path, target=TARGET, test_split=0.2),
        "load_dataset parquet": lambda: data.load_dataset(
            parquet, target=TARGET, test_split=0.2
        ),
    }


def bench_load(path: Path, repetitions: int) -> dict[str, Any]:
    """Median seconds of each loader, interleaved, rotating the order."""
    loaders = _loaders(path)
    for function in loaders.values():  # imports and the first encoding
        function()
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for repetition in range(repetitions):
        order = list(loaders)
        order = order[repetition % len(order) :] + order[: repetition % len(order)]
        for name in order:
            seconds, _ = _common.timed(loaders[name])
            times[name].append(seconds)
    baseline = median(times["pandas.read_csv"])
    return {
        name: {
            "seconds": median(values),
            "ratio_to_pandas": median(values) / baseline,
        }
        for name, values in times.items()
    }


def bench_memory(path: Path, streamed_budget_mib: int) -> dict[str, Any]:
    """Each loader alone in a fresh process: its time and peak MiB above Keras'."""
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(_common.REPO_DIR / "plugin"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    parquet = str(path.with_suffix(".parquet"))
    result = {}
    for name in MEMORY_VARIANTS:
        output = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                name,
                str(path),
                parquet,
                str(streamed_budget_mib),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.split()
        seconds, base, peak = (float(value) for value in output[-3:])
        result[name] = {
            "seconds": seconds,
            "base_mib": base,
            "peak_mib": peak,
            "table_mib": peak - base,
        }
        log(f"memory: {name}: {seconds:.1f} s, +{peak - base:.0f} MiB over Keras")
    return result


def bench_search(path: Path, workdir: Path) -> dict[str, Any]:
    """`lrdecay search` on the 2M-row file: wall time and the process's peak."""
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(_common.REPO_DIR / "plugin"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    command = [
        "search", "--data", str(path), "--target", TARGET, "--kinds", "step",
        "--decay-epochs", "1", "--epochs", "2", "--batch-size", "1024",
        "--seed", "0", "--tracking-uri", f"sqlite:///{workdir}/mlflow.db",
        "--project-dir", str(workdir / "project"), "-q",
    ]  # fmt: skip
    output = subprocess.run(
        [sys.executable, "-c", _SEARCH_CHILD, *command],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=workdir,
    ).stdout.split()
    code, seconds, peak = int(output[-3]), float(output[-2]), float(output[-1])
    log(f"search: exit {code}, {seconds:.0f} s, peak {peak:.0f} MiB")
    return {"exit": code, "seconds": seconds, "peak_mib": peak, "argv": command}


def markdown(payload: dict[str, Any]) -> str:
    rows, size = payload["rows"], payload["csv_mib"]
    lines = [
        "## Loading a table (`bench_tabular.py`)",
        "",
        f"A {rows:,}-row x {FEATURES}-feature CSV ({size:.0f} MiB; 17 numeric, 2 "
        "integer-coded and 1 string categorical column), loaded in the same run by "
        "`pandas.read_csv` and by lrdecay (median of "
        f"{payload['repetitions']}, interleaved).",
        "",
        "| loader | seconds | x pandas.read_csv |",
        "|---|---|---|",
    ]
    for name in VARIANTS:
        load = payload["load"][name]
        lines.append(
            f"| {name} | {load['seconds']:.2f} | {load['ratio_to_pandas']:.2f} |"
        )
    ratio = payload["load"]["load_dataset"]["ratio_to_pandas"]
    reader = payload["load"]["read_table"]["ratio_to_pandas"]
    verdict = "met" if ratio <= LOAD_GOAL else "NOT met"
    memory_rows, memory_mib = payload["memory_rows"], payload["memory_csv_mib"]
    lines += [
        "",
        f"Loading the table as a search uses it (`load_dataset`: read, check every "
        "column, split, encode every split with the training split's statistics) "
        f"takes {ratio:.2f}x `pandas.read_csv`'s time: done when <= {LOAD_GOAL:g}x, "
        f"{verdict}. The reader alone: {reader:.2f}x.",
        "",
        f"Memory: a {memory_rows:,}-row copy ({memory_mib:.0f} MiB), each loader in "
        "a fresh process, its peak resident memory above the process after "
        "`import keras` (the same ~0.8 GiB in each). Streamed: with "
        f"`--memory-budget {payload['streamed_budget_mib']}` (the file is above a "
        "tenth of it; the default budget is 1024 MiB).",
        "",
        "| loader | seconds | peak MiB above Keras |",
        "|---|---|---|",
    ]
    for name in MEMORY_VARIANTS:
        memory = payload["memory"][name]
        lines.append(
            f"| {name} | {memory['seconds']:.1f} | {memory['table_mib']:.0f} |"
        )
    search = payload.get("search")
    if search:
        lines += [
            "",
            "The whole search on it (`lrdecay search --data big.csv --target label "
            "--kinds step --decay-epochs 1 --epochs 2 --batch-size 1024`, streamed "
            f"by the default budget): {search['seconds']:.0f} s, peak resident "
            f"memory {search['peak_mib']:,.0f} MiB for the whole process "
            f"(TensorFlow's included): done when below {SEARCH_PEAK_MIB:,} MiB, "
            f"{'met' if search['peak_mib'] < SEARCH_PEAK_MIB else 'NOT met'}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 1 min)")
    parser.add_argument("--out", help="results directory")
    args = parser.parse_args(argv)
    out = _common.out_dir(args.out)
    rows, repetitions = (200_000, 2) if args.quick else (200_000, 5)
    # The streamed load's budget: the default (1024 MiB) streams the 2M-row
    # file; the quick run's smaller file streams under a smaller one.
    memory_rows, budget = (200_000, 256) if args.quick else (2_000_000, 1024)
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "benchmark": "tabular",
        "title": "Loading a table",
        "quick": args.quick,
        "machine": _common.machine(),
        "versions": _common.versions("lrdecay", "pandas", "pyarrow", "keras"),
        "rows": rows,
        "repetitions": repetitions,
    }
    with tempfile.TemporaryDirectory(prefix="lrdecay_bench_tabular_") as tmp:
        path = write_table(Path(tmp) / "table.csv", rows)
        payload["csv_mib"] = path.stat().st_size / 2**20
        log(f"load: {rows} rows, {payload['csv_mib']:.0f} MiB")
        payload["load"] = bench_load(path, repetitions)
        big = write_table(Path(tmp) / "big.csv", memory_rows, seed=1)
        payload["memory_rows"] = memory_rows
        payload["memory_csv_mib"] = big.stat().st_size / 2**20
        log(f"memory: {memory_rows} rows, {payload['memory_csv_mib']:.0f} MiB")
        payload["memory"] = bench_memory(big, budget)
        payload["streamed_budget_mib"] = budget
        if not args.quick:
            log("search: the 2M-row file, streamed")
            payload["search"] = bench_search(big, Path(tmp))
    payload["wall_time_s"] = time.perf_counter() - started
    payload["markdown"] = markdown(payload)
    _common.write_json(out / "tabular.json", payload)
    log(f"wrote {out / 'tabular.json'} in {payload['wall_time_s']:.0f} s")
    for name in VARIANTS:
        log(f"{name}: {payload['load'][name]['ratio_to_pandas']:.2f}x pandas.read_csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Loading a user's table: `lrdecay`'s data path against `pandas.read_csv`.

A generated CSV of 200,000 rows x 20 features (17 numeric, 2 integer-coded
and 1 string categorical) and a binary target, written once, then loaded in
turn (interleaved, median of the repetitions) by:

- `pandas.read_csv` with its default parser: the baseline;
- `lrdecay.cli.tables.read_table`: lrdecay's reader (pandas' pyarrow engine);
- `lrdecay.cli.data.load_dataset`: the whole data path of `lrdecay search
  --data FILE --target COLUMN`: read, check every column, split, fit the
  `keras.utils.FeatureSpace` on the training split and encode every split;
- `load_dataset` on the same table as Parquet.

Done when: the reader takes at most 2x `pandas.read_csv`'s time. The peak
resident memory of each, in a fresh process (Keras' own import included in
`load_dataset`'s), is reported beside it.

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
VARIANTS = ("pandas.read_csv", "read_table", "load_dataset", "load_dataset parquet")

_CHILD = """
import sys, time
variant, path, parquet = sys.argv[1], sys.argv[2], sys.argv[3]
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
    data.load_dataset(parquet if variant.endswith("parquet") else path,
                      target="label", test_split=0.2)
# VmHWM: this process's own peak (ru_maxrss keeps the parent's across exec).
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(time.perf_counter() - started, peak[0].split()[1])
"""


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


def bench_memory(path: Path) -> dict[str, Any]:
    """Each loader alone in a fresh process: its time and peak resident MiB."""
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(_common.REPO_DIR / "plugin"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    result = {}
    for name in VARIANTS:
        output = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                name,
                str(path),
                str(path.with_suffix(".parquet")),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.split()
        result[name] = {
            "seconds": float(output[-2]),
            "peak_mib": int(output[-1]) / 1024,
        }
    return result


def markdown(payload: dict[str, Any]) -> str:
    rows, size = payload["rows"], payload["csv_mib"]
    lines = [
        "## Loading a table (`bench_tabular.py`)",
        "",
        f"A {rows:,}-row x {FEATURES}-feature CSV ({size:.0f} MiB; 17 numeric, 2 "
        "integer-coded and 1 string categorical column), loaded in the same run by "
        "`pandas.read_csv` and by lrdecay (median of "
        f"{payload['repetitions']}, interleaved; peak memory in a fresh process).",
        "",
        "| loader | seconds | x pandas.read_csv | peak MiB (own process) |",
        "|---|---|---|---|",
    ]
    for name in VARIANTS:
        load, memory = payload["load"][name], payload["memory"][name]
        lines.append(
            f"| {name} | {load['seconds']:.2f} | {load['ratio_to_pandas']:.2f} | "
            f"{memory['peak_mib']:.0f} |"
        )
    ratio = payload["load"]["read_table"]["ratio_to_pandas"]
    lines += [
        "",
        f"lrdecay's reader takes {ratio:.2f}x `pandas.read_csv`'s time (done when "
        "<= 2x). `load_dataset` adds the checks of every column, the split and the "
        "FeatureSpace fitted on the training split; its peak includes Keras' import.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 1 min)")
    parser.add_argument("--out", help="results directory")
    args = parser.parse_args(argv)
    out = _common.out_dir(args.out)
    rows, repetitions = (50_000, 2) if args.quick else (200_000, 5)
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
        log("memory: one process per loader")
        payload["memory"] = bench_memory(path)
    payload["wall_time_s"] = time.perf_counter() - started
    payload["markdown"] = markdown(payload)
    _common.write_json(out / "tabular.json", payload)
    log(f"wrote {out / 'tabular.json'} in {payload['wall_time_s']:.0f} s")
    for name in VARIANTS:
        log(f"{name}: {payload['load'][name]['ratio_to_pandas']:.2f}x pandas.read_csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

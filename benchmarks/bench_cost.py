"""What lrdecay costs: callbacks, a whole search, start-up, memory.

Every figure is a ratio to a baseline measured in the same run, with the
measured variants interleaved (the order rotates every repetition) and the
median taken, so a busy machine slows baseline and variant alike.

1. Callbacks: a plain `fit` of the default digits model against the same fit
   with each lrdecay decay callback (should be indistinguishable), and with
   a naive callback that calls `mlflow.log_metric` after every batch (what
   people write first; `bench_tracking.py` compares lrdecay's own tracking
   with MLflow's `MlflowCallback` and `mlflow.keras.autolog`).
2. A whole search: the wall time of an N-trial `lrdecay.search` (tuner, and
   with MLflow tracking to a local SQLite store) against the sum of the same
   N fits run bare (build the model, fit it with the same decay). Goal: at
   most 10% overhead.
3. Start-up: `import lrdecay` and `lrdecay --help`, against a bare
   `python -c pass`.
4. Memory: the resident set of a search process after every trial, and its
   peak, as the number of trials grows (it must not grow with trials).

Usage: python benchmarks/bench_cost.py [--quick] [--out DIR]
Writes DIR/cost.json (DIR defaults to benchmarks/results).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common
from _common import log, median

LEARNING_RATE = 0.1
BATCH_SIZE = 32

# -- 1. callbacks --------------------------------------------------------------


def _decay_callbacks(epochs: int) -> dict[str, Any]:
    """Each decay callback with settings that change the rate during the fit."""
    import lrdecay

    every = max(1, epochs // 3)
    return {
        "StepDecay": lambda: lrdecay.StepDecay(
            initial_lr=LEARNING_RATE, drop=0.5, epochs_drop=every
        ),
        "MultiStepDecay": lambda: lrdecay.MultiStepDecay(
            initial_lr=LEARNING_RATE, drop=0.5, milestones=[every, 2 * every]
        ),
        "ExponentialDecay": lambda: lrdecay.ExponentialDecay(
            initial_lr=LEARNING_RATE, k=0.1
        ),
        "PlateauDecay": lambda: lrdecay.PlateauDecay(
            monitor="val_loss", factor=0.5, patience=1
        ),
    }


def _naive_mlflow_callback(tracking_uri: str) -> Any:
    """Per-batch `mlflow.log_metric`: one synchronous store write per batch."""
    import keras
    import mlflow

    class NaivePerBatchMlflow(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_experiment("bench_cost_naive")
            mlflow.start_run()
            self.step = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            for key, value in (logs or {}).items():
                mlflow.log_metric(key, float(value), step=self.step)
            self.step += 1

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            for key, value in (logs or {}).items():
                mlflow.log_metric(f"epoch_{key}", float(value), step=epoch)

        def on_train_end(self, logs: Any = None) -> None:
            mlflow.end_run()

    return NaivePerBatchMlflow()


def bench_callbacks(
    epochs: int, repetitions: int, workdir: Path, warmup: bool = True
) -> dict[str, Any]:
    (x, y), validation = _common.digits_split()
    tracking_uri = f"sqlite:///{workdir / 'naive.db'}"
    factories: dict[str, Any] = {"plain": lambda: None}
    factories.update(_decay_callbacks(epochs))
    factories["naive per-batch mlflow.log_metric"] = lambda: _naive_mlflow_callback(
        tracking_uri
    )

    def one_fit(factory: Any) -> float:
        model = _common.build_digits_model(LEARNING_RATE, seed=0)
        callback = factory()
        callbacks = [] if callback is None else [callback]
        start = time.perf_counter()
        model.fit(
            x,
            y,
            validation_data=validation,
            epochs=epochs,
            batch_size=BATCH_SIZE,
            verbose=0,
            callbacks=callbacks,
        )
        return time.perf_counter() - start

    if warmup:  # not measured: TensorFlow's first trace, MLflow's store creation
        one_fit(factories["plain"])
        one_fit(factories["naive per-batch mlflow.log_metric"])

    names = list(factories)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(one_fit(factories[name]))
        log(f"callbacks: repetition {repetition + 1}/{repetitions} done")
    plain = median(times["plain"])
    rows = [
        {
            "variant": name,
            "median_s": median(values),
            "ratio_to_plain": median(values) / plain,
            "times_s": values,
        }
        for name, values in times.items()
    ]
    return {
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "batches_per_epoch": math.ceil(len(x) / BATCH_SIZE),
        "repetitions": repetitions,
        "rows": rows,
    }


# -- 2. a whole search ---------------------------------------------------------


def _grid(kinds: list[str], decay_epochs: list[int]) -> list[tuple[str, int]]:
    return [(kind, every) for kind in kinds for every in decay_epochs]


def _bare_decay(kind: str, every: int) -> Any:
    """The decay `lrdecay.search` builds for this grid point (DecaySpace defaults)."""
    import lrdecay

    if kind == "step":
        return lrdecay.StepDecay(initial_lr=LEARNING_RATE, drop=0.5, epochs_drop=every)
    if kind == "exponential":
        return lrdecay.ExponentialDecay(initial_lr=LEARNING_RATE, k=math.log(2) / every)
    return lrdecay.PlateauDecay(monitor="val_loss", factor=0.5, patience=every)


def bench_search(
    kinds: list[str],
    decay_epochs: list[int],
    epochs: int,
    repetitions: int,
    workdir: Path,
    warmup: bool = True,
) -> dict[str, Any]:
    import lrdecay

    (x, y), validation = _common.digits_split()
    grid = _grid(kinds, decay_epochs)
    tracking_uri = f"sqlite:///{workdir / 'search.db'}"

    def build_model() -> Any:
        return _common.build_digits_model(LEARNING_RATE, seed=0)

    def bare() -> float:
        total = 0.0
        for kind, every in grid:
            start = time.perf_counter()
            model = build_model()
            model.fit(
                x,
                y,
                validation_data=validation,
                epochs=epochs,
                batch_size=BATCH_SIZE,
                verbose=0,
                callbacks=[_bare_decay(kind, every)],
            )
            total += time.perf_counter() - start
        return total

    counter = {"n": 0}

    def searched(tracking: bool, freeze: bool = False) -> float:
        counter["n"] += 1
        if freeze:
            gc.collect()
            gc.freeze()
        try:
            return _search_once(tracking)
        finally:
            if freeze:
                gc.unfreeze()

    def _search_once(tracking: bool) -> float:
        start = time.perf_counter()
        result = lrdecay.search(
            build_model,
            x,
            y,
            validation_data=validation,
            algorithm="grid",
            kinds=tuple(kinds),
            decay_epochs=list(decay_epochs),
            epochs=epochs,
            batch_size=BATCH_SIZE,
            seed=0,
            project_dir=str(workdir / "projects"),
            project_name=f"search_{counter['n']}",
            tuner_options={"overwrite": True},
            tracking=tracking,
            tracking_uri=tracking_uri if tracking else None,
            experiment_name="bench_cost_search" if tracking else None,
        )
        elapsed = time.perf_counter() - start
        completed = sum(trial.status == "COMPLETED" for trial in result.trials)
        if completed != len(grid):
            raise RuntimeError(f"{completed} of {len(grid)} trials completed")
        return elapsed

    variants: dict[str, Any] = {
        "bare fits (sum)": bare,
        "lrdecay.search, untracked": lambda: searched(False),
        "lrdecay.search, tracked (MLflow, SQLite)": lambda: searched(True),
        # search() freezes the heap itself against KerasTuner's two full
        # garbage collections per trial (2.65x -> 1.29x when this variant was
        # added by hand); a heap frozen by the caller is left as it is.
        "lrdecay.search, untracked, caller froze the heap": lambda: searched(
            False, freeze=True
        ),
    }
    errors: dict[str, str] = {}
    if warmup:  # TensorFlow's first trace and MLflow's store creation
        bare_once = build_model()
        bare_once.fit(x, y, epochs=1, batch_size=BATCH_SIZE, verbose=0)
        # (the caller-frozen variant runs the same code as the untracked one)
        for name in list(variants)[1:3]:
            try:
                variants[name]()
            except Exception as error:  # report it, measure the rest
                errors[name] = f"{type(error).__name__}: {error}"
                log(f"search: {name} failed: {errors[name]}")
                del variants[name]

    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            if name not in variants:
                continue
            try:
                times[name].append(variants[name]())
            except Exception as error:  # report it, measure the rest
                errors[name] = f"{type(error).__name__}: {error}"
                log(f"search: {name} failed: {errors[name]}")
                del variants[name]
        log(f"search: repetition {repetition + 1}/{repetitions} done")
    times = {name: values for name, values in times.items() if values}
    baseline = median(times["bare fits (sum)"])
    rows = [
        {
            "variant": name,
            "median_s": median(values),
            "ratio_to_bare": median(values) / baseline,
            "overhead_pct": 100 * (median(values) / baseline - 1),
            "times_s": values,
        }
        for name, values in times.items()
    ]
    return {
        "trials": len(grid),
        "kinds": kinds,
        "decay_epochs": decay_epochs,
        "epochs_per_trial": epochs,
        "repetitions": repetitions,
        "goal_overhead_pct": 10,
        "rows": rows,
        "errors": errors,
    }


# -- 3. start-up -----------------------------------------------------------------


def _lrdecay_command() -> list[str]:
    script = Path(sys.executable).parent / "lrdecay"
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("lrdecay")
    if found:
        return [found, "--help"]
    return [sys.executable, "-m", "lrdecay", "--help"]


def bench_startup(repetitions: int, keras_reference: bool = True) -> dict[str, Any]:
    probe = (
        "import sys, lrdecay; print(','.join(sorted(m for m in "
        "('keras', 'tensorflow', 'mlflow', 'keras_tuner') if m in sys.modules)))"
    )
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import lrdecay": [sys.executable, "-c", "import lrdecay"],
        "lrdecay --help": _lrdecay_command(),
    }
    if keras_reference:
        commands["import keras (reference)"] = [sys.executable, "-c", "import keras"]
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

    def run(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        return time.perf_counter() - start

    for command in commands.values():  # warm the file cache
        run(command)
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(run(commands[name]))
    heavy = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    bare = median(times["python -c pass"])
    rows = [
        {
            "command": name,
            "median_s": median(values),
            "over_bare_python_s": median(values) - bare,
            "times_s": values,
        }
        for name, values in times.items()
    ]
    return {
        "repetitions": repetitions,
        "rows": rows,
        "heavy_modules_after_import_lrdecay": heavy.split(",") if heavy else [],
        "help_command": " ".join(
            Path(part).name for part in commands["lrdecay --help"]
        ),
    }


# -- 4. memory -------------------------------------------------------------------


MEMORY_MODES = {
    "tracked": "search, MLflow tracking",
    "untracked": "search, no tracking",
    "bare": "the same fits, no tuner",
}


def memory_child(trials: int, epochs: int, workdir: Path, mode: str) -> None:
    """Run one search of `trials` trials (or the same fits bare, `mode="bare"`);
    print the process's RSS after every trial."""
    import psutil

    process = psutil.Process()
    peak = {"rss": process.memory_info().rss}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak["rss"] = max(peak["rss"], process.memory_info().rss)

    (x, y), validation = _common.digits_split()
    rss_after_trial: list[int] = []

    def progress(event: Any) -> None:
        rss = process.memory_info().rss
        peak["rss"] = max(peak["rss"], rss)
        rss_after_trial.append(rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracking = mode == "tracked"
    if mode == "bare":
        import keras

        grid = _grid(["step", "exponential", "plateau"], list(range(1, epochs + 1)))
        for kind, every in grid[:trials]:
            # What KerasTuner does before building each trial's model.
            keras.backend.clear_session()
            gc.collect()
            model = _common.build_digits_model(LEARNING_RATE, seed=0)
            model.fit(
                x,
                y,
                validation_data=validation,
                epochs=epochs,
                batch_size=BATCH_SIZE,
                verbose=0,
                callbacks=[_bare_decay(kind, every)],
            )
            progress(None)
    else:
        _memory_search(trials, epochs, workdir, tracking, progress)
    stop.set()
    sampler.join()
    import resource

    print(
        json.dumps(
            {
                "trials": len(rss_after_trial),
                "mode": mode,
                "tracking": tracking,
                "rss_after_trial_mib": [rss / 2**20 for rss in rss_after_trial],
                "peak_rss_mib": peak["rss"] / 2**20,
                # Linux reports ru_maxrss in KiB.
                "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                / 1024,
            }
        )
    )


def _memory_search(
    trials: int, epochs: int, workdir: Path, tracking: bool, progress: Any
) -> None:
    import lrdecay

    (x, y), validation = _common.digits_split()
    # 3 kinds x `epochs` decay epochs: enough distinct grid points.
    lrdecay.search(
        lambda: _common.build_digits_model(LEARNING_RATE, seed=0),
        x,
        y,
        validation_data=validation,
        algorithm="grid",
        kinds=("step", "exponential", "plateau"),
        decay_epochs=list(range(1, epochs + 1)),
        epochs=epochs,
        max_trials=trials,
        batch_size=BATCH_SIZE,
        seed=0,
        project_dir=str(workdir / "memory_project"),
        tuner_options={"overwrite": True},
        tracking=tracking,
        tracking_uri=f"sqlite:///{workdir / 'memory.db'}" if tracking else None,
        experiment_name="bench_cost_memory" if tracking else None,
        progress=progress,
    )


def _memory_child_run(
    trials: int, epochs: int, workdir: Path, mode: str
) -> dict[str, Any]:
    child_dir = workdir / f"memory_{trials}_{mode}"
    child_dir.mkdir()
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        str(trials),
        "--memory-epochs",
        str(epochs),
        "--workdir",
        str(child_dir),
    ]
    command += ["--memory-mode", mode]
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=child_dir, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"memory child ({trials} trials, {mode}) failed:\n"
            f"{completed.stderr[-2000:]}"
        )
    row: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    after = row["rss_after_trial_mib"]
    row["rss_growth_per_trial_mib"] = (after[-1] - after[0]) / max(1, len(after) - 1)
    log(
        f"memory: {trials} trials, {mode}: peak "
        f"{row['peak_rss_mib']:.0f} MiB, {row['rss_growth_per_trial_mib']:+.1f} "
        "MiB/trial"
    )
    return row


def bench_memory(
    trial_counts: list[int], epochs: int, workdir: Path, untracked_check: bool = True
) -> dict[str, Any]:
    rows = [
        _memory_child_run(trials, epochs, workdir, "tracked") for trials in trial_counts
    ]
    if untracked_check:
        # The largest search without MLflow, and its fits without the tuner:
        # whose is any growth?
        for mode in ("untracked", "bare"):
            rows.append(_memory_child_run(trial_counts[-1], epochs, workdir, mode))
    tracked = [row for row in rows if row["mode"] == "tracked"]
    return {
        "epochs_per_trial": epochs,
        "rows": rows,
        "peak_ratio_largest_to_smallest": tracked[-1]["peak_rss_mib"]
        / tracked[0]["peak_rss_mib"],
    }


# -- report ----------------------------------------------------------------------


def plot(payload: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    callbacks = payload.get("callbacks", {}).get("rows", [])
    search = payload.get("search", {}).get("rows", [])
    bars = [(row["variant"], row["ratio_to_plain"]) for row in callbacks]
    bars += [(row["variant"], row["ratio_to_bare"]) for row in search[1:]]
    if bars:
        names = [name for name, _ in bars][::-1]
        values = [value for _, value in bars][::-1]
        colors = ["tab:red" if value > 1.1 else "tab:blue" for value in values]
        left.barh(names, values, color=colors)
        left.axvline(1.0, color="black", linewidth=0.8)
        left.axvline(1.1, color="gray", linewidth=0.8, linestyle="--")
        left.set_xlim(0, max(values) * 1.05)
        left.set_xlabel("wall time / baseline (dashed: +10%)")
        left.set_title("Cost, as a ratio to the bare fit(s)")
    for row in payload.get("memory", {}).get("rows", []):
        after = row["rss_after_trial_mib"]
        label = f"{row['trials']} trials: {MEMORY_MODES[row['mode']]}"
        right.plot(range(1, len(after) + 1), after, marker="o", label=label)
    right.set_xlabel("trials finished")
    right.set_ylabel("resident memory (MiB)")
    right.set_title("Memory of a search process")
    if right.lines:
        right.legend(fontsize=8)
    figure.tight_layout()
    path = out / "cost.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return [path.name]


def markdown(payload: dict[str, Any]) -> str:
    token = "@@OUT@@/"
    parts = ["### What lrdecay costs\n"]
    callbacks = payload.get("callbacks", {})
    if "rows" in callbacks:
        parts.append(
            f"A `fit` of the default digits model (64-32-10, SGD), "
            f"{callbacks['epochs']} epochs x {callbacks['batches_per_epoch']} "
            f"batches, {callbacks['repetitions']} interleaved repetitions, "
            f"medians, backend {payload.get('backend')}:\n"
        )
        parts.append(
            _table(
                ["fit with", "median (s)", "ratio to plain fit"],
                [
                    [row["variant"], row["median_s"], row["ratio_to_plain"]]
                    for row in callbacks["rows"]
                ],
            )
        )
    search = payload.get("search", {})
    if "rows" in search:
        parts.append(
            f"A whole grid search of {search['trials']} trials x "
            f"{search['epochs_per_trial']} epochs against the same "
            f"{search['trials']} fits run bare (build + fit with the same decay), "
            f"{search['repetitions']} interleaved repetitions, medians "
            "(goal: at most +10%):\n"
        )
        parts.append(
            _table(
                ["what", "median (s)", "ratio to bare", "overhead"],
                [
                    [
                        row["variant"],
                        row["median_s"],
                        row["ratio_to_bare"],
                        f"{row['overhead_pct']:+.0f}%",
                    ]
                    for row in search["rows"]
                ],
            )
        )
        for name, error in search.get("errors", {}).items():
            parts.append(f"- {name}: failed ({error})\n")
    startup = payload.get("startup", {})
    if "rows" in startup:
        heavy = startup.get("heavy_modules_after_import_lrdecay") or ["none"]
        parts.append(
            f"Start-up, {startup['repetitions']} interleaved runs, medians "
            f"(heavy modules loaded by `import lrdecay`: {', '.join(heavy)}):\n"
        )
        parts.append(
            _table(
                ["command", "median (s)", "over bare python (s)"],
                [
                    [row["command"], row["median_s"], row["over_bare_python_s"]]
                    for row in startup["rows"]
                ],
            )
        )
    memory = payload.get("memory", {})
    if "rows" in memory:
        parts.append(
            f"Memory of a search process ({memory['epochs_per_trial']} epochs per "
            "trial; resident set after each trial, and the peak sampled every 50 ms):\n"
        )
        parts.append(
            _table(
                [
                    "trials",
                    "what",
                    "RSS after 1st trial (MiB)",
                    "RSS after last (MiB)",
                    "growth per trial (MiB)",
                    "peak (MiB)",
                ],
                [
                    [
                        row["trials"],
                        MEMORY_MODES[row["mode"]],
                        row["rss_after_trial_mib"][0],
                        row["rss_after_trial_mib"][-1],
                        row["rss_growth_per_trial_mib"],
                        row["peak_rss_mib"],
                    ]
                    for row in memory["rows"]
                ],
            )
        )
    for section in ("callbacks", "search", "startup", "memory"):
        if "error" in payload.get(section, {}):
            parts.append(f"- {section}: failed ({payload[section]['error']})\n")
    for name in payload.get("plots", []):
        parts.append(f"![cost]({token}{name})\n")
    return "\n".join(parts)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 1 min)")
    parser.add_argument("--out", help="results directory")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-epochs", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument(
        "--memory-mode", choices=sorted(MEMORY_MODES), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(
            args.memory_child,
            args.memory_epochs,
            Path(args.workdir),
            args.memory_mode,
        )
        return 0

    out = _common.out_dir(args.out)
    if args.quick:
        plan: dict[str, dict[str, Any]] = {
            "callbacks": {"epochs": 2, "repetitions": 1, "warmup": False},
            "search": {
                "kinds": ["step", "plateau"],
                "decay_epochs": [1],
                "epochs": 2,
                "repetitions": 1,
                "warmup": False,
            },
            "startup": {"repetitions": 2, "keras_reference": False},
            "memory": {"trial_counts": [2], "epochs": 2, "untracked_check": False},
        }
    else:
        plan = {
            "callbacks": {"epochs": 5, "repetitions": 5},
            "search": {
                "kinds": ["step", "exponential", "plateau"],
                "decay_epochs": [2, 4],
                "epochs": 5,
                "repetitions": 3,
            },
            "startup": {"repetitions": 5},
            # 3 kinds x 4 decay epochs = 12 grid points at 4 epochs.
            "memory": {"trial_counts": [3, 12], "epochs": 4},
        }
    started = time.perf_counter()
    machine = _common.machine()
    import keras

    payload: dict[str, Any] = {
        "benchmark": "cost",
        "quick": args.quick,
        "machine": machine,
        "backend": keras.backend.backend(),
        "versions": _common.versions(
            "lrdecay", "keras", "tensorflow", "keras-tuner", "mlflow"
        ),
        "plan": plan,
    }
    with tempfile.TemporaryDirectory(prefix="lrdecay_bench_cost_") as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)  # MLflow's and KerasTuner's defaults land here
        for section, function in (
            ("startup", bench_startup),
            ("callbacks", bench_callbacks),
            ("search", bench_search),
            ("memory", bench_memory),
        ):
            log(f"{section}: start")
            kwargs: dict[str, Any] = dict(plan[section])
            if section != "startup":
                section_dir = workdir / section
                section_dir.mkdir()
                kwargs["workdir"] = section_dir
            try:
                payload[section] = function(**kwargs)
            except Exception as error:
                log(f"{section}: failed: {type(error).__name__}: {error}")
                payload[section] = {"error": f"{type(error).__name__}: {error}"}
            _common.write_json(out / "cost.json", payload)
    payload["machine_after"] = {"load_average": _common.machine().get("load_average")}
    payload["wall_time_s"] = time.perf_counter() - started
    try:
        payload["plots"] = plot(payload, out)
    except Exception as error:  # a plot is not worth losing the figures
        log(f"plot failed: {type(error).__name__}: {error}")
    payload["markdown"] = markdown(payload)
    _common.write_json(out / "cost.json", payload)
    log(f"wrote {out / 'cost.json'} in {payload['wall_time_s']:.0f} s")
    failed = [name for name in plan if "error" in payload.get(name, {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

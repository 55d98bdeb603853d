"""What MLflow tracking costs a fit: lrdecay's MlflowLogger against MLflow's own.

Variants of the same fit (the default digits model, 20 epochs, StepDecay),
interleaved (the order rotates every repetition), medians over repetitions:

- `untracked`: no tracking (the baseline);
- `lrdecay`: `lrdecay.MlflowLogger()`;
- `mlflow_callback`: `mlflow.keras.MlflowCallback()` inside `mlflow.start_run()`;
- `autolog`: `mlflow.keras.autolog(log_models=False)`;
- `lrdecay_per_step` (full mode): `MlflowLogger(log_every_n_steps=1)`, which
  adds a batch hook.

All log to one SQLite store in a temporary directory. Two timing callbacks,
first and last in the callback list, split each fit into:

- `loop`: from the end of every `on_train_begin` to the last `on_epoch_end`
  (the epochs: training steps plus every epoch hook) -- the in-fit cost;
- `start`: the `on_train_begin` hooks (creating the run);
- `end`: the `on_train_end` hooks (lrdecay: last flush, plot, artifacts,
  ending the run);
- `total`: the whole variant, including `mlflow.start_run()` / `end_run()`
  where MLflow needs them (its asynchronous logging is flushed there).

Then the per-epoch cost at 1,000 epochs: a 1-step-per-epoch fit with
`MlflowLogger`, bracketed by two timers, gives the time of the logger's own
epoch hooks in the first and the last 100 epochs (flat: it does not grow
with the epochs), and its end-of-run cost after 1,000 epochs.

Usage: python benchmarks/bench_tracking.py [--quick] [--out DIR]
Prints a markdown table; writes DIR/tracking.json (DIR defaults to
benchmarks/results). `--quick` (CI) does fewer repetitions and finishes in
under a minute.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common
from _common import log, median

EPOCHS = 20
BATCH_SIZE = 32
LONG_EPOCHS = 1000
WINDOW = 100


def _timer(name: str) -> Any:
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.name = name
            self.train_begin = self.train_end = 0.0
            self.epoch_begins: list[float] = []
            self.epoch_ends: list[float] = []

        def on_train_begin(self, logs: Any = None) -> None:
            self.train_begin = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch_begins.append(time.perf_counter())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.epoch_ends.append(time.perf_counter())

        def on_train_end(self, logs: Any = None) -> None:
            self.train_end = time.perf_counter()

    return Timer()


def _fit(
    data: Any, extra: list[Any], epochs: int = EPOCHS, batch_size: int = BATCH_SIZE
) -> dict[str, Any]:
    """Fit with `extra` callbacks between two timers, inside two more."""
    import lrdecay

    (x, y), (x_val, y_val) = data
    model = _common.build_digits_model()
    timers = {name: _timer(name) for name in ("first", "before", "after", "last")}
    decay = lrdecay.StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=5)
    model.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[
            timers["first"], decay, timers["before"], *extra, timers["after"],
            timers["last"],
        ],
    )  # fmt: skip
    return {**timers, "extra": extra}


def _hook_seconds(fit: dict[str, Any]) -> float:
    """Time spent in the epoch hooks of the callbacks between the timers."""
    before, after = fit["before"], fit["after"]
    return sum(
        (b - a) for a, b in zip(before.epoch_begins, after.epoch_begins, strict=True)
    ) + sum((b - a) for a, b in zip(before.epoch_ends, after.epoch_ends, strict=True))


def _sender_cpu_seconds(fit: dict[str, Any]) -> float:
    # The CPU time of lrdecay's background sender (a private attribute: this
    # is a measurement, not an API).
    for callback in fit["extra"]:
        run = getattr(callback, "_run", None)
        sink = getattr(run, "sink", None)
        if sink is not None:
            return float(sink.cpu_seconds)
    return math.nan


def _variants(uri: str) -> dict[str, Callable[..., dict[str, Any]]]:
    import mlflow
    import mlflow.keras

    import lrdecay

    def untracked(data: Any, epochs: int = EPOCHS) -> dict[str, Any]:
        return _fit(data, [], epochs)

    def lrdecay_logger(data: Any, epochs: int = EPOCHS) -> dict[str, Any]:
        return _fit(data, [lrdecay.MlflowLogger(tracking_uri=uri)], epochs)

    def lrdecay_per_step(data: Any, epochs: int = EPOCHS) -> dict[str, Any]:
        logger = lrdecay.MlflowLogger(tracking_uri=uri, log_every_n_steps=1)
        return _fit(data, [logger], epochs)

    def mlflow_callback(data: Any, epochs: int = EPOCHS) -> dict[str, Any]:
        with mlflow.start_run():
            return _fit(data, [mlflow.keras.MlflowCallback()], epochs)

    def autolog(data: Any, epochs: int = EPOCHS) -> dict[str, Any]:
        mlflow.keras.autolog(log_models=False, log_datasets=False, silent=True)
        try:
            return _fit(data, [], epochs)
        finally:
            mlflow.keras.autolog(disable=True)

    return {
        "untracked": untracked,
        "lrdecay": lrdecay_logger,
        "mlflow_callback": mlflow_callback,
        "autolog": autolog,
        "lrdecay_per_step": lrdecay_per_step,
    }


def compare(
    data: Any, uri: str, repetitions: int, names: list[str], epochs: int = EPOCHS
) -> dict[str, Any]:
    variants = _variants(uri)
    samples: dict[str, dict[str, list[float]]] = {
        n: {k: [] for k in ("loop", "start", "end", "total", "hooks", "sender_cpu")}
        for n in names
    }
    log(f"warm-up: a 2-epoch fit of each of {names}")
    for name in names:
        variants[name](data, 2)
    for repetition in range(repetitions):
        order = names[repetition % len(names) :] + names[: repetition % len(names)]
        for name in order:
            start = time.perf_counter()
            fit = variants[name](data, epochs)
            total = time.perf_counter() - start
            first, last = fit["first"], fit["last"]
            sample = samples[name]
            sample["hooks"].append(_hook_seconds(fit))
            sample["sender_cpu"].append(_sender_cpu_seconds(fit))
            sample["loop"].append(last.epoch_ends[-1] - last.train_begin)
            sample["start"].append(last.train_begin - first.train_begin)
            sample["end"].append(last.train_end - first.train_end)
            sample["total"].append(total)
        log(f"repetition {repetition + 1}/{repetitions} done")
    medians = {n: {k: median(v) for k, v in s.items()} for n, s in samples.items()}
    base = medians["untracked"]
    bare_hooks = base["hooks"]  # the timers' own cost
    for values in medians.values():
        values["loop_ratio"] = values["loop"] / base["loop"]
        values["total_ratio"] = values["total"] / base["total"]
        values["fixed_extra"] = (values["total"] - values["loop"]) - (
            base["total"] - base["loop"]
        )
        # In-fit cost measured directly, immune to the machine's load: the
        # tracking callback's epoch hooks (over the bare timers') plus, for
        # lrdecay, its sender thread's CPU time, as a share of the epochs.
        values["hooks"] -= bare_hooks
        sender = 0.0 if math.isnan(values["sender_cpu"]) else values["sender_cpu"]
        values["direct_share"] = (values["hooks"] + sender) / base["loop"]
    return {"samples": samples, "medians": medians}


def long_fit(uri: str, epochs: int, validation: bool = True) -> dict[str, Any]:
    """The logger's own cost per epoch, early and late in a long fit.

    Two timers bracket the logger in the callback list, so the time of its
    epoch hooks is measured directly, apart from the training steps (whose
    time swings with the machine's load and would drown a few microseconds).
    """
    import statistics

    import lrdecay

    x, y = _common.digits_split()[0]
    one_step = (x[:BATCH_SIZE], y[:BATCH_SIZE])
    model = _common.build_digits_model()
    first, before, after, last = (
        _timer(n) for n in ("first", "before", "after", "last")
    )
    logger = lrdecay.MlflowLogger(tracking_uri=uri)
    log(f"{epochs}-epoch fit with MlflowLogger (1 step per epoch)")
    model.fit(
        *one_step,
        validation_data=one_step if validation else None,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[
            first,
            lrdecay.StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=100),
            before,
            logger,
            after,
            last,
        ],
    )
    hooks = [
        (after.epoch_begins[e] - before.epoch_begins[e])
        + (after.epoch_ends[e] - before.epoch_ends[e])
        for e in range(epochs)
    ]
    ends = [last.train_begin, *last.epoch_ends]
    durations = [b - a for a, b in itertools.pairwise(ends)]
    early, late = slice(1, WINDOW + 1), slice(-WINDOW, None)
    return {
        "epochs": epochs,
        "window": WINDOW,
        "validation": validation,
        "hook_first_us": statistics.median(hooks[early]) * 1e6,
        "hook_last_us": statistics.median(hooks[late]) * 1e6,
        "hook_growth": statistics.median(hooks[late]) / statistics.median(hooks[early]),
        "epoch_first_ms": statistics.median(durations[early]) * 1e3,
        "epoch_last_ms": statistics.median(durations[late]) * 1e3,
        "end_s": last.train_end - first.train_end,
    }


def table(comparison: dict[str, Any], long: dict[str, Any]) -> str:
    rows = [
        "| variant | epochs (s) | vs untracked | hooks (ms) | sender CPU (ms) "
        "| direct share | run start (s) | run end (s) | whole (s) "
        "| fixed extra (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in comparison["medians"].items():
        hooks = "n/a" if name == "autolog" else f"{m['hooks'] * 1e3:.1f}"
        sender = "" if math.isnan(m["sender_cpu"]) else f"{m['sender_cpu'] * 1e3:.1f}"
        share = "n/a" if name == "autolog" else f"{m['direct_share']:.2%}"
        rows.append(
            f"| {name} | {m['loop']:.3f} | {m['loop_ratio']:.3f} | {hooks} "
            f"| {sender} | {share} | {m['start']:.3f} | {m['end']:.3f} "
            f"| {m['total']:.3f} | {m['fixed_extra']:+.3f} |"
        )
    rows += [
        "",
        f"At {long['epochs']} epochs (1 step each"
        + ("" if long["validation"] else ", no validation")
        + f"), medians over the first / last {long['window']} epochs:",
        "",
        "| | first | last | last / first |",
        "|---|---|---|---|",
        f"| MlflowLogger epoch hooks (µs per epoch) | {long['hook_first_us']:.0f} "
        f"| {long['hook_last_us']:.0f} | {long['hook_growth']:.2f} |",
        f"| whole epoch (ms) | {long['epoch_first_ms']:.2f} "
        f"| {long['epoch_last_ms']:.2f} "
        f"| {long['epoch_last_ms'] / long['epoch_first_ms']:.2f} |",
        "",
        f"MlflowLogger end of run after {long['epochs']} epochs: {long['end_s']:.3f} s",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: < 60 s")
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument("--out", default=None, help="results directory")
    arguments = parser.parse_args(argv)
    repetitions = arguments.repetitions or (2 if arguments.quick else 7)
    epochs = 10 if arguments.quick else EPOCHS
    names = ["untracked", "lrdecay", "mlflow_callback", "autolog"]
    if not arguments.quick:
        names.append("lrdecay_per_step")
    long_epochs = 300 if arguments.quick else LONG_EPOCHS

    out = _common.out_dir(arguments.out).resolve()  # before the chdir below
    import mlflow

    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as directory:
        os.chdir(directory)  # artifacts and offline files stay in the temp dir
        uri = f"sqlite:///{Path(directory) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        data = _common.digits_split()
        started = time.perf_counter()
        comparison = compare(data, uri, repetitions, names, epochs)
        long = long_fit(uri, long_epochs, validation=not arguments.quick)
        elapsed = time.perf_counter() - started
    load = _common.machine().get("load_average")
    markdown = (
        "### MLflow tracking cost\n\n"
        f"The default digits model, {epochs} epochs with `StepDecay`, SQLite store; "
        f"medians of {repetitions} interleaved repetitions. *epochs*: the "
        "training loop with every epoch hook (the in-fit cost); *run start* / "
        "*run end*: the `on_train_begin` / `on_train_end` hooks (lrdecay's end: "
        "last flush, plot, artifacts, run status); *whole*: the variant end to "
        "end, with `mlflow.start_run()`/`end_run()` where MLflow needs them; "
        "*fixed extra*: whole minus epochs, over the untracked fit's. "
        "Measured directly, whatever the load: *hooks*, the time of the "
        "tracking callback's epoch hooks (timers around it in the callback "
        "list; n/a for autolog, which places its own callback); *sender CPU*, "
        "the CPU time of lrdecay's background sender; *direct share*: their "
        "sum over the untracked epochs' time.\n\n"
        + table(comparison, long)
        + f"\n\nLoad average (1, 5, 15 min) at the end: {load}\n"
    )
    print(markdown)
    payload = {
        "benchmark": "tracking",
        "mode": "quick" if arguments.quick else "full",
        "machine": _common.machine(),
        "versions": _common.versions("keras", "tensorflow", "mlflow"),
        "config": {
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "repetitions": repetitions,
            "long_epochs": long_epochs,
            "store": "sqlite (temporary directory)",
        },
        "elapsed_s": elapsed,
        "comparison": comparison,
        "long_fit": long,
        "markdown": markdown,
    }
    path = _common.write_json(out / "tracking.json", payload)
    log(f"wrote {path} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

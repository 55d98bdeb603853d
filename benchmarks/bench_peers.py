"""A whole decay search against its bare fits, and against the peers a user would pick.

The same grid of fits (the default digits search: step, exponential and
plateau decay over the default decay epochs, plus the constant-rate
control, at the default epochs), run as:

- bare fits: build the model, fit it with the decay (stock Keras callbacks:
  `LearningRateScheduler` for step, exponential and constant, and
  `ReduceLROnPlateau` for plateau); the baseline, summed;
- `lrdecay.search`, untracked and tracked (MLflow, SQLite), each with
  `share_prefix=False` (what lrdecay adds to the fits) and `share_prefix=True`
  (shared prefixes trained once; a row that runs only once `search()`
  accepts `share_prefix`);
- stock KerasTuner `GridSearch` with the same stock callbacks, untracked;
- Optuna's `GridSampler` with optuna-integration's `MLflowCallback`
  (tracked, SQLite), the same fits in the objective (skipped, with the
  reason printed, when optuna or optuna-integration is missing).

`--short`: the issue's short grid instead, 4 step decays (decay epochs 2, 5,
10, 15) x 20 epochs without the control, plus a row for `lrdecay.search`
with its defaults (tracked, the control and shared prefixes: 5 trials).
`--jobs N` adds a row of the tracked, shared-prefix search with `jobs=N`
(worker processes; its CPU column counts them). Without a grid flag, both
sizes run (the short grid, then the default search), each with a `jobs=2`
row: the README's table.

Interleaved (the order rotates every repetition), medians, each a ratio to
the bare fits measured in the same run, and the epochs each row trained.
Each tracked row has its own SQLite store, created before the timing (a
new store's migrations are a one-off cost, not a per-search one).

Usage: python benchmarks/bench_peers.py [--quick] [--out DIR]
       [--kinds step,plateau] [--decay-epochs 5,10] [--epochs N]
       [--repetitions N] [--no-control] [--short] [--jobs N]
Writes DIR/peers.json (DIR defaults to benchmarks/results).
"""

from __future__ import annotations

import argparse
import inspect
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

LEARNING_RATE = 0.1
BATCH_SIZE = 32
SEED = 0
BARE = "bare fits (sum)"

Point = tuple[str, int | None]  # (kind, decay epochs); ("constant", None)


def grid(kinds: list[str], decay_epochs: list[int], control: bool) -> list[Point]:
    """The search's fits, the control first (as lrdecay's grid runs them)."""
    points: list[Point] = [("constant", None)] if control else []
    return points + [(kind, every) for kind in kinds for every in decay_epochs]


def stock_decay(point: Point) -> Any:
    """The decay of `point` with Keras' own callbacks (lrdecay's settings)."""
    import keras

    kind, every = point
    if kind == "plateau":
        return keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=every
        )
    if kind == "step":

        def schedule(epoch: int, lr: float) -> float:
            return LEARNING_RATE * 0.5 ** math.floor(epoch / every)

    elif kind == "exponential":

        def schedule(epoch: int, lr: float) -> float:
            return LEARNING_RATE * math.exp(-math.log(2.0) / every * epoch)

    else:

        def schedule(epoch: int, lr: float) -> float:
            return LEARNING_RATE

    return keras.callbacks.LearningRateScheduler(schedule)


def _label(point: Point) -> str:
    kind, every = point
    return kind if every is None else f"{kind}:{every}"


def _fit(point: Point, data: Any, epochs: int) -> float:
    """One bare fit of `point`; returns its best val_loss."""
    (x, y), validation = data
    model = _common.build_digits_model(LEARNING_RATE, seed=SEED)
    history = model.fit(
        x,
        y,
        validation_data=validation,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[stock_decay(point)],
    )
    return float(min(history.history["val_loss"]))


# -- the rows ----------------------------------------------------------------------


def supports_share_prefix() -> bool:
    import lrdecay

    return "share_prefix" in inspect.signature(lrdecay.search).parameters


def optuna_missing() -> str | None:
    """Why the Optuna row cannot run, or `None`."""
    try:
        import optuna  # noqa: F401
        import optuna_integration.mlflow  # noqa: F401
    except ImportError as error:
        return f"{error} (pip install optuna optuna-integration, or the `bench` extra)"
    return None


class Rows:
    """Each row of the benchmark: a callable returning the epochs it trained."""

    def __init__(self, plan: dict[str, Any], workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.data = _common.digits_split()
        self.points = grid(plan["kinds"], plan["decay_epochs"], plan["control"])
        self.count = 0
        self.skipped: dict[str, str] = {}

    def uri(self, name: str) -> str:
        return f"sqlite:///{self.workdir / name}.db"

    def all(self) -> dict[str, Callable[[], int]]:
        rows: dict[str, Callable[[], int]] = {BARE: self.bare}
        prefix = supports_share_prefix()
        for share in (False, True):
            for tracked in (False, True):
                how = "tracked (MLflow, SQLite)" if tracked else "untracked"
                name = f"lrdecay.search, {how}, share_prefix={share}"
                if share and not prefix:
                    self.skipped[name] = "lrdecay.search() has no `share_prefix` yet"
                    continue
                rows[name] = self._search_row(tracked, share if prefix else None)
        if not self.plan["control"]:
            name = (
                "lrdecay.search, tracked (MLflow, SQLite), defaults (control, shared)"
            )
            rows[name] = self._search_row(True, True, control=True)
        jobs = self.plan.get("jobs", 1)
        if jobs > 1:
            name = (
                "lrdecay.search, tracked (MLflow, SQLite), share_prefix=True, "
                f"jobs={jobs}"
            )
            rows[name] = self._search_row(True, True, jobs=jobs)
        rows["KerasTuner GridSearch + LearningRateScheduler, untracked"] = (
            self.keras_tuner
        )
        name = "Optuna GridSampler + MLflowCallback, tracked (MLflow, SQLite)"
        reason = optuna_missing()
        if reason is None:
            rows[name] = self.optuna
        else:
            self.skipped[name] = reason
            log(f"skipping {name}: {reason}")
        return rows

    def bare(self) -> int:
        epochs = self.plan["epochs"]
        for point in self.points:
            _fit(point, self.data, epochs)
        return epochs * len(self.points)

    def _search_row(
        self,
        tracked: bool,
        share: bool | None,
        control: bool | None = None,
        jobs: int = 1,
    ) -> Callable[[], int]:
        with_control = self.plan["control"] if control is None else control
        expected = len(self.points) + (with_control and not self.plan["control"])

        def run() -> int:
            import lrdecay

            self.count += 1
            (x, y), validation = self.data
            extra: dict[str, Any] = {} if share is None else {"share_prefix": share}
            if jobs > 1:
                extra["jobs"] = jobs
            name = "lrdecay" if share is None else f"lrdecay_share_{share}"
            result = lrdecay.search(
                lambda: _common.build_digits_model(LEARNING_RATE, seed=SEED),
                x,
                y,
                validation_data=validation,
                algorithm="grid",
                kinds=tuple(self.plan["kinds"]),
                decay_epochs=list(self.plan["decay_epochs"]),
                epochs=self.plan["epochs"],
                batch_size=BATCH_SIZE,
                seed=SEED,
                control=with_control,
                project_dir=str(self.workdir / "projects"),
                project_name=f"search_{self.count}",
                tuner_options={"overwrite": True},
                tracking=(
                    {"tracking_uri": self.uri(name), "experiment_name": "bench_peers"}
                    if tracked
                    else False
                ),
                **extra,
            )
            completed = sum(trial.status == "COMPLETED" for trial in result.trials)
            if completed != expected:
                raise RuntimeError(f"{completed} of {expected} trials completed")
            cost = getattr(result, "cost", None)
            trained = getattr(cost or result, "epochs_trained", None)
            return int(trained) if trained else self.plan["epochs"] * completed

        return run

    def keras_tuner(self) -> int:
        import keras_tuner

        labels = [_label(point) for point in self.points]
        by_label = dict(zip(labels, self.points, strict=True))

        class StockHyperModel(keras_tuner.HyperModel):
            def build(self, hp: Any) -> Any:
                hp.Choice("decay", labels)
                return _common.build_digits_model(LEARNING_RATE, seed=SEED)

            def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
                callbacks = [
                    *kwargs.pop("callbacks", []),
                    stock_decay(by_label[hp.get("decay")]),
                ]
                return model.fit(*args, callbacks=callbacks, **kwargs)

        self.count += 1
        (x, y), validation = self.data
        tuner = keras_tuner.GridSearch(
            StockHyperModel(),
            objective="val_loss",
            directory=str(self.workdir / "projects"),
            project_name=f"keras_tuner_{self.count}",
            overwrite=True,
        )
        tuner.search(
            x,
            y,
            validation_data=validation,
            epochs=self.plan["epochs"],
            batch_size=BATCH_SIZE,
            verbose=0,
        )
        trials = len(tuner.oracle.trials)
        if trials != len(self.points):
            raise RuntimeError(f"{trials} of {len(self.points)} trials ran")
        return self.plan["epochs"] * trials

    def optuna(self) -> int:
        import optuna
        from optuna_integration.mlflow import MLflowCallback

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        labels = [_label(point) for point in self.points]
        by_label = dict(zip(labels, self.points, strict=True))
        self.count += 1
        study = optuna.create_study(
            study_name=f"optuna_{self.count}",
            sampler=optuna.samplers.GridSampler({"decay": labels}, seed=SEED),
            direction="minimize",
        )

        def objective(trial: Any) -> float:
            point = by_label[trial.suggest_categorical("decay", labels)]
            return _fit(point, self.data, self.plan["epochs"])

        study.optimize(
            objective,
            n_trials=len(labels),
            callbacks=[
                MLflowCallback(tracking_uri=self.uri("optuna"), metric_name="val_loss")
            ],
        )
        return self.plan["epochs"] * len(study.trials)

    def warm_up(self) -> None:
        """TensorFlow's first trace, the imports, every tracked row's store."""
        import mlflow

        (x, y), _ = self.data
        _common.build_digits_model(LEARNING_RATE).fit(x, y, epochs=1, verbose=0)
        for name in ("lrdecay", "lrdecay_share_False", "lrdecay_share_True", "optuna"):
            mlflow.MlflowClient(self.uri(name)).search_experiments()
        import keras_tuner  # noqa: F401

        import lrdecay.tuning  # noqa: F401


# -- measuring -----------------------------------------------------------------------


def _cpu_seconds() -> float:
    """This process's CPU time (every thread) and its ended children's."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(plan: dict[str, Any], workdir: Path) -> dict[str, Any]:
    rows = Rows(plan, workdir)
    variants = rows.all()
    if plan["warmup"]:
        rows.warm_up()
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    # CPU seconds of the process (every thread): less sensitive than wall
    # time to what else the machine runs.
    cpu: dict[str, list[float]] = {name: [] for name in names}
    epochs: dict[str, int] = {}
    errors: dict[str, str] = {}
    for repetition in range(plan["repetitions"]):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            if name in errors:
                continue
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            try:
                epochs[name] = variants[name]()
            except Exception as error:  # report it, measure the rest
                errors[name] = f"{type(error).__name__}: {error}"
                log(f"{name} failed: {errors[name]}")
                continue
            times[name].append(time.perf_counter() - started)
            cpu[name].append(_cpu_seconds() - cpu_started)
            log(f"{name}: {times[name][-1]:.1f} s, CPU {cpu[name][-1]:.1f} s")
        log(f"repetition {repetition + 1}/{plan['repetitions']} done")
    if not times[BARE]:
        raise RuntimeError(f"the bare fits failed: {errors.get(BARE)}")
    baseline, cpu_baseline = median(times[BARE]), median(cpu[BARE])
    table = [
        {
            "variant": name,
            "median_s": median(values),
            "ratio_to_bare": median(values) / baseline,
            "cpu_ratio_to_bare": median(cpu[name]) / cpu_baseline,
            "epochs_trained": epochs[name],
            "times_s": values,
            "cpu_s": cpu[name],
        }
        for name, values in times.items()
        if values
    ]
    return {
        "trials": len(rows.points),
        "rows": table,
        "skipped": rows.skipped,
        "errors": errors,
    }


def markdown(payload: dict[str, Any]) -> str:
    plan = payload["plan"]
    size = "short grid" if plan["epochs"] < 40 else "default search"
    parts = [
        f"#### The {size}: {payload['trials']} fits x {plan['epochs']} epochs\n",
        f"The digits search as a grid: {payload['trials']} fits "
        f"({', '.join(plan['kinds'])} over decay epochs "
        f"{', '.join(map(str, plan['decay_epochs']))}"
        + (", plus the constant-rate control" if plan["control"] else "")
        + f") x {plan['epochs']} epochs, {plan['repetitions']} interleaved "
        "repetitions, medians, ratios to the same fits run bare in the same run "
        "(goal for lrdecay with `share_prefix=False`: at most 1.05x); *CPU*: the "
        "process's CPU time (all threads, and its worker processes'), steadier "
        "than wall time on a busy machine:\n",
        "| what | median (s) | ratio to bare | CPU ratio to bare | epochs trained |",
        "|---|---|---|---|---|",
    ]
    for row in payload.get("rows", []):
        parts.append(
            f"| {row['variant']} | {row['median_s']:.1f} | "
            f"{row['ratio_to_bare']:.2f}x | {row['cpu_ratio_to_bare']:.2f}x | "
            f"{row['epochs_trained']} |"
        )
    if plan.get("jobs", 1) > 1:
        parts.append(
            f"\nThe jobs={plan['jobs']} row runs {plan['jobs']} worker processes "
            "beside this one (the chief); its CPU column counts them too."
        )
    parts.append("")
    for name, reason in {
        **payload.get("skipped", {}),
        **payload.get("errors", {}),
    }.items():
        parts.append(f"- {name}: not measured ({reason})")
    load = payload.get("machine", {}).get("load_average")
    after = payload.get("machine_after", {}).get("load_average")
    if load:
        parts.append(
            f"\nLoad average (1, 5, 15 min): {load} at the start, {after} at the end."
        )
    return "\n".join(parts) + "\n"


def plans(args: argparse.Namespace) -> list[dict[str, Any]]:
    """What to measure: the flags' one grid, else both sizes with `jobs=2`."""
    from lrdecay import defaults, schedules

    base: dict[str, Any] = {
        "kinds": list(schedules.DEFAULT_KINDS),
        "decay_epochs": list(defaults.DECAY_EPOCHS),
        "epochs": defaults.EPOCHS,
        "control": defaults.CONTROL,
        "repetitions": 3,
        "warmup": True,
        "jobs": 1 if args.jobs is None else args.jobs,
    }
    short = {"kinds": ["step"], "decay_epochs": [2, 5, 10, 15], "epochs": 20}
    if args.quick:
        base.update(kinds=["step"], decay_epochs=[1], epochs=2, repetitions=1)
        base["warmup"] = False
        return [base]
    chosen = (args.kinds, args.decay_epochs, args.epochs, args.no_control)
    if not args.short and not any(chosen):
        jobs = 2 if args.jobs is None else args.jobs
        both = [{**base, **short, "control": False}, base]
        return [
            {**plan, "jobs": jobs, "repetitions": args.repetitions or 3}
            for plan in both
        ]
    plan = dict(base)
    if args.short:
        plan.update(short, control=False)
    if args.kinds:
        plan["kinds"] = args.kinds.split(",")
    if args.decay_epochs:
        plan["decay_epochs"] = [int(value) for value in args.decay_epochs.split(",")]
    if args.epochs:
        plan["epochs"] = args.epochs
    if args.repetitions:
        plan["repetitions"] = args.repetitions
    if args.no_control:
        plan["control"] = False
    return [plan]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (< 1 min)")
    parser.add_argument("--out", help="results directory")
    parser.add_argument("--kinds", help="comma-separated decay kinds")
    parser.add_argument("--decay-epochs", help="comma-separated decay epochs")
    parser.add_argument("--epochs", type=int, help="epochs per fit")
    parser.add_argument("--repetitions", type=int, help="interleaved repetitions")
    parser.add_argument("--no-control", action="store_true", help="no control fit")
    parser.add_argument(
        "--short",
        action="store_true",
        help="4 step decays (2, 5, 10, 15) x 20 epochs, no control, plus the "
        "defaults row",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="add a jobs=N row (default: 2 when both sizes run, else none)",
    )
    args = parser.parse_args(argv)

    out = _common.out_dir(args.out)
    started = time.perf_counter()
    import keras

    payload: dict[str, Any] = {
        "benchmark": "peers",
        "quick": args.quick,
        "machine": _common.machine(),
        "backend": keras.backend.backend(),
        "versions": _common.versions(
            "lrdecay",
            "keras",
            "tensorflow",
            "keras-tuner",
            "mlflow",
            "optuna",
            "optuna-integration",
        ),
        "sizes": [],
    }
    status = 0
    for plan in plans(args):
        size: dict[str, Any] = {"plan": plan}
        with tempfile.TemporaryDirectory(prefix="lrdecay_bench_peers_") as tmp:
            os.chdir(tmp)  # MLflow's and KerasTuner's defaults land here
            try:
                size.update(measure(plan, Path(tmp)))
            except Exception as error:
                log(f"failed: {type(error).__name__}: {error}")
                size["error"] = f"{type(error).__name__}: {error}"
                status = 1
        payload["sizes"].append(size)
    payload["machine_after"] = {"load_average": _common.machine().get("load_average")}
    payload["wall_time_s"] = time.perf_counter() - started
    sections = [
        markdown({**payload, **size}) for size in payload["sizes"] if "rows" in size
    ]
    if sections:
        payload["markdown"] = (
            "### A whole search against its bare fits, and the peers\n\n"
            + "\n".join(sections)
        )
        print(payload["markdown"])
    _common.write_json(out / "peers.json", payload)
    log(f"wrote {out / 'peers.json'} in {payload['wall_time_s']:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())

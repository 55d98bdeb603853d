"""The decay study: what tuning the decay (kind and epochs) buys, at equal budgets.

For each data set (scikit-learn's digits and breast-cancer sets, both shipped
inside scikit-learn), each regime and each seed, every method trains the same
small dense network with the same per-fit epoch budget:

- `constant`: no decay;
- `schedule-free`: a second control without any schedule, Keras'
  `ScheduleFreeAdamW` at its default rate (0.0025) in place of the regime's
  optimizer (Defazio et al. 2024: matches cosine and linear decay without
  knowing the stopping time);
- the textbook defaults: `step` (halve every 30 epochs), `exponential`
  (`exp(-0.1 * epoch)`), `plateau` (x0.1 after 10 epochs without progress),
  `cosine` (to 0 over the whole budget);
- `grid`: `lrdecay.search(algorithm="grid")` over kinds (step, exponential,
  plateau, cosine: the decay epochs are the cosine's period) x decay epochs
  `[10, 20, 30, 50]` (16 trials);
- `random`, `bayesian`: `lrdecay.search` with as many trials as half the grid,
  over decay epochs 10..50 (and the initial rate in the aggressive regime);
- `hyperband`: `lrdecay.search(algorithm="hyperband")`, `max_epochs` = the
  budget, over the same space as random search.

Regimes: `gentle` (Adam, 1e-3: decay may matter little) and `aggressive`
(SGD with momentum 0.9 and a large rate: the decay can decide the result;
random, Bayesian and Hyperband also search the initial rate below it).

Every fit (a baseline or a trial) is scored the way KerasTuner scores a
trial: by its best validation loss over the epochs, and that epoch's weights
are evaluated on a held-out test split never used for any choice. A method's
result is its trial with the best validation loss; its cost is every epoch
it trained (Hyperband's continued trials count only their new epochs) and
its wall time.

Usage: python benchmarks/study.py [--quick] [--out DIR] [--jobs N] [--seeds N]
Writes DIR/study.json and DIR/study.png.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import hashlib
import importlib.util
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The study is thousands of short epochs: Keras' per-epoch overhead dominates,
# and it is several times lower on JAX than on TensorFlow here. The backend
# does not change what the study compares; it is recorded in the results.
if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("jax"):
    os.environ["KERAS_BACKEND"] = "jax"
if os.environ.get("KERAS_BACKEND") == "jax":
    # Every trial builds a new model, and JAX compiles its train step again
    # (seconds each on a busy machine): the same network compiles to the same
    # program, so a persistent compilation cache turns that into ~0.5 s.
    os.environ.setdefault(
        "JAX_COMPILATION_CACHE_DIR",
        os.path.join(tempfile.gettempdir(), "lrdecay-study-jax-cache"),
    )
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import _common
from _common import log

METHODS = (
    "constant",
    "schedule-free",
    "textbook step",
    "textbook exponential",
    "textbook plateau",
    "textbook cosine",
    "grid",
    "random",
    "bayesian",
    "hyperband",
)
SEARCHES = ("grid", "random", "bayesian", "hyperband")
KINDS = ("step", "exponential", "plateau", "cosine")

FULL: dict[str, Any] = {
    "datasets": ["digits", "breast_cancer"],
    "regimes": ["gentle", "aggressive"],
    "seeds": 3,
    "epochs": 60,
    "grid_decay_epochs": [10, 20, 30, 50],
    "range_decay_epochs": [10, 50],
    "random_trials": 6,
    "bayesian_initial_points": 3,
    "hyperband_factor": 8,
    "batch_size": 64,
    "textbook": {"step_every": 30, "exponential_k": 0.1, "plateau_patience": 10},
}
QUICK: dict[str, Any] = {
    "datasets": ["digits"],
    "regimes": ["aggressive"],
    "seeds": 1,
    "epochs": 3,
    "grid_decay_epochs": [2],
    "range_decay_epochs": [1, 3],
    "random_trials": 2,
    "bayesian_initial_points": 1,
    "hyperband_factor": 3,
    "batch_size": 64,
    "textbook": {"step_every": 2, "exponential_k": 0.1, "plateau_patience": 1},
}
REGIMES: dict[str, dict[str, Any]] = {
    # optimizer, initial rate, searched initial-rate range (None: the model's)
    "gentle": {"optimizer": "adam", "learning_rate": 1e-3, "search_lr": None},
    "aggressive": {
        "optimizer": "sgd_momentum",
        "learning_rate": 0.3,
        "search_lr": [0.01, 0.3],
    },
}

# -- data -------------------------------------------------------------------------


def load_dataset(name: str, seed: int) -> dict[str, Any]:
    """A stratified 60/20/20 train/validation/test split, standardized on train."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
    }[name]
    x, y = loader(return_X_y=True)
    x = x.astype("float32")
    y = y.astype("int32")
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=seed, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0) + 1e-6
    return {
        "train": ((x_train - mean) / scale, y_train),
        "val": ((x_val - mean) / scale, y_val),
        "test": ((x_test - mean) / scale, y_test),
        "classes": int(y.max()) + 1,
        "features": int(x.shape[1]),
    }


def model_builder(
    data: dict[str, Any], regime: str, seed: int, schedule_free: bool = False
) -> Callable[[], Any]:
    settings = REGIMES[regime]

    def build_model() -> Any:
        import keras

        # The same initial weights for every fit of a seed: methods differ
        # only by their learning-rate schedule.
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((data["features"],)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(data["classes"], activation="softmax"),
            ]
        )
        if schedule_free:
            # Keras' default rate, the one its authors recommend for AdamW.
            optimizer: Any = keras.optimizers.ScheduleFreeAdamW()
        elif settings["optimizer"] == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=settings["learning_rate"])
        else:
            optimizer = keras.optimizers.SGD(
                learning_rate=settings["learning_rate"], momentum=0.9
            )
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return build_model


# -- recording every fit ----------------------------------------------------------

# Module state, not callback state: KerasTuner deep-copies callbacks per trial.
_FITS: list[dict[str, Any]] = []
_TEST: dict[str, Any] = {}


def _recorder() -> Any:
    import keras

    class FitRecorder(keras.callbacks.Callback):
        """Keep each fit's best-validation-loss epoch and score it on test."""

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self.fit: dict[str, Any] = {
                "epochs": 0,
                "val_loss": math.inf,
                "val_accuracy": None,
                "test_accuracy": None,
                "best_epoch": None,
            }
            _FITS.append(self.fit)
            self.best_weights: list[Any] | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            self.fit["epochs"] += 1
            value = float(logs.get("val_loss", math.nan))
            if math.isfinite(value) and value < self.fit["val_loss"]:
                self.fit["val_loss"] = value
                self.fit["val_accuracy"] = float(logs.get("val_accuracy", math.nan))
                self.fit["best_epoch"] = epoch
                self.best_weights = self.model.get_weights()

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if self.best_weights is None:
                return
            final_weights = self.model.get_weights()
            self.model.set_weights(self.best_weights)
            x_test, y_test = _TEST["data"]
            probabilities = keras.ops.convert_to_numpy(
                self.model(x_test, training=False)
            )
            self.fit["test_accuracy"] = float(
                np.mean(np.argmax(probabilities, axis=1) == y_test)
            )
            self.model.set_weights(final_weights)

    return FitRecorder()


def _result(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """A method's result: its fit with the best validation loss, and the cost."""
    # A fit without a test score ended by raising (a diverged trial that
    # KerasTuner marks FAILED): it cannot be chosen, its epochs still count.
    finite = [
        fit
        for fit in fits
        if math.isfinite(fit["val_loss"]) and fit["test_accuracy"] is not None
    ]
    best = min(finite, key=lambda fit: fit["val_loss"]) if finite else None
    chosen_ids = {id(fit) for fit in finite}
    # Anytime curve: test score of the best-so-far fit after each fit.
    curve: list[list[float]] = []
    spent = 0
    best_so_far: dict[str, Any] | None = None
    for fit in fits:
        spent += fit["epochs"]
        if id(fit) in chosen_ids and (
            best_so_far is None or fit["val_loss"] < best_so_far["val_loss"]
        ):
            best_so_far = fit
        if best_so_far is not None:
            curve.append([spent, best_so_far["test_accuracy"]])
    return {
        "val_loss": None if best is None else best["val_loss"],
        "val_accuracy": None if best is None else best["val_accuracy"],
        "test_accuracy": None if best is None else best["test_accuracy"],
        "epochs": spent,
        "fits": len(fits),
        "failed_fits": len(fits) - len(finite),
        "curve": curve,
    }


# -- one cell: a data set, a regime, a seed -----------------------------------------


def _textbook(kind: str, plan: dict[str, Any], learning_rate: float) -> Any:
    import lrdecay

    textbook = plan["textbook"]
    if kind == "step":
        return lrdecay.StepDecay(
            initial_lr=learning_rate, drop=0.5, epochs_drop=textbook["step_every"]
        )
    if kind == "exponential":
        return lrdecay.ExponentialDecay(
            initial_lr=learning_rate, k=textbook["exponential_k"]
        )
    if kind == "cosine":
        return lrdecay.CosineDecay(
            initial_lr=learning_rate, decay_epochs=plan["epochs"]
        )
    return lrdecay.PlateauDecay(
        monitor="val_loss", factor=0.1, patience=textbook["plateau_patience"]
    )


def run_cell(dataset: str, regime: str, seed: int, plan: dict[str, Any]) -> dict:
    import keras

    import lrdecay
    from lrdecay.tuning.searchspace.space import Range

    data = load_dataset(dataset, seed)
    _TEST["data"] = data["test"]
    # KerasTuner runs two full garbage collections per trial (`_try_build`);
    # with TensorFlow, JAX and Keras loaded that is ~0.5 M objects and up to
    # 2 s each on a busy machine -- more than a 60-epoch fit here. Objects
    # that exist now live for the whole process: freezing them keeps them out
    # of every collection. bench_cost.py measures the search with and without.
    gc.collect()
    gc.freeze()
    build_model = model_builder(data, regime, seed)
    settings = REGIMES[regime]
    epochs = plan["epochs"]
    x, y = data["train"]
    fit_kwargs = {
        "validation_data": data["val"],
        "epochs": epochs,
        "batch_size": plan["batch_size"],
        "verbose": 0,
    }
    cell: dict[str, Any] = {
        "dataset": dataset,
        "regime": regime,
        "seed": seed,
        "backend": keras.backend.backend(),
        "methods": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix=f"lrdecay_study_{dataset}_{regime}_"))
    low, high = plan["range_decay_epochs"]
    searched_lr = (
        None
        if settings["search_lr"] is None
        else Range(settings["search_lr"][0], settings["search_lr"][1], sampling="log")
    )

    def baseline(method: str) -> dict[str, Any]:
        if method == "schedule-free":
            model = model_builder(data, regime, seed, schedule_free=True)()
        else:
            model = build_model()
        callbacks = [_recorder()]
        if method.startswith("textbook"):
            kind = method.split()[-1]
            callbacks.insert(0, _textbook(kind, plan, settings["learning_rate"]))
        model.fit(x, y, callbacks=callbacks, **fit_kwargs)
        return {"chosen": None}

    def searched(method: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "algorithm": method,
            "kinds": KINDS,
            "epochs": epochs,
            "batch_size": plan["batch_size"],
            "seed": seed,
            "project_dir": str(workdir),
            "project_name": method,
            "tuner_options": {"overwrite": True},
            "tracking": False,
            "callbacks": [_recorder()],
        }
        if method == "grid":
            arguments["decay_epochs"] = list(plan["grid_decay_epochs"])
        else:
            arguments["decay_epochs"] = Range(low, high)
            arguments["initial_lr"] = searched_lr
        if method in ("random", "bayesian"):
            arguments["max_trials"] = plan["random_trials"]
        if method == "bayesian":
            # KerasTuner's default starts with 3 random trials per
            # hyperparameter: more than the whole budget here.
            arguments["tuner_options"]["num_initial_points"] = plan[
                "bayesian_initial_points"
            ]
        if method == "hyperband":
            arguments["tuner_options"]["factor"] = plan["hyperband_factor"]
        result = lrdecay.search(
            build_model, x, y, validation_data=data["val"], **arguments
        )
        return {
            "chosen": result.winner.decay,
            "search_best_score": result.winner.score,
            "trials": len(result.trials),
        }

    for method in METHODS:
        del _FITS[:]
        start = time.perf_counter()
        try:
            extra = searched(method) if method in SEARCHES else baseline(method)
            error = None
        except Exception as exception:  # record it; the other methods still run
            extra, error = {}, f"{type(exception).__name__}: {exception}"
        wall = time.perf_counter() - start
        entry = _result(list(_FITS))
        entry.update(extra)
        entry["wall_s"] = wall
        entry["error"] = error
        cell["methods"][method] = entry
        shutil.rmtree(workdir / method, ignore_errors=True)
        log(
            f"{dataset}/{regime}/seed {seed}: {method}: test "
            f"{entry['test_accuracy']}, {entry['epochs']} epochs, {wall:.0f} s"
            + (f", ERROR {error}" if error else "")
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return cell


def _run_cell_in_worker(arguments: tuple[str, str, int, dict[str, Any]]) -> dict:
    return run_cell(*arguments)


def _cell_path(cells_dir: Path, item: tuple[str, str, int, dict[str, Any]]) -> Path:
    dataset, regime, seed, plan = item
    digest = hashlib.sha256(
        json.dumps([plan, REGIMES], sort_keys=True).encode()
    ).hexdigest()[:10]
    return cells_dir / f"{dataset}_{regime}_{seed}_{digest}.json"


def run_cells(
    work: list[tuple[str, str, int, dict[str, Any]]],
    jobs: int,
    cells_dir: Path,
    resume: bool = False,
    attempts: int = 3,
) -> list[dict[str, Any]]:
    """Run every cell, `jobs` at a time, each one saved as soon as it ends.

    A worker that dies (a native crash takes the whole process pool down
    with it) costs only the cells in flight: they run again in a new pool,
    up to `attempts` times. With `resume`, cells saved by an earlier run of
    the same plan are read back instead of run.
    """
    cells_dir.mkdir(parents=True, exist_ok=True)
    done: dict[int, dict[str, Any]] = {}
    if resume:
        for index, item in enumerate(work):
            path = _cell_path(cells_dir, item)
            if path.exists():
                done[index] = json.loads(path.read_text())
        log(f"study: {len(done)} cell(s) read back from {cells_dir}")

    def keep(index: int, cell: dict[str, Any]) -> None:
        done[index] = cell
        _common.write_json(_cell_path(cells_dir, work[index]), cell)

    for attempt in range(attempts):
        pending = [index for index in range(len(work)) if index not in done]
        if not pending:
            break
        if attempt:
            log(f"study: a worker died; running {len(pending)} cell(s) again")
        if jobs == 1:
            for index in pending:
                keep(index, run_cell(*work[index]))
            break
        context = multiprocessing.get_context("spawn")
        try:
            with concurrent.futures.ProcessPoolExecutor(
                jobs, mp_context=context
            ) as pool:
                futures = {
                    pool.submit(_run_cell_in_worker, work[index]): index
                    for index in pending
                }
                for future in concurrent.futures.as_completed(futures):
                    keep(futures[future], future.result())
        except concurrent.futures.process.BrokenProcessPool as error:
            log(f"study: {error}")
    missing = [work[index][:3] for index in range(len(work)) if index not in done]
    if missing:
        raise RuntimeError(f"cells never completed: {missing}")
    return [done[index] for index in range(len(work))]


# -- summary, plot, markdown -----------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    groups = sorted({(cell["dataset"], cell["regime"]) for cell in cells})
    for dataset, regime in groups:
        group = [
            cell
            for cell in cells
            if cell["dataset"] == dataset and cell["regime"] == regime
        ]
        for method in METHODS:
            entries = [cell["methods"][method] for cell in group]
            tests = [
                e["test_accuracy"] for e in entries if e["test_accuracy"] is not None
            ]
            vals = [e["val_loss"] for e in entries if e["val_loss"] is not None]
            test_mean, test_std = _mean_std(tests)
            rows.append(
                {
                    "dataset": dataset,
                    "regime": regime,
                    "method": method,
                    "seeds": len(tests),
                    "test_accuracy_mean": test_mean,
                    "test_accuracy_std": test_std,
                    "val_loss_mean": _mean_std(vals)[0],
                    "val_accuracy_mean": _mean_std(
                        [e["val_accuracy"] for e in entries if e["val_accuracy"]]
                    )[0],
                    "epochs_mean": _mean_std([e["epochs"] for e in entries])[0],
                    "wall_s_mean": _mean_std([e["wall_s"] for e in entries])[0],
                    "failed_fits": sum(e["failed_fits"] for e in entries),
                    "errors": [e["error"] for e in entries if e["error"]],
                    "chosen": [e.get("chosen") for e in entries],
                }
            )
    return rows


def hyperband_plan(max_epochs: int, factor: int) -> dict[str, int]:
    """Trials and epochs KerasTuner's Hyperband plans (one iteration).

    Mirrors `keras_tuner` HyperbandOracle's `_get_num_brackets`, `_get_size`
    and `_get_epochs` (min_epochs 1); continued trials count only their new
    epochs, as they resume from the previous round's checkpoint.
    """
    brackets = 0
    epochs: float = max_epochs
    while epochs >= 1:
        epochs /= factor
        brackets += 1
    last_round_size = math.ceil(1 + math.log(max_epochs, factor))
    trials = total_epochs = 0
    for bracket in range(brackets - 1, -1, -1):
        previous = 0
        for round_number in range(bracket + 1):
            size = math.ceil(
                last_round_size / (bracket + 1) * factor ** (bracket - round_number)
            )
            round_epochs = math.ceil(max_epochs / factor ** (bracket - round_number))
            trials += size
            total_epochs += size * (round_epochs - previous)
            previous = round_epochs
    return {"trials": trials, "epochs": total_epochs}


def hyperband_check(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Does Hyperband reach the grid's test score (within 1%) on <= half its epochs?"""
    rows = []
    for cell in cells:
        grid = cell["methods"]["grid"]
        hyperband = cell["methods"]["hyperband"]
        if grid["test_accuracy"] is None or hyperband["test_accuracy"] is None:
            continue
        within = hyperband["test_accuracy"] >= 0.99 * grid["test_accuracy"]
        half = hyperband["epochs"] <= grid["epochs"] / 2
        rows.append(
            {
                "dataset": cell["dataset"],
                "regime": cell["regime"],
                "seed": cell["seed"],
                "grid_test": grid["test_accuracy"],
                "grid_epochs": grid["epochs"],
                "hyperband_test": hyperband["test_accuracy"],
                "hyperband_epochs": hyperband["epochs"],
                "within_1pct": within,
                "at_most_half_epochs": half,
                "both": within and half,
            }
        )
    return rows


def plot(
    cells: list[dict[str, Any]], summary: list[dict[str, Any]], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(cell["dataset"], cell["regime"]) for cell in cells})
    columns = min(2, len(groups))
    rows_count = math.ceil(len(groups) / columns)
    figure, axes = plt.subplots(
        rows_count,
        columns,
        figsize=(max(8.0, 6.2 * columns), 4.2 * rows_count + 0.9),
        squeeze=False,
    )
    colors = {method: f"C{index}" for index, method in enumerate(METHODS)}
    markers = dict(zip(METHODS, "osD^vP*Xhp", strict=True))
    for axis, (dataset, regime) in zip(axes.flat, groups, strict=False):
        for cell in cells:
            if (cell["dataset"], cell["regime"]) != (dataset, regime):
                continue
            for method in SEARCHES:
                curve = cell["methods"][method]["curve"]
                if curve:
                    spent, scores = zip(*curve, strict=True)
                    axis.step(
                        spent,
                        scores,
                        where="post",
                        color=colors[method],
                        alpha=0.25,
                        linewidth=1,
                    )
        for row in summary:
            if (row["dataset"], row["regime"]) != (dataset, regime):
                continue
            if math.isnan(row["test_accuracy_mean"]):
                continue
            # A small sideways shift per method, so equal points stay visible.
            middle = (len(METHODS) - 1) / 2
            shift = 1 + 0.05 * (METHODS.index(row["method"]) - middle) / middle
            axis.errorbar(
                row["epochs_mean"] * shift,
                row["test_accuracy_mean"],
                yerr=row["test_accuracy_std"],
                fmt=markers[row["method"]],
                color=colors[row["method"]],
                markersize=8,
                capsize=3,
                label=row["method"],
            )
        axis.set_xscale("log")
        axis.set_xlabel("epochs spent (log)")
        axis.set_ylabel("held-out test accuracy")
        regime_text = REGIMES[regime]
        axis.set_title(
            f"{dataset}, {regime} ({regime_text['optimizer']}, "
            f"lr {regime_text['learning_rate']:g})"
        )
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(groups) :]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="lower center", ncol=4 if columns == 1 else 8, fontsize=8
    )
    figure.suptitle(
        "Test accuracy against epochs spent\n(markers: mean ± std over seeds; "
        "faint lines: each search's best-so-far fit; points shifted ±5% sideways)",
        fontsize=10,
    )
    legend_height = 0.9 / figure.get_figheight() * (2 if columns == 1 else 1)
    figure.tight_layout(rect=(0, legend_height, 1, 0.95))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _chosen_text(chosen: list[Any]) -> str:
    texts = []
    for decay in chosen:
        if not decay:
            continue
        kind = decay.get("kind")
        detail = {
            "step": lambda d: f"every {d.get('epochs_drop')}",
            "exponential": lambda d: f"k={d.get('k', 0):.3g}",
            "plateau": lambda d: f"patience {d.get('patience')}",
            "cosine": lambda d: f"period {d.get('decay_epochs')}",
        }.get(kind, lambda d: "")(decay)
        if decay.get("initial_lr") is not None and "initial_lr" in decay:
            detail += f", lr {decay['initial_lr']:.2g}"
        texts.append(f"{kind} {detail}".strip())
    return "; ".join(texts)


def markdown(payload: dict[str, Any]) -> str:
    plan = payload["plan"]
    low_lr, high_lr = REGIMES["aggressive"]["search_lr"]
    parts = [
        "### What tuning the decay buys: a small study\n",
        f"{plan['seeds']} seeds x data sets {', '.join(plan['datasets'])} "
        f"(scikit-learn; stratified 60/20/20 train/validation/test) x regimes "
        f"{', '.join(plan['regimes'])}. Every fit has the same budget of "
        f"{plan['epochs']} epochs (batch {plan['batch_size']}, a 32-unit dense "
        f"network); backend {payload.get('backend')}. Grid: {len(KINDS)} kinds "
        f"({', '.join(KINDS)}) x decay "
        f"epochs {plan['grid_decay_epochs']}; random and Bayesian: "
        f"{plan['random_trials']} trials (Bayesian: the first "
        f"{plan['bayesian_initial_points']} random) over decay epochs "
        f"{plan['range_decay_epochs'][0]}..{plan['range_decay_epochs'][1]}; "
        f"Hyperband: max_epochs {plan['epochs']}, factor "
        f"{plan['hyperband_factor']}, same space. In the aggressive regime, "
        "random, Bayesian and Hyperband also search the initial rate "
        f"({low_lr}..{high_lr}, log); "
        "the grid and the baselines keep it. Each fit keeps its best-validation-loss "
        "epoch; a method reports its best-validation fit, scored once on the "
        "held-out test split.\n",
    ]
    summary = payload["summary"]
    groups = sorted({(row["dataset"], row["regime"]) for row in summary})
    for dataset, regime in groups:
        regime_text = REGIMES[regime]
        parts.append(
            f"**{dataset}, {regime}** ({regime_text['optimizer']}, initial rate "
            f"{regime_text['learning_rate']:g}):\n"
        )
        lines = [
            "| method | test accuracy (mean ± std) | best val loss | epochs spent "
            "| wall time (s) | chosen decay (per seed) |",
            "|---|---|---|---|---|---|",
        ]
        for row in summary:
            if (row["dataset"], row["regime"]) != (dataset, regime):
                continue
            failed = (
                f" ({row['failed_fits']} fits diverged)" if row["failed_fits"] else ""
            )
            errors = f" ERROR: {row['errors'][0]}" if row["errors"] else ""
            lines.append(
                f"| {row['method']} | {row['test_accuracy_mean']:.4f} ± "
                f"{row['test_accuracy_std']:.4f} | {row['val_loss_mean']:.4f} | "
                f"{row['epochs_mean']:.0f}{failed} | {row['wall_s_mean']:.1f} | "
                f"{_chosen_text(row['chosen'])}{errors} |"
            )
        parts.append("\n".join(lines) + "\n")
    check = payload["hyperband_check"]
    if check:
        passed = sum(row["both"] for row in check)
        within = sum(row["within_1pct"] for row in check)
        chosen = hyperband_plan(plan["epochs"], plan["hyperband_factor"])
        default = hyperband_plan(plan["epochs"], 3)
        grid_epochs = len(KINDS) * len(plan["grid_decay_epochs"]) * plan["epochs"]
        cheapest = min(
            {*range(2, max(3, plan["epochs"])), 3, plan["hyperband_factor"]},
            key=lambda factor: hyperband_plan(plan["epochs"], factor)["epochs"],
        )
        cheapest_epochs = hyperband_plan(plan["epochs"], cheapest)["epochs"]
        parts.append(
            "**Does Hyperband reach the grid's test accuracy (within 1%) with at "
            f"most half the grid's epochs?** {passed} of {len(check)} runs "
            f"(within 1%: {within} of {len(check)}). KerasTuner's Hyperband "
            f"(one iteration, max_epochs {plan['epochs']}) plans {chosen['epochs']} "
            f"epochs in {chosen['trials']} trials with factor "
            f"{plan['hyperband_factor']}, and {default['epochs']} epochs in "
            f"{default['trials']} trials with its default factor 3, against the "
            f"grid's {grid_epochs}. The cheapest factor below max_epochs "
            f"({cheapest}) plans {cheapest_epochs} epochs "
            f"({100 * cheapest_epochs / grid_epochs:.0f}% of the grid): its "
            "full-budget trials alone cost that much.\n"
        )
        lines = [
            "| data set | regime | seed | grid test | grid epochs | Hyperband test "
            "| Hyperband epochs | within 1% | <= half epochs |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in check:
            lines.append(
                f"| {row['dataset']} | {row['regime']} | {row['seed']} | "
                f"{row['grid_test']:.4f} | {row['grid_epochs']} | "
                f"{row['hyperband_test']:.4f} | {row['hyperband_epochs']} | "
                f"{'yes' if row['within_1pct'] else 'no'} | "
                f"{'yes' if row['at_most_half_epochs'] else 'no'} |"
            )
        parts.append("\n".join(lines) + "\n")
    for name in payload.get("plots", []):
        parts.append(f"![decay study](@@OUT@@/{name})\n")
    return "\n".join(parts)


# -- main ------------------------------------------------------------------------------


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
        "--resume",
        action="store_true",
        help="reuse the cells an interrupted run of the same plan saved",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the plot and markdown from DIR/study.json, run nothing",
    )
    args = parser.parse_args(argv)
    if args.replot:
        path = _common.out_dir(args.out) / "study.json"
        saved = json.loads(path.read_text())
        plot(saved["cells"], saved["summary"], path.parent / "study.png")
        saved["markdown"] = markdown(saved)
        _common.write_json(path, saved)
        return 0

    plan = dict(QUICK if args.quick else FULL)
    for key in ("seeds", "datasets", "regimes"):
        if getattr(args, key):
            plan[key] = getattr(args, key)
    jobs = args.jobs or (1 if args.quick else 2)
    out = _common.out_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    machine = _common.machine()
    work = [
        (dataset, regime, seed, plan)
        for dataset in plan["datasets"]
        for regime in plan["regimes"]
        for seed in range(plan["seeds"])
    ]
    backend = os.environ.get("KERAS_BACKEND", "default")
    log(f"study: {len(work)} cells, {jobs} job(s), backend {backend}")
    os.chdir(tempfile.mkdtemp(prefix="lrdecay_study_"))
    cells_dir = out / "study_cells"
    cells = run_cells(work, jobs, cells_dir, resume=args.resume)
    summary = summarize(cells)
    payload: dict[str, Any] = {
        "benchmark": "study",
        "quick": args.quick,
        "machine": machine,
        "machine_after": {"load_average": _common.machine().get("load_average")},
        "backend": cells[0]["backend"] if cells else None,
        "versions": _common.versions(
            "lrdecay", "keras", "jax", "tensorflow", "keras-tuner", "scikit-learn"
        ),
        "jobs": jobs,
        "plan": plan,
        "regimes": REGIMES,
        "cells": cells,
        "summary": summary,
        "hyperband_check": hyperband_check(cells),
        "wall_time_s": time.perf_counter() - started,
    }
    try:
        plot(cells, summary, out / "study.png")
        payload["plots"] = ["study.png"]
    except Exception as error:  # a plot is not worth losing the figures
        log(f"plot failed: {type(error).__name__}: {error}")
    payload["markdown"] = markdown(payload)
    _common.write_json(out / "study.json", payload)
    log(f"wrote {out / 'study.json'} in {payload['wall_time_s']:.0f} s")
    shutil.rmtree(cells_dir, ignore_errors=True)  # all of it is in study.json
    errors = [
        method
        for cell in cells
        for method, entry in cell["methods"].items()
        if entry["error"]
    ]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""What a fit records: its params, each epoch's metrics and rate, its artifacts.

`FitRecorder` turns Keras' hooks into MLflow params, tags and metric points and
hands them to an output (the run's sender, or its offline buffer); at the end
it writes the learning-rate curve as CSV, JSON and PNG.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import keras
from mlflow.entities import Metric

from lrdecay import callbacks as decay_callbacks
from lrdecay._compat.keras import fit_batch_size, learning_rate_schedule
from lrdecay._compat.mlflow import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    path_not_unique,
)
from lrdecay.tracking import plots
from lrdecay.tracking.guard import guard
from lrdecay.tracking.params import decay_params, param_text
from lrdecay.tracking.sender import encode_value
from lrdecay.tracking.tags import PLATEAU_REDUCTIONS_TAG

LR = "learning_rate"
# Portable metric/param names: MLflow also allows ':' except on Windows.
_INVALID_NAME_CHARACTERS = re.compile(r"[^\w./\- ]")


def now_ms() -> int:
    return int(time.time() * 1000)


def clean_name(name: str) -> str:
    """A name MLflow accepts for a metric or param, as close to `name` as can be."""
    cleaned = _INVALID_NAME_CHARACTERS.sub("_", str(name))[:MAX_ENTITY_KEY_LENGTH]
    if not cleaned or path_not_unique(cleaned):
        # "a//b", "/a", "..": MLflow treats names as paths and rejects these.
        cleaned = re.sub(r"_+", "_", cleaned.replace("/", "_").replace(".", "_"))
        cleaned = cleaned or "_"
    return cleaned


class Output(Protocol):
    """Where the recorder's data goes (a run's sender or its offline buffer)."""

    def add_params(self, params: dict[str, str]) -> None: ...
    def add_tags(self, tags: dict[str, str]) -> None: ...
    def add_metrics(self, metrics: list[Metric]) -> None: ...


class FitRecorder:
    """Records one fit of `model` into `output`.

    Args:
        model: The Keras model being fitted.
        output: Receives the params, tags and metric points.
    """

    def __init__(self, model: Any, output: Output) -> None:
        self.model = model
        self.output = output
        self.history: dict[int, dict[str, float]] = {}
        self.reductions: list[tuple[int, float, float, float]] = []
        self.decay_kind = "none"
        self.plateau_monitor: str | None = None
        self.schedule = learning_rate_schedule(model.optimizer)
        self._names: dict[str, str] = {}
        self._skipped: set[str] = set()
        self._decays_logged = False
        self._seen_events: dict[int, int] = {}
        self._epoch = 0
        self._epoch_first_iteration = 0

    # -- output -----------------------------------------------------------------
    def _name(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            name = clean_name(key)
            if name != key:
                warnings.warn(
                    f"lrdecay.MlflowLogger: MLflow does not accept the name {key!r}; "
                    f"it is logged as {name!r}.",
                    stacklevel=5,
                )
            self._names[key] = name
        return name

    def add_params(self, params: dict[str, Any]) -> None:
        self.output.add_params(
            {
                self._name(k): param_text(v)[:MAX_PARAM_VAL_LENGTH]
                for k, v in params.items()
            }
        )

    def add_tags(self, tags: dict[str, str]) -> None:
        self.output.add_tags({k: str(v)[:MAX_TAG_VAL_LENGTH] for k, v in tags.items()})

    # -- the start ----------------------------------------------------------------
    def fit_params(
        self, keras_params: dict[str, Any], extra: dict[str, Any]
    ) -> dict[str, Any]:
        """The params known at `on_train_begin`: the fit, optimizer and `extra`."""
        params: dict[str, Any] = {
            "epochs": keras_params.get("epochs"),
            "steps_per_epoch": keras_params.get("steps"),
            "batch_size": fit_batch_size(self.model),
            "optimizer": type(self.model.optimizer).__name__,
        }
        if self.schedule is not None:
            params["lr_schedule"] = type(self.schedule).__name__
            config = guard(self.schedule.get_config, what="reading the schedule") or {}
            params.update(
                {
                    f"lr_schedule/{k}": v
                    for k, v in config.items()
                    if k != "name" and not isinstance(v, dict)
                }
            )
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def _log_decay_params(self) -> None:
        # Complete only once every callback's on_train_begin has run.
        decays = decay_callbacks.decays_in_fit(self.model)
        params = decay_params(decays)
        self.decay_kind = params["decay_kind"]
        for decay in decays:
            if (
                isinstance(decay, decay_callbacks.PlateauDecay)
                and self.plateau_monitor is None
            ):
                self.plateau_monitor = decay.monitor
        self.add_params(params)

    # -- epochs -------------------------------------------------------------------
    def epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch
        if not self._decays_logged:
            self._decays_logged = True
            self._log_decay_params()
        if self.schedule is not None:
            # The schedule's rate for this epoch is its value at the epoch's
            # first step; iterations do not move between callbacks.
            iterations = self.model.optimizer.iterations
            self._epoch_first_iteration = int(keras.ops.convert_to_numpy(iterations))

    def replay(self, history: Sequence[Mapping[str, float]]) -> None:
        """Record epochs `0 .. len(history) - 1`, trained before this fit.

        Each dict is an epoch's logs, `learning_rate` among them; they are
        recorded as if this fit had trained them (`MlflowLogger.log_prefix`).
        Called once the fit's callbacks have begun, so the decay params are
        complete.
        """
        if not self._decays_logged:
            self._decays_logged = True
            self._log_decay_params()
        for epoch, logs in enumerate(history):
            self.epoch_end(epoch, dict(logs))

    def _epoch_learning_rate(self, logs: dict[str, Any]) -> float:
        if self.schedule is not None:
            rate = self.schedule(self._epoch_first_iteration)
            return float(keras.ops.convert_to_numpy(rate))
        # A decay callback listed before us wrote the rate of this epoch
        # (ReduceLROnPlateau: before reducing it); else nobody changed the
        # optimizer's rate since this epoch's training steps used it.
        if LR in logs:
            return float(logs[LR])
        return decay_callbacks.current_learning_rate(self.model.optimizer)

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        timestamp = now_ms()
        values: dict[str, float] = {}
        for key, value in logs.items():
            if key == LR:
                continue
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                if key not in self._skipped:
                    self._skipped.add(key)
                    warnings.warn(
                        f"lrdecay.MlflowLogger: the log value {key!r} is not a "
                        f"number ({type(value).__name__}); it is not logged.",
                        stacklevel=4,
                    )
        values[LR] = self._epoch_learning_rate(logs)
        self.history[epoch] = values
        metrics = [
            Metric(self._name(k), v, timestamp, epoch) for k, v in values.items()
        ]
        metrics.extend(self.new_reductions(timestamp))
        self.output.add_metrics(metrics)

    def new_reductions(self, timestamp: int) -> list[Metric]:
        """Plateau reductions made since the last call, as metric points."""
        points = []
        for decay in decay_callbacks.decays_in_fit(self.model):
            events = getattr(decay, "decay_events", None)
            if not events:
                continue
            seen = self._seen_events.get(id(decay), 0)
            for event in events[seen:]:
                self.reductions.append(
                    (event.epoch, event.old_lr, event.new_lr, event.monitor_value)
                )
                points.append(
                    Metric(
                        "plateau_reduction", float(event.new_lr), timestamp, event.epoch
                    )
                )
            self._seen_events[id(decay)] = len(events)
        if points:
            self.add_tags({PLATEAU_REDUCTIONS_TAG: json.dumps(self._reduction_rows())})
        return points

    def _reduction_rows(self) -> list[dict[str, Any]]:
        return [
            {"epoch": e, "old_lr": o, "new_lr": n, "monitor_value": encode_value(m)}
            for e, o, n, m in self.reductions
        ]

    def train_step(
        self, batch: int, logs: dict[str, Any], steps: int, every: int
    ) -> None:
        """Batch metrics as `step/<key>`, step = global step, every `every` steps."""
        step = self._epoch * steps + batch if steps else batch
        if step % every:
            return
        timestamp = now_ms()
        metrics = []
        for key, value in logs.items():
            try:
                metrics.append(
                    Metric(self._name(f"step/{key}"), float(value), timestamp, step)
                )
            except (TypeError, ValueError):
                continue
        self.output.add_metrics(metrics)

    # -- the end ------------------------------------------------------------------
    def write_artifacts(self, directory: Path, title: str, plot: bool) -> None:
        """`lrdecay/lr_curve.{csv,json}` (and `.png` if `plot`) in `directory`."""
        folder = directory / "lrdecay"
        folder.mkdir(parents=True, exist_ok=True)
        epochs = sorted(self.history)
        keys = list(dict.fromkeys(k for e in epochs for k in self.history[e]))
        keys = [LR] + [k for k in keys if k != LR]
        columns = {k: [self.history[e].get(k, math.nan) for e in epochs] for k in keys}
        with open(folder / "lr_curve.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["epoch", *keys])
            for row, epoch in enumerate(epochs):
                writer.writerow([epoch, *(repr(columns[k][row]) for k in keys)])
        document = {
            "decay_kind": self.decay_kind,
            "epoch": epochs,
            **{k: [encode_value(v) for v in columns[k]] for k in keys},
            "plateau_reductions": self._reduction_rows(),
        }
        (folder / "lr_curve.json").write_text(json.dumps(document, allow_nan=False))
        if plot and epochs:
            metric = self._plot_metric(keys)
            plots.lr_curve_plot(
                epochs,
                columns[LR],
                folder / "lr_curve.png",
                metric_name=metric,
                metric_values=columns[metric] if metric else None,
                reductions=[(e, n) for e, _, n, _ in self.reductions],
                title=title,
            )

    def _plot_metric(self, keys: list[str]) -> str | None:
        for candidate in (self.plateau_monitor, "val_loss"):
            if candidate in keys:
                return candidate
        others = [k for k in keys if k.startswith("val_")] or [
            k for k in keys if k != LR
        ]
        return others[0] if others else None

"""MLflow tracking of a fit: one run with its lr curve, metrics, settings and plot.

`MlflowLogger` is a Keras callback. Metrics are buffered in memory and sent in
batches by a background thread (see `lrdecay.tracking.sender`), so the training loop
never waits on the network; a tracking server that goes away costs neither
the training nor the data (points are retried, and written to a local file if
the server does not come back). `replay(path)` re-imports such a file:

```
python -m lrdecay.tracking.offline replay lrdecay-offline/run-....json [--tracking-uri URI]
```
"""

from __future__ import annotations

import atexit
import copy
import csv
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import keras

from lrdecay import callbacks as decay_callbacks

try:
    import mlflow
    from mlflow.entities import Metric, RunStatus, RunTag
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils.validation import (
        MAX_ENTITY_KEY_LENGTH,
        MAX_PARAM_VAL_LENGTH,
        MAX_TAG_VAL_LENGTH,
        path_not_unique,
    )
except ImportError as error:  # pragma: no cover - mlflow is a dependency
    raise ImportError(
        "lrdecay.MlflowLogger needs MLflow: `pip install mlflow`."
    ) from error

from lrdecay.tracking import plots
from lrdecay.tracking import sender as _sink
from lrdecay.tracking import store as _store
from lrdecay.tracking.offline import replay

__all__ = ["MlflowLogger", "replay"]

_STATUSES = ("FINISHED", "FAILED", "KILLED")
# Portable metric/param names: MLflow also allows ':' except on Windows.
_INVALID_NAME_CHARACTERS = re.compile(r"[^\w./\- ]")
_LR = "learning_rate"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _clean_name(name: str) -> str:
    """A name MLflow accepts for a metric or param, as close to `name` as can be."""
    cleaned = _INVALID_NAME_CHARACTERS.sub("_", str(name))[:MAX_ENTITY_KEY_LENGTH]
    if not cleaned or path_not_unique(cleaned):
        # "a//b", "/a", "..": MLflow treats names as paths and rejects these.
        cleaned = re.sub(r"_+", "_", cleaned.replace("/", "_").replace(".", "_"))
        cleaned = cleaned or "_"
    return cleaned


def _param_value(value: Any) -> str:
    if value is None or isinstance(value, str):
        return str(value)[:MAX_PARAM_VAL_LENGTH]
    text = json.dumps(value, default=str)
    return text[:MAX_PARAM_VAL_LENGTH]


class MlflowLogger(keras.callbacks.Callback):
    """Log a fit to MLflow: one run with its learning-rate curve, metrics and settings.

    Each fit becomes one MLflow run holding:

    - params: the decay kind (`decay_kind`) and every setting of each lrdecay
      decay callback in the fit (`step.initial_lr`, `plateau.patience`, ...),
      `epochs`, `steps_per_epoch`, `batch_size`, `optimizer`, the optimizer's
      `LearningRateSchedule` and its settings if it has one, and `params`;
    - metrics, step = epoch (from 0): every key of Keras' epoch logs under
      Keras' names (`loss`, `val_loss`, `accuracy`, ...) and `learning_rate`,
      the rate the optimizer used in that epoch, whatever the order of the
      callbacks, also for an optimizer built on a
      `keras.optimizers.schedules.LearningRateSchedule` (its value at the
      epoch's first step; the logger never sets a rate);
    - plateau reductions as data: the metric `plateau_reduction` (the new
      rate, step = the epoch of the reduction) and the tag
      `lrdecay.plateau_reductions` (JSON list of epoch/old_lr/new_lr/monitor);
    - tags `lrdecay.kind` and the caller's `tags`; artifacts
      `lrdecay/lr_curve.png` (the curve beside the validation metric),
      `lrdecay/lr_curve.csv` and `lrdecay/lr_curve.json`.

    Run: `run_id=` logs into that existing run; else, with an active MLflow
    run (`mlflow.start_run()`), the fit is logged into it, or into a new
    child of it with `nested=True`; `parent_run_id=` makes a child of that
    run; otherwise a new run is created in `experiment_name` (else the
    `MLFLOW_EXPERIMENT_NAME`, `MLFLOW_EXPERIMENT_ID`, or MLflow's default
    experiment) at `tracking_uri` (else `MLFLOW_TRACKING_URI`, or MLflow's
    default, `sqlite:///mlflow.db` in the working directory).
    Only a run the logger created is ended by it: FINISHED at
    `on_train_end`. Keras does not call `on_train_end` when `fit` raises, so:

    - use the logger as a context manager: leaving the block with an
      exception ends the run FAILED (the error is recorded in the tag
      `lrdecay.error`), or KILLED for a `KeyboardInterrupt`;
    - at process exit, a run still open is ended FAILED, or KILLED if the
      process dies of a `KeyboardInterrupt`, with the uncaught error recorded
      (a chained `sys.excepthook` sees it);
    - the next `fit` with the same logger ends a run left open FAILED first.

    `finish()` does the same by hand (e.g. after a KerasTuner trial whose
    fit raised: the tuner catches the error and goes on).

    Speed: metrics are buffered and sent with `log_batch` by a background
    thread every `flush_interval` seconds; the logger has no batch hooks
    (which make Keras give up asynchronous dispatch) unless
    `log_every_n_steps` asks for per-step metrics. The end of a run (last
    flush, plot, artifacts) takes a fraction of a second.

    Faults: each MLflow request of the logger waits at most `request_timeout`
    seconds, with one retry (MLflow's own retry settings,
    `MLFLOW_HTTP_REQUEST_*`, can make one request block for minutes). When the
    tracking server is unreachable, training goes on and the points wait in
    memory; they are sent when it is back, each exactly once (after a failed
    send, the logger checks which points the server already holds before
    sending again). If the server is not back `give_up_after` seconds after
    the fit ends (or the run could not be created at all), everything unsent
    is written to a JSON file in `offline_dir`, and a warning gives its path
    and the command that re-imports it: `python -m lrdecay.tracking.offline replay
    FILE` (`lrdecay.tracking.logger.replay(FILE)` in Python).

    Values MLflow can't store as given: metric and param names with
    characters MLflow rejects have them replaced by `_` (a warning says so
    once per name); NaN is logged as NaN; +-inf is logged as given and MLflow
    stores it as +-1.7976931348623157e308 (the largest float); a non-numeric
    log value is skipped with a warning; long param values are truncated to
    MLflow's limit. A value MLflow still rejects is dropped with a warning.
    Nothing here ever raises into the fit.

    The logger is deep-copyable (KerasTuner copies callbacks per trial): its
    thread and store are created in `on_train_begin`.

    Example:

    ```python
    import lrdecay

    model.fit(
        x, y, validation_split=0.2, epochs=30,
        callbacks=[lrdecay.StepDecay(epochs_drop=10), lrdecay.MlflowLogger()],
    )
    # or, so that a fit that raises ends its run FAILED right away:
    with lrdecay.MlflowLogger(experiment_name="digits") as logger:
        model.fit(x, y, epochs=30, callbacks=[logger])
    print(logger.run_id)
    ```

    Args:
        tracking_uri: String or `None`. Where to log. Defaults to
            `MLFLOW_TRACKING_URI`, else MLflow's default.
        experiment_name: String or `None`. Experiment of a new run (created
            if missing). Defaults to `MLFLOW_EXPERIMENT_NAME`, else MLflow's
            default experiment.
        run_name: String or `None`. Name of a new run.
        run_id: String or `None`. Log into this existing run (which the
            logger then does not end).
        parent_run_id: String or `None`. Create the run as a child of it.
        nested: Bool. With an active MLflow run, create a child run of it
            instead of logging into it. Defaults to `False`.
        tags: Dict of str -> str, or `None`. Tags of the run.
        params: Dict or `None`. Extra params logged at the start.
        log_plots: Bool. Log the PNG plot of the curve. Defaults to `True`.
        log_every_n_steps: Int or `None`. Also log the batch metrics every
            n training steps (as `step/loss`, ... with step = global step).
            This adds a batch hook. Defaults to `None` (epochs only).
        flush_interval: Float > 0. Seconds between two background sends
            (and so how soon the MLflow UI shows a new epoch). Defaults to
            `2.0`.
        request_timeout: Float > 0. Seconds one MLflow request may take.
            Defaults to `5.0`.
        give_up_after: Float >= 0. Seconds after the fit ends to keep trying
            an unreachable server before writing the local file. Defaults
            to `30.0`.
        offline_dir: Path or `None`. Where such files go. Defaults to
            `lrdecay-offline` in the working directory.

    Attributes:
        run_id: The MLflow run of the current (or last) fit, set in
            `on_train_begin`; `None` before, or if the run could not be
            created (its data then goes to the local file).
        offline_file: The local file written by the last fit, or `None`.

    Raises:
        ValueError: If a numeric argument is out of range, or `run_id` is
            given with `parent_run_id` or `nested`.
        TypeError: If an argument has the wrong type.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        nested: bool = False,
        tags: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        log_plots: bool = True,
        log_every_n_steps: int | None = None,
        flush_interval: float = 2.0,
        request_timeout: float = 5.0,
        give_up_after: float = 30.0,
        offline_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("tracking_uri", tracking_uri),
            ("experiment_name", experiment_name),
            ("run_name", run_name),
            ("run_id", run_id),
            ("parent_run_id", parent_run_id),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(
                    f"Argument `{name}` must be a non-empty string or None. "
                    f"Received: {name}={value!r}"
                )
        for name, mapping in (("tags", tags), ("params", params)):
            if mapping is not None and not isinstance(mapping, dict):
                raise TypeError(
                    f"Argument `{name}` must be a dict or None. "
                    f"Received: {name}={mapping!r}"
                )
        if run_id is not None and (parent_run_id is not None or nested):
            raise ValueError(
                "Argument `run_id` logs into an existing run and cannot be combined "
                "with `parent_run_id` or `nested=True`. Received: "
                f"run_id={run_id!r}, parent_run_id={parent_run_id!r}, nested={nested!r}"
            )
        if log_every_n_steps is not None and (
            isinstance(log_every_n_steps, bool)
            or not isinstance(log_every_n_steps, int)
            or log_every_n_steps <= 0
        ):
            raise ValueError(
                "Argument `log_every_n_steps` must be a positive int or None. "
                f"Received: log_every_n_steps={log_every_n_steps!r}"
            )
        for name, number, allow_zero in (
            ("flush_interval", flush_interval, False),
            ("request_timeout", request_timeout, False),
            ("give_up_after", give_up_after, True),
        ):
            if (
                isinstance(number, bool)
                or not isinstance(number, (int, float))
                or not math.isfinite(number)
                or number < 0
                or (number == 0 and not allow_zero)
            ):
                kind = "a finite number >= 0" if allow_zero else "a positive number"
                raise ValueError(
                    f"Argument `{name}` must be {kind} of seconds. "
                    f"Received: {name}={number!r}"
                )
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.resume_run_id = run_id
        self.parent_run_id = parent_run_id
        self.nested = bool(nested)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.extra_params = dict(params or {})
        self.log_plots = bool(log_plots)
        self.log_every_n_steps = log_every_n_steps
        self.flush_interval = float(flush_interval)
        self.request_timeout = float(request_timeout)
        self.give_up_after = float(give_up_after)
        self.offline_dir = Path(offline_dir) if offline_dir is not None else None
        self.run_id: str | None = None
        self.offline_file: Path | None = None
        self._run: _TrackedRun | None = None
        # Keras keeps asynchronous dispatch of training steps only when no
        # callback overrides a batch hook: add one only when asked to.
        self.async_safe = True  # our batch hook only appends under a lock
        if log_every_n_steps is not None:
            self.on_train_batch_end = self._log_train_step

    # -- copying ------------------------------------------------------------
    def __deepcopy__(self, memo: dict[int, Any]) -> MlflowLogger:
        # A copy is a fresh logger with the same settings: never the run,
        # thread or store of this one (KerasTuner copies callbacks per trial).
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in ("_run", "_model", "model", "run_id", "offline_file"):
                value = None
            clone.__dict__[name] = copy.deepcopy(value, memo)
        if self.log_every_n_steps is not None:
            clone.on_train_batch_end = clone._log_train_step
        return clone

    # -- context manager ------------------------------------------------------
    def __enter__(self) -> MlflowLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish("FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("KILLED", error=exc)
        else:
            self.finish("FAILED", error=exc)

    # -- public -----------------------------------------------------------------
    def finish(
        self,
        status: str = "FINISHED",
        error: BaseException | str | None = None,
    ) -> None:
        """Flush everything, log the artifacts, end the run if the logger opened it.

        Idempotent: a second call, or a call with no open run, does nothing.

        Args:
            status: One of `"FINISHED"`, `"FAILED"`, `"KILLED"`. Defaults to
                `"FINISHED"`.
            error: The exception (or message) that ended the fit, recorded
                in the tag `lrdecay.error`. Defaults to `None`.

        Raises:
            ValueError: If `status` is not one of the three.
        """
        if status not in _STATUSES:
            raise ValueError(
                f"Argument `status` must be one of {_STATUSES}. "
                f"Received: status={status!r}"
            )
        run = self._run
        if run is None:
            return
        run.finish(status, error)
        if run.offline_file is not None:
            self.offline_file = run.offline_file

    # -- Keras hooks ------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)
        decay_callbacks.start_fit_registry(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        previous = self._run
        if previous is not None and not previous.finished:
            _guard(
                previous.finish,
                "FAILED",
                _left_open_error(),
                what="ending the run its previous fit left open",
            )
        self.offline_file = None
        self._run = None
        self.run_id = None
        run = _guard(_TrackedRun.open, self, what="starting the MLflow run")
        if run is None:
            return
        self._run = run
        self.run_id = run.run_id

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            _guard(self._run.epoch_begin, epoch, what="on_epoch_begin")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            _guard(self._run.epoch_end, epoch, logs or {}, what="on_epoch_end")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            _guard(self.finish, "FINISHED", what="ending the MLflow run")

    def _log_train_step(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        run = self._run
        if run is not None and self.log_every_n_steps is not None:
            _guard(run.train_step, batch, logs or {}, what="on_train_batch_end")


def _guard(function: Callable[..., Any], *args: Any, what: str) -> Any:
    """Call `function`; a failure is a warning, never an error in the fit."""
    try:
        return function(*args)
    except Exception as error:
        warnings.warn(
            f"lrdecay.MlflowLogger: {what} failed; training goes on. "
            f"{type(error).__name__}: {error}",
            stacklevel=3,
        )
        return None


def _left_open_error() -> str:
    return (
        "the fit ended without on_train_end (it raised or was interrupted); "
        "the logger's next fit ended this run"
    )


def _error_text(error: BaseException | str | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, BaseException):
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = "".join(lines[-12:])
    else:
        text = str(error)
    return text[-MAX_TAG_VAL_LENGTH:]


def _fit_batch_size(model: Any) -> int | None:
    """The batch size of the `fit` now running on `model`, if it can be seen.

    Keras 3 does not pass the batch size to callbacks; its `fit` holds it in
    the epoch iterator's data adapter, in the `fit` frame up the stack.
    """
    frame: Any = sys._getframe(1)
    for _ in range(40):
        if frame is None:
            return None
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            iterator = frame.f_locals.get("epoch_iterator")
            adapter = getattr(iterator, "data_adapter", None)
            size = getattr(adapter, "batch_size", None)
            if size is None:
                size = frame.f_locals.get("batch_size")
            return int(size) if isinstance(size, int) else None
        frame = frame.f_back
    return None


class _TrackedRun:
    """One fit's run: its store, sender, history, and how it ends."""

    def __init__(self, logger: MlflowLogger) -> None:
        self.logger = logger
        self.model = logger.model
        self.tracking_uri = logger.tracking_uri or mlflow.get_tracking_uri()
        self.store: Any = None
        self.sink: _sink.Sink | None = None
        self.offline = _sink.Pending()  # the data, when there is no run to send to
        self.run_id: str | None = None
        self.owns_run = False
        self.header: dict[str, Any] = {}
        self.finished = False
        self.offline_file: Path | None = None
        self.history: dict[int, dict[str, float]] = {}
        self.reductions: list[tuple[int, float, float, float]] = []
        self.decay_kind = "none"
        self.plateau_monitor: str | None = None
        self._names: dict[str, str] = {}
        self._skipped: set[str] = set()
        self._params_logged = False
        self._seen_events: dict[int, int] = {}
        self._schedule: Any = None
        self._epoch = 0
        self._epoch_first_iteration = 0
        self._finish_lock = threading.Lock()

    # -- start ------------------------------------------------------------------
    @classmethod
    def open(cls, logger: MlflowLogger) -> _TrackedRun:
        run = cls(logger)
        optimizer = logger.model.optimizer
        learning_rate = getattr(optimizer, "_learning_rate", None)
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            run._schedule = learning_rate
        try:
            run._start()
        except Exception as error:
            # No run to log into (server down, bad URI): keep everything in
            # memory; `finish` writes it to the local file for `replay`.
            warnings.warn(
                f"lrdecay.MlflowLogger could not start an MLflow run at "
                f"{run.tracking_uri} ({type(error).__name__}: {error}); training "
                "goes on and the run's data will be written to a local file.",
                stacklevel=4,
            )
            run.run_id = None
            run.sink = None
        _OPEN_RUNS.add(run)
        _install_exit_hooks()
        params = {"epochs": logger.params.get("epochs"),
                  "steps_per_epoch": logger.params.get("steps"),
                  "batch_size": _fit_batch_size(logger.model),
                  "optimizer": type(optimizer).__name__}  # fmt: skip
        if run._schedule is not None:
            params["lr_schedule"] = type(run._schedule).__name__
            config = _guard(run._schedule.get_config, what="reading the schedule") or {}
            params.update({f"lr_schedule.{k}": v for k, v in config.items()
                           if k != "name" and not isinstance(v, dict)})  # fmt: skip
        params.update(logger.extra_params)
        run.add_params({k: v for k, v in params.items() if v is not None})
        return run

    def _start(self) -> None:
        logger = self.logger
        self.store = _store.open_store(
            self.tracking_uri, timeout=logger.request_timeout, max_retries=1
        )
        active = mlflow.active_run()
        if active is not None and logger.tracking_uri not in (
            None, mlflow.get_tracking_uri(),
        ):  # fmt: skip
            active = None  # the user's run lives in another store
        tags = dict(logger.tags)
        parent_id = logger.parent_run_id
        experiment_id: str | None = None
        if logger.resume_run_id is not None:
            run_id = logger.resume_run_id
            experiment_id = self.store.get_run(run_id).info.experiment_id
        elif active is not None and not logger.nested and parent_id is None:
            run_id = active.info.run_id
            experiment_id = active.info.experiment_id
        else:
            if parent_id is None and active is not None:
                parent_id = active.info.run_id
            if parent_id is not None:
                tags["mlflow.parentRunId"] = parent_id
                if logger.experiment_name is None:
                    experiment_id = self.store.get_run(parent_id).info.experiment_id
            if experiment_id is None:
                experiment_id = self._experiment_id()
            if logger.run_name is not None:
                tags["mlflow.runName"] = logger.run_name
            tags = resolve_tags(tags)
            self.header = {"experiment_id": experiment_id, "run_tags": tags}
            created = self.store.create_run(
                experiment_id=experiment_id,
                user_id=tags.get("mlflow.user", "unknown"),
                start_time=_now_ms(),
                tags=[RunTag(k, str(v)) for k, v in tags.items()],
                run_name=logger.run_name,
            )
            run_id = created.info.run_id
            self.owns_run = True
            tags = {}
        self.run_id = run_id
        self.header.setdefault("experiment_id", experiment_id)
        self.header["start_time"] = _now_ms()
        self.sink = _sink.Sink(self.store, run_id, logger.flush_interval)
        if logger.log_plots:
            # Import matplotlib while training runs, not in the end-of-run path.
            self.sink.before_first_send = plots.warm_up
        if tags:
            self.sink.add_tags(tags)
        self.sink.start()

    def _experiment_id(self) -> str:

        name = self.logger.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        self.header["experiment_name"] = name
        if name:
            return _store.experiment_by_name(self.store, name)
        env_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        if env_id:
            return env_id
        if self.logger.tracking_uri in (None, mlflow.get_tracking_uri()):
            # The experiment chosen with mlflow.set_experiment(), if any.
            from mlflow.tracking import fluent

            active_id = getattr(fluent, "_active_experiment_id", None)
            if active_id:
                return str(active_id)
        return "0"  # MLflow's default experiment

    # -- data -------------------------------------------------------------------
    def _name(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            name = _clean_name(key)
            if name != key:
                warnings.warn(
                    f"lrdecay.MlflowLogger: MLflow does not accept the name {key!r}; "
                    f"it is logged as {name!r}.",
                    stacklevel=5,
                )
            self._names[key] = name
        return name

    def add_params(self, params: dict[str, Any]) -> None:
        values = {self._name(k): _param_value(v) for k, v in params.items()}
        if self.sink is not None:
            self.sink.add_params(values)
        else:
            self.offline.params.update(values)

    def add_tags(self, tags: dict[str, str]) -> None:
        values = {k: str(v)[:MAX_TAG_VAL_LENGTH] for k, v in tags.items()}
        if self.sink is not None:
            self.sink.add_tags(values)
        else:
            self.offline.tags.update(values)

    def add_metrics(self, metrics: list[Metric]) -> None:
        if self.sink is not None:
            self.sink.add_metrics(metrics)
        else:
            self.offline.metrics.extend(metrics)

    def _log_decay_params(self) -> None:
        decays = decay_callbacks.decays_in_fit(self.model)
        kinds = [decay.kind for decay in decays]
        self.decay_kind = "+".join(kinds) if kinds else "none"
        params: dict[str, Any] = {"decay_kind": self.decay_kind}
        for index, decay in enumerate(decays):
            prefix = (
                decay.kind if kinds.count(decay.kind) == 1 else f"{decay.kind}{index}"
            )
            for name, value in decay.get_config().items():
                if name != "verbose":
                    params[f"{prefix}.{name}"] = value
            if decay.kind == "plateau" and self.plateau_monitor is None:
                self.plateau_monitor = decay.monitor
        self.add_params(params)
        self.add_tags({"lrdecay.kind": self.decay_kind})

    def epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch
        if not self._params_logged:
            self._params_logged = True
            self._log_decay_params()
        if self._schedule is not None:
            # The schedule's rate for this epoch is its value at the epoch's
            # first step; iterations do not move between callbacks.
            optimizer = self.model.optimizer
            self._epoch_first_iteration = int(
                keras.ops.convert_to_numpy(optimizer.iterations)
            )

    def _epoch_learning_rate(self, logs: dict[str, Any]) -> float:
        if self._schedule is not None:
            rate = self._schedule(self._epoch_first_iteration)
            return float(keras.ops.convert_to_numpy(rate))
        # A decay callback listed before us wrote the rate of this epoch
        # (ReduceLROnPlateau: before reducing it); else nobody changed the
        # optimizer's rate since this epoch's training steps used it.
        if _LR in logs:
            return float(logs[_LR])
        return decay_callbacks.current_learning_rate(self.model.optimizer)

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        timestamp = _now_ms()
        values: dict[str, float] = {}
        for key, value in logs.items():
            if key == _LR:
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
        values[_LR] = self._epoch_learning_rate(logs)
        self.history[epoch] = values
        metrics = [
            Metric(self._name(k), v, timestamp, epoch) for k, v in values.items()
        ]
        metrics.extend(self._new_reductions(timestamp))
        self.add_metrics(metrics)

    def _new_reductions(self, timestamp: int) -> list[Metric]:
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
            self.add_tags(
                {"lrdecay.plateau_reductions": json.dumps(self._reduction_rows())}
            )
        return points

    def _reduction_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "epoch": e,
                "old_lr": o,
                "new_lr": n,
                "monitor_value": _sink.encode_value(m),
            }
            for e, o, n, m in self.reductions
        ]

    def train_step(self, batch: int, logs: dict[str, Any]) -> None:
        every = self.logger.log_every_n_steps or 1
        steps = self.logger.params.get("steps") or 0
        step = self._epoch * steps + batch if steps else batch
        if step % every:
            return
        timestamp = _now_ms()
        metrics = []
        for key, value in logs.items():
            try:
                metrics.append(
                    Metric(self._name(f"step/{key}"), float(value), timestamp, step)
                )
            except (TypeError, ValueError):
                continue
        self.add_metrics(metrics)

    # -- end ----------------------------------------------------------------------
    def finish(self, status: str, error: BaseException | str | None) -> None:
        with self._finish_lock:
            if self.finished:
                return
            self.finished = True
        _OPEN_RUNS.discard(self)
        logger = self.logger
        if self.history:
            # Reductions made by a plateau rule listed after us, at the last epoch.
            self.add_metrics(self._new_reductions(_now_ms()))
        tags = {"lrdecay.status": status}
        text = _error_text(error)
        if text:
            tags["lrdecay.error"] = text
        self.add_tags(tags)
        if self.sink is not None:
            # Start sending while the artifacts are drawn.
            self.sink.flush(0.0, final=True)
        artifact_dir = Path(tempfile.mkdtemp(prefix="lrdecay-artifacts-"))
        try:
            _guard(self._write_artifacts, artifact_dir, what="drawing the artifacts")
            left = (
                self.sink.close(logger.give_up_after) if self.sink is not None
                else self.offline
            )  # fmt: skip
            end_time = _now_ms()
            sent = not left and self.run_id is not None
            if sent:
                sent = self._upload(artifact_dir, status, end_time)
            if not sent:
                self._spill(left, artifact_dir, status, end_time)
        finally:
            shutil.rmtree(artifact_dir, ignore_errors=True)

    def _write_artifacts(self, directory: Path) -> None:
        folder = directory / "lrdecay"
        folder.mkdir(parents=True, exist_ok=True)
        epochs = sorted(self.history)
        keys = list(dict.fromkeys(k for e in epochs for k in self.history[e]))
        keys = [_LR] + [k for k in keys if k != _LR]
        columns = {k: [self.history[e].get(k, math.nan) for e in epochs] for k in keys}
        with open(folder / "lr_curve.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["epoch", *keys])
            for row, epoch in enumerate(epochs):
                writer.writerow([epoch, *(repr(columns[k][row]) for k in keys)])
        document = {
            "decay_kind": self.decay_kind,
            "epoch": epochs,
            **{k: [_sink.encode_value(v) for v in columns[k]] for k in keys},
            "plateau_reductions": self._reduction_rows(),
        }
        (folder / "lr_curve.json").write_text(json.dumps(document, allow_nan=False))
        if self.logger.log_plots and epochs:
            metric = self._plot_metric(keys)
            plots.lr_curve_plot(
                epochs,
                columns[_LR],
                folder / "lr_curve.png",
                metric_name=metric,
                metric_values=columns[metric] if metric else None,
                reductions=[(e, n) for e, _, n, _ in self.reductions],
                title=f"{self.decay_kind} decay" + (f" - run {self.run_id[:8]}"
                                                    if self.run_id else ""),
            )  # fmt: skip

    def _plot_metric(self, keys: list[str]) -> str | None:
        for candidate in (self.plateau_monitor, "val_loss"):
            if candidate in keys:
                return candidate
        others = [k for k in keys if k.startswith("val_")] or [
            k for k in keys if k != _LR
        ]
        return others[0] if others else None

    def _upload(self, artifact_dir: Path, status: str, end_time: int) -> bool:
        """Artifacts, then the end status. False if the server failed meanwhile."""
        assert self.run_id is not None
        logger = self.logger
        try:
            if any(artifact_dir.iterdir()):
                client = mlflow.MlflowClient(self.tracking_uri)
                with _store.bounded_http_env(logger.request_timeout, max_retries=1):
                    client.log_artifacts(self.run_id, str(artifact_dir))
            if self.owns_run:
                self.store.update_run_info(
                    self.run_id, RunStatus.from_string(status), end_time, None
                )
        except Exception as error:
            self.header["upload_error"] = f"{type(error).__name__}: {error}"
            return False
        return True

    def _spill(
        self, left: _sink.Pending, artifact_dir: Path, status: str, end_time: int
    ) -> None:
        logger = self.logger
        directory = logger.offline_dir or Path.cwd() / "lrdecay-offline"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = f"run-{(self.run_id or 'new')[:12]}-{stamp}"
        path = directory / f"{stem}.json"
        suffix = 1
        while path.exists():
            path = directory / f"{stem}-{suffix}.json"
            suffix += 1
        artifacts = path.with_name(path.stem + "-artifacts")
        if any(artifact_dir.iterdir()):
            shutil.copytree(artifact_dir, artifacts)
        header = {
            **self.header,
            "tracking_uri": self.tracking_uri,
            # A run we could not reach at the start but were asked to resume
            # is still the run to replay into (and not ours to end).
            "run_id": self.run_id or logger.resume_run_id,
            "run_name": logger.run_name,
            "end": {"status": status, "end_time": end_time} if self.owns_run
            or (self.run_id is None and logger.resume_run_id is None) else None,
            "artifacts": artifacts.name if artifacts.exists() else None,
        }  # fmt: skip
        if self.run_id is None:
            header.setdefault("run_tags", resolve_tags({
                **logger.tags,
                **({"mlflow.runName": logger.run_name} if logger.run_name else {}),
                **({"mlflow.parentRunId": logger.parent_run_id}
                   if logger.parent_run_id else {}),
            }))  # fmt: skip
            header.setdefault("experiment_name", logger.experiment_name)
        reason = (
            self.sink.last_error if self.sink is not None and self.sink.last_error
            else header.get("upload_error") or "no run could be created"
        )  # fmt: skip
        _sink.write_spill(path, header, left)
        self.offline_file = path
        uri = "" if self.tracking_uri == mlflow.get_tracking_uri() else (
            f" --tracking-uri {self.tracking_uri}"
        )  # fmt: skip
        warnings.warn(
            f"lrdecay.MlflowLogger: MLflow at {self.tracking_uri} did not take the "
            f"data of run {self.run_id or '(not created)'} ({reason}). Nothing is "
            f"lost: {len(left.metrics)} metric points, {len(left.params)} params "
            f"and {len(left.tags)} tags are saved in {path}. Re-import them with:\n"
            f"    python -m lrdecay.tracking.offline replay {path}{uri}",
            stacklevel=2,
        )


# -- process exit ---------------------------------------------------------------

_OPEN_RUNS: set[_TrackedRun] = set()
_UNCAUGHT: list[BaseException] = []
_HOOKS_INSTALLED = False


def _install_exit_hooks() -> None:
    """Once per process: end runs left open at exit, with the uncaught error."""
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    previous = sys.excepthook

    def excepthook(
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        _UNCAUGHT.append(exc)
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook
    # Registered after mlflow is imported, so it runs before mlflow's own
    # exit handler (atexit runs handlers last-in first-out).
    atexit.register(_finish_open_runs)


def _finish_open_runs() -> None:
    error: BaseException | str | None = _UNCAUGHT[-1] if _UNCAUGHT else None
    status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
    if error is None:
        error = "the process exited before the fit ended"
    for run in list(_OPEN_RUNS):
        _guard(run.finish, status, error, what="ending an open run at exit")


if __name__ == "__main__":
    from lrdecay.tracking.offline import main

    sys.exit(main())

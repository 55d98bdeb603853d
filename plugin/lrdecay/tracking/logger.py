"""`MlflowLogger`, the Keras callback that logs a fit to MLflow.

What a fit records is `lrdecay.tracking.recorder`; how it is sent,
`lrdecay.tracking.sender` (in the background, each point exactly once); how
its run starts and ends, `lrdecay.tracking.run` and `lrdecay.tracking.backstop`.
A run MLflow could not take is saved to a local file; `lrdecay replay FILE`
(or `lrdecay.tracking.offline.replay`) sends it later.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import keras

from lrdecay import callbacks as decay_callbacks
from lrdecay._compat.keras import FitWatch
from lrdecay._validation import (
    check_non_negative_finite,
    check_positive_finite,
    check_positive_int,
)
from lrdecay.tracking.guard import guard
from lrdecay.tracking.run import TrackedRun

__all__ = ["MlflowLogger"]

_STATUSES = ("FINISHED", "FAILED", "KILLED")


class MlflowLogger(keras.callbacks.Callback):
    """Log a fit to MLflow: one run with its learning-rate curve, metrics and settings.

    Each fit becomes one MLflow run, a new one unless `run_id=` names an
    existing run to resume: the fit is then logged into that run, which the
    logger leaves open. The run a fit logged into is `fit_run_id`. It holds:

    - params: the decay kind (`decay_kind`) and every setting of each lrdecay
      decay callback in the fit as `<kind>/<setting>` (`step/initial_lr`,
      `step/epochs_drop`, `plateau/patience`, ...: the names of a search's
      hyperparameters), `epochs`, `steps_per_epoch`, `batch_size`,
      `optimizer`, the optimizer's `LearningRateSchedule` and its settings if
      it has one (`lr_schedule`, `lr_schedule/decay_steps`, ...), and
      `params`. Values are written as given; a float that went through a
      float32 (an optimizer's rate) is written in its shortest float32 form
      (`0.1`, not `0.10000000149011612`), see
      `lrdecay.tracking.params.float_text`;
    - metrics, step = epoch (from 0): every key of Keras' epoch logs under
      Keras' names (`loss`, `val_loss`, `accuracy`, ...) and `learning_rate`,
      the rate the optimizer used in that epoch, whatever the order of the
      callbacks, also for an optimizer built on a
      `keras.optimizers.schedules.LearningRateSchedule` (its value at the
      epoch's first step; the logger never sets a rate);
    - plateau reductions as data: the metric `plateau_reduction` (the new
      rate, step = the epoch of the reduction) and the tag
      `lrdecay.plateau_reductions` (JSON list of epoch/old_lr/new_lr/monitor);
    - tags `lrdecay.status` (how the run ended: FINISHED, FAILED, KILLED;
      `lrdecay.tracking.tags`), `lrdecay.error` when it failed, and the
      caller's `tags`; artifacts
      `lrdecay/lr_curve.png` (the curve beside the validation metric),
      `lrdecay/lr_curve.csv` and `lrdecay/lr_curve.json`.

    Run: `run_id=` resumes that existing run (logs into it); else, with an active MLflow
    run (`mlflow.start_run()`), the fit is logged into it, or into a new
    child of it with `nested=True`; `parent_run_id=` makes a child of that
    run; otherwise a new run is created in `experiment_name` (else the
    `MLFLOW_EXPERIMENT_NAME`, `MLFLOW_EXPERIMENT_ID`, or MLflow's default
    experiment) at `tracking_uri` (else `MLFLOW_TRACKING_URI`, or MLflow's
    default, `sqlite:///mlflow.db` in the working directory).
    Only a run the logger created is ended by it: FINISHED at
    `on_train_end`. Keras does not call `on_train_end` when `fit` raises, and
    has no hook for it; so, from `on_train_begin` until the fit ends, the
    logger watches the fit's own objects (see
    `lrdecay._compat.keras.FitWatch`): an error in a training or validation
    step, in any callback's batch or epoch hook, or a `KeyboardInterrupt`
    while they run, ends the run at once, before `fit` raises it: FAILED
    with the error in the tag `lrdecay.error`, KILLED for a
    `KeyboardInterrupt`. The wrappers are set on those objects' instances
    (never on a Keras class) and removed when the run ends. Not seen that
    way: an error in another callback's `on_train_begin` listed after the
    logger or in an `on_train_end` listed before it, in the few lines of
    `fit` between the watched parts (resetting metrics, reading the epoch's
    metrics, building the validation iterator, finalizing the optimizer's
    variables), a `KeyboardInterrupt` landing there, and, with the torch
    backend, an error inside the batch loop. For those:

    - use the logger as a context manager: leaving the block with an
      exception ends the run FAILED (the error is recorded in the tag
      `lrdecay.error`), or KILLED for a `KeyboardInterrupt`;
    - at process exit, a run still open is ended FAILED, or KILLED if the
      process dies of a `KeyboardInterrupt`, with the uncaught error recorded
      (a chained `sys.excepthook` sees it);
    - the next `fit` with the same logger ends a run left open FAILED first.

    What stays installed in the process: while a fit's run is open (from
    `on_train_begin` until the run ends), a `sys.excepthook` that records an
    uncaught error and passes it on to the previous hook, and an `atexit`
    handler that ends the open runs (the exit-time backstop above: without
    it, a fit that raises leaves its run RUNNING forever and its last points
    unsent). Both are removed when no run is open any more, so after a fit
    that ended (or a `finish()`), `sys.excepthook` is the one from before
    (unless another library replaced it meanwhile: then ours stays in its
    chain and only passes errors on). Uploading the artifacts to an HTTP
    tracking server sets `MLFLOW_HTTP_REQUEST_MAX_RETRIES`,
    `_BACKOFF_FACTOR` and `_TIMEOUT` in `os.environ` for the duration of
    the upload (MLflow's artifact client reads nothing else) and restores
    them, also on error. Nothing else in the process (environment, MLflow's
    active run or experiment) is changed.

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
    and the command that re-imports it: `lrdecay replay FILE`
    (`lrdecay.tracking.offline.replay(FILE)` in Python).

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
    # or, so that every error (also those the logger cannot see) ends it:
    with lrdecay.MlflowLogger(experiment_name="digits") as logger:
        model.fit(x, y, epochs=30, callbacks=[logger])
    print(logger.fit_run_id)

    # resume a run: this fit's metrics go into the existing run
    resumed = lrdecay.MlflowLogger(run_id=logger.fit_run_id)
    ```

    Args:
        tracking_uri: String or `None`. Where to log. Defaults to
            `MLFLOW_TRACKING_URI`, else MLflow's default.
        experiment_name: String or `None`. Experiment of a new run (created
            if missing). Defaults to `MLFLOW_EXPERIMENT_NAME`, else MLflow's
            default experiment.
        run_name: String or `None`. Name of a new run.
        run_id: String or `None`. Resume this existing run: the fit is
            logged into it and the logger does not end it. Kept as
            `resume_run_id`. Defaults to `None` (the logger chooses or
            creates the run, see above).
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
        artifacts_in_background: Bool. At the end of a fit, send the
            metrics and end the run, then draw and upload the artifacts in
            a background thread, so that `fit` returns without waiting for
            the plot (a search's next trial starts meanwhile). A process
            killed before the thread ends loses the artifacts only;
            `wait_for_artifacts()` waits for them. Defaults to `False`.

    Attributes:
        fit_run_id: The id of the MLflow run the current (or last) fit logged
            into, set in `on_train_begin`; `None` before, or if the run could
            not be created (its data then goes to the local file).
        run_id: The same as `fit_run_id` (read-only; kept because it is the
            name MLflow users read). Not the `run_id=` argument, which is
            `resume_run_id`.
        resume_run_id: The `run_id=` argument: the run every fit resumes, or
            `None`.
        offline_file: The local file written by the last fit, or `None`.

    Raises:
        ValueError: If a numeric argument is out of range, or `run_id` is
            given with `parent_run_id` or `nested`.
        TypeError: If an argument has the wrong type (a number that is not
            one, a string that is empty).
    """

    # The `lrdecay.status` a run's end writes where it is not how the fit
    # ended (FINISHED, FAILED, KILLED): a subclass's own word, sent with the
    # fit's last points (a search's trial: `lrdecay.tuning.record.trial_logger`).
    end_status_tags: Mapping[str, str] = MappingProxyType({})
    # The experiment of a run the logger creates, when its maker knows it
    # (a search's trial: its parent's); else found as the docstring says.
    run_experiment_id: str | None = None

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
        artifacts_in_background: bool = False,
    ) -> None:
        super().__init__()
        _check_arguments(
            strings={
                "tracking_uri": tracking_uri,
                "experiment_name": experiment_name,
                "run_name": run_name,
                "run_id": run_id,
                "parent_run_id": parent_run_id,
            },
            mappings={"tags": tags, "params": params},
            nested=nested,
            log_every_n_steps=log_every_n_steps,
            seconds=(flush_interval, request_timeout, give_up_after),
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
        self.artifacts_in_background = bool(artifacts_in_background)
        self.fit_run_id: str | None = None
        self.offline_file: Path | None = None
        self._prefix: list[dict[str, float]] = []
        self._run: TrackedRun | None = None
        self._fit_watch: FitWatch | None = None
        # Keras keeps asynchronous dispatch of training steps only when no
        # callback overrides a batch hook: add one only when asked to.
        self.async_safe = True  # our batch hook only appends under a lock
        if log_every_n_steps is not None:
            self.on_train_batch_end = self._log_train_step

    @property
    def failed_sends(self) -> int:
        """Sends to the tracking server that failed in the current (or last) fit.

        Each was retried (the data waited in memory) or, past `give_up_after`,
        written to `offline_file`; 0 when every send went through at once or
        the fit was not tracked.
        """
        run = self._run
        sink = None if run is None else run.sink
        return 0 if sink is None else int(sink.failed_sends)

    @property
    def run_id(self) -> str | None:
        """The id of the run the current (or last) fit logged into (`fit_run_id`)."""
        return self.fit_run_id

    # -- copying ------------------------------------------------------------
    def __deepcopy__(self, memo: dict[int, Any]) -> MlflowLogger:
        # A copy is a fresh logger with the same settings: never the run,
        # thread or store of this one (KerasTuner copies callbacks per trial).
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in (
                "_run", "_model", "model", "fit_run_id", "offline_file", "_fit_watch",
            ):  # fmt: skip
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
        watch, self._fit_watch = self._fit_watch, None
        if watch is not None:
            watch.stop()
        run = self._run
        if run is None:
            return
        run.finish(status, error)
        if run.offline_file is not None:
            self.offline_file = run.offline_file

    def wait_for_artifacts(self, timeout: float | None = None) -> None:
        """Wait until the last fit's artifacts are uploaded.

        Only `artifacts_in_background=True` sends them after `finish()`;
        otherwise this returns at once.

        Args:
            timeout: Float or `None`. Seconds to wait at most. Defaults to
                `None` (as long as it takes).
        """
        run = self._run
        if run is not None:
            run.wait_for_artifacts(timeout)

    def log_prefix(self, history: Sequence[Mapping[str, float]]) -> None:
        """Log epochs trained before the next fit as that fit's own.

        For a fit that continues another run from `initial_epoch=len(history)`
        (a shared prefix of a search): `history` holds the logs of epochs
        `0 .. len(history) - 1`, `learning_rate` among them. When the next
        fit's run opens they are logged into it at their epochs, so the run
        holds its whole curve from epoch 0: MLflow's chart and compare views
        show only what a run holds. Applies to the next fit only.

        Args:
            history: Sequence of dict. The earlier epochs' logs, from 0.
        """
        self._prefix = [dict(logs) for logs in history]

    # -- Keras hooks ------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)
        decay_callbacks.start_fit_registry(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._fit_watch is not None:
            self._fit_watch.stop()
            self._fit_watch = None
        previous = self._run
        if previous is not None and not previous.finished:
            guard(
                previous.finish,
                "FAILED",
                _left_open_error(),
                what="ending the run its previous fit left open",
            )
        self.offline_file = None
        self._run = None
        self.fit_run_id = None
        run = guard(TrackedRun.open, self, what="starting the MLflow run")
        if run is None:
            return
        self._run = run
        self.fit_run_id = run.run_id
        prefix, self._prefix = self._prefix, []
        if prefix:
            guard(run.recorder.replay, prefix, what="logging the shared epochs")
        self._fit_watch = guard(
            FitWatch, self.model, self._fit_raised, what="watching the fit for errors"
        )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            guard(self._run.recorder.epoch_begin, epoch, what="on_epoch_begin")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            recorder = self._run.recorder
            guard(recorder.epoch_end, epoch, logs or {}, what="on_epoch_end")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            guard(self.finish, "FINISHED", what="ending the MLflow run")

    def _fit_raised(self, error: BaseException) -> None:
        # Called by the `FitWatch` as the error leaves Keras' loop: `fit`
        # raises it next, and `on_train_end` will not be called.
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        guard(self.finish, status, error, what="ending the MLflow run of a failed fit")

    def _log_train_step(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        run = self._run
        every = self.log_every_n_steps
        if run is not None and every is not None:
            steps = self.params.get("steps") or 0
            guard(
                run.recorder.train_step, batch, logs or {}, steps, every,
                what="on_train_batch_end",
            )  # fmt: skip


def _check_arguments(
    strings: dict[str, Any],
    mappings: dict[str, Any],
    nested: bool,
    log_every_n_steps: Any,
    seconds: tuple[Any, Any, Any],
) -> None:
    """The checks of `MlflowLogger.__init__`; the errors name the argument."""
    for name, value in strings.items():
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(
                f"Argument `{name}` must be a non-empty string or None. "
                f"Received: {name}={value!r}"
            )
    for name, mapping in mappings.items():
        if mapping is not None and not isinstance(mapping, dict):
            raise TypeError(
                f"Argument `{name}` must be a dict or None. "
                f"Received: {name}={mapping!r}"
            )
    run_id, parent_run_id = strings["run_id"], strings["parent_run_id"]
    if run_id is not None and (parent_run_id is not None or nested):
        raise ValueError(
            "Argument `run_id` resumes an existing run and cannot be combined "
            "with `parent_run_id` or `nested=True`. Received: "
            f"run_id={run_id!r}, parent_run_id={parent_run_id!r}, nested={nested!r}"
        )
    check_positive_int("log_every_n_steps", log_every_n_steps, allow_none=True)
    flush_interval, request_timeout, give_up_after = seconds
    check_positive_finite("flush_interval", flush_interval)
    check_positive_finite("request_timeout", request_timeout)
    check_non_negative_finite("give_up_after", give_up_after)


def _left_open_error() -> str:
    return (
        "the fit ended without on_train_end (it raised or was interrupted); "
        "the logger's next fit ended this run"
    )

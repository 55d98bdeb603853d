"""The chief's watch over its workers while KerasTuner's chief serves the oracle.

`watch_chief()` checks the oracle port is free, then logs, while the chief
waits, which trials are running on which worker and which workers it still
waits for, warns when nothing has moved for a long time, and reports each
ended trial. When the search ends, the runs dead workers left RUNNING are
ended KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay._compat import keras_tuner_globals
from lrdecay._compat.python import Thread
from lrdecay.tuning.distributed.roles import (
    ORACLE_IP_ENV,
    ORACLE_PORT_ENV,
    TUNER_ID_ENV,
    Role,
)
from lrdecay.tuning.record import runs

if TYPE_CHECKING:
    from lrdecay._compat.keras_tuner import OracleProgress

# Seconds between the chief's status lines (default 60).
REPORT_EVERY_ENV = "LRDECAY_CHIEF_REPORT_SECONDS"

logger = logging.getLogger("lrdecay.tuning.distributed")


@contextlib.contextmanager
def watch_chief(
    oracle: Any,
    role: Role,
    *,
    report_every: float | None = None,
    stall_after: float | None = None,
    on_trial_end: Callable[[Any], None] | None = None,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    experiment_id: str | None = None,
) -> Iterator[None]:
    """Around the chief's `tuner.search()`: say what it waits for.

    A no-op unless `role` is the chief. Before serving, checks the oracle's
    port can be bound (gRPC would fail silently). While KerasTuner's chief
    blocks, a thread logs (logger `lrdecay.tuning.distributed`) every
    `report_every` seconds which trials run on which worker and since when,
    and which workers it still waits for; the line is a WARNING once nothing
    has changed for `stall_after` seconds. Each trial that ends is logged and
    passed to `on_trial_end`. When the search ends normally, any trial run
    still RUNNING under `parent_run_id` belongs to a process that died, and is
    ended KILLED. The thread is stopped when the block ends, also on error.

    Example:

    ```python
    with watch_chief(tuner.oracle, role, parent_run_id=parent_run_id,
                     tracking_uri=tracking_uri):
        tuner.search(x, y, epochs=10)   # the chief: serves until all is done
    ```

    Args:
        oracle: The chief's `keras_tuner.Oracle` (`tuner.oracle`).
        role: This process's `Role`.
        report_every: Float or `None`. Seconds between status lines; else
            `LRDECAY_CHIEF_REPORT_SECONDS`, else `60`.
        stall_after: Float or `None`. Seconds without change before the line
            becomes a warning. Defaults to `10 * report_every`.
        on_trial_end: Callable or `None`, called (on the watcher thread) with
            each ended `keras_tuner` trial.
        tracking_uri, parent_run_id, experiment_id: The search's MLflow parent
            run, to close the runs of dead workers at the end; `None`: skip.

    Raises:
        RuntimeError: The oracle's port cannot be bound.
        ValueError: A non-positive `report_every` or `stall_after`.
    """
    if not role.is_chief:
        yield
        return
    every = _report_every(os.environ) if report_every is None else report_every
    stall = 10 * every if stall_after is None else stall_after
    if every <= 0 or stall <= 0:
        raise ValueError(
            "Arguments `report_every` and `stall_after` must be positive seconds. "
            f"Received: report_every={report_every!r}, stall_after={stall_after!r}"
        )
    _check_port_free(role)
    logger.info(
        "chief: serving the oracle at %s; start workers with %s=%s %s=%s "
        "%s=<unique id> and the same search arguments",
        role.address,
        ORACLE_IP_ENV,
        role.oracle_ip,
        ORACLE_PORT_ENV,
        role.oracle_port,
        TUNER_ID_ENV,
    )
    watch = _ChiefWatch(oracle, role, every, stall, on_trial_end)
    watch.start()
    try:
        with keras_tuner_globals.prompt_chief_exit():
            yield
    finally:
        watch.stop()
    if parent_run_id is not None:
        _end_orphaned_runs(tracking_uri, parent_run_id, experiment_id)


def _report_every(environ: Mapping[str, str]) -> float:
    text = environ.get(REPORT_EVERY_ENV)
    if text is None:
        return 60.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(
            f"`{REPORT_EVERY_ENV}` must be a positive number of seconds. "
            f"Received: {REPORT_EVERY_ENV}={text!r}"
        )
    return value


def _check_port_free(role: Role) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((str(role.oracle_ip), int(role.oracle_port or 0)))
        except OSError as error:
            # gRPC would fail to bind silently and the chief would wait forever.
            raise RuntimeError(
                f"The chief cannot serve its oracle at {role.address}: {error}. "
                f"Choose another {ORACLE_PORT_ENV}, or set {ORACLE_IP_ENV} to an "
                "address of this machine (0.0.0.0 for all)."
            ) from error


def _end_orphaned_runs(
    tracking_uri: str | None, parent_run_id: str, experiment_id: str | None
) -> None:
    """End KILLED the trial runs still RUNNING once the search is over."""
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri)
        experiment = experiment_id or client.get_run(parent_run_id).info.experiment_id
        stale = runs.end_stale_runs(
            client,
            str(experiment),
            parent_run_id,
            reason="Its worker stopped during this run and never came back; the "
            "search ended without it.",
        )
    except Exception as error:
        logger.warning("chief: could not close the runs of dead workers: %s", error)
        return
    if stale:
        logger.warning("chief: ended %d orphaned trial run(s) KILLED", len(stale))


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _ChiefWatch:
    """The chief's watcher thread: ended trials, status lines, stall warnings."""

    def __init__(
        self,
        oracle: Any,
        role: Role,
        report_every: float,
        stall_after: float,
        on_trial_end: Callable[[Any], None] | None,
    ) -> None:
        self.oracle = oracle
        self.role = role
        self.report_every = report_every
        self.stall_after = stall_after
        self.on_trial_end = on_trial_end
        self._stop = threading.Event()
        self._thread = Thread(
            target=self._loop, name="lrdecay-chief-watch", daemon=True
        )
        # (tuner id, trial id or "" for a worker between trials): first seen.
        self._seen_since: dict[tuple[str, str], float] = {}
        self._reported_ends = 0
        self._last_change = time.monotonic()
        self._last_state: tuple[Any, ...] | None = None

    def start(self) -> None:
        progress = self._progress()
        self._reported_ends = len(progress.end_order) if progress else 0
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._check_ended()

    def _progress(self) -> OracleProgress | None:
        """Where the oracle stands, or `None` if it stays locked."""
        return keras_tuner_compat.oracle_progress(self.oracle, lock_timeout=10)

    def _loop(self) -> None:
        next_report = time.monotonic() + self.report_every
        while not self._stop.wait(1.0):
            try:
                progress = self._check_ended()
                if progress is not None and time.monotonic() >= next_report:
                    next_report = time.monotonic() + self.report_every
                    self._report(progress)
            except Exception as error:  # never take the chief down
                logger.warning("chief: watcher error: %s", error)

    def _check_ended(self) -> OracleProgress | None:
        """Log (and hand on) the trials ended since the last look."""
        progress = self._progress()
        if progress is None:
            return None
        for trial_id in progress.end_order[self._reported_ends :]:
            self._reported_ends += 1
            trial = progress.trials.get(trial_id)
            logger.info(
                "chief: trial %s ended %s (%d of %d ended)",
                trial_id,
                getattr(trial, "status", "?"),
                self._reported_ends,
                len(progress.trials),
            )
            if self.on_trial_end is not None and trial is not None:
                try:
                    self.on_trial_end(trial)
                except Exception as error:
                    logger.warning("chief: trial-end hook failed: %s", error)
        return progress

    def _report(self, progress: OracleProgress) -> None:
        """One status line; a warning once nothing changed for `stall_after`."""
        now = time.monotonic()
        state = (
            tuple(sorted(progress.ongoing.items())),
            tuple(sorted(progress.tuner_ids)),
            len(progress.end_order),
        )
        if state != self._last_state:
            self._last_state = state
            self._last_change = now
        running = sorted(progress.ongoing.items(), key=lambda item: item[1])
        idle = sorted(progress.tuner_ids - set(progress.ongoing))
        keys = [*running, *((tuner, "") for tuner in idle)]
        self._seen_since = {key: self._seen_since.get(key, now) for key in keys}
        parts = [f"{len(progress.end_order)} of {len(progress.trials)} trials ended"]
        parts += self._waiting_for(running, idle, now)
        if not progress.tuner_ids and not progress.end_order:
            parts.append(
                f"no worker has asked for a trial yet; start workers with "
                f"{ORACLE_IP_ENV}=<this machine> {ORACLE_PORT_ENV}="
                f"{self.role.oracle_port} {TUNER_ID_ENV}=<unique id>"
            )
        stalled = now - self._last_change
        if stalled >= self.stall_after and (running or idle):
            parts.append(
                f"nothing changed for {_format_seconds(stalled)}: a worker that "
                f"died holds its trial until restarted with the same {TUNER_ID_ENV}"
            )
            logger.warning("chief %s: %s", self.role.address, "; ".join(parts))
        else:
            logger.info("chief %s: %s", self.role.address, "; ".join(parts))

    def _waiting_for(
        self, running: list[tuple[str, str]], idle: list[str], now: float
    ) -> list[str]:
        """What the chief waits for: running trials, then silent workers."""
        parts = []
        if running:
            parts.append(
                "waiting for "
                + ", ".join(
                    f"trial {trial} on {tuner} "
                    f"({_format_seconds(now - self._seen_since[(tuner, trial)])})"
                    for tuner, trial in running
                )
            )
        if idle:
            parts.append(
                "waiting for "
                + ", ".join(
                    f"{tuner} to ask again (silent "
                    f"{_format_seconds(now - self._seen_since[(tuner, '')])})"
                    for tuner in idle
                )
            )
        return parts

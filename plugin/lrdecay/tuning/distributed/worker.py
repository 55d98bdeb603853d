"""A worker joins the chief's search: waits for it, then asks for its trial.

Before a worker builds its tuner, `join_search()` finds the chief's MLflow
parent run by its tag `lrdecay.search=<project_name>` (waiting a bounded time
for the chief to create it), exits promptly with `SearchEndedError` when the
search is over, and closes as KILLED the run a killed incarnation of this
worker left RUNNING (the chief's oracle hands the same ongoing trial back to
the same tuner id, so the trial re-runs in a new run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lrdecay._compat.python import Thread
from lrdecay.errors import ChiefUnreachableError, SearchEndedError
from lrdecay.tuning import termination
from lrdecay.tuning.distributed.chief_gone import ON_CHIEF_GONE, ChiefGone
from lrdecay.tuning.distributed.roles import Role
from lrdecay.tuning.record import runs

_TERMINAL = ("FINISHED", "FAILED", "KILLED")

# Seconds a worker waits for a chief that stopped answering (`watch_for_chief`).
CHIEF_TIMEOUT_ENV = "LRDECAY_CHIEF_TIMEOUT"
DEFAULT_CHIEF_TIMEOUT = 60.0

logger = logging.getLogger("lrdecay.tuning.distributed")


@dataclasses.dataclass(frozen=True)
class JoinedSearch:
    """What a worker learned when it joined a search.

    Attributes:
        parent_run_id: String or `None` (no tracking). The chief's parent run.
        experiment_id: String or `None`.
        trial_id: String or `None`. The trial the oracle holds for this
            worker (its own unfinished trial when it restarted), if any.
        stale_run_ids: Runs of that trial a killed incarnation of this worker
            left RUNNING, now KILLED.
        tracking_uri: String or `None`. Where the parent run lives.
    """

    parent_run_id: str | None
    experiment_id: str | None
    trial_id: str | None
    stale_run_ids: tuple[str, ...] = ()
    tracking_uri: str | None = None


def join_search(
    role: Role,
    project_name: str,
    *,
    tracking: bool = True,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    wait_timeout: float = 300.0,
    connect_timeout: float = 3.0,
    poll_interval: float = 1.0,
    environ: Mapping[str, str] | None = None,
) -> JoinedSearch:
    """Join the chief's search as a worker, before building the tuner.

    Waits (at most `wait_timeout` seconds) until the chief's oracle answers on
    `role.address` and, with tracking, its parent run (tag
    `lrdecay.search=<project_name>`) is RUNNING. Then asks the oracle for this
    worker's trial: the search may be over (`SearchEndedError`), or the oracle
    may hand back the trial a killed incarnation of this worker was running;
    that incarnation's RUNNING run of the trial is then ended KILLED.

    Example:

    ```python
    role = resolve_role()
    if role.is_worker:
        joined = join_search(role, "lrdecay_grid",
                             tracking_uri="http://10.0.0.5:5000")
        joined.parent_run_id   # log the trials under it
    ```

    Args:
        role: A worker `Role`.
        project_name: String. The search's name, the same on every process.
        tracking: Bool. Whether the search logs to MLflow. Defaults to `True`.
        tracking_uri: String or `None`. Else `MLFLOW_TRACKING_URI`, else
            MLflow's default (which a worker on another machine does not
            share with the chief).
        experiment_name: String or `None`. Else `MLFLOW_EXPERIMENT_NAME`, else
            the default experiment.
        wait_timeout: Float. Seconds to wait for the chief. Defaults to `300`.
        connect_timeout: Float. Seconds per attempt to reach the chief's port.
            Defaults to `3`.
        poll_interval: Float. Seconds between attempts. Defaults to `1`.
        environ: Mapping. Defaults to `os.environ`.

    Returns:
        A `JoinedSearch`.

    Raises:
        ValueError: `role` is not a worker.
        SearchEndedError: The search is over: its parent run has ended and the
            chief no longer answers, or the oracle has no trial left.
        ChiefUnreachableError: The chief did not answer within `wait_timeout`.
    """
    _check_arguments(role, wait_timeout, connect_timeout)
    environ = os.environ if environ is None else environ
    client, uri = _tracking_client(tracking, tracking_uri, environ)
    lookout = _Lookout(role, project_name, client, experiment_name, environ)
    sighting = lookout.wait(wait_timeout, connect_timeout, poll_interval)
    trial_id = _trial_of(role, project_name)
    parent_run_id = sighting.parent_run_id
    stale: list[str] = []
    if client is not None and trial_id is not None and parent_run_id is not None:
        assert sighting.experiment_id is not None
        stale = _end_own_stale_runs(
            client, role, sighting.experiment_id, parent_run_id, trial_id
        )
    return JoinedSearch(
        parent_run_id, sighting.experiment_id, trial_id, tuple(stale), uri
    )


def _check_arguments(role: Role, wait_timeout: float, connect_timeout: float) -> None:
    if not role.is_worker:
        raise ValueError(
            f"`join_search` is for a worker. Received: role={role!r} ({role.name})"
        )
    if wait_timeout < 0 or connect_timeout <= 0:
        raise ValueError(
            "Arguments `wait_timeout` (>= 0) and `connect_timeout` (> 0) are "
            f"seconds. Received: wait_timeout={wait_timeout!r}, "
            f"connect_timeout={connect_timeout!r}"
        )


def _tracking_client(
    tracking: bool, tracking_uri: str | None, environ: Mapping[str, str]
) -> tuple[Any, str | None]:
    """An `mlflow.MlflowClient` and its URI; `(None, None)` without tracking."""
    if not tracking:
        return None, None
    import mlflow

    uri = (
        tracking_uri or environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()
    )
    from lrdecay.tracking import store_setup

    return store_setup.client(uri), uri


def _describe(run: Any) -> str:
    return f"run {run.info.run_id} ({run.info.status})"


def _port_open(role: Role, timeout: float) -> bool:
    try:
        with socket.create_connection(
            (str(role.oracle_ip), int(role.oracle_port or 0)), timeout=timeout
        ):
            return True
    except OSError:
        return False


@dataclasses.dataclass
class _Sighting:
    """What a worker last saw of its chief: its port, its parent run."""

    reachable: bool = False
    experiment_id: str | None = None
    parent: Any = None
    last_error: BaseException | None = None

    @property
    def parent_run_id(self) -> str | None:
        return None if self.parent is None else str(self.parent.info.run_id)

    def parent_has(self, statuses: tuple[str, ...]) -> bool:
        return self.parent is not None and self.parent.info.status in statuses


@dataclasses.dataclass
class _Lookout:
    """A worker waiting for its chief's oracle and, with tracking, parent run."""

    role: Role
    project_name: str
    client: Any  # `mlflow.MlflowClient` or `None` (no tracking)
    experiment_name: str | None
    environ: Mapping[str, str]

    def wait(
        self, wait_timeout: float, connect_timeout: float, poll_interval: float
    ) -> _Sighting:
        """Look until the chief is there; raise when it is over or never came."""
        deadline = time.monotonic() + wait_timeout
        sighting = _Sighting()
        announced = False
        while True:
            self._look(sighting, connect_timeout)
            if sighting.reachable and (
                self.client is None or sighting.parent_has(("RUNNING",))
            ):
                return sighting
            if not sighting.reachable and sighting.parent_has(_TERMINAL):
                raise SearchEndedError(
                    f"The search {self.project_name!r} has ended: its parent "
                    f"{_describe(sighting.parent)} is closed and no chief answers "
                    f"at {self.role.address}. Nothing to do for worker "
                    f"{self.role.tuner_id!r}; start the chief again to resume it."
                )
            if time.monotonic() >= deadline:
                raise self._gave_up(sighting, wait_timeout)
            if not announced:
                logger.info(
                    "worker %s: waiting up to %g s for the chief at %s (search %r)",
                    self.role.tuner_id,
                    wait_timeout,
                    self.role.address,
                    self.project_name,
                )
                announced = True
            time.sleep(poll_interval)

    def _look(self, sighting: _Sighting, connect_timeout: float) -> None:
        sighting.reachable = _port_open(self.role, connect_timeout)
        if self.client is None:
            return
        try:
            if sighting.experiment_id is None:
                sighting.experiment_id = runs.experiment_id(
                    self.client,
                    self.experiment_name,
                    create=False,  # the chief creates it
                    environ=self.environ,
                )
            if sighting.experiment_id is not None:
                sighting.parent = runs.find_parent_run(
                    self.client, sighting.experiment_id, self.project_name
                )
        except Exception as error:  # the tracking server may be starting too
            sighting.last_error = error

    def _gave_up(
        self, sighting: _Sighting, wait_timeout: float
    ) -> ChiefUnreachableError:
        parent = sighting.parent
        if sighting.reachable:
            found = (
                f"its parent {_describe(parent)} is not RUNNING"
                if parent is not None
                else f"no parent run tagged {runs.SEARCH_TAG}="
                f"{self.project_name!r} was found"
            )
            where = (
                f"in experiment {sighting.experiment_id}"
                if sighting.experiment_id is not None
                else f"(experiment {self.experiment_name!r} does not exist)"
            )
            hint = (
                f"a chief answers at {self.role.address} but {found} {where}: "
                "give every process the same search arguments, tracking "
                "URI and experiment"
            )
        else:
            state = (
                f"its parent {_describe(parent)} exists"
                if parent is not None
                else "no parent run exists yet"
            )
            hint = (
                f"nothing answers at {self.role.address} and {state}: start the chief"
            )
        last_error = sighting.last_error
        detail = f" (last tracking error: {last_error})" if last_error else ""
        return ChiefUnreachableError(
            f"Worker {self.role.tuner_id!r} gave up joining the search "
            f"{self.project_name!r} after {wait_timeout:g} s: {hint}{detail}."
        )


def _trial_of(role: Role, project_name: str) -> str | None:
    """The id of the trial the oracle runs for `role`, or `None` (IDLE).

    Asks as `Tuner.search` does: the oracle returns the ongoing trial of a
    tuner id that asks again, so the worker's own `search()` gets this very
    trial back.
    """
    from lrdecay._compat import keras_tuner as keras_tuner_compat

    try:
        trial = keras_tuner_compat.request_trial(
            role.address, role.tuner_id, timeout=chief_timeout()
        )
    except Exception as error:
        raise ChiefUnreachableError(
            f"Worker {role.tuner_id!r}: the chief at {role.address} stopped "
            f"answering ({type(error).__name__}: {error})."
        ) from error
    status = str(trial.status)
    if status == "STOPPED":
        raise SearchEndedError(
            f"The search {project_name!r} has no trial left for worker "
            f"{role.tuner_id!r}: every trial is done or running on another "
            "worker. Nothing to do."
        )
    return str(trial.trial_id) if status == "RUNNING" else None


def _end_own_stale_runs(
    client: Any, role: Role, experiment_id: str, parent_run_id: str, trial_id: str
) -> list[str]:
    """End KILLED the runs of `trial_id` a killed incarnation of `role` left."""
    try:
        stale = runs.end_stale_runs(
            client,
            experiment_id,
            parent_run_id,
            trial_id=trial_id,
            reason=(
                f"Worker {role.tuner_id!r} stopped during this run (killed); "
                f"it restarted and trial {trial_id} re-runs in a new run."
            ),
        )
    except Exception as error:
        logger.warning(
            "could not close the stale runs of trial %s: %s", trial_id, error
        )
        return []
    if stale:
        logger.warning(
            "worker %s: resuming trial %s; its unfinished run %s ended KILLED",
            role.tuner_id,
            trial_id,
            ", ".join(stale),
        )
    return stale


# -- a chief that stops answering ---------------------------------------------------


def chief_timeout(environ: Mapping[str, str] | None = None) -> float:
    """`LRDECAY_CHIEF_TIMEOUT` in seconds, else `DEFAULT_CHIEF_TIMEOUT` (60).

    Raises:
        ValueError: The variable is not a positive number of seconds.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(CHIEF_TIMEOUT_ENV)
    if text is None or not text.strip():
        return DEFAULT_CHIEF_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(
            f"`{CHIEF_TIMEOUT_ENV}` must be a positive number of seconds. "
            f"Received: {CHIEF_TIMEOUT_ENV}={text!r}"
        )
    return seconds


@contextlib.contextmanager
def watch_for_chief(
    role: Role, timeout: float | None = None, grace: float | None = None
) -> Iterator[None]:
    """Around a worker's `tuner.search()`: stop when the chief stops answering.

    KerasTuner's worker waits up to an hour in each call to a chief that is
    gone. Here a thread asks the chief's gRPC server every few seconds
    (`_compat.keras_tuner.oracle_answers`); once it has not answered for
    `timeout` seconds, the thread asks the main thread to stop at its next
    safe point (`termination.request_stop`) and calls the process owner's
    `on_chief_gone` handler, if any (`interrupt_or_exit` interrupts a
    blocking wait at once); the block raises `ChiefUnreachableError`
    instead of `KeyboardInterrupt` (the trial's run ends KILLED as any
    interrupted run does; the chief's oracle hands the trial out again when
    the chief resumes). The thread itself never signals or ends the
    process.

    A no-op unless `role` is a worker.

    Example:

    ```python
    with watch_for_chief(role):
        tuner.search(x, y, epochs=10)
    ```

    Args:
        role: This process's `Role`.
        timeout: Float or `None`. Else `LRDECAY_CHIEF_TIMEOUT`, else `60`.
        grace: Float or `None`. Defaults to `max(10, timeout / 2)`.

    Raises:
        ChiefUnreachableError: The chief did not answer for `timeout` seconds.
        ValueError: A non-positive `timeout` (or `LRDECAY_CHIEF_TIMEOUT`).
    """
    if not role.is_worker:
        yield
        return
    limit = chief_timeout() if timeout is None else timeout
    if not limit > 0:
        raise ValueError(
            "Argument `timeout` must be positive seconds. "
            f"Received: timeout={timeout!r}"
        )
    watchdog = _ChiefWatchdog(
        role,
        limit,
        max(10.0, limit / 2) if grace is None else grace,
        ON_CHIEF_GONE.get(),
    )
    watchdog.start()
    try:
        yield
    except KeyboardInterrupt:
        if watchdog.fired.is_set():
            # The watchdog's own SIGINT, not the user's: no stop to raise again.
            termination.stop_handled()
            raise ChiefUnreachableError(watchdog.message) from None
        raise
    finally:
        watchdog.stop()


class _ChiefWatchdog:
    """The thread behind `watch_for_chief`."""

    def __init__(
        self,
        role: Role,
        timeout: float,
        grace: float,
        on_gone: Callable[[ChiefGone], None] | None,
    ) -> None:
        self.role = role
        self.on_gone = on_gone
        self.timeout = timeout
        self.grace = grace
        self.interval = min(5.0, timeout / 4)
        self.fired = threading.Event()
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self.message = (
            f"Worker {role.tuner_id!r}: the chief at {role.address} has not "
            f"answered for {timeout:g} s (stopped, or its machine is "
            "unreachable); this worker stops. Start the chief again (the same "
            "command resumes the search), then the workers."
        )
        self._thread = Thread(
            target=self._watch, name="lrdecay-worker-watchdog", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self.stopped.set()
        self._thread.join(timeout=self.interval + 5)

    def _watch(self) -> None:
        from lrdecay._compat import keras_tuner as keras_tuner_compat

        last_answer = time.monotonic()
        while not self.stopped.wait(self.interval):
            probe_timeout = min(self.interval, 5.0)
            if keras_tuner_compat.oracle_answers(self.role.address, probe_timeout):
                last_answer = time.monotonic()
                continue
            if time.monotonic() - last_answer < self.timeout:
                continue
            with self._lock:
                if self.stopped.is_set():
                    return
                self.fired.set()
                termination.request_stop()
            if self.on_gone is not None:
                gone = ChiefGone(self.message, self.grace, self.stopped, self._lock)
                self.on_gone(gone)
            return

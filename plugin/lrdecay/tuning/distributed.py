"""A decay search across processes and machines, on KerasTuner's distributed mode.

KerasTuner runs a search on many machines with no scheduler of its own: every
process runs the same script; the one whose `KERASTUNER_TUNER_ID` contains
`"chief"` serves the oracle over gRPC on `KERASTUNER_ORACLE_IP` :
`KERASTUNER_ORACLE_PORT` and blocks until the search is over; every other
process (a worker, with a unique id) asks it for trials and runs them. This
module adds what an lrdecay search needs around that:

- `resolve_role()`: chief, worker or a single process, from those variables or
  the matching options (`--tuner-id`, `--oracle-ip`, `--oracle-port`), checked.
- `join_search()` (worker): finds the chief's MLflow parent run by its tag
  `lrdecay.search=<project_name>` (waiting a bounded time for the chief to
  create it), exits promptly with `SearchEndedError` when the search is over,
  and closes as KILLED the run a killed incarnation of this worker left
  RUNNING (the chief's oracle hands the same ongoing trial back to the same
  tuner id, so the trial re-runs in a new run).
- `watch_chief()` (chief): checks the oracle port is free, then logs, while
  the chief waits, which trials are running on which worker and which workers
  it still waits for, warns when nothing has moved for a long time, and
  reports each ended trial.

Which process does what:

```
every process: KERASTUNER_ORACLE_IP=10.0.0.5 KERASTUNER_ORACLE_PORT=8000,
               the same search arguments (so the same project name), the
               same MLFLOW_TRACKING_URI and experiment
the chief:     KERASTUNER_TUNER_ID=chief
worker i:      KERASTUNER_TUNER_ID=worker-i   (unique, without "chief")
```

This module imports neither TensorFlow nor MLflow at import time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

__all__ = [
    "ORACLE_IP_ENV",
    "ORACLE_PORT_ENV",
    "REPORT_EVERY_ENV",
    "TUNER_ID_ENV",
    "ChiefUnreachableError",
    "JoinedSearch",
    "Role",
    "SearchEndedError",
    "end_stale_trial_runs",
    "find_parent_run",
    "join_search",
    "resolve_role",
    "watch_chief",
]

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"
# Seconds between the chief's status lines (default 60).
REPORT_EVERY_ENV = "LRDECAY_CHIEF_REPORT_SECONDS"

ROLE_TAG = "lrdecay.role"
SEARCH_TAG = "lrdecay.search"
TRIAL_TAG = "lrdecay.trial_id"
STALE_TAG = "lrdecay.stale"
TRIAL_STATUS_TAG = "lrdecay.trial_status"

_TERMINAL = ("FINISHED", "FAILED", "KILLED")

logger = logging.getLogger("lrdecay.tuning.distributed")


class SearchEndedError(RuntimeError):
    """A worker joined a search that has no trial left for it."""


class ChiefUnreachableError(RuntimeError):
    """A worker waited its whole `wait_timeout` without finding its chief."""


# -- roles ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Role:
    """Which part of a search this process plays.

    Attributes:
        tuner_id: String or `None`. KerasTuner's tuner id; a chief's contains
            `"chief"` (KerasTuner's own rule).
        oracle_ip: String or `None`. Where the chief serves its oracle; `None`
            for a search in one process.
        oracle_port: Int or `None`.
    """

    tuner_id: str | None = None
    oracle_ip: str | None = None
    oracle_port: int | None = None

    @property
    def is_distributed(self) -> bool:
        return self.oracle_ip is not None

    @property
    def is_chief(self) -> bool:
        return self.is_distributed and "chief" in (self.tuner_id or "")

    @property
    def is_worker(self) -> bool:
        return self.is_distributed and not self.is_chief

    @property
    def name(self) -> str:
        """`"chief"`, `"worker"` or `"single"`."""
        if self.is_chief:
            return "chief"
        return "worker" if self.is_worker else "single"

    @property
    def address(self) -> str:
        return f"{self.oracle_ip}:{self.oracle_port}"

    def export(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Write the role to the KerasTuner environment variables.

        KerasTuner reads them when a tuner is built and when it searches, so
        the CLI calls this once with the options it was given.
        """
        environ = os.environ if environ is None else environ
        for key, value in (
            (TUNER_ID_ENV, self.tuner_id),
            (ORACLE_IP_ENV, self.oracle_ip),
            (ORACLE_PORT_ENV, self.oracle_port),
        ):
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = str(value)


def resolve_role(
    tuner_id: str | None = None,
    oracle_ip: str | None = None,
    oracle_port: int | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Role:
    """The role of this process: options first, then KerasTuner's variables.

    Example:

    ```python
    role = resolve_role()          # from KERASTUNER_* in the environment
    role = resolve_role("worker-1", "10.0.0.5", 8000)
    role.is_chief, role.is_worker, role.address
    ```

    Args:
        tuner_id: String or `None`. Else `KERASTUNER_TUNER_ID`.
        oracle_ip: String or `None`. Else `KERASTUNER_ORACLE_IP`.
        oracle_port: Int, string or `None`. Else `KERASTUNER_ORACLE_PORT`.
        environ: Mapping. Defaults to `os.environ`.

    Returns:
        A `Role`; not distributed when neither an IP nor a port is set.

    Raises:
        ValueError: An IP without a port (or the reverse), a distributed role
            without a tuner id, a blank id or IP, or a port outside 1-65535;
            the message names the option or variable and its value.
    """
    environ = os.environ if environ is None else environ

    def pick(value: Any, option: str, variable: str) -> tuple[str | None, str]:
        """The value and the name it came by (the option's when unset)."""
        if value is not None:
            return str(value), option
        from_env = environ.get(variable)
        return (from_env, variable) if from_env is not None else (None, option)

    tid, tid_name = pick(tuner_id, "tuner_id", TUNER_ID_ENV)
    ip, ip_name = pick(oracle_ip, "oracle_ip", ORACLE_IP_ENV)
    port_text, port_name = pick(oracle_port, "oracle_port", ORACLE_PORT_ENV)

    if tid is not None and not tid.strip():
        raise ValueError(
            f"`{tid_name}` must name this tuner (e.g. 'chief', 'worker-1'). "
            f"Received: {tid_name}={tid!r}"
        )
    if ip is None and port_text is None:
        return Role(tuner_id=tid)
    if ip is None or port_text is None:
        raise ValueError(
            f"`{ORACLE_IP_ENV}` (`oracle_ip`) and `{ORACLE_PORT_ENV}` "
            "(`oracle_port`) go together: the chief serves its oracle at that "
            f"address and workers connect to it. Received: {ip_name}={ip!r}, "
            f"{port_name}={port_text!r}"
        )
    if not ip.strip():
        raise ValueError(
            f"`{ip_name}` must be the chief's address. Received: {ip_name}={ip!r}"
        )
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(
            f"`{port_name}` must be a TCP port (1-65535). "
            f"Received: {port_name}={port_text!r}"
        )
    if tid is None:
        raise ValueError(
            f"A distributed search needs `{TUNER_ID_ENV}` (`tuner_id`): 'chief' "
            "for the process "
            "serving the oracle, a unique name (e.g. 'worker-1') for each "
            f"worker. Received: {tid_name}=None with {ip_name}={ip!r}"
        )
    return Role(tuner_id=tid.strip(), oracle_ip=ip.strip(), oracle_port=port)


# -- MLflow: the parent run and stale trial runs ---------------------------------


def _experiment_id(
    client: Any, experiment_name: str | None, environ: Mapping[str, str]
) -> str | None:
    """The experiment's id, or `None` while the chief has not created it."""
    name = experiment_name or environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return environ.get("MLFLOW_EXPERIMENT_ID") or "0"
    experiment = client.get_experiment_by_name(name)
    return None if experiment is None else str(experiment.experiment_id)


def find_parent_run(client: Any, experiment_id: str, project_name: str) -> Any | None:
    """The newest parent run of the search `project_name`, or `None`.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String.
        project_name: String. The search's name (tag `lrdecay.search`).
    """
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{ROLE_TAG}` = 'search' and tags.`{SEARCH_TAG}` = '{project_name}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def end_stale_trial_runs(
    client: Any,
    experiment_id: str,
    parent_run_id: str,
    trial_id: str | None = None,
    *,
    reason: str,
) -> list[str]:
    """End as KILLED the RUNNING child runs of `parent_run_id`; return their ids.

    Called when no process can still be writing them: a restarted worker for
    the trial the oracle hands back to it, the chief once every trial ended.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String. The parent's experiment.
        parent_run_id: String.
        trial_id: String or `None`. Only this trial's runs; `None`: all.
        reason: String, written to the run's `lrdecay.error` tag.
    """
    filters = [
        f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
        "attributes.status = 'RUNNING'",
    ]
    if trial_id is not None:
        filters.append(f"tags.`{TRIAL_TAG}` = '{trial_id}'")
    runs = client.search_runs(
        [experiment_id], filter_string=" and ".join(filters), max_results=1000
    )
    ended = []
    for run in runs:
        run_id = run.info.run_id
        client.set_tag(run_id, STALE_TAG, "true")
        client.set_tag(run_id, TRIAL_STATUS_TAG, "KILLED")
        client.set_tag(run_id, "lrdecay.error", reason)
        client.set_terminated(run_id, "KILLED")
        ended.append(str(run_id))
    return ended


# -- the worker ------------------------------------------------------------------


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


def _port_open(role: Role, timeout: float) -> bool:
    try:
        with socket.create_connection(
            (str(role.oracle_ip), int(role.oracle_port or 0)), timeout=timeout
        ):
            return True
    except OSError:
        return False


def _ask_for_trial(role: Role, timeout: float) -> Any:
    """Ask the chief's oracle for this tuner's trial, as `Tuner.search` does.

    The oracle returns the ongoing trial of a tuner id that asks again, so the
    worker's own `search()` gets this very trial back.
    """
    from keras_tuner.src import protos

    # grpcio (a KerasTuner dependency) ships no type stubs.
    grpc: Any = importlib.import_module("grpc")
    from keras_tuner.src.engine import trial as trial_module

    channel = grpc.insecure_channel(role.address)
    try:
        stub = protos.get_service_grpc().OracleStub(channel)
        response = stub.CreateTrial(
            protos.get_service().CreateTrialRequest(tuner_id=role.tuner_id),
            wait_for_ready=True,
            timeout=timeout,
        )
        return trial_module.Trial.from_proto(response.trial)
    finally:
        channel.close()


def _describe(run: Any) -> str:
    return f"run {run.info.run_id} ({run.info.status})"


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
    environ = os.environ if environ is None else environ
    client = None
    uri: str | None = None
    if tracking:
        import mlflow

        uri = (
            tracking_uri
            or environ.get("MLFLOW_TRACKING_URI")
            or mlflow.get_tracking_uri()
        )
        client = mlflow.MlflowClient(uri)

    deadline = time.monotonic() + wait_timeout
    experiment_id: str | None = None
    parent: Any = None
    last_error: BaseException | None = None
    announced = False
    while True:
        reachable = _port_open(role, connect_timeout)
        if client is not None:
            try:
                if experiment_id is None:
                    experiment_id = _experiment_id(client, experiment_name, environ)
                if experiment_id is not None:
                    parent = find_parent_run(client, experiment_id, project_name)
            except Exception as error:  # the tracking server may be starting too
                last_error = error
        parent_running = parent is not None and parent.info.status == "RUNNING"
        if reachable and (client is None or parent_running):
            break
        if not reachable and parent is not None and parent.info.status in _TERMINAL:
            raise SearchEndedError(
                f"The search {project_name!r} has ended: its parent "
                f"{_describe(parent)} is closed and no chief answers at "
                f"{role.address}. Nothing to do "
                f"for worker {role.tuner_id!r}; start the chief again to resume it."
            )
        if time.monotonic() >= deadline:
            if reachable:
                found = (
                    f"its parent {_describe(parent)} is not RUNNING"
                    if parent is not None
                    else f"no parent run tagged {SEARCH_TAG}={project_name!r} was found"
                )
                where = (
                    f"in experiment {experiment_id}"
                    if experiment_id is not None
                    else f"(experiment {experiment_name!r} does not exist)"
                )
                hint = (
                    f"a chief answers at {role.address} but {found} {where}: "
                    "give every process the same search arguments, tracking "
                    "URI and experiment"
                )
            else:
                state = (
                    f"its parent {_describe(parent)} exists"
                    if parent is not None
                    else "no parent run exists yet"
                )
                hint = f"nothing answers at {role.address} and {state}: start the chief"
            detail = f" (last tracking error: {last_error})" if last_error else ""
            raise ChiefUnreachableError(
                f"Worker {role.tuner_id!r} gave up joining the search "
                f"{project_name!r} after {wait_timeout:g} s: {hint}{detail}."
            )
        if not announced:
            logger.info(
                "worker %s: waiting up to %g s for the chief at %s (search %r)",
                role.tuner_id,
                wait_timeout,
                role.address,
                project_name,
            )
            announced = True
        time.sleep(poll_interval)

    try:
        trial = _ask_for_trial(role, timeout=max(wait_timeout, 30.0))
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
    trial_id = str(trial.trial_id) if status == "RUNNING" else None
    parent_run_id = None if parent is None else str(parent.info.run_id)
    stale: list[str] = []
    if client is not None and trial_id is not None and parent_run_id is not None:
        assert experiment_id is not None
        try:
            stale = end_stale_trial_runs(
                client,
                experiment_id,
                parent_run_id,
                trial_id,
                reason=(
                    f"Worker {role.tuner_id!r} stopped during this run (killed); "
                    f"it restarted and trial {trial_id} re-runs in a new run."
                ),
            )
        except Exception as error:
            logger.warning(
                "could not close the stale runs of trial %s: %s", trial_id, error
            )
        if stale:
            logger.warning(
                "worker %s: resuming trial %s; its unfinished run %s ended KILLED",
                role.tuner_id,
                trial_id,
                ", ".join(stale),
            )
    return JoinedSearch(parent_run_id, experiment_id, trial_id, tuple(stale), uri)


# -- the chief -------------------------------------------------------------------


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


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


@dataclasses.dataclass
class _Snapshot:
    ongoing: dict[str, str]  # tuner id -> trial id
    tuner_ids: set[str]
    end_order: list[str]
    trial_count: int


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
        self._thread = threading.Thread(
            target=self._loop, name="lrdecay-chief-watch", daemon=True
        )
        self._seen_since: dict[tuple[str, str], float] = {}
        self._reported_ends = 0
        self._last_change = time.monotonic()
        self._last_state: tuple[Any, ...] | None = None

    def start(self) -> None:
        snapshot = self._snapshot()
        self._reported_ends = len(snapshot.end_order) if snapshot else 0
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._check_ended()

    def _snapshot(self) -> _Snapshot | None:
        from keras_tuner.src.engine import oracle as oracle_module

        # The oracle's own lock, the one its gRPC handlers hold.
        lock = oracle_module.LOCKS[self.oracle]
        if not lock.acquire(timeout=10):
            return None
        try:
            return _Snapshot(
                ongoing={
                    str(tuner_id): str(trial.trial_id)
                    for tuner_id, trial in self.oracle.ongoing_trials.items()
                },
                tuner_ids={str(tuner_id) for tuner_id in self.oracle.tuner_ids},
                end_order=[str(trial_id) for trial_id in self.oracle.end_order],
                trial_count=len(self.oracle.trials),
            )
        finally:
            lock.release()

    def _check_ended(self) -> _Snapshot | None:
        snapshot = self._snapshot()
        if snapshot is None:
            return None
        new = snapshot.end_order[self._reported_ends :]
        for trial_id in new:
            self._reported_ends += 1
            trial = self.oracle.trials.get(trial_id)
            logger.info(
                "chief: trial %s ended %s (%d of %d ended)",
                trial_id,
                getattr(trial, "status", "?"),
                self._reported_ends,
                snapshot.trial_count,
            )
            if self.on_trial_end is not None and trial is not None:
                try:
                    self.on_trial_end(trial)
                except Exception as error:
                    logger.warning("chief: trial-end hook failed: %s", error)
        return snapshot

    def _loop(self) -> None:
        next_report = time.monotonic() + self.report_every
        while not self._stop.wait(1.0):
            try:
                snapshot = self._check_ended()
                if snapshot is not None and time.monotonic() >= next_report:
                    next_report = time.monotonic() + self.report_every
                    self._report(snapshot)
            except Exception as error:  # never take the chief down
                logger.warning("chief: watcher error: %s", error)

    def _report(self, snapshot: _Snapshot) -> None:
        now = time.monotonic()
        state = (
            tuple(sorted(snapshot.ongoing.items())),
            tuple(sorted(snapshot.tuner_ids)),
            len(snapshot.end_order),
        )
        if state != self._last_state:
            self._last_state = state
            self._last_change = now
        running = sorted(snapshot.ongoing.items(), key=lambda item: item[1])
        idle = sorted(snapshot.tuner_ids - set(snapshot.ongoing))
        # (tuner id, trial id or "" for a worker between trials): first seen.
        keys = [*running, *((tuner, "") for tuner in idle)]
        self._seen_since = {key: self._seen_since.get(key, now) for key in keys}
        parts = [f"{len(snapshot.end_order)} of {snapshot.trial_count} trials ended"]
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
        if not snapshot.tuner_ids and not snapshot.end_order:
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
    ended KILLED.

    Example:

    ```python
    with watch_chief(tuner.oracle, role, parent_run_id=runs.parent_run_id,
                     tracking_uri=runs.tracking_uri):
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
        yield
    finally:
        watch.stop()
    if parent_run_id is None:
        return
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri)
        experiment = experiment_id or client.get_run(parent_run_id).info.experiment_id
        stale = end_stale_trial_runs(
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

"""MLflow tracking stores whose requests take a bounded time.

MLflow's REST client retries a failed request `MLFLOW_HTTP_REQUEST_MAX_RETRIES`
times (7 by default) with exponential back-off, each try waiting up to
`MLFLOW_HTTP_REQUEST_TIMEOUT` (120 s): one request to an unreachable server
can block for minutes. Those settings are process-wide environment variables,
read at every request, so changing them would change the user's own MLflow
calls too. The logger instead talks to HTTP servers through
`lrdecay._compat.mlflow.BoundedRestStore`, a `RestStore` that passes explicit
retry and timeout arguments to MLflow's `http_request`; the logger does its own
retrying, without blocking training.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from mlflow.exceptions import MlflowException

from lrdecay._compat.mlflow import BoundedRestStore, tracking_store
from lrdecay.tracking import store_setup
from lrdecay.tracking.credentials import is_http


def absolute_uri(tracking_uri: str) -> str:
    """`tracking_uri` with a relative SQLite path made absolute (other URIs as given).

    MLflow resolves `sqlite:///mlflow.db` (its default store) against the
    working directory when it first opens the store, and older versions
    (3.9) cache the store by URI: after a `chdir`, the same relative URI
    still writes to the first folder's database. Resolving it when a run or
    search starts makes every MLflow version write where the working
    directory is at that moment.
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return tracking_uri
    path, _, query = tracking_uri[len(prefix) :].partition("?")
    if not path or path == ":memory:" or os.path.isabs(path):
        return tracking_uri
    absolute = prefix + os.path.abspath(path)
    return f"{absolute}?{query}" if query else absolute


def open_store(tracking_uri: str, timeout: float, max_retries: int) -> Any:
    """The tracking store of `tracking_uri`; bounded when it is an HTTP server."""
    if is_http(tracking_uri):
        return BoundedRestStore(tracking_uri, timeout, max_retries)
    store_setup.ready_store(tracking_uri)  # created or upgraded once, under a lock
    return tracking_store(tracking_uri)


def is_permanent(error: BaseException) -> bool:
    """Whether retrying the request that raised `error` cannot succeed.

    A 4xx answer (bad value, unknown run, a param logged with another value)
    will be the same next time; connection errors, timeouts, 5xx, 429 and a
    busy database may pass.
    """
    if not isinstance(error, MlflowException):
        return False
    try:
        status = int(error.get_http_status_code())
    except (TypeError, ValueError):
        return False
    return 400 <= status < 500 and status not in (408, 429)


@contextlib.contextmanager
def bounded_http_env(timeout: float, max_retries: int) -> Iterator[None]:
    """Bound MLflow's HTTP retries for the calls made inside the block.

    Only for calls that go through MLflow's own clients (artifact uploads),
    made from the training thread while training is not running; the change
    is process-wide for the duration of the block, then undone.
    """
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(timeout))),
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def experiment_by_name(store: Any, name: str) -> str:
    """The id of experiment `name` in `store`, created if missing."""
    experiment = store.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(store.create_experiment(name))
    except MlflowException:
        # Another process may have created it first.
        experiment = store.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


_STOPPED_INSIDE = "Stopped inside (a store call, let go of):"


def release_stopped_calls(error: BaseException) -> None:
    """Let go of the store connections a stopped store call still holds.

    A Ctrl-C inside a SQLite store's call can leave the file locked: inside
    a write (`cursor.execute`) the connection stays in an open write
    transaction; inside a read's loading of rows, SQLAlchemy closes its
    cursor on an `Exception` only, so the statement stays active with its
    read lock, though the connection went back to the pool. Both are held
    by the frames in the exception's traceback: while `error` lives (a
    handler ending the runs holds it), every other write to the file waits
    SQLite's busy timeout (20 s) and fails with "database is locked".

    This cuts each traceback along `error`'s chain after the frames still
    running (the handler's own), and collects: the finished frames go, and
    with them what they held. Clearing their locals is not enough: a
    nested function's frame (a list comprehension's, on Python 3.11) keeps
    the function and its closure, the cursor among it. Where the stop
    landed stays readable: the cut frames become a note of the exception
    (Python 3.11+), printed under it. Call it in the handler, before its
    first write.
    """
    running: set[int] = set()
    frame = sys._getframe()
    while frame is not None:
        running.add(id(frame))
        frame = frame.f_back  # type: ignore[assignment]
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        _cut_finished_frames(current, running)
        pending += [current.__cause__, current.__context__]
    gc.collect()


def _cut_finished_frames(error: BaseException, running: set[int]) -> None:
    kept, entry = None, error.__traceback__
    while entry is not None and id(entry.tb_frame) in running:
        kept, entry = entry, entry.tb_next
    if entry is None:
        return
    where = "".join(traceback.format_tb(entry)).rstrip()
    notes = getattr(error, "__notes__", [])
    for index, note in enumerate(notes):
        if note.startswith(_STOPPED_INSIDE):  # an earlier cut, deeper down
            notes[index] = f"{_STOPPED_INSIDE}\n{where}{note[len(_STOPPED_INSIDE) :]}"
            break
    else:
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(f"{_STOPPED_INSIDE}\n{where}")
    if kept is None:
        error.__traceback__ = None
    else:
        kept.tb_next = None

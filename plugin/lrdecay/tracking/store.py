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


def release_stopped_calls(error: BaseException) -> None:
    """Let go of the store connections a stopped store call still holds.

    A Ctrl-C that lands inside a SQLite store's write (`cursor.execute`)
    leaves its connection inside an open write transaction, held by the
    locals of the frames in the exception's traceback: while `error` lives
    (a handler ending the runs holds it), every other write to the file
    waits SQLite's busy timeout (20 s) and fails with "database is locked".
    This clears the locals of those frames (the frames still running keep
    theirs; the traceback still prints) along `error`'s chain, and collects
    the connection, which rolls its transaction back. Call it in the
    handler, before its first write.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [current.__cause__, current.__context__]
    gc.collect()

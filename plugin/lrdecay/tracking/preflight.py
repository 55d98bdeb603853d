"""Preflight of a tracking store: before TensorFlow loads, before anything exists.

An unreachable, unauthorised or unwritable store is one clear error
(`TrackingUnreachable`, its message naming the cause and the fix) instead of a
half-created search. urllib only, with a short timeout: no MLflow import.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from lrdecay.errors import TrackingUnreachable as TrackingUnreachable
from lrdecay.tracking.credentials import (
    ALLOW_FILE_STORE_ENV,
    INSECURE_TLS_ENV,
    PASSWORD_ENV,
    SERVER_CERT_ENV,
    USERNAME_ENV,
    Login,
    redact,
    redact_text,
    split_credentials,
)

# MLflow 3's own default store when no tracking URI is set.
MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"

REACHABILITY_TIMEOUT = 5.0
# The whole preflight of an HTTP server (several requests) stays under this.
PREFLIGHT_BUDGET = 9.0


def check_reachable(
    tracking_uri: str | None,
    timeout: float = REACHABILITY_TIMEOUT,
    *,
    experiment_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    budget: float = PREFLIGHT_BUDGET,
) -> None:
    """Raise `TrackingUnreachable` unless the tracking store can be used.

    The preflight of a search, a report or a replay: before anything is
    created, without MLflow, within about `PREFLIGHT_BUDGET` seconds.

    - `http(s)://`: the server answers `/health` within `timeout` seconds;
      an authenticated read (`experiments/search`) is allowed, with the
      credentials of the URI, else `MLFLOW_TRACKING_USERNAME` /
      `MLFLOW_TRACKING_PASSWORD` (or `~/.mlflow/credentials`), else
      `MLFLOW_TRACKING_TOKEN`, as MLflow sends them; and, for an existing
      `experiment_name`, creating a run in it is allowed (a `runs/create`
      the server refuses as malformed after authorising it: nothing is
      created). Creating a new experiment is open to any authenticated user.
    - `sqlite:///`: the file's directory exists and a file can be created in
      it (SQLite writes its journal there), and an existing file is writable.
    - A folder or `file:` URI: MLflow 3's file store, which MLflow refuses
      unless `MLFLOW_ALLOW_FILE_STORE=true`; with it, the folder's parent
      must exist.
    - Other schemes (databricks, postgresql, ...) are left to MLflow.

    Each message is one line naming the cause and the fix, the URI redacted.

    Args:
        tracking_uri: String or `None` (MLflow's default `sqlite:///mlflow.db`).
        timeout: Float. Seconds for the server's first answer. Defaults to `5`.
        experiment_name: String or `None`. The experiment the runs go to.
        environ: Mapping. Defaults to `os.environ`.
        budget: Float. Seconds for all the requests to a server. Defaults to
            `PREFLIGHT_BUDGET` (9).

    Raises:
        TrackingUnreachable: The store cannot be used.
    """
    environ = os.environ if environ is None else environ
    uri = tracking_uri or MLFLOW_DEFAULT_URI
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        _check_server(uri, timeout, budget, experiment_name, environ)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in ("", "file"):
        _check_file_store(uri, environ)


preflight = check_reachable


def _check_server(
    tracking_uri: str,
    timeout: float,
    budget: float,
    experiment_name: str | None,
    environ: Mapping[str, str],
) -> None:
    shown = redact(tracking_uri)
    clean, _, _ = split_credentials(tracking_uri)
    parts = urllib.parse.urlsplit(clean)
    if not parts.hostname:
        raise TrackingUnreachable(f"Tracking URI {shown!r} names no host.")
    login = Login(tracking_uri, environ)
    base = clean.rstrip("/")
    deadline = time.monotonic() + budget
    context = _ssl_context(environ) if parts.scheme.lower() == "https" else None

    def call(
        path: str, body: dict[str, Any] | None = None, auth: bool = True
    ) -> tuple[int, Any]:
        """The HTTP status of one request (2xx -> 200) and its JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        if auth:
            headers.update(login.header())
        request = urllib.request.Request(base + path, data=data, headers=headers)
        # The first answer within `timeout`; the login checks (a password
        # hash on the server) within what is left of the budget.
        left = max(0.5, deadline - time.monotonic())
        if not auth:
            left = min(timeout, left)
        try:
            with urllib.request.urlopen(
                request, timeout=left, context=context
            ) as reply:
                text = reply.read()
        except urllib.error.HTTPError as error:
            return int(error.code), _json(error.read())
        return 200, _json(text)

    try:
        call("/health", auth=False)  # any HTTP status: the server answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingUnreachable(
            f"Cannot reach the MLflow tracking server at {shown} "
            f"({redact_text(str(reason), environ)}); start it (mlflow server "
            f"--host {parts.hostname} --port {parts.port or 5000}) or pass another "
            "--tracking-uri."
        ) from None
    try:
        if experiment_name:
            status = _check_write(call, experiment_name)
        else:
            status, _ = call("/api/2.0/mlflow/experiments/search?max_results=1")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingUnreachable(
            f"The MLflow tracking server at {shown} answers /health but not an "
            f"API request within {budget:g} s "
            f"({redact_text(str(reason), environ)}); check its log, or pass "
            "another --tracking-uri."
        ) from None
    _raise_for(status, shown, login, experiment_name)


def _json(text: bytes) -> Any:
    try:
        return json.loads(text or b"null")
    except ValueError:
        return None


def _error_code(answer: Any) -> str | None:
    return answer.get("error_code") if isinstance(answer, dict) else None


def _check_write(call: Any, experiment_name: str) -> int:
    """An authenticated read of the experiment, then a harmless write in it.

    MLflow's basic-auth app checks the permission to create a run first; then
    MLflow rejects the malformed `start_time` (400): nothing is created. A
    missing experiment (404) is created by this user, who then owns it.
    Returns the status that decides: 200 (fine), 401, 403, ...
    """
    query = urllib.parse.urlencode({"experiment_name": experiment_name})
    status, found = call(f"/api/2.0/mlflow/experiments/get-by-name?{query}")
    if status == 404 and _error_code(found) == "RESOURCE_DOES_NOT_EXIST":
        return 200
    if status != 200 or not isinstance(found, dict):
        return status
    experiment_id = found.get("experiment", {}).get("experiment_id")
    if experiment_id is None:
        return 200
    status, _ = call(
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": str(experiment_id), "start_time": "not-a-time"},
    )
    return status if status in (401, 403) else 200


def _raise_for(
    status: int, shown: str | None, login: Login, experiment_name: str | None
) -> None:
    if status == 200:
        return
    if status == 401:
        if not login.given:
            raise TrackingUnreachable(
                f"401 from {shown}: set {USERNAME_ENV} and {PASSWORD_ENV} "
                "(the server requires a login)."
            )
        raise TrackingUnreachable(
            f"401 from {shown}: the server rejected the login of user "
            f"{login.user!r} (from {login.source}); check the user name and "
            "password."
        )
    if status == 403:
        what = (
            f"create runs in experiment {experiment_name!r}"
            if experiment_name
            else "read experiments"
        )
        raise TrackingUnreachable(
            f"403 from {shown}: user {login.user!r} may not {what}; ask the "
            "server's admin for the permission, or pass another --experiment."
        )
    if status == 404:
        raise TrackingUnreachable(
            f"404 from {shown}: no MLflow tracking API there (/api/2.0/mlflow); "
            "check --tracking-uri."
        )
    raise TrackingUnreachable(
        f"{status} from {shown}: the MLflow tracking server failed a read; "
        "check its log, or pass another --tracking-uri."
    )


def _ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    if environ.get(INSECURE_TLS_ENV, "").lower() in ("true", "1"):
        return ssl._create_unverified_context()
    cafile = environ.get(SERVER_CERT_ENV) or None
    return ssl.create_default_context(cafile=cafile)


def _sqlite_path(tracking_uri: str) -> str | None:
    """The file of a `sqlite:///` URI; `None` for an in-memory database."""
    if not tracking_uri.lower().startswith("sqlite:///"):
        return None
    path = urllib.parse.urlsplit(tracking_uri).path
    path = urllib.parse.unquote(path[1:] if path.startswith("/") else path)
    return None if path in ("", ":memory:") else path


def _check_sqlite(tracking_uri: str) -> None:
    shown = redact(tracking_uri)
    path = _sqlite_path(tracking_uri)
    if path is None:
        return
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise TrackingUnreachable(
            f"Tracking URI {shown!r}: directory {folder!r} does not exist; "
            "create it or pass another --tracking-uri."
        )
    if os.path.isdir(path):
        raise TrackingUnreachable(
            f"Tracking URI {shown!r} names a directory, not a database file; "
            f"use --tracking-uri sqlite:///{os.path.join(path, 'mlflow.db')}."
        )
    try:
        # SQLite creates its journal beside the file: the folder must be writable.
        handle, probe = tempfile.mkstemp(prefix=".lrdecay-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
        if os.path.exists(path):
            with open(path, "r+b"):
                pass
    except OSError as error:
        raise TrackingUnreachable(
            f"Tracking URI {shown!r}: cannot write in {folder!r} "
            f"({error.strerror or error}); pass a --tracking-uri in a writable "
            "folder (e.g. sqlite:///mlflow.db in the current directory)."
        ) from None


def _check_file_store(tracking_uri: str, environ: Mapping[str, str]) -> None:
    shown = redact(tracking_uri)
    parts = urllib.parse.urlsplit(tracking_uri)
    path = parts.path if parts.scheme.lower() == "file" else tracking_uri
    folder = os.path.abspath(urllib.parse.unquote(path).rstrip("/") or "/")
    if environ.get(ALLOW_FILE_STORE_ENV, "").lower() not in ("true", "1"):
        raise TrackingUnreachable(
            f"Tracking URI {shown!r} is a folder (MLflow's file store, which "
            f"MLflow 3 refuses unless {ALLOW_FILE_STORE_ENV}=true); use a "
            f"SQLite file: --tracking-uri sqlite:///{os.path.join(folder, 'mlflow.db')}"
        )
    parent = os.path.dirname(folder)
    if not os.path.isdir(parent):
        raise TrackingUnreachable(
            f"Tracking URI {shown!r}: directory {parent!r} does not exist."
        )

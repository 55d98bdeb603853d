"""Where the `lrdecay` command logs: resolve the tracking URI, check it, open it.

Checking (`preflight`) happens before any run is created and before
TensorFlow is imported, with a short timeout and without importing MLflow,
so an unreachable, unauthorised or unwritable store is one clear error instead
of a half-created search.

Credentials never leave this module in clear: every URI lrdecay prints, logs
or writes goes through `redact` (`user:***@`, token-like query parameters
masked). A password in the URI is handed to MLflow through its own variables
(`credentials_in_environment`), so MLflow never prints it either.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import json
import os
import re
import shlex
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

# MLflow 3's own default store when no tracking URI is set.
MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"

REACHABILITY_TIMEOUT = 5.0
# The whole preflight of an HTTP server (several requests) stays under this.
PREFLIGHT_BUDGET = 9.0

# MLflow's variables for a tracking server's credentials (mlflow.environment_variables).
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
INSECURE_TLS_ENV = "MLFLOW_TRACKING_INSECURE_TLS"
SERVER_CERT_ENV = "MLFLOW_TRACKING_SERVER_CERT_PATH"
ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"

MASK = "***"
# Query parameters whose value is a secret (matched as a part of the name).
SECRET_QUERY_WORDS = (
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "key",
    "sig",
    "credential",
    "auth",
    "session",
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")


class TrackingUnreachable(ValueError):
    """The tracking store cannot be used; the message names the cause and the fix."""


def resolve(tracking_uri: str | None) -> str | None:
    """The URI given, else `MLFLOW_TRACKING_URI`, else `None` (MLflow's default)."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None


# -- credentials -----------------------------------------------------------------


def _mask_userinfo(userinfo: str) -> str:
    if ":" in userinfo:
        return f"{userinfo.split(':', 1)[0]}:{MASK}"
    return MASK  # a lone user part may be a token (https://TOKEN@host)


def _is_secret_key(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_QUERY_WORDS)


def redact(uri: str | None) -> str | None:
    """`uri` with its password (`user:***@`) and token-like parameters masked.

    Use it on every URI that is printed, logged as a param or tag, or written
    to a file. A URI without credentials comes back unchanged.

    Example:

    ```python
    redact("http://admin:pw@10.0.0.5:5000")    # 'http://admin:***@10.0.0.5:5000'
    redact("https://host/?token=abc&x=1")      # 'https://host/?token=***&x=1'
    ```
    """
    if not uri:
        return uri
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return _USERINFO.sub(
            lambda m: m["scheme"] + _mask_userinfo(m["userinfo"]) + "@", uri
        )
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{_mask_userinfo(userinfo)}@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(_is_secret_key(name) for name, _ in pairs):
            query = "&".join(
                f"{urllib.parse.quote(name, safe='')}="
                + (MASK if _is_secret_key(name) else urllib.parse.quote(value, safe=""))
                for name, value in pairs
            )
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` (an error message) with any URI's password and MLflow's secrets masked.

    Masks the userinfo of every `scheme://user:password@` in the text and
    the values of `MLFLOW_TRACKING_PASSWORD` and `MLFLOW_TRACKING_TOKEN`.
    """
    environ = os.environ if environ is None else environ
    text = _USERINFO.sub(
        lambda m: m["scheme"] + _mask_userinfo(m["userinfo"]) + "@", text
    )
    for name in (PASSWORD_ENV, TOKEN_ENV):
        secret = environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """`(uri without userinfo, user name, password)`; `None` for what is absent."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri, None, None
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return (
        clean,
        urllib.parse.unquote(user) or None,
        urllib.parse.unquote(password) if ":" in userinfo else None,
    )


def without_credentials(uri: str) -> str:
    """`uri` without its userinfo, token-like parameters masked: for a file.

    Unlike `redact`, the result still works as a URI (with the credentials in
    MLflow's variables), e.g. for `lrdecay replay` from an offline file.
    """
    clean, _, _ = split_credentials(uri)
    return redact(clean) or clean


def hand_credentials_to_mlflow(
    tracking_uri: str | None, environ: MutableMapping[str, str] | None = None
) -> str | None:
    """Move an `http(s)://` URI's credentials into MLflow's variables, for good.

    For a command-line process, which owns its environment until it exits:
    `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` take the URI's
    user and password, and the URI without them is returned (MLflow never
    sees, hence never prints, the password). A library call uses
    `credentials_in_environment`, which restores the variables.
    """
    environ = os.environ if environ is None else environ
    if not tracking_uri or not _is_http(tracking_uri):
        return tracking_uri
    clean, user, password = split_credentials(tracking_uri)
    if user is None:
        return tracking_uri
    environ[USERNAME_ENV] = user
    if password is None:
        environ.pop(PASSWORD_ENV, None)
    else:
        environ[PASSWORD_ENV] = password
    return clean


@contextlib.contextmanager
def credentials_in_environment(
    tracking_uri: str | None, environ: MutableMapping[str, str] | None = None
) -> Iterator[str | None]:
    """Hand the credentials of an `http(s)://user:password@` URI to MLflow.

    MLflow would send a URI's userinfo (`requests` does) but also prints the
    URI, password included, in its "View run at" lines. Within the block,
    `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` hold the URI's
    credentials and the block gets the URI without them; afterwards both
    variables get back the values (or absence) they had, also on error. A
    URI without userinfo is yielded unchanged and the environment untouched.

    Example:

    ```python
    with credentials_in_environment("http://admin:pw@10.0.0.5:5000") as uri:
        mlflow.MlflowClient(uri).search_experiments()   # uri has no password
    ```
    """
    environ = os.environ if environ is None else environ
    if not tracking_uri or not _is_http(tracking_uri):
        yield tracking_uri
        return
    clean, user, password = split_credentials(tracking_uri)
    if user is None:
        yield tracking_uri
        return
    before = {name: environ.get(name) for name in (USERNAME_ENV, PASSWORD_ENV)}
    environ[USERNAME_ENV] = user
    if password is None:
        environ.pop(PASSWORD_ENV, None)
    else:
        environ[PASSWORD_ENV] = password
    try:
        yield clean
    finally:
        for name, value in before.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value


def _mlflow_file_credentials() -> tuple[str | None, str | None]:
    """`~/.mlflow/credentials`, read as MLflow reads it (section `[mlflow]`)."""
    path = os.path.expanduser("~/.mlflow/credentials")
    if not os.path.exists(path):
        return None, None
    config = configparser.ConfigParser()
    try:
        config.read(path)
    except configparser.Error:
        return None, None
    if "mlflow" not in config:
        return None, None
    section = config["mlflow"]
    return section.get(USERNAME_ENV.lower()), section.get(PASSWORD_ENV.lower())


class _Login:
    """The credentials the preflight sends, and where they came from."""

    def __init__(self, tracking_uri: str, environ: Mapping[str, str]) -> None:
        _, user, password = split_credentials(tracking_uri)
        self.source = "the URI"
        if user is None:
            user, password = environ.get(USERNAME_ENV), environ.get(PASSWORD_ENV)
            self.source = f"{USERNAME_ENV}/{PASSWORD_ENV}"
            if not (user and password):
                file_user, file_password = _mlflow_file_credentials()
                user, password = user or file_user, password or file_password
                if user and password and not environ.get(USERNAME_ENV):
                    self.source = "~/.mlflow/credentials"
        self.user = user or None
        self.password = password
        self.token = environ.get(TOKEN_ENV) or None

    @property
    def given(self) -> bool:
        return bool(self.user and self.password) or bool(self.token)

    def header(self) -> dict[str, str]:
        # MLflow's order (mlflow.utils.rest_utils.http_request): basic, else bearer.
        if self.user and self.password:
            pair = f"{self.user}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


# -- preflight -------------------------------------------------------------------


def _is_http(tracking_uri: str) -> bool:
    return urllib.parse.urlsplit(tracking_uri).scheme.lower() in ("http", "https")


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
    login = _Login(tracking_uri, environ)
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
    status: int, shown: str | None, login: _Login, experiment_name: str | None
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


# The MLflow UI's own address when `mlflow ui` / `mlflow server` runs with
# its defaults.
MLFLOW_UI_ADDRESS = "http://127.0.0.1:5000"


def runs_url(
    ui_address: str,
    experiment_id: str,
    parent_run_id: str | None = None,
    objective: str | None = None,
    lower_is_better: bool = True,
) -> str:
    """The MLflow UI page of a search's trial runs, with their curves.

    MLflow 3 opens an experiment on its GenAI overview and keeps training
    runs behind a toggle, collapsed under their parent. This address opens
    the experiment's training runs (`#/experiments/<id>/runs`) in the chart
    view (`compareRunsMode=CHART`: every logged metric, `learning_rate` and
    the objective among them, one curve per run beside the list of run
    names), filtered to the children of `parent_run_id` (`searchFilter`)
    and sorted by the objective (`orderByKey`), which also lists them flat:
    the UI nests child runs under their parent only when sorted by creation
    time. Verified against the UI of MLflow 3.17.

    Args:
        ui_address: String. Where the UI answers, e.g.
            `"http://127.0.0.1:5000"` (a path prefix is kept).
        experiment_id: String. The search's experiment.
        parent_run_id: String or `None`. The search's run; `None` lists the
            experiment's runs.
        objective: String or `None`. The metric to rank the runs by, e.g.
            `"val_loss"`. Defaults to `None` (newest first, nested).
        lower_is_better: Bool. The objective's direction. Defaults to `True`.

    Returns:
        The address, percent-encoded, so a terminal shows it as one link.
    """
    query: dict[str, str] = {}
    if parent_run_id is not None:
        query["searchFilter"] = f"tags.mlflow.parentRunId = '{parent_run_id}'"
    if objective is not None:
        query["orderByKey"] = f"metrics.`{objective}`"
        query["orderByAsc"] = "true" if lower_is_better else "false"
    query["compareRunsMode"] = "CHART"
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    page = f"#/experiments/{urllib.parse.quote(str(experiment_id))}/runs"
    return f"{ui_address.rstrip('/')}/{page}?{encoded}"


def ui_hint(
    tracking_uri: str | None,
    experiment_id: str | None,
    parent_run_id: str | None = None,
    objective: str | None = None,
    lower_is_better: bool = True,
) -> str:
    """The command (or address) that opens the MLflow UI on these runs.

    With an experiment, the address is `runs_url`'s: the search's runs and
    their curves. Credentials in the URI are redacted (the address carries
    none).
    """
    uri = redact(tracking_uri or MLFLOW_DEFAULT_URI) or MLFLOW_DEFAULT_URI
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    served = scheme in ("http", "https")
    address = split_credentials(uri)[0].rstrip("/") if served else MLFLOW_UI_ADDRESS
    if experiment_id is None:
        page = f"{address}/"
    else:
        page = runs_url(
            address, experiment_id, parent_run_id, objective, lower_is_better
        )
    if served:
        return f"Open the MLflow UI at {page}"
    return (
        f"Open the MLflow UI:  mlflow ui --backend-store-uri {shlex.quote(uri)}\n"
        f"  then browse to {page}"
    )

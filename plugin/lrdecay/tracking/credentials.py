"""Credentials of a tracking store: never printed, handed to MLflow by its variables.

Every URI lrdecay prints, logs or writes goes through `redact` (`user:***@`,
token-like query parameters masked). A password in the URI is handed to
MLflow through its own variables (`credentials_in_environment`), so MLflow
never prints it either. No MLflow import.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping

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


def is_http(tracking_uri: str) -> bool:
    """Whether `tracking_uri` names an HTTP(S) tracking server."""
    return urllib.parse.urlsplit(tracking_uri).scheme.lower() in ("http", "https")


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
    if not tracking_uri or not is_http(tracking_uri):
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
    if not tracking_uri or not is_http(tracking_uri):
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


class Login:
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
        # MLflow's own order (its REST client's http_request): basic, else bearer.
        if self.user and self.password:
            pair = f"{self.user}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

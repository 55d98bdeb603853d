"""Creating or upgrading an MLflow database store, one process at a time.

MLflow creates the tables of a new SQLite (or other SQL) store, and upgrades
an older store's schema, the first time a process opens it
(`SqlAlchemyStore.__init__`), with no lock between processes: two searches
started together on a fresh folder both run the migrations, fail with
`table ... already exists` or `Online migration expected to match one row`,
and leave the file half-migrated (an `_alembic_tmp_*` table), which every
later open then trips on.

`ready_store(uri)` is the one function lrdecay goes through before it opens
a database store: it holds an exclusive lock beside the file
(`<file>.lock`; `fcntl.flock`, Linux and macOS) while MLflow creates or
upgrades it; other processes (and threads) wait, then find it ready. A store
left half-migrated, one with a schema older or newer than this MLflow's, is
named in one line with what to do (`TrackingUnreachable`), never as a raw SQL
error. HTTP servers migrate their own store when they start; nothing to do.

Importing this module imports no MLflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from typing import Any

from lrdecay.errors import TrackingUnreachable
from lrdecay.tracking.credentials import redact

# A schema upgrade of a large store can take minutes; waiting longer than this
# means the process holding the lock is stuck.
LOCK_TIMEOUT = 600.0
LOCK_SUFFIX = ".lock"
# What alembic's batch mode (SQLite's ALTER TABLE) leaves when a migration
# stops between copying a table and renaming the copy.
ALEMBIC_TMP_PREFIX = "_alembic_tmp_"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")

_ready: set[str] = set()
_ready_guard = threading.Lock()


def ready_store(tracking_uri: str) -> None:
    """Make sure the database store of `tracking_uri` is created and up to date.

    Once per URI and process: under `store_lock(tracking_uri)`, checks the
    file for a half-done migration, then lets MLflow create or upgrade it.
    Other URIs (HTTP servers, Databricks, folders) are left alone.

    Args:
        tracking_uri: String. An absolute `sqlite:///` URI (or another
            SQLAlchemy database URI).

    Raises:
        TrackingUnreachable: The store is half-migrated, or its schema is
            one this MLflow cannot use; the message says what to do.
    """
    if not is_database(tracking_uri):
        return
    with _ready_guard:
        if tracking_uri in _ready:
            return
    with store_lock(tracking_uri):
        path = sqlite_path(tracking_uri)
        if path is not None:
            check_not_half_migrated(path, tracking_uri)
        _open(tracking_uri)
    with _ready_guard:
        _ready.add(tracking_uri)


def is_database(tracking_uri: str) -> bool:
    """Whether MLflow opens `tracking_uri` as a SQLAlchemy database."""
    scheme = urllib.parse.urlsplit(tracking_uri).scheme.lower()
    return scheme.split("+", 1)[0] in _DATABASE_SCHEMES


def sqlite_path(tracking_uri: str) -> str | None:
    """The file of a `sqlite:///` URI, absolute; `None` for memory or others."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    path = urllib.parse.unquote(tracking_uri[len(prefix) :].partition("?")[0])
    if not path or path == ":memory:":
        return None
    return os.path.abspath(path)


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the exclusive lock of a database store, waiting up to `timeout` s.

    A SQLite store's lock is `<file>.lock` beside it (the folder is shared by
    every process using the file, also in containers); a server database's is
    in the temporary folder, named after the URI (this host's processes
    only). `fcntl.flock`: released by the system when the holder dies, so a
    lock is never stale. Where `fcntl` is missing (Windows) nothing is held.

    Raises:
        TimeoutError: Another process held it for `timeout` seconds.
    """
    try:
        import fcntl
    except ImportError:  # Windows: MLflow's own lock does the same
        yield
        return
    path = _lock_path(tracking_uri)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"Another process has held {path!r} for {timeout:g} s "
                        f"while creating or upgrading {redact(tracking_uri)}."
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_path(tracking_uri: str) -> str:
    path = sqlite_path(tracking_uri)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path + LOCK_SUFFIX
    digest = hashlib.sha256(str(redact(tracking_uri)).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"lrdecay-store-{digest}{LOCK_SUFFIX}")


def check_not_half_migrated(path: str, tracking_uri: str) -> None:
    """Repair or refuse a SQLite file whose schema migration stopped midway.

    Alembic's batch mode copies a table to `_alembic_tmp_<name>` and renames
    the copy back; a migration that failed there leaves the copy. When the
    schema is nevertheless at this MLflow's head (another process finished
    the upgrade), the copy is garbage: it is dropped, with a warning. Else
    the store is refused in one line saying what to do. Call it holding
    `store_lock`: a migration running now also leaves the table for a moment.

    Raises:
        TrackingUnreachable: The file is not a database, or is half-migrated.
    """
    if not os.path.exists(path):
        return
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
        ) as connection:
            names = [
                str(row[0])
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            ]
            version = _schema_version(connection, names)
    except sqlite3.DatabaseError as error:
        raise TrackingUnreachable(
            f"Tracking URI {redact(tracking_uri)!r}: {path!r} is not a readable "
            f"SQLite database ({error}); restore it from a backup or pass another "
            "--tracking-uri."
        ) from None
    leftovers = sorted(name for name in names if name.startswith(ALEMBIC_TMP_PREFIX))
    if not leftovers:
        return
    from lrdecay._compat.mlflow import latest_schema_revision

    if version is not None and version == latest_schema_revision():
        _drop_tables(path, leftovers)
        warnings.warn(
            f"The MLflow store {path!r} held {', '.join(leftovers)}, left by an "
            "interrupted schema upgrade of an up-to-date store; dropped.",
            stacklevel=3,
        )
        return
    drops = "; ".join(f"DROP TABLE {name}" for name in leftovers)
    raise TrackingUnreachable(
        f"The MLflow store {path!r} was left half-migrated by an interrupted "
        f"schema upgrade (leftover {', '.join(leftovers)}, schema version "
        f"{version or 'none'}): back the file up, then run "
        f"`sqlite3 {path} '{drops}'` and `mlflow db upgrade sqlite:///{path}`, "
        "or restore it from a backup."
    )


def _drop_tables(path: str, names: list[str]) -> None:
    connection = sqlite3.connect(path, timeout=60.0)
    with contextlib.closing(connection), connection:  # closed, and committed
        for name in names:
            connection.execute(f'DROP TABLE IF EXISTS "{name}"')


def _schema_version(connection: sqlite3.Connection, names: list[str]) -> str | None:
    if "alembic_version" not in names:
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _open(tracking_uri: str) -> Any:
    """Let MLflow open (create or upgrade) the store; its errors in one line."""
    from mlflow.exceptions import MlflowException

    from lrdecay._compat.mlflow import tracking_store

    try:
        return tracking_store(tracking_uri)
    except Exception as error:  # MLflow, SQLAlchemy and alembic errors alike
        text = " ".join(str(error).split())
        shown = redact(tracking_uri)
        if "out-of-date database schema" in text:
            cause = text.split(". Take a backup")[0]
            raise TrackingUnreachable(
                f"The MLflow store {shown} needs a schema upgrade MLflow does not "
                f"run by itself ({cause}): back it up, then run "
                f"`mlflow db upgrade {shown}`."
            ) from None
        if "Can't locate revision" in text:
            raise TrackingUnreachable(
                f"The MLflow store {shown} was written by a newer MLflow than this "
                f"one ({text}); upgrade mlflow, or pass another --tracking-uri."
            ) from None
        if (
            isinstance(error, MlflowException)
            or "sqlalchemy" in type(error).__module__
            or "alembic" in type(error).__module__
        ):
            raise TrackingUnreachable(
                f"MLflow cannot open the store {shown} ({text[:300]}); back it up "
                f"and run `mlflow db upgrade {shown}`, or pass another "
                "--tracking-uri."
            ) from None
        raise


def client(tracking_uri: str) -> Any:
    """An `mlflow.MlflowClient` of `tracking_uri`, its store made ready first."""
    import mlflow

    ready_store(tracking_uri)
    return mlflow.MlflowClient(tracking_uri)

"""The files a search keeps in its project directory, beside KerasTuner's.

`<project_dir>/<project_name>/lrdecay_search.json` (`MARKER_FILE`) holds
the search's parent run id, its seed and the digest of its identity
(`lrdecay.tuning.pipeline.identity`), so a resumed search logs under the same
parent with the same seed, and a project is never resumed by another search.
`lrdecay_search.lock` (`LOCK_FILE`) is held while a process finds or creates
the parent run (`lrdecay.tuning.record.runs.claim_parent_run`).

Plain files: importing this module imports neither MLflow, Keras nor
KerasTuner.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

MARKER_FILE = "lrdecay_search.json"
# Held (created exclusively) while a process finds or creates the parent run.
LOCK_FILE = "lrdecay_search.lock"
# A lock older than this is left over by a process that died holding it.
LOCK_STALE_AFTER = 120.0


def read_marker(project_path: str | None) -> str | None:
    """The parent run id kept in the project directory, or `None`."""
    value = _read_marker_file(project_path).get("parent_run_id")
    return None if value is None else str(value)


def write_marker(project_path: str, parent_run_id: str, tracking_uri: str) -> None:
    """Keep the parent run's id in the project directory, for a resume.

    The URI is kept without credentials (`tracking.uri.without_credentials`),
    and the file replaced atomically: a reader never sees half of it.
    """
    from lrdecay.tracking import uri as tracking_uri_module

    _update_marker_file(
        project_path,
        parent_run_id=parent_run_id,
        tracking_uri=tracking_uri_module.without_credentials(tracking_uri),
    )


@contextlib.contextmanager
def parent_run_lock(
    project_path: str, timeout: float = 60.0, poll_interval: float = 0.05
) -> Iterator[None]:
    """Hold the search's lock file while finding or creating its parent run.

    The lock is `<project_path>/lrdecay_search.lock`, created with
    `O_CREAT | O_EXCL` (atomic, also on NFS v3+) and removed on exit. A lock
    left by a dead process on this host, or older than `LOCK_STALE_AFTER`
    seconds, is taken over.

    Raises:
        TimeoutError: Another process held the lock for `timeout` seconds.
    """
    os.makedirs(project_path, exist_ok=True)
    path = os.path.join(project_path, LOCK_FILE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Another process has held {path!r} for {timeout:g} s while "
                    "creating this search's parent run; remove the file if no "
                    "search of this project is running."
                ) from None
            time.sleep(poll_interval)
            continue
        with os.fdopen(handle, "w") as file:
            file.write(f"{socket.gethostname()} {os.getpid()}")
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _lock_is_stale(path: str) -> bool:
    try:
        with open(path) as file:
            host, _, pid = file.read().partition(" ")
        age = time.time() - os.path.getmtime(path)
    except (OSError, ValueError):
        return False  # just created or just removed: look again
    if age > LOCK_STALE_AFTER:
        return True
    if host != socket.gethostname() or not pid.strip().isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def process_started() -> float:
    """When this process started (`time.time()` scale); now where unknown.

    Two processes started together reach their search at different moments
    (imports take seconds); the one that comes second still joins the
    parent the first created after both started. Linux only (`/proc`).
    """
    try:
        with open("/proc/self/stat") as file:
            # Field 22, after the parenthesised command (which may hold spaces).
            ticks = int(file.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as file:
            boot = next(
                int(line.split()[1]) for line in file if line.startswith("btime ")
            )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def written_after(path: str, since: float) -> bool:
    """Whether `path` was last written at or after `since` (`False`: no file)."""
    try:
        return os.path.getmtime(path) >= since
    except OSError:
        return False


def read_seed(project_path: str | None) -> int | None:
    """The search's seed kept in the project directory, or `None`."""
    value = _read_marker_file(project_path).get("seed")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def write_seed(project_path: str, seed: int) -> None:
    """Keep the search's seed in the project directory, for a resume.

    The same file as the parent run's id (`MARKER_FILE`), written with or
    without tracking: a search that picked its own seed resumes with it.
    """
    _update_marker_file(project_path, seed=int(seed))


def read_identity(project_path: str | None) -> str | None:
    """The digest of the search the project holds (`identity.SearchIdentity`)."""
    value = _read_marker_file(project_path).get("identity")
    return value if isinstance(value, str) else None


def write_identity(project_path: str, digest: str) -> None:
    """Keep the digest of the search's identity in the project directory.

    The same file as the seed (`MARKER_FILE`): a later search with an
    explicit `project_name` finds out whether the project holds it.
    """
    _update_marker_file(project_path, identity=str(digest))


def _read_marker_file(project_path: str | None) -> dict[str, Any]:
    if project_path is None:
        return {}
    try:
        with open(os.path.join(project_path, MARKER_FILE)) as file:
            content = json.load(file)
    except (OSError, ValueError, TypeError):
        return {}
    return content if isinstance(content, dict) else {}


def _update_marker_file(project_path: str, **fields: Any) -> None:
    content = _read_marker_file(project_path)
    content.update(fields)
    os.makedirs(project_path, exist_ok=True)
    path = os.path.join(project_path, MARKER_FILE)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w") as file:
        json.dump(content, file)
    os.replace(partial, path)  # a reader never sees half of it

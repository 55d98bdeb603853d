"""One process runs a search at a time: the runner lock beside its project.

Two identical `lrdecay search` commands (or `lrdecay.search()` calls) in one
folder would both train every trial and write KerasTuner's project files at
once. The process that runs a search holds `<project_dir>/.<project_name>
.lrdecay-runner` (`fcntl.flock`, released by the system when the process
dies: a lock is never stale). Another process starting the same search stops
at once with `SearchRunningError` naming the one running (pid, host, since
when), which the file holds.

Stopping, rather than joining as a worker, because a search in one process
has no oracle service to join; KerasTuner's distributed mode is the way to
share a search, and its workers (`KERASTUNER_*`, `lrdecay.tuning.distributed`)
never take the lock. The file sits beside the project, not in it:
`overwrite=True` deletes the project folder, which must not drop the lock.

`scope()` is entered around a whole search; `take()` is called once the
project and the process's role are known, and the lock is held until the
scope ends. Plain files: importing this module imports neither MLflow, Keras
nor KerasTuner.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import IO

from lrdecay.errors import SearchRunningError

LOCK_SUFFIX = ".lrdecay-runner"

# The locks this process holds, by path (a search inside a search of the
# same project, e.g. a budget search, holds it once).
_held: dict[str, tuple[IO[str], int]] = {}
_held_guard = threading.Lock()
# The paths taken inside the current `scope()`.
_scope: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "lrdecay_runner_lock_scope", default=None
)


def lock_path(project_path: str) -> str:
    """The runner lock of the project at `project_path` (beside the folder)."""
    folder, name = os.path.split(os.path.abspath(project_path))
    return os.path.join(folder, f".{name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Release, on exit, the runner locks `take()` took inside the block."""
    taken: list[str] = []
    token = _scope.set(taken)
    try:
        yield
    finally:
        _scope.reset(token)
        for path in reversed(taken):
            _release(path)


def take(project_path: str) -> None:
    """Hold the runner lock of `project_path` until the enclosing `scope()` ends.

    Outside a `scope()` the lock is held until the process exits.

    Raises:
        SearchRunningError: Another process holds it; the message names it.
    """
    path = lock_path(project_path)
    with _held_guard:
        if path in _held:
            handle, count = _held[path]
            _held[path] = (handle, count + 1)
        else:
            _held[path] = (_acquire(path, project_path), 1)
    taken = _scope.get()
    if taken is not None:
        taken.append(path)


def _acquire(path: str, project_path: str) -> IO[str]:
    try:
        import fcntl
    except ImportError:  # Windows: no lock, as before
        return open(os.devnull, "w")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Held open (the lock) until `_release`, so no `with` here.
    handle = open(path, "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SearchRunningError(
            f"This search is already running: {holder} holds {path!r} "
            f"(project {os.path.abspath(project_path)!r}). Wait for it to end "
            "(it resumes from the same project), or give this one another "
            "project name."
        ) from None
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}\n")
    handle.flush()
    return handle


def _release(path: str) -> None:
    with _held_guard:
        handle, count = _held[path]
        if count > 1:
            _held[path] = (handle, count - 1)
            return
        del _held[path]
    handle.close()  # closing the file releases the flock

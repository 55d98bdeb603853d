"""Who is writing a trunk now: a lock its writer holds, seen by every process.

Side by side (`search(jobs=N)`, or workers sharing a project folder), a trial
that branches from a trunk another process is still training waits for the
epochs it needs (`wait_for_trunk`) instead of training them again. The writer
(`trunks.TrunkWriter`) holds an exclusive `flock` on `<trunk>/.writing` while
its fit follows the trunk; a reader that cannot take a shared lock on that
file knows the trunk is still growing. The OS drops the lock when the
writer's process dies, so nobody waits on a dead writer, and a lock this
process holds itself never makes it wait. Without `fcntl` (Windows), or on a
file system without `flock`, nobody waits and each trial trains the epochs
it lacks itself, as a search in one process does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".writing"
# How often a waiting trial looks at the trunk again (seconds).
POLL_S = 0.2
# A writer that stores nothing new for this long is not waited for (seconds).
STALL_S = 120.0
# The trunk folders whose lock this process holds.
_HELD: set[str] = set()


class WriterLock:
    """The lock a trunk's writer holds while its fit follows the trunk.

    Args:
        directory: String. The trunk's folder (created if missing).
    """

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; `False` when another process holds it (or no flock)."""
        if self._fd is not None:
            return True
        if fcntl is None:
            return False
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(
                os.path.join(self.directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644
            )
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        _HELD.add(self.directory)
        return True

    def release(self) -> None:
        """Let the trunk go (closing the file drops the lock); idempotent."""
        if self._fd is None:
            return
        _HELD.discard(self.directory)
        fd, self._fd = self._fd, None
        os.close(fd)


def being_written(directory: str) -> bool:
    """Whether another process's fit is writing the trunk in `directory` now."""
    directory = os.path.abspath(directory)
    if fcntl is None or directory in _HELD:
        return False
    try:
        fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return False


def any_being_written(trunks_dir: str) -> bool:
    """Whether another process writes any trunk in `trunks_dir` now."""
    try:
        names = os.listdir(trunks_dir)
    except OSError:
        return False
    return any(being_written(os.path.join(trunks_dir, name)) for name in names)


def wait_for_trunk(
    directory: str, enough: Callable[[], bool], stall_s: float = STALL_S
) -> float:
    """Wait while another process writes the trunk and `enough()` is false.

    `enough()` reads the trunk as stored now (e.g. "it reaches this fit's
    departure epoch"). A writer that holds the lock but has stored nothing
    new for `stall_s` seconds (a hung process) is waited for no longer: the
    fit then trains what it lacks itself, with the same numbers. Returns the
    seconds waited. A signal (Ctrl-C) stops the wait as it stops anything.
    """
    started = last_change = time.monotonic()
    seen = _entries(directory)
    while not enough() and being_written(directory):
        now, entries = time.monotonic(), _entries(directory)
        if entries != seen:
            seen, last_change = entries, now
        elif now - last_change > stall_s:
            break
        time.sleep(POLL_S)
    return time.monotonic() - started


def _entries(directory: str) -> int:
    try:
        return len(os.listdir(directory))
    except OSError:
        return 0

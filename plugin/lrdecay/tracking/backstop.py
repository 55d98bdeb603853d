"""The exit-time backstop: runs still open when the process exits are ended.

Keras does not tell callbacks when `fit` raises, so a run can be left open.
While at least one tracked run is open, two hooks are installed: a
`sys.excepthook` that records the uncaught error (then calls the hook it
replaced) and an `atexit` handler that ends every open run FAILED (KILLED
after a `KeyboardInterrupt`) with that error. When the last open run ends,
both are removed again: `sys.excepthook` is restored if it is still ours (if
someone installed theirs on top, ours stays in their chain and only passes
errors on), and the `atexit` handler is unregistered.
"""

from __future__ import annotations

import atexit
import sys
import threading
from types import TracebackType
from typing import Any, Protocol

from lrdecay.tracking.guard import guard

__all__ = ["hooks_installed", "register", "unregister"]


class _Run(Protocol):
    def finish(self, status: str, error: BaseException | str | None) -> None: ...


_lock = threading.Lock()
_open_runs: set[Any] = set()
_uncaught: list[BaseException] = []
_previous_hook: Any = None
_hook_in_chain = False  # our excepthook is somewhere in sys.excepthook's chain
_atexit_registered = False
_exiting = False


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if _open_runs:
        _uncaught.append(exc)
    previous = _previous_hook or sys.__excepthook__
    previous(exc_type, exc, tb)


def register(run: _Run) -> None:
    """`run` is open: end it at exit unless it ends first."""
    global _previous_hook, _hook_in_chain, _atexit_registered
    with _lock:
        _open_runs.add(run)
        if not _hook_in_chain:
            _previous_hook = sys.excepthook
            sys.excepthook = _excepthook
            _hook_in_chain = True
        if not _atexit_registered:
            # Registered after mlflow is imported, so it runs before mlflow's
            # own exit handler (atexit runs handlers last-in first-out).
            atexit.register(_finish_open_runs)
            _atexit_registered = True


def unregister(run: _Run) -> None:
    """`run` has ended; with no run left open, remove the hooks."""
    global _previous_hook, _hook_in_chain, _atexit_registered
    with _lock:
        _open_runs.discard(run)
        if _open_runs:
            return
        _uncaught.clear()
        if _hook_in_chain and sys.excepthook is _excepthook:
            sys.excepthook = _previous_hook
            _previous_hook = None
            _hook_in_chain = False
        if _atexit_registered and not _exiting:
            atexit.unregister(_finish_open_runs)
            _atexit_registered = False


def hooks_installed() -> bool:
    """Whether the excepthook or the exit handler is installed now."""
    return sys.excepthook is _excepthook or _atexit_registered


def _finish_open_runs() -> None:
    global _exiting
    _exiting = True
    error: BaseException | str | None = _uncaught[-1] if _uncaught else None
    status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
    if error is None:
        error = "the process exited before the fit ended"
    for run in list(_open_runs):
        guard(run.finish, status, error, what="ending an open run at exit")

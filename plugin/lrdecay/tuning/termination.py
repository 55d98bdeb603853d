"""Ctrl-C and SIGTERM stop a search, wherever the signal lands.

Kubernetes, Slurm and `docker stop` ask a process to stop with SIGTERM, whose
default action ends the process on the spot: the runs stay RUNNING until a
resume closes them. Inside `stop_on_signals()`, SIGTERM instead raises
`Terminated`, a `KeyboardInterrupt`, in the main thread, so every path that
handles Ctrl-C handles it too: the trial's run and the parent run end KILLED,
and the same search resumes.

Python raises an exception from a signal handler in whatever code the main
thread runs at that moment. In a garbage-collection callback, a `__del__`
or a weakref callback the exception cannot propagate: Python prints
"Exception ignored in ..." and goes on (a search once ran to its end after
Ctrl-C that way); a library's `except BaseException` can eat it as well.
So the handler also *records* the signal, and `raise_if_stopped()`, called
at the search's safe points (a trial's start and end, every epoch and
batch), raises it again until it has propagated out of the block; a block
that would end normally with a signal recorded raises it itself. The stop
is certain, at the latest at the next batch. Inside the block, such a
swallowed interrupt is not printed (`sys.unraisablehook`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from lrdecay.errors import Terminated

__all__ = [
    "Terminated",
    "raise_if_stopped",
    "request_stop",
    "signals_deferred",
    "stop_handled",
    "stop_on_signals",
]


class _State:
    """The signals of the outermost active block (main thread only)."""

    depth = 0
    # The signal to raise at the next safe point; cleared once its exception
    # left a block.
    pending: int | None = None
    # Whether a SIGTERM came: a second one is ignored, so the clean-up of
    # the first can finish (a SIGKILL still ends the process).
    terminating = False
    # Inside `signals_deferred()`: record a signal, raise it at the end.
    deferring = 0


_STATE = _State()


def _stop_exception(signal_number: int) -> KeyboardInterrupt:
    if signal_number == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(signal_number)


def _handle(signal_number: int, frame: object) -> None:
    if signal_number == signal.SIGTERM:
        if _STATE.terminating:
            return
        _STATE.terminating = True
    again = _STATE.pending == signal.SIGINT == signal_number
    _STATE.pending = signal_number
    if _STATE.deferring and not again:
        return
    # A second Ctrl-C does not wait for a deferred block (a slow server).
    raise _stop_exception(signal_number)


def raise_if_stopped() -> None:
    """Raise the stop a signal asked for, if its exception was swallowed.

    A no-op outside the main thread, outside `stop_on_signals()`, and when
    no signal came (one attribute read: cheap enough for every batch).

    Raises:
        KeyboardInterrupt: After SIGINT (Ctrl-C).
        Terminated: After SIGTERM.
    """
    pending = _STATE.pending
    if pending is not None and threading.current_thread() is threading.main_thread():
        raise _stop_exception(pending)


def request_stop() -> None:
    """Ask the main thread to stop at its next safe point, as Ctrl-C would.

    For a library thread that must end a search without signalling the
    process: the main thread raises `KeyboardInterrupt` at its next
    `raise_if_stopped()` (a trial's start or end, every epoch and batch).
    """
    if _STATE.pending is None:
        _STATE.pending = signal.SIGINT


def stop_handled() -> None:
    """Say the stop was handled (e.g. turned into an exit code): the block
    no longer raises it again at its end or at a safe point."""
    _STATE.pending = None


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Let a few steps finish together: a signal inside stops after them.

    For bookkeeping that must not stop half-way (KerasTuner ending a trial
    and its runs tagged with the status). Keep it short: Ctrl-C waits for
    it; a second Ctrl-C stops at once. A no-op outside the main thread.

    Raises:
        KeyboardInterrupt, Terminated: When the block ends, if a signal
            came (and nothing else is raised).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STATE.deferring += 1
    try:
        yield
    finally:
        _STATE.deferring -= 1
    raise_if_stopped()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Make SIGINT and SIGTERM stop the block, even when swallowed once.

    Installed only from the main thread (Python runs signal handlers there,
    and `signal.signal` fails elsewhere), and only over each signal's
    default (`signal.default_int_handler` for SIGINT, `SIG_DFL` for
    SIGTERM): a handler the program installed itself, or an ignored signal,
    is left alone. Blocks nest (the outermost one installs). When the
    outermost block ends, however it ends, the previous handlers and
    `sys.unraisablehook` are restored.

    In the block, a signal raises `KeyboardInterrupt` (SIGINT) or
    `Terminated` (SIGTERM) where the main thread is, and `raise_if_stopped()`
    raises it again until it has propagated out of a block. A block ending
    normally with a signal recorded raises it; one ending with another
    exception raises it from that one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _STATE.depth:
        _STATE.depth += 1
        try:
            with _delivering():
                yield
        finally:
            _STATE.depth -= 1
        return
    installed = {}
    for signal_number, default in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, signal.SIG_DFL),
    ):
        if signal.getsignal(signal_number) is default:
            installed[signal_number] = default
            signal.signal(signal_number, _handle)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_swallowed_stop(previous_hook)
    _STATE.pending, _STATE.terminating, _STATE.deferring = None, False, 0
    _STATE.depth = 1
    try:
        with _delivering():
            yield
    finally:
        for signal_number, default in installed.items():
            signal.signal(signal_number, default)
        sys.unraisablehook = previous_hook
        _STATE.pending, _STATE.terminating, _STATE.depth = None, False, 0


@contextlib.contextmanager
def _delivering() -> Iterator[None]:
    """Raise a recorded stop at the block's end; clear it once it leaves."""
    try:
        yield
    except KeyboardInterrupt:
        _STATE.pending = None
        raise
    except BaseException as error:
        pending = _STATE.pending
        if pending is None:
            raise
        _STATE.pending = None
        raise _stop_exception(pending) from error
    pending = _STATE.pending
    if pending is not None:
        _STATE.pending = None
        raise _stop_exception(pending)


def _quiet_swallowed_stop(previous: Any) -> Any:
    """An unraisable hook that drops a stop `raise_if_stopped` raises again."""

    def hook(unraisable: Any) -> None:
        if (
            isinstance(unraisable.exc_value, KeyboardInterrupt)
            and _STATE.pending is not None
        ):
            return
        previous(unraisable)

    return hook

"""What a worker's process does when its chief is gone: the owner's decision.

`watch_for_chief` (`lrdecay.tuning.distributed.worker`) watches the chief
from a thread; that thread never signals or ends the process. It asks the
main thread to stop at its next safe point and calls the handler the
process's owner installed with `on_chief_gone` — `interrupt_or_exit` for a
command or a worker's entry point that owns its main thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

__all__ = ["ON_CHIEF_GONE", "ChiefGone", "interrupt_or_exit", "on_chief_gone"]


@dataclasses.dataclass(frozen=True)
class ChiefGone:
    """What a worker's watchdog saw: its chief stopped answering.

    Attributes:
        message: String. The one line to show (`ChiefUnreachableError`'s).
        grace: Float. Seconds the main thread gets to unwind.
        unwound: `threading.Event`, set once the watched block has ended.
        lock: `threading.Lock`. Held while `unwound` is set: signal the
            main thread only under it, and only if `unwound` is not set.
    """

    message: str
    grace: float
    unwound: threading.Event
    lock: threading.Lock


# What the process does when its chief is gone (`on_chief_gone`), read in
# the main thread when `watch_for_chief` starts.
ON_CHIEF_GONE: contextvars.ContextVar[Callable[[ChiefGone], None] | None] = (
    contextvars.ContextVar("lrdecay_on_chief_gone", default=None)
)


@contextlib.contextmanager
def on_chief_gone(handler: Callable[[ChiefGone], None]) -> Iterator[None]:
    """The process owner's answer to a gone chief, for a `with` block.

    The library never signals or ends the process itself: the watchdog of
    `watch_for_chief` only asks the main thread to stop at its next safe
    point, which a main thread blocked in a gRPC wait reaches late. A
    process that owns its main thread (a command, a worker's entry point)
    can do more: `interrupt_or_exit` interrupts a blocking call with SIGINT
    and ends a process stuck in native code.

    Example:

    ```python
    with distributed.on_chief_gone(distributed.interrupt_or_exit):
        lrdecay.search(build_model, x, y)   # raises ChiefUnreachableError
    ```

    Args:
        handler: Callable taking a `ChiefGone`, called from the watchdog's
            thread.
    """
    token = ON_CHIEF_GONE.set(handler)
    try:
        yield
    finally:
        ON_CHIEF_GONE.reset(token)


def interrupt_or_exit(gone: ChiefGone) -> None:
    """A process owner's `on_chief_gone` handler: SIGINT, else exit code 1.

    A real SIGINT to the main thread wakes it from a blocking call (sleep, a
    gRPC wait; `_thread.interrupt_main` would not), and the watched block
    raises `ChiefUnreachableError`. Where SIGINT is ignored (a job started
    in the background by a shell), or the main thread does not unwind within
    `gone.grace` seconds (stuck in native code), the process writes the
    message to stderr and exits with code 1.
    """
    interrupting = callable(signal.getsignal(signal.SIGINT))
    with gone.lock:
        if gone.unwound.is_set():
            return
        if interrupting:
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)
    if not interrupting or not gone.unwound.wait(gone.grace):
        print(f"lrdecay: {gone.message}", file=sys.stderr, flush=True)
        os._exit(1)

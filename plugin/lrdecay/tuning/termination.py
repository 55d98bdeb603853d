"""SIGTERM ends a search the way Ctrl-C does.

Kubernetes, Slurm and `docker stop` ask a process to stop with SIGTERM, whose
default action ends the process on the spot: the runs stay RUNNING until a
resume closes them. For the duration of a search, SIGTERM instead raises
`Terminated`, a `KeyboardInterrupt`, in the main thread, so every path that
handles Ctrl-C handles it too: the trial's run and the parent run end KILLED,
and the same search resumes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM) during a search.

    A `KeyboardInterrupt`, so code that cleans up after Ctrl-C cleans up
    after it too; `exit_code` is the shell's code for that signal (143).

    Args:
        signal_number: Int. The signal received. Defaults to SIGTERM.
    """

    def __init__(self, signal_number: int = signal.SIGTERM) -> None:
        self.signal_number = int(signal_number)
        super().__init__(f"terminated by {signal.Signals(self.signal_number).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process it ended."""
        return 128 + self.signal_number


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise `Terminated` in the main thread inside the block.

    The handler is installed only from the main thread (Python runs signal
    handlers there, and `signal.signal` fails elsewhere) and only over
    SIGTERM's default action: a handler the program installed itself, or
    SIGTERM ignored, is left alone. When the block ends, however it ends,
    the previous disposition is restored. A second SIGTERM while the first
    one's clean-up runs is ignored, so the clean-up can finish (a SIGKILL
    still ends the process).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    received = False

    def raise_terminated(signal_number: int, frame: object) -> None:
        nonlocal received
        if received:
            return
        received = True
        raise Terminated(signal_number)

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

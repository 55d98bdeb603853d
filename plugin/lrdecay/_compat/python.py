"""CPython behaviours worked around, each with the versions it applies to.

- `Thread`: before CPython 3.13, a `threading.Thread.join()` stopped by an
  exception from a signal handler (Ctrl-C's `KeyboardInterrupt`, or
  lrdecay's SIGTERM) can mark the thread it waited for as ended while that
  thread still runs (python/cpython#90882, bpo-46726:
  `Thread._wait_for_tstate_lock` releases the running thread's lock after
  the interrupted `acquire`). From then on `is_alive()` says `False` and
  every `join()` returns at once, so code that joins a thread before it
  writes after it (a run's last send, then its KILLED status) no longer
  waits, and the interpreter's exit does not wait for it either. Verified
  on 3.11.7; 3.13's thread handles fixed it.
"""

from __future__ import annotations

import threading
from typing import Any


class Thread(threading.Thread):
    """A `threading.Thread` whose `join` still waits after an interrupted join.

    It says it is done by an event set when `run` returns: `join` and
    `is_alive` read that event (an interrupted `Event.wait` changes
    nothing), then `join` joins the finished thread as `threading` does.
    Same arguments as `threading.Thread`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ran = threading.Event()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._ran.set()

    def is_alive(self) -> bool:
        return self.ident is not None and not self._ran.is_set()

    def join(self, timeout: float | None = None) -> None:
        if self.ident is None or threading.current_thread() is self:
            super().join(timeout)  # threading's RuntimeError
        if self._ran.wait(timeout):
            super().join()  # its run returned: only its exit is left

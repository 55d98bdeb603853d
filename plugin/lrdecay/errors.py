"""The exceptions and warnings lrdecay raises, in one place.

Every layer (schedules, callbacks, tracking, tuning, the command line) raises
these; this module imports nothing but the standard library, so catching one
costs no Keras, MLflow or KerasTuner import. Each keeps the built-in base it
always had, so an `except ValueError:` (or `RuntimeError`, `KeyboardInterrupt`)
written before it existed still catches it.

Example:

```python
from lrdecay.errors import DivergedSearchError

try:
    result = lrdecay.search(build_model, x, y, initial_lr=10.0)
except DivergedSearchError:
    result = lrdecay.search(build_model, x, y, initial_lr="auto")
```

Bad arguments raise Python's own `TypeError` / `ValueError` naming the value,
as Keras does; the classes here are for what only lrdecay can say.
"""

from __future__ import annotations

import signal

__all__ = [
    "ChiefUnreachableError",
    "ConfigError",
    "DataError",
    "DivergedSearchError",
    "EvidenceWarning",
    "NonFiniteLossError",
    "PreviewError",
    "SearchEndedError",
    "SearchRunningError",
    "Terminated",
    "TrackingUnreachable",
    "UsageError",
]


# --------------------------------------------------------------------------
# Tracking


class TrackingUnreachable(ValueError):
    """The tracking store cannot be used; the message names the cause and the fix.

    Raised by the preflight of a search, a report or a replay, before anything
    is created.
    """


# --------------------------------------------------------------------------
# A search


class NonFiniteLossError(Exception):
    """A trial's loss or metric became NaN or infinite: the trial FAILED.

    What a search raises inside such a trial is also a KerasTuner
    `keras_tuner.errors.FailedTrialError` (which is what makes KerasTuner mark
    the trial FAILED, never retried and never "best"); this base class lets
    code catch it without importing KerasTuner.
    """


class SearchRunningError(ValueError):
    """Another process is running this search (same project); nothing was done.

    The message names it (pid, host, since when). A `ValueError`, as the
    command line treats what it refuses before training: one line, exit 2.
    Workers of a distributed search (KerasTuner's chief/worker mode) share
    the chief's project and are never refused.
    """


class DivergedSearchError(RuntimeError):
    """Every trial of a search diverged: the initial rate is too high."""


class EvidenceWarning(UserWarning):
    """What a search's evidence says that a caller should not miss.

    `search()` warns with it once per search: the rate warning, and the
    verdict when no decay beat the constant-rate control (beyond the noise,
    where repeats measure it). The command line prints them itself.
    """


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


# --------------------------------------------------------------------------
# A distributed search's worker


class SearchEndedError(RuntimeError):
    """A worker joined a search that has no trial left for it."""


class ChiefUnreachableError(RuntimeError):
    """A worker's chief did not answer (while joining, or during the search)."""


# --------------------------------------------------------------------------
# The command line's bad input (exit code 2, one line, no traceback)


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class DataError(UsageError, ValueError):
    """Input data that cannot be used; the message names the bad value."""


class ConfigError(UsageError, ValueError):
    """A config file that cannot be used; the message names the bad value."""


class PreviewError(UsageError, ValueError):
    """A decay spec that cannot be drawn; the message names the bad value."""

"""What `lrdecay search` prints while it runs: one line per trial, the epoch.

KerasTuner deep-copies callbacks for every trial, so the per-epoch callback
keeps no state of its own and writes to this module's `_STATE`, which the
per-trial printer reads too. `start()` resets it for a new search.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from lrdecay.cli.output import format_score, format_settings, is_noise

_STATE: dict[str, Any] = {}


def start(verbosity: int) -> None:
    """Reset the progress state at the start of a search."""
    _STATE.clear()
    _STATE.update(trained=False, verbosity=verbosity, started=time.monotonic())


def trained() -> bool:
    """Whether any trial started training since `start()`."""
    return bool(_STATE.get("trained"))


def end_line() -> None:
    """Finish an open `\\r` progress line so the next print starts clean."""
    if _STATE.pop("open_line", False):
        print(flush=True)


def trial_printer(verbosity: int) -> Any:
    """A `progress=` hook for `lrdecay.search`: one line per ended trial."""

    def on_trial_end(event: Any) -> None:
        end_line()
        if verbosity < 1:
            return
        total = f"/{event.total}" if event.total else ""
        decay = f"{event.kind or '?'} {format_settings(event.settings)}".strip()
        if event.status == "COMPLETED":
            outcome = f"{format_score(event.score)}"
        else:
            reason = (
                event.message if event.message and not is_noise(event.message) else None
            )
            outcome = event.status + (f" ({reason})" if reason else "")
        best = (
            f"best {format_score(event.best_score)} (trial {event.best_trial_id})"
            if event.best_trial_id is not None
            else "no best yet"
        )
        elapsed = time.monotonic() - _STATE.get("started", time.monotonic())
        print(
            f"[{event.index}{total}] trial {event.trial_id}  {decay}: {outcome}"
            f"  | {best}  [{elapsed:.0f}s]",
            flush=True,
        )

    return on_trial_end


def epoch_ticker(epochs: int, objective: str, verbosity: int) -> Any:
    """A callback that marks training as started and, on a terminal, shows
    the epoch of the running trial on one self-overwriting line."""
    import keras

    interactive = verbosity == 1 and sys.stdout.isatty()

    class EpochTicker(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            _STATE["trained"] = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not interactive:
                return
            value = (logs or {}).get(objective)
            shown = f" {objective} {float(value):.4f}" if value is not None else ""
            print(
                f"\r  epoch {epoch + 1}/{epochs}{shown}    ",
                end="",
                flush=True,
            )
            _STATE["open_line"] = True

    return EpochTicker()

"""What `lrdecay search` prints while it runs: one line per trial, the epoch.

KerasTuner deep-copies callbacks for every trial, so the per-epoch callback
keeps no state of its own and writes to this module's `_STATE`, which the
per-trial printer reads too. `start()` resets it for a new search.

A trial's line shows its decay and every other value that varies between
trials (the model's own `hp`, Hyperband's epoch budget): `recording()` wraps
the model builder and keeps the values of the model it built last, which in
one process is the model of the trial that ends next.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from lrdecay.cli.output import (
    column_name,
    extra_values,
    format_score,
    format_settings,
    is_noise,
)

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


def recording(
    build_model: Callable[..., Any], takes_hp: bool, names: Sequence[str]
) -> Callable[[Any], Any]:
    """`build_model`, keeping the values of `names` of each model it builds."""

    def build(hp: Any) -> Any:
        model = build_model(hp) if takes_hp else build_model()
        _STATE["built"] = extra_values(hp.values, names)
        return model

    build.__name__ = getattr(build_model, "__name__", "build_model")
    build.__qualname__ = build.__name__
    return build


def trial_printer(
    verbosity: int, grid_factor: int | None = 1, max_trials: int | None = None
) -> Any:
    """A `progress=` hook for `lrdecay.search`: one line per ended trial.

    `grid_factor`: how many grid points the model's own hyperparameters add
    per decay setting (a grid search walks them all; `search()`'s total
    counts the decay's); `None`: unknown, and no total is shown.
    `max_trials` caps the total.
    """

    def on_trial_end(event: Any) -> None:
        end_line()
        if verbosity < 1:
            return
        total = trial_total(event.total, grid_factor, max_trials)
        shown_total = f"/{total}" if total else ""
        extras = " ".join(
            f"{column_name(name)}={value}"
            for name, value in _STATE.pop("built", {}).items()
        )
        decay = f"{event.kind or '?'} {format_settings(event.settings)}".strip()
        decay = f"{decay} {extras}".rstrip()
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
            f"[{event.index}{shown_total}] trial {event.trial_id}  {decay}: {outcome}"
            f"  | {best}  [{elapsed:.0f}s]",
            flush=True,
        )

    return on_trial_end


def trial_total(
    total: int | None, grid_factor: int | None, max_trials: int | None = None
) -> int | None:
    """How many trials a search runs: `total` (of the decay's grid, capped by
    `max_trials`) times the model's own grid points, capped by `max_trials`."""
    if total is None or grid_factor is None:
        return None
    total *= grid_factor
    return min(total, max_trials) if max_trials else total


def epoch_ticker(epochs: int, objective: str, verbosity: int) -> Any:
    """A callback that marks training as started and, on a terminal, shows
    the epoch of the running trial on one self-overwriting line."""
    from lrdecay.tuning.data.user_callbacks import StatelessCallback

    interactive = verbosity == 1 and sys.stdout.isatty()

    # Stateless: trials keep sharing prefixes with it.
    class EpochTicker(StatelessCallback):
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

"""A search's result in three named groups: the winner, the evidence, the cost.

`SearchResult.winner` is what to use (the best trial, its model, the line to
paste, or `control_won`); `SearchResult.evidence` is why to believe it (the
ranking, the control, the verdict); `SearchResult.cost` is what it took
(epochs trained against what independent trials would have trained). The
flat names `SearchResult` had before (`best_score`, `verdict`, ...) still
read these groups for one release, with a `DeprecationWarning`
(`FLAT_NAMES`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["FLAT_NAMES", "Cost", "Evidence", "Winner", "flat_name"]


@dataclasses.dataclass(frozen=True)
class Winner:
    """The best trial of a search: what to use.

    Attributes:
        trial_id: String. The best trial's id.
        score: Float. Its objective value (the mean over its repeats).
        decay: Dict. Its decay, `{"kind": ..., **settings}`
            (`{"kind": "constant"}` when the control won).
        code: String. Its decay as the callback to paste into
            `model.fit(callbacks=[...])`, e.g.
            `"StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=20)"`; `""`
            when the control won.
        control_won: Bool. The constant-rate control scored best: no decay
            to paste; keep the rate.
        hyperparameters: `keras_tuner.HyperParameters` of the best trial.
        model: The best trial's model, with the weights of its best epoch.
    """

    trial_id: str
    score: float
    decay: dict[str, Any]
    code: str
    control_won: bool
    hyperparameters: Any = None
    model: Any = None


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Why to believe the winner: the ranking against the noise and the control.

    Attributes:
        objective: String. The objective's name, e.g. `"val_loss"`.
        direction: `"min"` or `"max"`: which way the objective improves.
        ranking: List of `RankedSetting`, best first (completed trials).
        control: `RankedSetting` or `None`. The constant-rate control (the
            best one, if `initial_lr` was searched); `None` without it.
        beats_control_by: Float or `None`. How much the best decay's mean
            beats the control's, in the objective's units: positive when the
            decay is better, negative when the control is. `None` without a
            control or a completed decay.
        control_p_value: Float or `None`. Welch's two-sided p-value of the
            best decay against the control; `None` with fewer than two
            repeats.
        verdict: String. One plain sentence on what the ranking shows.
        rate_warning: String or `None`. Set when the initial rate, not the
            decay, looks like the problem; suggests `initial_lr="auto"`.
        lr_range: `lrdecay.tuning.lr_finder.lr_range.LRFinderResult` or `None`. The LR
            range test of `initial_lr="auto"`.
    """

    objective: str = "val_loss"
    direction: str = "min"
    ranking: list[Any] = dataclasses.field(default_factory=list)
    control: Any | None = None
    beats_control_by: float | None = None
    control_p_value: float | None = None
    verdict: str = ""
    rate_warning: str | None = None
    lr_range: Any | None = None


@dataclasses.dataclass(frozen=True)
class Cost:
    """What a search took.

    Attributes:
        epochs_trained: Int. Epochs the trials' fits trained, over every
            execution, resume and worker (a trial continuing a shared trunk
            trains only its own epochs).
        epochs_independent: Int. Epochs independent trials would have
            trained: every execution's budget. 0 on a worker.
    """

    epochs_trained: int = 0
    epochs_independent: int = 0


# A flat name of `SearchResult` before the groups -> (group, field).
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "best_trial_id": ("winner", "trial_id"),
    "best_score": ("winner", "score"),
    "best_decay": ("winner", "decay"),
    "objective": ("evidence", "objective"),
    "direction": ("evidence", "direction"),
    "ranking": ("evidence", "ranking"),
    "control": ("evidence", "control"),
    "beats_control_by": ("evidence", "beats_control_by"),
    "control_p_value": ("evidence", "control_p_value"),
    "verdict": ("evidence", "verdict"),
    "rate_warning": ("evidence", "rate_warning"),
    "lr_range": ("evidence", "lr_range"),
    "epochs_trained": ("cost", "epochs_trained"),
    "epochs_independent": ("cost", "epochs_independent"),
}


def flat_name(name: str) -> property:
    """A deprecated flat attribute of `SearchResult`, read from its group."""
    group, field = FLAT_NAMES[name]

    def read(result: Any) -> Any:
        warnings.warn(
            f"`SearchResult.{name}` is deprecated and will be removed in the "
            f"next release; use `SearchResult.{group}.{field}`.",
            DeprecationWarning,
            stacklevel=2,
        )
        holder = getattr(result, group)
        if holder is None:  # a worker's result: no winner
            return {"best_trial_id": "", "best_score": math.nan}.get(name, {})
        return getattr(holder, field)

    getter: Callable[[Any], Any] = read
    return property(getter, doc=f"Deprecated: `{group}.{field}`.")

"""The evidence of a search: the settings ranked, the verdict, the rate warning.

`rank` orders the completed settings with their spread over the repeats
(`RankedSetting`, from each execution's own score: `execution_scores`),
`verdict` says in one sentence what the ranking shows, and `rate_warning`
says when the initial rate, not the decay, looks like the problem.

Ties (`ranking_key`, the one rule the best trial, the ranking, the parent
run's tags and `lrdecay report` all sort by): a decay that scores exactly
what the constant-rate control scores is no evidence for decaying, so the
control wins exact ties; other exact ties go to the earlier trial (the lower
trial id). Rerunning or resuming a finished search therefore never changes
the winner, whatever order KerasTuner lists the trials in.

Indistinguishable from the best (`RankedSetting.indistinguishable_from_best`):
a setting is, unless Welch's two-sided t-test on its repeats' scores against
the best setting's rejects equal means at the 5% level (`ALPHA`). The test
needs a spread on both sides: with fewer than two repeats of either, nothing
can be told apart, and every setting is marked indistinguishable (the verdict
says why). Two settings whose repeats all scored the same (no spread) differ
exactly when their means do.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lrdecay.tuning.searchspace.space import CONTROL_KIND

# Welch's t-test level for "indistinguishable from the best".
ALPHA = 0.05


def ranking_key(
    score: float, direction: str, is_control: bool, trial_id: str | None
) -> tuple[float, bool, tuple[int, str]]:
    """The sort key of a scored setting, best first (see the module docstring).

    Args:
        score: Float. The setting's objective value (mean over its repeats).
        direction: `"min"` or `"max"`.
        is_control: Bool. Whether it is the constant-rate control, which wins
            exact ties.
        trial_id: String or `None`. Its KerasTuner trial id; the lower wins
            the other exact ties (numerically: `"0010"` after `"0009"`).
    """
    value = -float(score) if direction == "max" else float(score)
    text = "" if trial_id is None else str(trial_id)
    order = (int(text), text) if text.isdigit() else (2**63, text)
    return value, not is_control, order


def execution_metric(index: int) -> str:
    """The trial metric holding execution `index`'s own objective value."""
    return f"lrdecay/execution_{index}"


@dataclasses.dataclass(frozen=True)
class RankedSetting:
    """One setting of a search's ranking: its scores over the repeats.

    Attributes:
        trial_id: String. The setting's KerasTuner trial.
        kind: String or `None`. The decay kind; `"constant"` for the
            control.
        settings: Dict. The decay's arguments (as `TrialSummary.settings`).
        description: String. The setting in words, e.g.
            `"step epochs_drop=20 drop=0.5"`, `"constant (control)"`.
        mean: Float. The objective's mean over the repeats (KerasTuner's
            trial score).
        std: Float. The sample standard deviation over the repeats
            (`ddof=1`); `nan` with one repeat.
        n: Int. The number of repeats scored.
        scores: Tuple of floats. Each repeat's objective value (its best
            epoch), in execution order.
        indistinguishable_from_best: Bool. See the module docstring; `True`
            for the best itself.
        p_value: Float or `None`. Welch's two-sided p-value against the
            best; `None` for the best itself or with fewer than two repeats.
        is_control: Bool. Whether this is the constant-rate control.
    """

    trial_id: str
    kind: str | None
    settings: dict[str, Any]
    description: str
    mean: float
    std: float
    n: int
    scores: tuple[float, ...]
    indistinguishable_from_best: bool
    p_value: float | None
    is_control: bool


class _Summary(Protocol):
    """What `rank` reads of a `lrdecay.tuning.evidence.result.TrialSummary`."""

    @property
    def trial_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def score(self) -> float | None: ...
    @property
    def half_life(self) -> int | None: ...


# The error a diverged trial FAILED with (`lrdecay.errors.NonFiniteLossError`),
# as its name appears in KerasTuner's `trial.message` (the traceback).
DIVERGED_ERROR = "NonFiniteLossError"
# "Near chance": a classifier whose best validation accuracy is at most this
# multiple of chance (1 / classes) learned next to nothing.
CHANCE_FACTOR = 1.5
_ACCURACY_METRICS = (
    "val_accuracy",
    "val_acc",
    "val_sparse_categorical_accuracy",
    "val_categorical_accuracy",
    "val_binary_accuracy",
)


def diverged(trial: Any) -> bool:
    """Whether a KerasTuner trial FAILED because its loss became NaN or inf."""
    return str(trial.status) == "FAILED" and DIVERGED_ERROR in (trial.message or "")


def best_accuracy(trial: Any) -> float | None:
    """A trial's best validation accuracy over its epochs, if it records one."""
    for name in _ACCURACY_METRICS:
        if trial.metrics.exists(name):
            values = [
                float(sum(obs.value) / len(obs.value))
                for obs in trial.metrics.get_history(name)
                if obs.value
            ]
            finite = [value for value in values if math.isfinite(value)]
            return max(finite) if finite else None
    return None


def rate_warning(
    trials: Any,
    num_classes: int | None = None,
    initial_lr: float | None = None,
    *,
    every_trial_only: bool = False,
) -> str | None:
    """The warning that the initial rate, not the decay, is the problem.

    The rule: among the trials that ended (COMPLETED or FAILED), every one
    diverged (FAILED with a NaN or infinite loss or metric) or stayed near
    chance, or the constant-rate control did. Near chance means a best
    validation accuracy <= `CHANCE_FACTOR / num_classes` (1.5x chance:
    0.15 for 10 classes, 0.75 for 2); it needs an accuracy metric and
    `num_classes`, so a regression search is judged by divergence alone.

    Args:
        trials: The KerasTuner trials (`tuner.oracle.trials.values()`).
        num_classes: Int or `None`. Classes of a classifier.
        initial_lr: Float or `None`. The rate the trials started at, named
            in the warning when known.
        every_trial_only: Bool. Ignore the control alone. Defaults to
            `False`.

    Returns:
        The warning, or `None`.
    """
    ended = [t for t in trials if str(t.status) in ("COMPLETED", "FAILED")]
    if not ended:
        return None
    chance = CHANCE_FACTOR / num_classes if num_classes else None

    def problem(trial: Any) -> str | None:
        if diverged(trial):
            return "diverged"
        if chance is not None and str(trial.status) == "COMPLETED":
            accuracy = best_accuracy(trial)
            if accuracy is not None and accuracy <= chance:
                return "near chance"
        return None

    problems = [problem(trial) for trial in ended]
    if all(problems):
        who, found = f"Every trial ({len(ended)})", set(problems)
    else:
        control = [
            problem(trial)
            for trial in ended
            if trial.hyperparameters.values.get("decay_kind") == CONTROL_KIND
        ]
        if every_trial_only or not control or not control[0]:
            return None
        who, found = "The constant-rate control", {control[0]}
    what = []
    if "diverged" in found:
        what.append("diverged (its loss became NaN or infinite)")
    if "near chance" in found:
        what.append(
            f"stayed near chance (best validation accuracy <= {chance:.3g}, "
            f"{CHANCE_FACTOR:g}x chance for {num_classes} classes)"
        )
    rate = "" if initial_lr is None else f" at the initial learning rate {initial_lr:g}"
    return (
        f"{who} {' or '.join(what)}{rate}: the initial rate looks like the "
        "problem, and no decay fixes a rate that is far off. Run the LR range "
        'test first and search around its suggestion: initial_lr="auto" '
        "(lrdecay search --initial-lr auto; lrdecay find-lr shows the test)."
    )


def describe(
    kind: str | None, settings: Mapping[str, Any], half_life: int | None = None
) -> str:
    """A setting in words: `"step epochs_drop=20 drop=0.5"`, `"constant (control)"`."""
    if kind is None:
        return "unknown"
    shown = {k: v for k, v in settings.items() if k != "monitor"}
    if half_life is not None:
        shown.pop("k", None)
        shown = {"half_life": half_life, **shown}
    words = [
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in shown.items()
    ]
    if kind == CONTROL_KIND:
        return " ".join([f"{CONTROL_KIND} (control)", *words])
    return " ".join([kind, *words])


def execution_scores(trial: Any, repeats: int) -> tuple[float, ...]:
    """Each execution's own objective value of a completed trial.

    Read from the trial's `lrdecay/execution_<i>` metrics (`search()`'s
    tuners record them); a trial without them (another tuner) gives its
    score alone.
    """
    scores = []
    for index in range(repeats):
        name = execution_metric(index)
        if trial.metrics.exists(name):
            value = trial.metrics.get_last_value(name)
            if value is not None:
                scores.append(float(value))
    if not scores and trial.score is not None:
        scores = [float(trial.score)]
    return tuple(scores)


def welch_p_value(first: tuple[float, ...], second: tuple[float, ...]) -> float | None:
    """Welch's two-sided t-test p-value of equal means; `None` if n < 2 on a side."""
    if len(first) < 2 or len(second) < 2:
        return None
    import numpy as np

    mean_1, mean_2 = float(np.mean(first)), float(np.mean(second))
    var_1 = float(np.var(first, ddof=1)) / len(first)
    var_2 = float(np.var(second, ddof=1)) / len(second)
    if var_1 + var_2 == 0:
        return 1.0 if mean_1 == mean_2 else 0.0
    # scipy comes with scikit-learn (a dependency); imported by name so that
    # type checking needs no scipy stubs.
    stats = importlib.import_module("scipy.stats")

    t = (mean_1 - mean_2) / math.sqrt(var_1 + var_2)
    df = (var_1 + var_2) ** 2 / (
        var_1**2 / (len(first) - 1) + var_2**2 / (len(second) - 1)
    )
    return float(2 * stats.t.sf(abs(t), df))


def rank(
    oracle_trials: Any,
    summaries: Sequence[_Summary],
    repeats: int,
    direction: str,
) -> list[RankedSetting]:
    """The completed settings, best first, with their spread over the repeats.

    Sorted by `ranking_key`: exact ties go to the control, then to the
    earlier trial.

    Args:
        oracle_trials: Mapping trial id -> KerasTuner `Trial`.
        summaries: The search's `TrialSummary`s.
        repeats: Int. Executions per trial.
        direction: `"min"` or `"max"`.
    """
    import numpy as np

    rows = []
    for summary in summaries:
        trial = oracle_trials.get(summary.trial_id)
        if (
            trial is None
            or summary.status != "COMPLETED"
            or summary.score is None
            or not math.isfinite(summary.score)
        ):
            continue
        scores = execution_scores(trial, repeats)
        rows.append((summary, scores))
    rows.sort(
        key=lambda row: ranking_key(
            row[0].score,  # type: ignore[arg-type]
            direction,
            row[0].kind == CONTROL_KIND,
            row[0].trial_id,
        )
    )
    if not rows:
        return []
    best_scores = rows[0][1]
    ranking = []
    for position, (summary, scores) in enumerate(rows):
        p_value = None if position == 0 else welch_p_value(scores, best_scores)
        ranking.append(
            RankedSetting(
                trial_id=summary.trial_id,
                kind=summary.kind,
                settings=dict(summary.settings),
                description=describe(summary.kind, summary.settings, summary.half_life),
                mean=float(summary.score),  # type: ignore[arg-type]
                std=float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan,
                n=len(scores),
                scores=scores,
                indistinguishable_from_best=p_value is None or p_value >= ALPHA,
                p_value=p_value,
                is_control=summary.kind == CONTROL_KIND,
            )
        )
    return ranking


def compare_with_control(
    ranking: list[RankedSetting], direction: str
) -> tuple[RankedSetting | None, float | None, float | None]:
    """The control, how much the best decay beats it, and Welch's p-value."""
    control = next((entry for entry in ranking if entry.is_control), None)
    best_decay = next((entry for entry in ranking if not entry.is_control), None)
    if control is None or best_decay is None:
        return control, None, None
    margin = control.mean - best_decay.mean
    if direction == "max":
        margin = -margin
    return control, margin, welch_p_value(best_decay.scores, control.scores)


def control_beaten(ranking: list[RankedSetting], direction: str) -> bool | None:
    """Whether a decay beat the constant-rate control, as `verdict` judges it.

    `None` without a control; `False` when no decay completed, when the
    best decay scored the same or worse, or when repeats measured the
    noise and the margin is inside it (Welch's p >= `ALPHA`); `True` when
    the best decay scored better, beyond the noise when repeats measure it
    (one run per setting measures none: the verdict says so).
    """
    control, margin, p_value = compare_with_control(ranking, direction)
    if control is None:
        return None
    if margin is None or margin <= 0:
        return False
    return p_value is None or p_value < ALPHA


def verdict(
    ranking: list[RankedSetting],
    objective: str,
    direction: str,
    repeats: int,
) -> str:
    """One plain sentence: did the best decay beat the constant rate, beyond noise?"""
    if not ranking:
        return "No setting completed: the search shows nothing."
    control, margin, p_value = compare_with_control(ranking, direction)
    best_decay = next((entry for entry in ranking if not entry.is_control), None)
    if control is None:
        return (
            "The search ran without the constant-rate control (control=False): "
            "it cannot say whether decaying the rate helps at all."
        )
    if best_decay is None or margin is None:
        return (
            f"Only the constant-rate control completed ({objective} "
            f"{_spread(control)}): no decay to compare it with."
        )
    if repeats < 2 or p_value is None:
        if margin == 0:
            return (
                f"The best decay, {best_decay.description}, scored the same as "
                f"the constant rate ({objective} {control.mean:.4g}): decaying "
                "did not change the result."
            )
        if margin < 0:
            return (
                f"The constant rate scored best ({objective} {control.mean:.4g}; "
                f"best decay, {best_decay.description}: {best_decay.mean:.4g}) "
                "from one run per setting, which measures no run-to-run "
                "spread: differences below it are not evidence (use repeats=3)."
            )
        return (
            f"The best decay, {best_decay.description}, scored {margin:.3g} "
            f"better than the constant rate ({objective} {best_decay.mean:.4g} vs "
            f"{control.mean:.4g}) from one run per setting, which measures no "
            "run-to-run spread: differences below it are not evidence "
            "(use repeats=3)."
        )
    numbers = (
        f"({objective} {_spread(best_decay)} vs {_spread(control)} over "
        f"{repeats} seeds, Welch's t-test p={p_value:.2g})"
    )
    if margin > 0 and p_value < ALPHA:
        return (
            f"The best decay, {best_decay.description}, beat the constant rate by "
            f"{margin:.3g} beyond the noise {numbers}."
        )
    if margin <= 0 and p_value < ALPHA:
        return (
            "The constant rate beat every decay beyond the noise: the best "
            f"decay, {best_decay.description}, was worse by {-margin:.3g} "
            f"{numbers}."
        )
    return (
        f"The best decay, {best_decay.description}, did not beat the constant "
        f"rate beyond the noise {numbers}: treat them as equal."
    )


def _spread(entry: RankedSetting) -> str:
    if entry.n < 2:
        return f"{entry.mean:.4g}"
    return f"{entry.mean:.4g} ± {entry.std:.2g}"

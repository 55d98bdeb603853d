"""What a search returns: its trials, the best one, the evidence, the line to paste.

`SearchResult` is what `lrdecay.search()` returns; `TrialSummary` is one trial
of it, `TrialEvent` the `progress` event sent when a trial ends. The helpers
read KerasTuner's trials (`summarize`, `best_trial`), rank the settings with
their spread over the repeats (`rank`, `RankedSetting`), say in one sentence
what the ranking shows (`verdict`), and write a decay as the Python a user
pastes into `model.fit(callbacks=[...])` (`decay_code`).

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
import inspect
import math
from collections.abc import Mapping
from typing import Any

from lrdecay.tuning.space import CONTROL_KIND, DecaySpace

# Welch's t-test level for "indistinguishable from the best".
ALPHA = 0.05


def execution_metric(index: int) -> str:
    """The trial metric holding execution `index`'s own objective value."""
    return f"lrdecay/execution_{index}"


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    """One trial of a search, as `SearchResult.trials` lists it.

    `settings` are the arguments of the trial's decay callback; `half_life`
    is the exponential decay's half-life in epochs when the search chose it
    by half-life (`settings` then holds `k = ln 2 / half_life`).
    """

    trial_id: str
    status: str
    kind: str | None
    settings: dict[str, Any]
    score: float | None
    run_id: str | None
    half_life: int | None = None


@dataclasses.dataclass(frozen=True)
class TrialEvent:
    """The `progress` event of `search()`, sent once per ended trial."""

    index: int
    total: int | None
    trial_id: str
    status: str
    score: float | None
    best_trial_id: str | None
    best_score: float | None
    kind: str | None
    settings: dict[str, Any]
    message: str | None = None


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


@dataclasses.dataclass
class SearchResult:
    """What `search()` returns.

    Attributes:
        best_hyperparameters: `keras_tuner.HyperParameters` of the best trial.
        best_model: The best trial's model, with the weights of its best
            epoch.
        best_trial_id: String. The best trial's id.
        best_score: Float. The best trial's objective value (the mean over
            its repeats).
        best_decay: Dict. The best trial's decay: `{"kind": ..., **settings}`
            (`{"kind": "constant"}` when the control won).
        best_decay_code: String or `None`. The best trial's decay as the
            callback to paste into `model.fit(callbacks=[...])`, e.g.
            `"StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=20)"`; `None`
            when the constant-rate control won (no decay: keep the rate);
            `""` when no trial is known (a distributed worker). `str(result)`
            gives it too.
        trials: List of `TrialSummary`, in trial-id order.
        parent_run_id: String or `None`. The search's MLflow run.
        experiment_id: String or `None`.
        tracking_uri: String or `None`.
        tuner: The KerasTuner tuner (to reload or continue the search).
        seed: Int or `None`. The search's seed (the user's, or the one it
            picked and recorded as the parent run's `seed` param): pass it
            as `seed=` to run the same search again. `None` on a worker.
        repeats: Int. Runs per setting (one seed each).
        objective: String. The objective's name, e.g. `"val_loss"`.
        direction: `"min"` or `"max"`: which way the objective improves.
        ranking: List of `RankedSetting`, best first (completed trials).
        control: `RankedSetting` or `None`. The constant-rate control (the
            best one, if `initial_lr` was searched); `None` without it.
        beats_control_by: Float or `None`. How much the best decay's mean
            beats the control's, in the objective's units: positive when the
            decay is better (lower loss, higher accuracy), negative when the
            control is. `None` without a control or a completed decay.
        control_p_value: Float or `None`. Welch's two-sided p-value of the
            best decay against the control; `None` with fewer than two
            repeats.
        verdict: String. One plain sentence on what the ranking shows:
            whether the best decay beat the constant rate beyond the noise.
    """

    best_hyperparameters: Any
    best_model: Any
    best_trial_id: str
    best_score: float
    best_decay: dict[str, Any]
    trials: list[TrialSummary]
    parent_run_id: str | None
    experiment_id: str | None
    tracking_uri: str | None
    tuner: Any
    best_decay_code: str | None = ""
    seed: int | None = None
    repeats: int = 1
    objective: str = "val_loss"
    direction: str = "min"
    ranking: list[RankedSetting] = dataclasses.field(default_factory=list)
    control: RankedSetting | None = None
    beats_control_by: float | None = None
    control_p_value: float | None = None
    verdict: str = ""

    def __str__(self) -> str:
        if self.best_decay_code is None:
            return (
                f"Best trial {self.best_trial_id} (score {self.best_score:.6g}): "
                "no decay (the constant-rate control)"
            )
        if not self.best_decay_code:
            return "SearchResult(no best trial)"
        return (
            f"Best trial {self.best_trial_id} (score {self.best_score:.6g}): "
            f"{self.best_decay_code}"
        )


def best_trial(oracle: Any) -> Any | None:
    """The best COMPLETED trial with a finite score, or `None`."""
    completed = [
        trial
        for trial in oracle.trials.values()
        if trial.status == "COMPLETED"
        and trial.score is not None
        and math.isfinite(float(trial.score))
    ]
    if not completed:
        return None
    return sorted(
        completed,
        key=lambda trial: float(trial.score),
        reverse=oracle.objective.direction == "max",
    )[0]


def summarize(trial: Any, space: DecaySpace, epochs: int) -> TrialSummary:
    """The `TrialSummary` of a KerasTuner trial searched over `space`."""
    values = dict(trial.hyperparameters.values)
    budget = int(values.get("tuner/epochs", epochs))
    if space.relative_to == "search":
        budget = epochs
    half_life = None
    try:
        resolved = space.resolve(values, budget)
        kind: str | None = resolved.kind
        settings = dict(resolved.settings)
        half_life = resolved.half_life
        if resolved.initial_lr is not None:
            settings["initial_lr"] = resolved.initial_lr
    except (KeyError, ValueError):
        kind, settings = values.get("decay_kind"), {}
    score = trial.score
    return TrialSummary(
        trial_id=str(trial.trial_id),
        status=str(trial.status),
        kind=kind,
        settings=settings,
        score=None if score is None else float(score),
        run_id=None,
        half_life=half_life,
    )


def decay_code(
    kind: str,
    settings: Mapping[str, Any],
    initial_lr: float | None = None,
    half_life: int | None = None,
) -> str:
    """The decay callback of `kind` with `settings`, as Python to paste.

    Arguments follow the callback's signature; an exponential decay chosen
    by half-life is written with `half_life=` when `ExponentialDecay`
    accepts it, else with its `k`.

    Example:

    ```python
    decay_code("step", {"epochs_drop": 20, "drop": 0.5}, initial_lr=0.1)
    # 'StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=20)'
    ```
    """
    from lrdecay import callbacks

    decay_class = callbacks.DECAYS[kind]
    parameters = inspect.signature(decay_class.__init__).parameters
    given = dict(settings)
    if initial_lr is not None and "initial_lr" in parameters:
        given.setdefault("initial_lr", initial_lr)
    if half_life is not None and "half_life" in parameters:
        given.pop("k", None)
        given["half_life"] = half_life
    ordered = [name for name in parameters if name in given]
    ordered += [name for name in given if name not in parameters]
    arguments = ", ".join(f"{name}={given[name]!r}" for name in ordered)
    return f"{decay_class.__name__}({arguments})"


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
        return " ".join(["constant (control)", *words])
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
    summaries: list[TrialSummary],
    repeats: int,
    direction: str,
    best_trial_id: str | None = None,
) -> list[RankedSetting]:
    """The completed settings, best first, with their spread over the repeats.

    Args:
        oracle_trials: Mapping trial id -> KerasTuner `Trial`.
        summaries: The search's `TrialSummary`s.
        repeats: Int. Executions per trial.
        direction: `"min"` or `"max"`.
        best_trial_id: String or `None`. The oracle's best trial, ranked
            first among equal means.
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
    sign = -1.0 if direction == "max" else 1.0
    rows.sort(
        key=lambda row: (
            sign * float(row[0].score),  # type: ignore[arg-type]
            row[0].trial_id != best_trial_id,
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


def last_line(message: str | None) -> str | None:
    """The error line of a trial's traceback, without TensorFlow's node noise."""
    if not message:
        return None
    lines = [
        line
        for line in message.strip().splitlines()
        if line.strip() and not line.strip().startswith("[[{{node")
    ]
    return lines[-1] if lines else None

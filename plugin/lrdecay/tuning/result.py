"""What a search returns: its trials, the best one, and the line to paste.

`SearchResult` is what `lrdecay.search()` returns; `TrialSummary` is one trial
of it, `TrialEvent` the `progress` event sent when a trial ends. The helpers
read KerasTuner's trials (`summarize`, `best_trial`) and write a decay as the
Python a user pastes into `model.fit(callbacks=[...])` (`decay_code`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import Any

from lrdecay.tuning.space import DecaySpace


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


@dataclasses.dataclass
class SearchResult:
    """What `search()` returns.

    Attributes:
        best_hyperparameters: `keras_tuner.HyperParameters` of the best trial.
        best_model: The best trial's model, with the weights of its best
            epoch.
        best_trial_id: String. The best trial's id.
        best_score: Float. The best trial's objective value.
        best_decay: Dict. The best trial's decay: `{"kind": ..., **settings}`.
        best_decay_code: String. The best trial's decay as the callback to
            paste into `model.fit(callbacks=[...])`, e.g.
            `"StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=20)"`; `""`
            when no trial is known (a distributed worker). `str(result)`
            gives it too.
        trials: List of `TrialSummary`, in trial-id order.
        parent_run_id: String or `None`. The search's MLflow run.
        experiment_id: String or `None`.
        tracking_uri: String or `None`.
        tuner: The KerasTuner tuner (to reload or continue the search).
        lr_range: `lrdecay.tuning.lr_range.LRFinderResult` or `None`. The LR
            range test of `initial_lr="auto"`.
        rate_warning: String or `None`. Set when the initial rate, not the
            decay, looks like the problem (`rate_warning()`'s rule): every
            trial, or the constant-rate control, diverged or stayed near
            chance. Says so and suggests `initial_lr="auto"`.
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
    best_decay_code: str = ""
    lr_range: Any | None = None
    rate_warning: str | None = None

    def __str__(self) -> str:
        if not self.best_decay_code:
            return "SearchResult(no best trial)"
        return (
            f"Best trial {self.best_trial_id} (score {self.best_score:.6g}): "
            f"{self.best_decay_code}"
        )


class DivergedSearchError(RuntimeError):
    """Every trial of a search diverged: the initial rate is too high."""


# The error a diverged trial FAILED with (`hypermodel.NonFiniteLossError`),
# as its name appears in KerasTuner's `trial.message` (the traceback).
DIVERGED_ERROR = "NonFiniteLossError"
# The decay kind of the constant-rate control.
CONTROL_KIND = "constant"
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

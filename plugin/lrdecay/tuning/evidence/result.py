"""What a search returns: its trials, the best one, the evidence, the line to paste.

`SearchResult` is what `lrdecay.search()` returns; `TrialSummary` is one trial
of it, `TrialEvent` the `progress` event sent when a trial ends. The helpers
read KerasTuner's trials (`summarize`, `best_trial`) and write a decay as the
Python a user pastes into `model.fit(callbacks=[...])` (`decay_code`). The
evidence (the ranking with its spread over the repeats, the verdict and the
rate warning) is computed in `lrdecay.tuning.evidence.verdict`; its names are
importable from here too.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Mapping
from typing import Any

from lrdecay.errors import DivergedSearchError as DivergedSearchError
from lrdecay.errors import EvidenceWarning as EvidenceWarning
from lrdecay.tuning.evidence.failures import failures_note
from lrdecay.tuning.evidence.outcome import (
    FLAT_NAMES,
    Cost,
    Evidence,
    Winner,
    flat_name,
)
from lrdecay.tuning.evidence.table import format_ranking_table
from lrdecay.tuning.evidence.verdict import (
    ALPHA,
    CHANCE_FACTOR,
    DIVERGED_ERROR,
    RankedSetting,
    best_accuracy,
    compare_with_control,
    control_beaten,
    describe,
    diverged,
    execution_metric,
    execution_scores,
    rank,
    ranking_key,
    rate_warning,
    verdict,
    welch_p_value,
)
from lrdecay.tuning.searchspace.space import CONTROL_KIND, KIND_HP, DecaySpace

__all__ = [
    "ALPHA",
    "CHANCE_FACTOR",
    "DIVERGED_ERROR",
    "DivergedSearchError",
    "EvidenceWarning",
    "RankedSetting",
    "SearchResult",
    "TrialEvent",
    "TrialSummary",
    "best_accuracy",
    "best_trial",
    "compare_with_control",
    "decay_code",
    "describe",
    "diverged",
    "evidence_warnings",
    "execution_metric",
    "execution_scores",
    "last_line",
    "rank",
    "ranking_key",
    "rate_warning",
    "summarize",
    "verdict",
    "welch_p_value",
]


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
class SearchResult:
    """What `search()` returns: the winner, the evidence, the cost, the trials.

    Example:

    ```python
    result = lrdecay.search(build_model, x, y, validation_data=(xv, yv))
    if result.winner.control_won:
        print("keep the constant rate")
    else:
        print(result.winner.code)        # StepDecay(initial_lr=0.1, ...)
    print(result.evidence.verdict, result.cost.epochs_trained)
    model = result.best_model
    ```

    Attributes:
        winner: `lrdecay.tuning.evidence.outcome.Winner` (`trial_id`, `score`,
            `decay`, `code`, `control_won`, `hyperparameters`, `model`), or
            `None` on a distributed worker (the chief holds the trials).
        evidence: `lrdecay.tuning.evidence.outcome.Evidence` (`objective`,
            `direction`, `ranking`, `control`, `beats_control_by`,
            `control_p_value`, `verdict`, `rate_warning`, `lr_range`).
        cost: `lrdecay.tuning.evidence.outcome.Cost` (`epochs_trained`,
            `epochs_independent`).
        trials: List of `TrialSummary`, in trial-id order.
        parent_run_id: String or `None`. The search's MLflow run.
        experiment_id: String or `None`.
        tracking_uri: String or `None`.
        tuner: The KerasTuner tuner (to reload or continue the search).
        seed: Int or `None`. The search's seed (the user's, or the one it
            picked and recorded as the parent run's `seed` param): pass it
            as `seed=` to run the same search again. `None` on a worker.
        repeats: Int. Runs per setting (one seed each).
        inputs: `lrdecay.tuning.data.inputs.SearchInputs` or `None`. The search's
            data as it read them: `.exact` (every trial saw the control's
            batches; else `.reason` says why not, and nothing was shared),
            `.digest()`, `.batch_size`, `.steps_per_epoch`, `.element_spec`.

    `best_hyperparameters` and `best_model` read the winner's. The flat names
    of before (`best_score`, `best_decay_code`, `verdict`, `epochs_trained`,
    ...) still work for one release, with a `DeprecationWarning` naming the
    group that holds each now.
    """

    winner: Winner | None
    evidence: Evidence
    cost: Cost
    trials: list[TrialSummary]
    parent_run_id: str | None
    experiment_id: str | None
    tracking_uri: str | None
    tuner: Any
    seed: int | None = None
    repeats: int = 1
    inputs: Any | None = None

    @property
    def best_hyperparameters(self) -> Any:
        """The best trial's `keras_tuner.HyperParameters` (`None` on a worker)."""
        return None if self.winner is None else self.winner.hyperparameters

    @property
    def best_model(self) -> Any:
        """The best trial's model, with the weights of its best epoch."""
        return None if self.winner is None else self.winner.model

    @property
    def best_decay_code(self) -> str | None:
        """Deprecated: `winner.code`, `None` when `winner.control_won`."""
        warnings.warn(
            "`SearchResult.best_decay_code` is deprecated and will be removed "
            "in the next release; use `SearchResult.winner.code` (and "
            "`winner.control_won`).",
            DeprecationWarning,
            stacklevel=2,
        )
        if self.winner is None:
            return ""
        return None if self.winner.control_won else self.winner.code

    def __str__(self) -> str:
        """The ranking table, the best trial, the line to paste, the verdict.

        As `lrdecay search` prints them (without the model's own
        hyperparameters), then the rate warning if any.
        """
        evidence = self.evidence
        if self.winner is None:
            return f"SearchResult(no best trial). {evidence.verdict}".rstrip()
        direction = "higher" if evidence.direction == "max" else "lower"
        lines = [f"Trials ranked by {evidence.objective} ({direction} is better):"]
        if evidence.ranking:
            lines.append(format_ranking_table(self))
        if self.winner.control_won:
            paste = "no decay: the constant rate scored best; keep the rate"
        else:
            paste = self.winner.code
        lines += [
            f"Best: trial {self.winner.trial_id}, {evidence.objective} "
            f"{self.winner.score:.6g}: {paste}",
            evidence.verdict,
        ]
        if evidence.rate_warning:
            lines.append(f"Warning: {evidence.rate_warning}")
        return "\n".join(line for line in lines if line)


for _name in FLAT_NAMES:
    setattr(SearchResult, _name, flat_name(_name))


def evidence_warnings(result: SearchResult) -> list[str]:
    """The messages `search()` warns with (`EvidenceWarning`), in order."""
    messages = []
    evidence = result.evidence
    if evidence.rate_warning:
        messages.append(evidence.rate_warning)
    if (
        evidence.ranking
        and control_beaten(evidence.ranking, evidence.direction) is False
    ):
        messages.append(f"No decay beat the constant-rate control: {evidence.verdict}")
    trials = getattr(getattr(result.tuner, "oracle", None), "trials", None)
    note = failures_note(trials.values()) if isinstance(trials, dict) else None
    if note is not None:
        messages.append(note)
    return messages


def objective_name(tuner: Any) -> str:
    """The name of the metric `tuner`'s oracle ranks by (`val_loss` if unnamed)."""
    name = getattr(getattr(tuner.oracle, "objective", None), "name", None)
    return name if isinstance(name, str) else "val_loss"


def best_trial(oracle: Any) -> Any | None:
    """The best COMPLETED trial with a finite score, or `None`.

    By the search's one rule for ties (`verdict.ranking_key`): at an exact
    tie the constant-rate control wins, then the earlier trial; never
    KerasTuner's order of the trials, which a rerun may change.
    """
    completed = [
        trial
        for trial in oracle.trials.values()
        if trial.status == "COMPLETED"
        and trial.score is not None
        and math.isfinite(float(trial.score))
    ]
    if not completed:
        return None
    return min(
        completed,
        key=lambda trial: ranking_key(
            float(trial.score),
            oracle.objective.direction,
            trial.hyperparameters.values.get(KIND_HP) == CONTROL_KIND,
            str(trial.trial_id),
        ),
    )


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

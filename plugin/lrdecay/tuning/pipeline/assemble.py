"""The last step of `search()`: tag the best trial, end the runs, build the result.

`search_result` reads the ended tuner into a `SearchResult`: the best trial
and its model, the ranking and verdict (`lrdecay.tuning.evidence.result`), the code
of the best decay to paste, and the rate warning.
"""

from __future__ import annotations

import warnings
from typing import Any

from lrdecay.tuning import distributed
from lrdecay.tuning.evidence.outcome import Cost, Evidence, Winner
from lrdecay.tuning.evidence.result import (
    DivergedSearchError,
    SearchResult,
    TrialSummary,
    best_trial,
    decay_code,
    objective_name,
    summarize,
)
from lrdecay.tuning.evidence.verdict import (
    compare_with_control,
    rank,
    rate_warning,
    verdict,
)
from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel, model_initial_lr
from lrdecay.tuning.pipeline.plan import SearchPlan
from lrdecay.tuning.pipeline.tuners import epoch_counts
from lrdecay.tuning.searchspace.space import CONTROL_KIND


def search_result(
    plan: SearchPlan,
    tuner: Any,
    hypermodel: DecayHyperModel,
    runs: Any | None,
    role: distributed.Role,
) -> SearchResult:
    """Tag the best trial, end the parent run, and say what was found."""
    parent_run_id = None if runs is None else runs.parent_run_id
    experiment_id = None if runs is None else runs.experiment_id
    tracking_uri = None if runs is None else runs.tracking_uri
    if role.is_worker:
        # The chief holds the trials and the best one; it may be gone already.
        if runs is not None:
            runs.wait_for_artifacts()  # the last trial's plot, before exiting
        return SearchResult(
            winner=None,
            evidence=Evidence(
                objective=objective_name(tuner),
                direction=_direction(tuner),
                verdict="A worker's part of the search: the chief holds the ranking.",
            ),
            cost=Cost(),
            trials=[],
            parent_run_id=parent_run_id,
            experiment_id=experiment_id,
            tracking_uri=tracking_uri,
            tuner=tuner,
            seed=plan.seed,
            repeats=plan.repeats,
        )
    best = best_trial(tuner.oracle)
    epochs_trained, epochs_independent = epoch_counts(tuner.oracle.trials.values())
    if runs is not None:
        runs.log_epoch_counts(epochs_trained, epochs_independent)
    trials = [
        summarize(trial, plan.space, plan.epochs)
        for _, trial in sorted(tuner.oracle.trials.items())
    ]
    if runs is not None:
        # The parent ends below, once the comparison plots drawn meanwhile
        # are in (and also when this raises).
        trials = runs.search_ended(tuner, trials, best, end=False)
    try:
        cost = Cost(epochs_trained, epochs_independent)
        return _found(plan, tuner, hypermodel, role, best, trials, cost, runs)
    finally:
        if runs is not None:
            runs.end_parent()


def _found(
    plan: SearchPlan,
    tuner: Any,
    hypermodel: DecayHyperModel,
    role: distributed.Role,
    best: Any | None,
    trials: list[TrialSummary],
    cost: Cost,
    runs: Any | None,
) -> SearchResult:
    """The result of a search whose trials all ended: the best, the evidence."""
    if best is None:
        warning = rate_warning(tuner.oracle.trials.values(), every_trial_only=True)
        if warning is not None:
            raise DivergedSearchError(warning)
        raise RuntimeError(
            f"No trial of the search {plan.project_name!r} completed with a "
            "finite score; see each trial's message (`tuner.oracle.trials`)."
        )
    best_model = _best_model(tuner, best, role)
    summary = next(t for t in trials if t.trial_id == best.trial_id)
    direction = _direction(tuner)
    objective = objective_name(tuner)
    ranking = rank(tuner.oracle.trials, trials, plan.repeats, direction)
    control, beats_control_by, control_p_value = compare_with_control(
        ranking, direction
    )
    warning = rate_warning(
        tuner.oracle.trials.values(),
        _num_classes(best_model),
        None if plan.space.initial_lr is not None else _compiled_lr(best_model),
    )
    code = _best_code(summary, tuner, hypermodel, best_model)
    return SearchResult(
        winner=Winner(
            trial_id=best.trial_id,
            score=float(best.score),
            decay={"kind": summary.kind, **summary.settings},
            code=code,
            control_won=summary.kind == CONTROL_KIND,
            hyperparameters=best.hyperparameters,
            model=best_model,
        ),
        evidence=Evidence(
            objective=objective,
            direction=direction,
            ranking=ranking,
            control=control,
            beats_control_by=beats_control_by,
            control_p_value=control_p_value,
            verdict=verdict(ranking, objective, direction, plan.repeats),
            rate_warning=warning,
        ),
        cost=cost,
        trials=trials,
        parent_run_id=None if runs is None else runs.parent_run_id,
        experiment_id=None if runs is None else runs.experiment_id,
        tracking_uri=None if runs is None else runs.tracking_uri,
        tuner=tuner,
        seed=plan.seed,
        repeats=plan.repeats,
    )


def _direction(tuner: Any) -> str:
    direction = getattr(getattr(tuner.oracle, "objective", None), "direction", None)
    return "max" if direction == "max" else "min"


def _num_classes(model: Any) -> int | None:
    """The classes of a classifier: its output width (2 for one unit)."""
    try:
        width = int(model.outputs[0].shape[-1])
    except Exception:
        return None
    return 2 if width == 1 else width


def _compiled_lr(model: Any) -> float | None:
    if getattr(model, "optimizer", None) is None:
        return None
    return model_initial_lr(model)


def _best_model(tuner: Any, best: Any, role: distributed.Role) -> Any | None:
    """The model of `best` (`best_trial`'s: KerasTuner's own order may differ)."""
    try:
        return tuner.load_model(best)
    except Exception as error:
        if not role.is_chief:
            raise
        # The workers wrote the checkpoints: without a shared project
        # directory the chief has none. The search itself succeeded.
        warnings.warn(
            f"lrdecay: the chief cannot load the best trial's model ({error}); "
            "give the chief and the workers the same project directory.",
            stacklevel=3,
        )
        return None


def _best_code(
    summary: TrialSummary, tuner: Any, hypermodel: DecayHyperModel, best_model: Any
) -> str:
    """The best decay as the callback to paste, with the rate it started at.

    `""` when the constant-rate control won (no decay to paste) or the kind
    is unknown.
    """
    if summary.kind is None or summary.kind == CONTROL_KIND:
        return ""
    initial_lr = summary.settings.get("initial_lr")
    if initial_lr is None:
        initial_lr = hypermodel.trial_initial_lr(tuner, summary.trial_id)
    if initial_lr is None and getattr(best_model, "optimizer", None) is not None:
        # The rebuilt model is compiled with the rate the trial started at.
        initial_lr = model_initial_lr(best_model)
    return decay_code(summary.kind, summary.settings, initial_lr, summary.half_life)

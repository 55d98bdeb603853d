"""The KerasTuner tuners `search()` builds, one per algorithm.

Each is the stock tuner (the grid search with lrdecay's
`ParallelGridSearchOracle`) with a hook run after KerasTuner's own
`on_trial_end`, so that `search()` updates the trial's MLflow run and sends
its `progress` event once the oracle holds the trial's final status.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras_tuner

from lrdecay.tuning import oracles as parallel_grid
from lrdecay.tuning.plan import SearchPlan
from lrdecay.tuning.space import DecaySpace

ALGORITHMS: dict[str, type[Any]] = {
    # Stock order in one process; side by side under KerasTuner's chief.
    "grid": parallel_grid.GridSearch,
    "random": keras_tuner.RandomSearch,
    "hyperband": keras_tuner.Hyperband,
    "bayesian": keras_tuner.BayesianOptimization,
}


class _TrialEndHooks:
    """Mixed into a stock tuner by `search()`: trial-end bookkeeping.

    After KerasTuner's own `on_trial_end` (the oracle has the trial's final
    status and score), it updates the trial's MLflow run and sends the
    `progress` event.
    """

    lrdecay_on_trial_end: Callable[[Any, Any], None] | None = None

    def on_trial_end(self, trial: Any) -> None:
        try:
            super().on_trial_end(trial)  # type: ignore[misc]
        finally:
            hook = self.lrdecay_on_trial_end
            if hook is not None:
                hook(self, trial)


_TUNER_CLASSES: dict[str, type[Any]] = {}


def _tuner_class(algorithm: str) -> type[Any]:
    if algorithm not in _TUNER_CLASSES:
        base = ALGORITHMS[algorithm]
        _TUNER_CLASSES[algorithm] = type(base.__name__, (_TrialEndHooks, base), {})
    return _TUNER_CLASSES[algorithm]


def grid_size(space: DecaySpace) -> int | None:
    """The number of grid-search trials of `space`, or `None` for ranges."""
    total = 0
    for kind in space.kinds:
        settings = []
        if kind != "exponential" or space.k is None:
            settings.append(space.decay_epochs[kind].setting)
        if kind == "step":
            settings.append(space.drop)
        elif kind == "exponential" and space.k is not None:
            settings.append(space.k)
        elif kind == "plateau":
            settings.append(space.factor)
        if space.initial_lr is not None:
            settings.append(space.initial_lr)
        count = 1
        for setting in settings:
            if setting.range is not None:
                r = setting.range
                if not r.is_int and r.step is None:
                    return None
                step = r.step or 1
                count *= math.floor((r.high - r.low) / step + 1e-9) + 1
            else:
                count *= len(setting.values)
        total += count
    return total


def build_tuner(plan: SearchPlan, hypermodel: Any) -> Any:
    """The tuner of `plan.algorithm` over `hypermodel`, in `plan`'s project."""
    tuner_args: dict[str, Any] = {
        "objective": plan.objective,
        "seed": plan.seed,
        "directory": plan.project_dir,
        "project_name": plan.project_name,
        "overwrite": plan.overwrite,
        "executions_per_trial": plan.executions_per_trial,
    }
    if plan.algorithm == "hyperband":
        tuner_args["max_epochs"] = plan.epochs
    elif plan.max_trials is not None or plan.algorithm != "grid":
        tuner_args["max_trials"] = plan.max_trials or 10
    tuner_args.update(plan.tuner_kwargs)
    return _tuner_class(plan.algorithm)(hypermodel, **tuner_args)


def trial_total(plan: SearchPlan, tuner: Any) -> int | None:
    """How many trials the search will run, if known."""
    if plan.algorithm == "hyperband":
        return None
    if plan.algorithm != "grid":
        return int(tuner.oracle.max_trials)
    total = grid_size(plan.space)
    if total is not None and plan.max_trials is not None:
        total = min(total, plan.max_trials)
    return total

"""The KerasTuner tuners `search()` builds, one per algorithm.

Each is the stock tuner (the grid search with lrdecay's
`ParallelGridSearchOracle`) with five additions (`_SearchHooks`):

- a hook run after KerasTuner's own `on_trial_end`, so that `search()`
  updates the trial's MLflow run and sends its `progress` event once the
  oracle holds the trial's final status;
- every execution of every trial is seeded before its model is built:
  `keras.utils.set_random_seed(plan.execution_seed(seed, execution))`
  (Python, NumPy and the backend), the same seeds for every setting;
- KerasTuner's best-epoch checkpoint is kept in memory and written once
  per fit, not at every improving epoch
  (`keras_tuner_compat.keep_best_epoch_in_memory`);
- each execution's own objective value is kept in the trial's metrics as
  `lrdecay/execution_<i>` (`EXECUTION_METRIC`), beside KerasTuner's mean
  over the executions, so the ranking can show the spread of the repeats;
- a worker told `IDLE` (the chief has no trial for it yet) asks again after
  `IDLE_WAIT` seconds, not in KerasTuner's tight loop of gRPC calls;
- a Ctrl-C or SIGTERM whose exception was swallowed (in a garbage-collection
  callback, say) stops the search at the next trial, epoch or batch
  (`lrdecay.tuning.termination`).

The constant-rate control runs first: grid search lists it first (the
kind's default value); random, Bayesian and Hyperband search hand it out as
their first random point (`start_with_control`).
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import keras
import keras_tuner

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.tuning.evidence.verdict import execution_metric
from lrdecay.tuning.pipeline import hyperband, rerun
from lrdecay.tuning.pipeline import oracles as parallel_grid
from lrdecay.tuning.pipeline.plan import SearchPlan, execution_seed
from lrdecay.tuning.record import tuner_files
from lrdecay.tuning.searchspace.space import CONTROL_KIND, KIND_HP, DecaySpace
from lrdecay.tuning.termination import raise_if_stopped, signals_deferred

ALGORITHMS: dict[str, type[Any]] = {
    # Stock order in one process; side by side under KerasTuner's chief.
    "grid": parallel_grid.GridSearch,
    "random": keras_tuner.RandomSearch,
    # A budget floor, successive halving, no duplicate trials at a budget.
    "hyperband": hyperband.Hyperband,
    "bayesian": keras_tuner.BayesianOptimization,
}


# Seconds a worker told IDLE waits before asking the chief again.
IDLE_WAIT = 0.5


class _SearchHooks:
    """Mixed into a stock tuner by `search()` (see the module docstring)."""

    lrdecay_on_trial_end: Callable[[Any, Any], None] | None = None
    # The search's seed; `None`: executions are not seeded.
    lrdecay_seed: int | None = None
    _lrdecay_execution = 0
    _lrdecay_loading = False
    # Asked the oracle for a trial and got none to run (yet).
    _lrdecay_asked = False

    def __init__(self, *args: Any, lrdecay_seed: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lrdecay_seed = lrdecay_seed

    # Safe points where a swallowed Ctrl-C / SIGTERM stops the search
    # (`termination.raise_if_stopped`): a trial's start and end (before
    # KerasTuner ends it, so an interrupted trial re-runs), every epoch and
    # batch.
    def on_trial_begin(self, trial: Any) -> None:
        self._lrdecay_asked = False
        raise_if_stopped()
        super().on_trial_begin(trial)  # type: ignore[misc]

    def pre_create_trial(self) -> None:
        if self._lrdecay_asked:  # the last answer was IDLE
            time.sleep(IDLE_WAIT)
        raise_if_stopped()
        self._lrdecay_asked = True
        super().pre_create_trial()  # type: ignore[misc]

    def on_epoch_begin(self, *args: Any, **kwargs: Any) -> None:
        raise_if_stopped()
        super().on_epoch_begin(*args, **kwargs)  # type: ignore[misc]

    def on_batch_begin(self, *args: Any, **kwargs: Any) -> None:
        raise_if_stopped()
        super().on_batch_begin(*args, **kwargs)  # type: ignore[misc]

    def on_epoch_end(self, *args: Any, **kwargs: Any) -> None:
        raise_if_stopped()
        super().on_epoch_end(*args, **kwargs)  # type: ignore[misc]

    def on_trial_end(self, trial: Any) -> None:
        raise_if_stopped()
        # The trial ends in the oracle and in its runs together, or not at
        # all: a signal meanwhile stops the search right after.
        with signals_deferred():
            try:
                super().on_trial_end(trial)  # type: ignore[misc]
            finally:
                hook = self.lrdecay_on_trial_end
                if hook is not None:
                    hook(self, trial)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        self._lrdecay_execution = 0
        results = super().run_trial(trial, *args, **kwargs)  # type: ignore[misc]
        if not isinstance(results, list):
            return results
        objective = self.oracle.objective  # type: ignore[attr-defined]
        counts = getattr(self.hypermodel, "epoch_counts", {})  # type: ignore[attr-defined]
        metrics = []
        for index, result in enumerate(results):
            values = keras_tuner_compat.metrics_of_result(result, objective)
            values[execution_metric(index)] = objective.get_value(values)
            count = counts.pop((str(trial.trial_id), index), None)
            if count is not None:
                values[EPOCHS_TRAINED_METRIC.format(index)] = count[0]
                values[EPOCHS_BUDGET_METRIC.format(index)] = count[1]
            metrics.append(values)
        # KerasTuner averages each name over the executions holding it: the
        # objective over all of them, `lrdecay/execution_<i>` over one.
        return metrics

    def load_model(self, trial: Any) -> Any:
        # KerasTuner loads the best checkpoint into a freshly built model whose
        # optimizer is not built yet, so Keras skips the saved optimizer state
        # and warns ("Skipping variable loading for optimizer"). Build it
        # first (in `_try_build`, which `load_model` calls; keras-tuner 1.4.8).
        self._lrdecay_loading = True
        try:
            return super().load_model(trial)  # type: ignore[misc]
        finally:
            self._lrdecay_loading = False

    def _try_build(self, hp: Any) -> Any:
        model = super()._try_build(hp)  # type: ignore[misc]
        optimizer = getattr(model, "optimizer", None)
        loading = self._lrdecay_loading and model.built
        if loading and optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        return model

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        execution = self._lrdecay_execution
        self._lrdecay_execution += 1
        if self.lrdecay_seed is not None:
            seed = execution_seed(self.lrdecay_seed, execution)
            keras.utils.set_random_seed(seed)
            hypermodel = self.hypermodel  # type: ignore[attr-defined]
            if hasattr(hypermodel, "execution_seed"):
                hypermodel.execution_seed = seed
        callbacks = kwargs.get("callbacks") or ()
        # KerasTuner's checkpoint: in memory, written once per fit.
        keras_tuner_compat.keep_best_epoch_in_memory(callbacks)
        return super()._build_and_fit_model(  # type: ignore[misc]
            trial, *args, **kwargs
        )


# Each execution's epochs: those its fit trained (fewer than its budget when
# it continued a shared trunk) and its budget, as trial metrics.
EPOCHS_TRAINED_METRIC = "lrdecay/epochs_trained_{}"
EPOCHS_BUDGET_METRIC = "lrdecay/epochs_budget_{}"


def epoch_counts(trials: Any) -> tuple[int, int]:
    """(epochs trained, epochs of independent runs) over `trials`' executions.

    Summed from the `EPOCHS_TRAINED_METRIC` / `EPOCHS_BUDGET_METRIC` metrics
    of each trial (whichever process or resume ran it); executions that did
    not finish their fit have none and count for nothing.
    """
    trained = independent = 0
    for trial in trials:
        index = 0
        while trial.metrics.exists(EPOCHS_BUDGET_METRIC.format(index)):
            budget = trial.metrics.get_last_value(EPOCHS_BUDGET_METRIC.format(index))
            fitted = trial.metrics.get_last_value(EPOCHS_TRAINED_METRIC.format(index))
            independent += round(budget or 0)
            trained += round(fitted or 0)
            index += 1
    return trained, independent


_TUNER_CLASSES: dict[str, type[Any]] = {}


def _tuner_class(algorithm: str) -> type[Any]:
    if algorithm not in _TUNER_CLASSES:
        base = ALGORITHMS[algorithm]
        _TUNER_CLASSES[algorithm] = type(base.__name__, (_SearchHooks, base), {})
    return _TUNER_CLASSES[algorithm]


def grid_size(space: DecaySpace) -> int | None:
    """The number of grid-search trials of `space`, or `None` for ranges."""
    total = 0
    if space.control:
        rates = 1 if space.initial_lr is None else _count(space.initial_lr)
        if rates is None:
            return None
        total += rates
    for kind in space.kinds:
        settings = list(space.kind_settings(kind).values())
        if space.initial_lr is not None:
            settings.append(space.initial_lr)
        count: int | None = 1
        for setting in settings:
            number = _count(setting)
            if number is None or count is None:
                return None
            count *= number
        if count is None:
            return None
        total += count
    return total


def _count(setting: Any) -> int | None:
    """The number of grid values of a setting, `None` for a continuous range."""
    if setting.range is not None:
        r = setting.range
        if not r.is_int and r.step is None:
            return None
        step = r.step or 1
        return int(math.floor((r.high - r.low) / step + 1e-9) + 1)
    return len(setting.values)


def build_tuner(plan: SearchPlan, hypermodel: Any, verbose: int = 0) -> Any:
    """The tuner of `plan.algorithm` over `hypermodel`, in `plan`'s project.

    KerasTuner prints "Reloading Tuner from ..." when it resumes a project:
    only with `verbose`. Its state files are checked first
    (`lrdecay.tuning.record.tuner_files`); FAILED trials that did not
    diverge are queued to run again (`lrdecay.tuning.pipeline.rerun`).

    Raises:
        ValueError: A KerasTuner state file of the project is damaged.
    """
    if not plan.overwrite:
        tuner_files.check(plan.project_path)
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
        tuner_args.update(hyperband.default_options(plan.space, plan.epochs))
    elif plan.max_trials is not None or plan.algorithm != "grid":
        tuner_args["max_trials"] = plan.max_trials or 10
    if plan.algorithm == "grid" and plan.shares_prefix and plan.space.control:
        # Side by side (`jobs`, workers): the control's trunk, then its branches.
        tuner_args["trunk_trial"] = _is_control
    tuner_args.update(plan.tuner_kwargs)
    quiet = contextlib.redirect_stdout(io.StringIO()) if not verbose else None
    with quiet or contextlib.nullcontext():
        tuner = _tuner_class(plan.algorithm)(
            hypermodel, lrdecay_seed=plan.seed, **tuner_args
        )
    if plan.space.control and plan.algorithm != "grid":
        start_with_control(tuner.oracle, plan.space)
    rerun.queue_failed(tuner.oracle)
    return tuner


def _is_control(values: Mapping[str, Any]) -> bool:
    return values.get(KIND_HP) == CONTROL_KIND


def start_with_control(oracle: Any, space: DecaySpace) -> None:
    """Make a random, Bayesian or Hyperband oracle's first trial the control.

    Sampling alone would only *maybe* pick `decay_kind="constant"`. The
    oracle instead hands out the control's values (`space.control_values`)
    as its first random point, for as long as none of its trials holds
    them. The rule reads the oracle's own trials, so it survives a resume
    (a reloaded control trial is not run again; one interrupted re-runs
    from KerasTuner's retry queue) and distributed mode (only the chief's
    oracle creates trials, so the control runs once, on whichever worker
    asks first). A worker's oracle is a gRPC client: nothing to do there.
    In Hyperband the control is the first trial of the first bracket, and
    goes on to the next round only if it ranks among the bracket's best.
    """
    if not isinstance(oracle, keras_tuner.Oracle):
        return
    keras_tuner_compat.start_with(
        oracle,
        space.control_values,
        _is_control,
    )


def trial_total(plan: SearchPlan, tuner: Any) -> int | None:
    """How many trials the search will run, if known."""
    if plan.algorithm == "hyperband":
        # lrdecay's oracle knows its plan; a worker's (over gRPC) does not.
        planned = getattr(tuner.oracle, "planned_trials", None)
        return planned() if planned is not None else None
    if plan.algorithm != "grid":
        return int(tuner.oracle.max_trials)
    total = grid_size(plan.space)
    if total is not None and plan.max_trials is not None:
        total = min(total, plan.max_trials)
    return total

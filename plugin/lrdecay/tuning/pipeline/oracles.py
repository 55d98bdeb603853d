"""A KerasTuner grid search whose workers run grid points side by side.

KerasTuner's `GridSearchOracle` derives each new grid point from a trial that
has *ended* (only the very first trial is queued at creation "for multiple
workers"). Under its distributed mode, after the first two trials every worker
but one therefore gets `IDLE` and re-asks the chief in a tight loop until the
running trial ends: N workers run a grid one trial at a time.

`ParallelGridSearchOracle` queues every trial when it is created, so the next
grid point is ready for the next worker at once, and tells a worker the grid is
done (`STOPPED`) instead of `IDLE` once every point has been handed out. Both
rely on the search space being known before the first trial, which is true of
an lrdecay `DecayHyperModel` (it declares its space up front) and of any
hypermodel whose hyperparameters `Tuner.__init__` discovers by building it.
In a single process the order of the trials is exactly the stock order.

Trunks first (`trunk_trial`, which a grid that shares prefixes sets to "is
the constant-rate control", listed first): while a trunk trial runs and its
writer has not started yet, other workers are told `IDLE` (and ask again a
moment later, `tuners._SearchHooks`). Once the trunk's writer holds its lock
(`lrdecay.tuning.prefixes.trunk_lock`, from its first epoch on), the other
trials start beside it: one that branches from the trunk waits for the
epochs it needs, one that departs at once (exponential, cosine) trains.
Without that lock (another host's file system), they wait for the trunk
trial to end.

It also resumes: the stock oracle (keras-tuner 1.4.8) saves neither its ordered
list of trials nor its queue of trials to derive the next grid point from, so a
reloaded grid search either stops early or fails with a `KeyError` in
`LinkedList.next`. `set_state` rebuilds both from the reloaded trials.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.tuning.prefixes import trunk_lock
from lrdecay.tuning.prefixes.trunks import TRUNKS_DIR

__all__ = ["GridSearch", "ParallelGridSearchOracle"]


class ParallelGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """`GridSearchOracle` that never makes a worker wait for another's trial.

    Args: as `keras_tuner.oracles.GridSearchOracle`, and
        trunk_trial: Callable or `None`. Given a trial's values, whether it
            trains a trunk others branch from: while one runs and its writer
            has not started, no other trial starts.
    """

    def __init__(
        self,
        *args: Any,
        trunk_trial: Callable[[Mapping[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.trunk_trial = trunk_trial

    def create_trial(self, tuner_id: str) -> Any:
        if self._waits_for_trunk(tuner_id):
            self.tuner_ids.add(tuner_id)
            return keras_tuner.engine.trial.Trial(
                self.hyperparameters.copy(), status=TrialStatus.IDLE
            )
        return super().create_trial(tuner_id)

    def _waits_for_trunk(self, tuner_id: str) -> bool:
        if self.trunk_trial is None or tuner_id in self.ongoing_trials:
            return False
        if keras_tuner_compat.retry_queue(self):
            return False  # a retried trial may be the trunk itself
        if not any(
            self.trunk_trial(dict(trial.hyperparameters.values))
            for trial in list(self.ongoing_trials.values())
        ):
            return False
        trunks_dir = os.path.join(keras_tuner_compat.project_dir(self), TRUNKS_DIR)
        return not trunk_lock.any_being_written(trunks_dir)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        response: dict[str, Any] = super().populate_space(trial_id)
        status = response["status"]
        if status == TrialStatus.RUNNING:
            # The stock oracle queues a trial for its successor only when it
            # ends; queue it now so a second worker need not wait for it.
            pending = keras_tuner_compat.grid_pending(self)
            if trial_id not in pending:
                pending.append(trial_id)
        elif status == TrialStatus.IDLE:
            # Every grid point is handed out and the space is fixed: nothing
            # can come of waiting, and a worker told IDLE re-asks in a loop.
            response = {"status": TrialStatus.STOPPED, "values": None}
        return response

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        # `Oracle.reload` loads the trials before the state, so both follow
        # from them: the list is the trials in the oracle's own order, and
        # every ended trial may still lead to an untried point (the oracle
        # skips those already tried).
        if not self.trials or not keras_tuner_compat.grid_order_is_empty(self):
            return

        def compare(first: str, second: str) -> int:
            return keras_tuner_compat.grid_compare(
                self,
                self.trials[first].hyperparameters.values,
                self.trials[second].hyperparameters.values,
            )

        for trial_id in sorted(self.trials, key=functools.cmp_to_key(compare)):
            keras_tuner_compat.grid_order_append(self, trial_id)
        keras_tuner_compat.set_grid_pending(
            self, [trial_id for trial_id in self.end_order if trial_id in self.trials]
        )


class GridSearch(keras_tuner.GridSearch):
    """`keras_tuner.GridSearch` with a `ParallelGridSearchOracle`.

    Args: as `keras_tuner.GridSearch`, and `trunk_trial` (as
        `ParallelGridSearchOracle`).
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int | None = None,
        seed: int | None = None,
        hyperparameters: Any = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        trunk_trial: Callable[[Mapping[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        self.seed = seed
        oracle = ParallelGridSearchOracle(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            trunk_trial=trunk_trial,
        )
        # Skip keras_tuner.GridSearch.__init__, which builds the stock oracle.
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

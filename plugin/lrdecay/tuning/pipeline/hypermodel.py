"""`DecayHyperModel`: a KerasTuner hypermodel that searches the learning-rate decay.

It wraps the user's model-building function and adds the decay chosen for
each trial to `fit`, so any stock KerasTuner tuner searches it (`GridSearch`,
`RandomSearch`, `Hyperband`, `BayesianOptimization`).

How a trial is found without subclassing the tuner: `keras_tuner.Tuner.run_trial`
appends a `TunerCallback(tuner, trial)` to the callbacks it passes to
`HyperModel.fit`, once per execution (found through `lrdecay._compat`). `fit`
reads the trial (its id, Hyperband's bracket and round) and the tuner (its
project) from that callback. Without one (a custom tuner, or `fit` called by
hand) the trial id is unknown and the run is still tracked, without a trial
tag.

A seeded execution (`search()` seeds each one) on array data (or on the
data `search()` read once, `lrdecay.tuning.data.inputs.SearchInputs`) reads them
through `lrdecay.tuning.data.epoch_order.EpochOrderedData` (the order of each
epoch a function of the seed and the epoch) or a recorded stream; with
`share_prefix` set (by `search()`) it continues the stored constant-rate
trunk of its setting (`lrdecay.tuning.prefixes.branch`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import keras_tuner
import numpy as np

from lrdecay import callbacks as decay_callbacks
from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.errors import NonFiniteLossError as NonFiniteLossError
from lrdecay.schedules import KIND_TABLE, ConstantSchedule
from lrdecay.tuning.data import user_callbacks
from lrdecay.tuning.data.inputs import OrderedData, RecordedData
from lrdecay.tuning.data.inputs import unpack as unpack_inputs
from lrdecay.tuning.evidence.result import TrialSummary, best_trial, summarize
from lrdecay.tuning.pipeline import arguments, decay_state
from lrdecay.tuning.pipeline.finite_guard import _FiniteGuard
from lrdecay.tuning.pipeline.model_reuse import ModelReuse
from lrdecay.tuning.pipeline.trial_context import TrialContext
from lrdecay.tuning.prefixes import trunks
from lrdecay.tuning.prefixes.branch import (
    Branch,
    decay_hyperparameter_names,
    start_branch,
)
from lrdecay.tuning.record import runs as layout
from lrdecay.tuning.searchspace.space import (
    CONTROL_KIND,
    DecaySpace,
    ResolvedDecay,
)


def _takes_hp(build_model: Callable[..., Any]) -> bool:
    """Whether `build_model` takes an argument (the hyperparameters)."""
    try:
        signature = inspect.signature(build_model)
    except (TypeError, ValueError):
        return True
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL,):
            return True
        if parameter.kind in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            return True
    return False


def _as_given(rate: float) -> float:
    """The shortest float that is the same float32 as `rate`.

    An optimizer holds its rate as float32: `0.1` reads back as
    `0.10000000149011612`. The decay and its MLflow params should say `0.1`,
    as the user wrote it; both are the same float32, so training is unchanged.
    """
    return float(str(np.float32(rate)))


def model_initial_lr(model: Any) -> float:
    """The rate `model`'s optimizer holds now, as the user wrote it (`0.1`)."""
    return _as_given(decay_callbacks.current_learning_rate(model.optimizer))


class DecayHyperModel(keras_tuner.HyperModel):
    """A `keras_tuner.HyperModel` that searches the learning-rate decay.

    `build(hp)` declares the decay hyperparameters and calls the user's
    `build_model(hp)` (or `build_model()` if it takes no argument), which
    must return a compiled model whose optimizer has a float learning rate.
    `fit(hp, model, ...)` adds the decay chosen for the trial, a guard that
    fails the trial when its loss goes NaN or inf (`FailedTrialError`:
    FAILED in KerasTuner, never "best"), and, when tracking, an
    `lrdecay.MlflowLogger` writing one child run per trial execution.

    Example:

    ```python
    hypermodel = DecayHyperModel(build_model, decay_epochs=[5, 10, 20, 30])
    tuner = keras_tuner.GridSearch(hypermodel, objective="val_loss")
    tuner.search(x, y, epochs=50, validation_data=(x_val, y_val))
    ```

    Args:
        build_model: Callable. `build_model(hp)` or `build_model()`,
            returning a compiled Keras model.
        space: `lrdecay.tuning.searchspace.space.DecaySpace` or `None`. The
            decay space; when
            `None`, one is built from the keyword arguments below.
        kinds, decay_epochs, drop, k, factor, initial_lr, monitor,
            relative_to, control: The `DecaySpace` arguments, with its
            defaults (giving one of the first eight with `space` is a
            `ValueError`; `control` is ignored with `space`). With `control=True` the
            constant-rate control is one more `decay_kind` value; a grid
            search runs it first, and for a stock random, Bayesian or
            Hyperband tuner `lrdecay.tuning.pipeline.tuners.start_with_control(
            tuner.oracle, hypermodel.space)` makes it their first trial.
        max_epochs: Int or `None`. The search's epoch budget, to check the
            decay epochs against before any training. Defaults to the
            tuner's `max_epochs` (Hyperband) or the fit's `epochs`.
        tracking: Bool, string or dict; the same values as `search()`'s.
            `False`: no MLflow. `True`: track with `MLFLOW_TRACKING_URI` /
            `MLFLOW_EXPERIMENT_NAME`, else MLflow's defaults. A string: the
            MLflow tracking URI. A dict may hold `tracking_uri`,
            `experiment_name`, `parent_run_id` and the `MlflowLogger` options
            `log_plots`, `log_every_n_steps`, `flush_interval`,
            `request_timeout`, `give_up_after`, `offline_dir`. Without a
            `parent_run_id`, the search's parent run is found by the tag
            `lrdecay.search=<project_name>` (or created). Defaults to
            `True`.
        name: String or `None`. KerasTuner's hypermodel name.
        tunable: Bool. KerasTuner's `tunable`. Defaults to `True`.
        share_prefix: Bool. Continue the constant-rate trunks stored in the
            project (`lrdecay.tuning.prefixes.branch`), as `search(share_prefix=True)`
            does; needs its seeded tuner. Defaults to `False`.

    Raises:
        TypeError: For an argument of the wrong type.
        ValueError: For a bad space or `tracking` (the message names the
            value), or `space` given with one of its own arguments.
    """

    def __init__(
        self,
        build_model: Callable[..., Any],
        space: DecaySpace | None = None,
        *,
        kinds: Sequence[str] | None = None,
        decay_epochs: Any = None,
        drop: Any = None,
        k: Any = None,
        factor: Any = None,
        initial_lr: Any = None,
        monitor: str | None = None,
        relative_to: str | None = None,
        control: bool = False,
        max_epochs: int | None = None,
        tracking: bool | str | Mapping[str, Any] = True,
        name: str | None = None,
        tunable: bool = True,
        share_prefix: bool = False,
    ) -> None:
        if not callable(build_model):
            raise TypeError(
                "Argument `build_model` must be a callable returning a compiled "
                f"Keras model. Received: build_model={build_model!r}"
            )
        space_arguments = {
            "kinds": kinds,
            "decay_epochs": decay_epochs,
            "drop": drop,
            "k": k,
            "factor": factor,
            "initial_lr": initial_lr,
            "monitor": monitor,
            "relative_to": relative_to,
        }
        arguments.space_alone(space, space_arguments)
        if space is None:
            given = {n: v for n, v in space_arguments.items() if v is not None}
            space = DecaySpace(**given, control=control)
        elif not isinstance(space, DecaySpace):
            raise TypeError(
                "Argument `space` must be an "
                "lrdecay.tuning.searchspace.space.DecaySpace. "
                f"Received: space={space!r}"
            )
        if max_epochs is not None:
            space.check_budget(max_epochs)
        tracking_options = layout.tracking_options(tracking)
        super().__init__(name=name, tunable=tunable)
        self.build_model = build_model
        self.space = space
        self.max_epochs = max_epochs
        self.tracking: dict[str, Any] | None = tracking_options
        self._build_takes_hp = _takes_hp(build_model)
        # trial id -> (identity of the trial object, executions started)
        self._executions: dict[str, tuple[int, int]] = {}
        # Set by `search()`; else found or created on first tracked fit.
        self._search_runs: Any | None = None
        self.last_decay: Any | None = None
        self._last_epochs: int | None = None
        # The seed of the execution about to be fitted, set by the tuner that
        # seeded it (`search()`'s); recorded as the run's `seed` param.
        self.execution_seed: int | None = None
        # Continue stored trunks (`lrdecay.tuning.prefixes.branch`): `search()`'s.
        self.share_prefix = bool(share_prefix)
        self._decay_names: set[str] | None = None
        # (trial id, execution) -> (epochs it fitted, epochs of its budget)
        self.epoch_counts: dict[tuple[str, int], tuple[int, int]] = {}
        # A trial trains the compiled model of an earlier one that built the
        # same (no second trace of its steps): `pipeline.model_reuse`.
        self._models = ModelReuse()

    # -- KerasTuner's HyperModel interface ---------------------------------

    def declare_hyperparameters(self, hp: Any) -> None:
        self.space.declare(hp)

    def build(self, hp: Any) -> Any:
        self.space.declare(hp)
        model = self.build_model(hp) if self._build_takes_hp else self.build_model()
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"`build_model` must return a Keras model. Received: {model!r}"
            )
        return model

    def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        callbacks = list(kwargs.pop("callbacks", None) or [])
        context = self._trial_context(hp, callbacks)
        callbacks = user_callbacks.for_trial(callbacks, context.trial_id)
        epochs = int(kwargs.get("epochs", 1))
        self._last_epochs = epochs
        self._check_budget(context, epochs)
        if getattr(model, "optimizer", None) is None:
            raise keras_tuner.errors.FatalTypeError(
                "`build_model` must return a compiled model: the decay needs "
                "its optimizer. Call `model.compile(optimizer=...)` in it."
            )
        model = self._models.take(model, self._own_hyperparameters(context))
        decay, resolved = self._make_decay(context, model, epochs)
        self.last_decay = decay
        args, kwargs, data = unpack_inputs(args, kwargs, context.seed)
        first_epoch = int(kwargs.get("initial_epoch") or 0)
        branch = None
        if data is not None and first_epoch == 0:
            branch = self._branch(
                context, model, decay, resolved, epochs, data, callbacks
            )
        run = (
            self._start_run(context, resolved, epochs, branch)
            if self.tracking is not None
            else None
        )
        fit_callbacks = list(callbacks)
        if branch is not None and branch.writer is not None:
            # Before the decay: a plateau's reduction is not in the trunk.
            fit_callbacks.append(branch.writer)
        fit_callbacks.append(decay)
        if branch is not None and branch.resume is not None:
            fit_callbacks.append(branch.resume)
        if run is not None:
            if branch is not None:
                run.logger.log_prefix(branch.prefix)
            fit_callbacks.append(run.logger)
        # Last, so the logger has recorded the diverged epoch before it fails.
        fit_callbacks.append(_FiniteGuard())
        if data is not None:
            start = first_epoch if branch is None else branch.start
            args, kwargs = (), data.fit_arguments(kwargs, start)
        try:
            history = model.fit(*args, callbacks=fit_callbacks, **kwargs)
        except KeyboardInterrupt as error:
            if run is not None:
                from lrdecay.tracking import store  # loaded: a run is open

                store.release_stopped_calls(error)  # a Ctrl-C inside a store call
                reason = f"{type(error).__name__}: {error}" if str(error) else ""
                run.end(
                    "KILLED",
                    f"interrupted ({reason or type(error).__name__})",
                    trial_status="KILLED",
                )
            raise
        except keras_tuner.errors.FailedTrialError as error:
            if run is not None:
                run.end("FAILED", error, trial_status="FAILED")
            raise
        except Exception as error:
            if run is not None:
                # KerasTuner makes any other error INVALID (retried, then FAILED).
                run.end("FAILED", error, trial_status="INVALID")
            raise
        finally:
            if branch is not None and branch.writer is not None:
                branch.writer.lock.release()  # others stop waiting for it
        if run is not None:
            run.end("FINISHED", None, trial_status="COMPLETED")
        decay_state.save_decay_state(context, model, decay, resolved)
        if context.trial_id is not None:
            self.epoch_counts[(context.trial_id, context.execution)] = (
                len(history.epoch),
                epochs - first_epoch,
            )
        return history if branch is None else branch.full_history(history)

    # -- helpers ---------------------------------------------------------------

    def _branch(
        self,
        context: TrialContext,
        model: Any,
        decay: Any,
        resolved: ResolvedDecay,
        epochs: int,
        data: OrderedData | RecordedData,
        callbacks: Sequence[Any],
    ) -> Branch | None:
        """Where this fit starts on its stored trunk (`tuning.prefixes.branch`)."""
        project_dir = getattr(context.tuner, "project_dir", None)
        if not self.share_prefix or project_dir is None or context.seed is None:
            return None
        trunk_lr = float(resolved.initial_lr or model_initial_lr(model))
        key = trunks.trunk_key(
            seed=context.seed,
            trunk_lr=trunk_lr,
            hyperparameters=self._own_hyperparameters(context),
            batch_size=data.batch_size,
            model=model,
            data_shapes=data.shapes(),
        )
        return start_branch(
            model=model,
            decay=decay,
            trunk_lr=trunk_lr,
            epochs=epochs,
            directory=os.path.join(str(project_dir), trunks.TRUNKS_DIR, key),
            trial_id=context.trial_id,
            checkpoint=keras_tuner_compat.find_best_epoch_checkpoint(callbacks),
        )

    def _own_hyperparameters(self, context: TrialContext) -> dict[str, Any]:
        """The values of `build_model`'s own hyperparameters (not the decay's)."""
        if self._decay_names is None:
            self._decay_names = decay_hyperparameter_names(self.space.declare)
        return {
            name: value
            for name, value in context.hyperparameters.items()
            if name not in self._decay_names and not name.startswith("tuner/")
        }

    def _trial_context(self, hp: Any, callbacks: Sequence[Any]) -> TrialContext:
        tuner_callback = keras_tuner_compat.find_tuner_callback(callbacks)
        # Over gRPC (distributed workers) the values of inactive conditional
        # hyperparameters come along too; a trial's params are its active ones.
        values = {
            name: value for name, value in hp.values.items() if hp.is_active(name)
        }
        if tuner_callback is None:
            return TrialContext(None, 0, None, values, self.execution_seed)
        trial = tuner_callback.trial
        trial_id = str(trial.trial_id)
        identity, count = self._executions.get(trial_id, (id(trial), 0))
        if identity != id(trial):
            # A new run of the same trial (a retry, or a resumed search).
            count = 0
        self._executions[trial_id] = (id(trial), count + 1)
        return TrialContext(
            trial_id, count, tuner_callback.tuner, values, self.execution_seed
        )

    def _search_budget(self, context: TrialContext, epochs: int) -> int:
        if self.max_epochs is not None:
            return self.max_epochs
        oracle_epochs = getattr(
            getattr(context.tuner, "oracle", None), "max_epochs", None
        )
        return int(oracle_epochs) if oracle_epochs else epochs

    def _check_budget(self, context: TrialContext, epochs: int) -> None:
        try:
            self.space.check_budget(self._search_budget(context, epochs))
        except ValueError as error:
            # Fatal: every trial would fail the same way; stop the search.
            raise keras_tuner.errors.FatalValueError(str(error)) from error

    def _make_decay(
        self, context: TrialContext, model: Any, epochs: int
    ) -> tuple[Any, ResolvedDecay]:
        budget = (
            epochs
            if self.space.relative_to == "trial"
            else self._search_budget(context, epochs)
        )
        resolved = self.space.resolve(context.hyperparameters, budget)
        optimizer = model.optimizer
        initial_lr = resolved.initial_lr
        if initial_lr is None:
            initial_lr = _as_given(decay_callbacks.current_learning_rate(optimizer))
            resolved = dataclasses.replace(resolved, initial_lr=initial_lr)
        if resolved.kind == CONTROL_KIND:
            control = decay_callbacks.ScheduledDecay(ConstantSchedule(initial_lr))
            return control, resolved
        decay_class: Any = decay_callbacks.DECAYS[resolved.kind]
        if KIND_TABLE[resolved.kind].plateau:
            start_lr = decay_state.continued_lr(context) or initial_lr
            optimizer.learning_rate = start_lr
            return decay_class(**resolved.settings), resolved
        return decay_class(initial_lr=initial_lr, **resolved.settings), resolved

    def _start_run(
        self,
        context: TrialContext,
        resolved: ResolvedDecay,
        epochs: int,
        branch: Branch | None = None,
    ) -> Any:
        from lrdecay.tuning.record import tracker

        if self._search_runs is None:
            self._search_runs = tracker.SearchRuns.for_hypermodel(
                self.tracking or {}, context.tuner
            )
        tags = {}
        if branch is not None and branch.start > 0:
            tags = {
                layout.BRANCH_OF_TAG: str(branch.branch_of),
                layout.DEPARTURE_TAG: str(branch.start),
            }
        return self._search_runs.trial_run(context, resolved, epochs, tags)

    def end_search(self, tuner: Any) -> list[TrialSummary]:
        """Summarize a search run by a stock tuner, and end its MLflow run.

        `search()` does this itself. After `tuner.search(...)` with a
        tracked `DecayHyperModel`, call it to tag each trial's run with its
        final KerasTuner status, tag the best trial, log the comparison
        plots and end the parent run FINISHED.

        Returns:
            The `TrialSummary` of every trial, in trial-id order.
        """
        epochs = self.max_epochs or self._last_epochs or 1
        trials = [
            summarize(trial, self.space, epochs)
            for _, trial in sorted(tuner.oracle.trials.items())
        ]
        runs = self._search_runs
        if runs is None:
            return trials
        for trial in tuner.oracle.trials.values():
            runs.trial_ended(trial)
        return list(runs.search_ended(tuner, trials, best_trial(tuner.oracle)))

    def attach_search_runs(self, search_runs: Any) -> None:
        """Log the trials' runs under `search_runs` (set by `search()`).

        Turns tracking on: the runs hold the options (`tracking` becomes `{}`).
        """
        self.tracking = {}
        self._search_runs = search_runs

    def trial_initial_lr(self, tuner: Any, trial_id: str) -> float | None:
        """The rate of epoch 0 a finished trial used, from its decay state."""
        path = decay_state.decay_state_path(tuner, trial_id)
        try:
            with open(path) as file:  # type: ignore[arg-type]
                value = json.load(file)["initial_lr"]
        except (OSError, TypeError, KeyError, ValueError):
            return None
        return None if value is None else float(value)

"""KerasTuner search of the decay kind and its epochs, one MLflow run per trial.

`DecayHyperModel` wraps the user's model-building function and adds the decay
chosen for each trial to `fit`, so any stock KerasTuner tuner searches it
(`GridSearch`, `RandomSearch`, `Hyperband`, `BayesianOptimization`).
`search()` is the short path: it builds the tuner, runs it, keeps the MLflow
parent run of the search up to date, and returns a `SearchResult`.

How a trial is found without subclassing the tuner: `keras_tuner.Tuner.run_trial`
appends a `keras_tuner.engine.tuner_utils.TunerCallback(tuner, trial)` to the
callbacks it passes to `HyperModel.fit`, once per execution. `fit` reads the
trial (its id, Hyperband's bracket and round) and the tuner (its project)
from that callback. Without one (a custom tuner, or `fit` called by hand) the
trial id is unknown and the run is still tracked, without a trial tag.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import inspect
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import keras_tuner
from keras_tuner.src.engine import tuner_utils

from lrdecay import callbacks as decay_callbacks
from lrdecay.tuning import distributed
from lrdecay.tuning import oracles as parallel_grid
from lrdecay.tuning.space import SEARCHABLE_KINDS, DecaySpace, ResolvedDecay

ALGORITHMS: dict[str, type[Any]] = {
    # Stock order in one process; side by side under KerasTuner's chief.
    "grid": parallel_grid.GridSearch,
    "random": keras_tuner.RandomSearch,
    "hyperband": keras_tuner.Hyperband,
    "bayesian": keras_tuner.BayesianOptimization,
}

# A trial's decay, written next to its checkpoint, so that a Hyperband trial
# continuing it can start a plateau decay from the rate it had reached.
_DECAY_STATE_FILE = "lrdecay_decay.json"


class NonFiniteLossError(keras_tuner.errors.FailedTrialError):
    """A trial's loss or metric became NaN or infinite: the trial FAILED."""


class _FiniteGuard(keras.callbacks.Callback):
    """Stop a fit whose epoch logs hold NaN or inf, by raising.

    KerasTuner marks a trial FAILED (not retried, never "best") only on
    `FailedTrialError`; Keras' `TerminateOnNaN` would end the fit normally
    and the trial would count as COMPLETED.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                raise NonFiniteLossError(
                    f"`{key}` became {number} at epoch {epoch}: the trial "
                    "diverged (try a lower initial learning rate)."
                )


@dataclasses.dataclass(frozen=True)
class TrialContext:
    """What `DecayHyperModel.fit` knows about the trial it trains."""

    trial_id: str | None
    execution: int
    tuner: Any | None
    hyperparameters: dict[str, Any]

    @property
    def continued_from(self) -> str | None:
        value = self.hyperparameters.get("tuner/trial_id")
        return None if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    """One trial of a search, as `SearchResult.trials` lists it."""

    trial_id: str
    status: str
    kind: str | None
    settings: dict[str, Any]
    score: float | None
    run_id: str | None


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
        trials: List of `TrialSummary`, in trial-id order.
        parent_run_id: String or `None`. The search's MLflow run.
        experiment_id: String or `None`.
        tracking_uri: String or `None`.
        tuner: The KerasTuner tuner (to reload or continue the search).
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


def _find_tuner_callback(callbacks: Sequence[Any]) -> Any | None:
    for callback in callbacks:
        if isinstance(callback, tuner_utils.TunerCallback):
            return callback
    return None


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
    hypermodel = DecayHyperModel(build_model, decay_epochs=[10, 20, 30, 50])
    tuner = keras_tuner.GridSearch(hypermodel, objective="val_loss")
    tuner.search(x, y, epochs=50, validation_data=(x_val, y_val))
    ```

    Args:
        build_model: Callable. `build_model(hp)` or `build_model()`,
            returning a compiled Keras model.
        space: `lrdecay.tuning.space.DecaySpace` or `None`. The decay space; when
            `None`, one is built from the keyword arguments below.
        kinds, decay_epochs, drop, k, factor, initial_lr, monitor,
            relative_to: The `DecaySpace` arguments (ignored when `space`
            is given).
        max_epochs: Int or `None`. The search's epoch budget, to check the
            decay epochs against before any training. Defaults to the
            tuner's `max_epochs` (Hyperband) or the fit's `epochs`.
        tracking: Bool or dict. `False`: no MLflow. `True`: track with
            `MLFLOW_TRACKING_URI` / `MLFLOW_EXPERIMENT_NAME` or MLflow's
            defaults. A dict may hold `tracking_uri`, `experiment_name`,
            `parent_run_id`; other keys go to `MlflowLogger`. Without a
            `parent_run_id`, the search's parent run is found by the tag
            `lrdecay.search=<project_name>` (or created). Defaults to
            `True`.
        name: String or `None`. KerasTuner's hypermodel name.
        tunable: Bool. KerasTuner's `tunable`. Defaults to `True`.

    Raises:
        ValueError: For a bad space (the message names the value).
    """

    def __init__(
        self,
        build_model: Callable[..., Any],
        space: DecaySpace | None = None,
        *,
        kinds: Sequence[str] = SEARCHABLE_KINDS,
        decay_epochs: Any = (10, 20, 30, 50),
        drop: Any = 0.5,
        k: Any = None,
        factor: Any = 0.5,
        initial_lr: Any = None,
        monitor: str = "val_loss",
        relative_to: str = "trial",
        max_epochs: int | None = None,
        tracking: bool | Mapping[str, Any] = True,
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        if not callable(build_model):
            raise TypeError(
                "Argument `build_model` must be a callable returning a compiled "
                f"Keras model. Received: build_model={build_model!r}"
            )
        if space is None:
            space = DecaySpace(
                kinds,
                decay_epochs,
                drop=drop,
                k=k,
                factor=factor,
                initial_lr=initial_lr,
                monitor=monitor,
                relative_to=relative_to,
            )
        elif not isinstance(space, DecaySpace):
            raise TypeError(
                "Argument `space` must be an lrdecay.tuning.space.DecaySpace. "
                f"Received: space={space!r}"
            )
        if max_epochs is not None:
            space.check_budget(max_epochs)
        if not isinstance(tracking, (bool, Mapping)):
            raise TypeError(
                "Argument `tracking` must be a bool or a dict of MlflowLogger "
                f"options. Received: tracking={tracking!r}"
            )
        super().__init__(name=name, tunable=tunable)
        self.build_model = build_model
        self.space = space
        self.max_epochs = max_epochs
        self.tracking: dict[str, Any] | None = None
        if isinstance(tracking, Mapping):
            self.tracking = dict(tracking)
        elif tracking:
            self.tracking = {}
        self._build_takes_hp = _takes_hp(build_model)
        # trial id -> (identity of the trial object, executions started)
        self._executions: dict[str, tuple[int, int]] = {}
        # Set by `search()`; else found or created on first tracked fit.
        self._search_runs: Any | None = None
        self.last_decay: Any | None = None
        self._last_epochs: int | None = None

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
        epochs = int(kwargs.get("epochs", 1))
        self._last_epochs = epochs
        self._check_budget(context, epochs)
        if getattr(model, "optimizer", None) is None:
            raise keras_tuner.errors.FatalTypeError(
                "`build_model` must return a compiled model: the decay needs "
                "its optimizer. Call `model.compile(optimizer=...)` in it."
            )
        decay, resolved = self._make_decay(context, model, epochs)
        self.last_decay = decay
        run = (
            self._start_run(context, resolved, epochs)
            if self.tracking is not None
            else None
        )
        fit_callbacks = [*callbacks, decay]
        if run is not None:
            fit_callbacks.append(run.logger)
        # Last, so the logger has recorded the diverged epoch before it fails.
        fit_callbacks.append(_FiniteGuard())
        try:
            history = model.fit(*args, callbacks=fit_callbacks, **kwargs)
        except KeyboardInterrupt:
            if run is not None:
                run.end("KILLED", "interrupted (KeyboardInterrupt)")
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
        if run is not None:
            run.end("FINISHED", None, trial_status="COMPLETED")
        self._save_decay_state(context, model, decay, resolved)
        return history

    # -- helpers ---------------------------------------------------------------

    def _trial_context(self, hp: Any, callbacks: Sequence[Any]) -> TrialContext:
        tuner_callback = _find_tuner_callback(callbacks)
        # Over gRPC (distributed workers) the values of inactive conditional
        # hyperparameters come along too; a trial's params are its active ones.
        values = {
            name: value for name, value in hp.values.items() if hp.is_active(name)
        }
        if tuner_callback is None:
            return TrialContext(None, 0, None, values)
        trial = tuner_callback.trial
        trial_id = str(trial.trial_id)
        identity, count = self._executions.get(trial_id, (id(trial), 0))
        if identity != id(trial):
            # A new run of the same trial (a retry, or a resumed search).
            count = 0
        self._executions[trial_id] = (id(trial), count + 1)
        return TrialContext(trial_id, count, tuner_callback.tuner, values)

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
            initial_lr = decay_callbacks.current_learning_rate(optimizer)
            resolved = dataclasses.replace(resolved, initial_lr=initial_lr)
        decay_class: Any = decay_callbacks.DECAYS[resolved.kind]
        if resolved.kind == "plateau":
            start_lr = self._continued_lr(context) or initial_lr
            optimizer.learning_rate = start_lr
            return decay_class(**resolved.settings), resolved
        return decay_class(initial_lr=initial_lr, **resolved.settings), resolved

    def _decay_state_path(self, tuner: Any, trial_id: str) -> str | None:
        get_trial_dir = getattr(tuner, "get_trial_dir", None)
        if get_trial_dir is None:
            return None
        return os.path.join(get_trial_dir(trial_id), _DECAY_STATE_FILE)

    def _continued_lr(self, context: TrialContext) -> float | None:
        """The rate a continued Hyperband trial's plateau decay had reached."""
        if context.continued_from is None or context.tuner is None:
            return None
        path = self._decay_state_path(context.tuner, context.continued_from)
        try:
            with open(path) as file:  # type: ignore[arg-type]
                return float(json.load(file)["final_lr"])
        except (OSError, TypeError, KeyError, ValueError):
            return None

    def _save_decay_state(
        self, context: TrialContext, model: Any, decay: Any, resolved: ResolvedDecay
    ) -> None:
        if context.tuner is None or context.trial_id is None:
            return
        path = self._decay_state_path(context.tuner, context.trial_id)
        if path is None:
            return
        state = {
            "kind": resolved.kind,
            "settings": resolved.settings,
            "initial_lr": resolved.initial_lr,
            "lr_history": [list(point) for point in decay.lr_history],
            "final_lr": decay_callbacks.current_learning_rate(model.optimizer),
        }
        try:
            with open(path, "w") as file:
                json.dump(state, file)
        except OSError as error:
            warnings.warn(
                f"Could not save the decay state of trial {context.trial_id} "
                f"to {path}: {error}",
                stacklevel=2,
            )

    def _start_run(
        self, context: TrialContext, resolved: ResolvedDecay, epochs: int
    ) -> Any:
        from lrdecay.tuning import tracker as search_runs

        if self._search_runs is None:
            self._search_runs = search_runs.SearchRuns.for_hypermodel(
                self.tracking or {}, context.tuner
            )
        return self._search_runs.trial_run(context, resolved, epochs)

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
            _summarize(trial, self.space, epochs)
            for _, trial in sorted(tuner.oracle.trials.items())
        ]
        runs = self._search_runs
        if runs is None:
            return trials
        for trial in tuner.oracle.trials.values():
            runs.trial_ended(trial)
        return list(runs.search_ended(tuner, trials, _best_trial(tuner.oracle)))

    def attach_search_runs(self, search_runs: Any) -> None:
        """Log the trials' runs under `search_runs` (set by `search()`)."""
        self._search_runs = search_runs


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


def _check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )


def search(
    build_model: Callable[..., Any],
    x: Any = None,
    y: Any = None,
    *,
    validation_data: Any = None,
    validation_split: float | None = None,
    algorithm: str = "grid",
    kinds: Sequence[str] = ("step", "exponential", "plateau"),
    decay_epochs: Any = (10, 20, 30, 50),
    space: DecaySpace | None = None,
    epochs: int = 50,
    max_trials: int | None = None,
    objective: Any = "val_loss",
    batch_size: int | None = 32,
    seed: int | None = None,
    initial_lr: Any = None,
    project_dir: str | os.PathLike[str] = "lrdecay_project",
    project_name: str | None = None,
    overwrite: bool = False,
    tracking: bool = True,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    executions_per_trial: int = 1,
    callbacks: Sequence[Any] | None = None,
    progress: Callable[[TrialEvent], None] | None = None,
    verbose: int = 0,
    **tuner_kwargs: Any,
) -> SearchResult:
    """Search the decay kind and its epochs with KerasTuner; track it in MLflow.

    Runs one KerasTuner search (`algorithm`) of a `DecaySpace` over the
    model `build_model` builds. With tracking, the search is one MLflow
    parent run (its settings, the space, the best trial and a comparison
    plot of every trial's learning-rate and validation curves) and every
    trial execution one child run. Calling `search` again with the same
    `project_dir` / `project_name` resumes an interrupted search: finished
    trials are kept, the interrupted trial re-runs, its stale run is closed
    as KILLED, and the parent run is the same.

    Example:

    ```python
    result = lrdecay.search(
        build_model, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"),
        decay_epochs=[10, 20, 30, 50], epochs=50,
    )
    result.best_decay, result.best_score
    ```

    Args:
        build_model: Callable. `build_model(hp)` or `build_model()`,
            returning a compiled Keras model.
        x, y: Training data, as for `model.fit`.
        validation_data: Validation data, as for `model.fit`.
        validation_split: Float or `None`, as for `model.fit`.
        algorithm: `"grid"`, `"random"`, `"hyperband"` or `"bayesian"`.
            Defaults to `"grid"`.
        kinds: Decay kinds to try. Defaults to all searchable kinds.
        decay_epochs: Epochs between decays: a grid, a `range`, a
            `lrdecay.tuning.space.Range`, a fixed value; floats in (0, 1] are
            fractions of each trial's epoch budget. Defaults to
            `(10, 20, 30, 50)`.
        space: `DecaySpace` or `None`. Overrides `kinds`, `decay_epochs` and
            `initial_lr` when given.
        epochs: Int. Epochs per trial (Hyperband's `max_epochs`). Defaults
            to `50`.
        max_trials: Int or `None`. Trials at most (not for Hyperband).
            `None`: every grid point for grid search, KerasTuner's default
            (10) for random and Bayesian search.
        objective: The KerasTuner objective. Defaults to `"val_loss"`.
        batch_size: Int. Defaults to `32`.
        seed: Int or `None`. The tuner's seed.
        initial_lr: `None` (keep the model's rate), a float, a grid or a
            `Range` to search.
        project_dir, project_name: Where KerasTuner keeps the search;
            `project_name` defaults to `"lrdecay_<algorithm>"` and names the
            search in MLflow (tag `lrdecay.search`).
        overwrite: Bool. Start over instead of resuming. Defaults to `False`.
        tracking: Bool. Log to MLflow. Defaults to `True`.
        tracking_uri, experiment_name: MLflow store and experiment; default
            to `MLFLOW_TRACKING_URI` / `MLFLOW_EXPERIMENT_NAME`, then
            MLflow's defaults.
        executions_per_trial: Int. Fits per trial (one run each).
        callbacks: Extra Keras callbacks for every trial (deep-copied).
        progress: Callable or `None`. Receives a `TrialEvent` whenever a
            trial ends.
        verbose: Int. Keras/KerasTuner verbosity. Defaults to `0`.
        **tuner_kwargs: More arguments for the KerasTuner tuner (e.g.
            `factor` for Hyperband, `max_consecutive_failed_trials`).

    Returns:
        A `SearchResult`.

    Raises:
        ValueError: For a bad argument or space, before any training.
        RuntimeError: If no trial completed.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"Argument `algorithm` must be one of {list(ALGORITHMS)}. "
            f"Received: algorithm={algorithm!r}"
        )
    _check_positive_int("epochs", epochs)
    _check_positive_int("max_trials", max_trials, allow_none=True)
    _check_positive_int("executions_per_trial", executions_per_trial)
    if space is None:
        space = DecaySpace(kinds, decay_epochs, initial_lr=initial_lr)
    space.check_budget(epochs)
    if (
        isinstance(objective, str)
        and objective.startswith("val_")
        and validation_data is None
        and not validation_split
    ):
        raise ValueError(
            f"The objective {objective!r} needs validation data: pass "
            "`validation_data=` or `validation_split=`, or choose an objective "
            "without 'val_'. Received: validation_data=None, "
            f"validation_split={validation_split!r}"
        )
    if progress is not None and not callable(progress):
        raise TypeError(
            f"Argument `progress` must be callable. Received: progress={progress!r}"
        )
    project_name = project_name or f"lrdecay_{algorithm}"
    project_path = os.path.join(os.fspath(project_dir), project_name)
    resuming = not overwrite and os.path.exists(
        os.path.join(project_path, "oracle.json")
    )
    # KerasTuner's distributed mode (KERASTUNER_* variables): a worker joins
    # the chief's search (and its MLflow parent run) or exits if it is over.
    role = distributed.resolve_role()
    joined = None
    if role.is_worker:
        joined = distributed.join_search(
            role,
            project_name,
            tracking=tracking,
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
        )
        overwrite = False  # a shared project directory is the chief's

    hypermodel = DecayHyperModel(build_model, space, max_epochs=epochs, tracking=False)
    tuner_args: dict[str, Any] = {
        "objective": objective,
        "seed": seed,
        "directory": os.fspath(project_dir),
        "project_name": project_name,
        "overwrite": overwrite,
        "executions_per_trial": executions_per_trial,
    }
    if algorithm == "hyperband":
        if max_trials is not None:
            raise ValueError(
                "Hyperband sets its own number of trials from `epochs` and "
                "`factor`; leave `max_trials` unset. "
                f"Received: max_trials={max_trials!r}"
            )
        tuner_args["max_epochs"] = epochs
    elif max_trials is not None or algorithm != "grid":
        tuner_args["max_trials"] = max_trials if max_trials is not None else 10
    tuner_args.update(tuner_kwargs)
    tuner = _tuner_class(algorithm)(hypermodel, **tuner_args)

    runs = None
    if tracking and joined is not None:  # a worker logs under the chief's run
        from lrdecay.tuning import tracker as search_runs

        runs = search_runs.SearchRuns(
            joined.tracking_uri or "",
            joined.experiment_id or "0",
            joined.parent_run_id,
            project_name,
        )
        hypermodel.tracking = {}
        hypermodel.attach_search_runs(runs)
    elif tracking:
        from lrdecay.tuning import tracker as search_runs

        runs = search_runs.SearchRuns.for_search(
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
            project_name=project_name,
            project_path=project_path,
            resuming=resuming,
            settings={
                "algorithm": algorithm,
                "epochs": epochs,
                "max_trials": max_trials,
                "objective": str(objective),
                "batch_size": batch_size,
                "seed": seed,
                "executions_per_trial": executions_per_trial,
                "project_name": project_name,
                **{f"tuner.{key}": value for key, value in tuner_kwargs.items()},
            },
            space=space,
        )
        runs.close_stale_runs(tuner)
        hypermodel.tracking = {}
        hypermodel.attach_search_runs(runs)

    total = grid_size(space) if algorithm == "grid" else tuner.oracle.max_trials
    if algorithm == "grid" and max_trials is not None and total is not None:
        total = min(total, max_trials)
    if algorithm == "hyperband":
        total = None

    ended_here: list[str] = []

    def on_trial_end(the_tuner: Any, trial: Any) -> None:
        oracle = the_tuner.oracle
        ended = oracle.get_trial(trial.trial_id)
        summary = _summarize(ended, space, epochs)
        if runs is not None:
            runs.trial_ended(ended)
        if progress is None:
            return
        # A worker's oracle is the chief's, over gRPC: no local trial list,
        # so a worker counts the trials it ran itself.
        ended_here.append(summary.trial_id)
        best = None if role.is_worker else _best_trial(oracle)
        progress(
            TrialEvent(
                index=len(ended_here)
                if role.is_worker
                else len(getattr(oracle, "end_order", ())),
                total=total,
                trial_id=summary.trial_id,
                status=summary.status,
                score=summary.score,
                best_trial_id=None if best is None else best.trial_id,
                best_score=None if best is None else float(best.score),
                kind=summary.kind,
                settings=summary.settings,
                message=_last_line(ended.message),
            )
        )

    tuner.lrdecay_on_trial_end = on_trial_end
    fit_kwargs: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "verbose": verbose,
        "callbacks": list(callbacks or []),
    }
    if validation_data is not None:
        fit_kwargs["validation_data"] = validation_data
    if validation_split:
        fit_kwargs["validation_split"] = validation_split
    try:
        with (
            _frozen_heap(),
            distributed.watch_chief(
                tuner.oracle,
                role,
                on_trial_end=lambda trial: on_trial_end(tuner, trial),
                tracking_uri=None if runs is None else runs.tracking_uri,
                parent_run_id=None if runs is None else runs.parent_run_id,
            ),
        ):
            tuner.search(x, y, **fit_kwargs)
    except BaseException as error:
        if runs is not None:
            runs.search_interrupted(error)
        raise

    if role.is_worker:
        # The chief holds the trials and the best one; it may be gone already.
        return SearchResult(
            best_hyperparameters=None,
            best_model=None,
            best_trial_id="",
            best_score=math.nan,
            best_decay={},
            trials=[],
            parent_run_id=None if runs is None else runs.parent_run_id,
            experiment_id=None if runs is None else runs.experiment_id,
            tracking_uri=None if runs is None else runs.tracking_uri,
            tuner=tuner,
        )
    best = _best_trial(tuner.oracle)
    trials = [
        _summarize(trial, space, epochs)
        for _, trial in sorted(tuner.oracle.trials.items())
    ]
    if runs is not None:
        trials = runs.search_ended(tuner, trials, best)
    if best is None:
        raise RuntimeError(
            f"No trial of the search {project_name!r} completed with a finite "
            "score; see each trial's message (`tuner.oracle.trials`)."
        )
    try:
        best_model = tuner.get_best_models(1)[0]
    except Exception as error:
        if not role.is_chief:
            raise
        # The workers wrote the checkpoints: without a shared project
        # directory the chief has none. The search itself succeeded.
        warnings.warn(
            f"lrdecay: the chief cannot load the best trial's model ({error}); "
            "give the chief and the workers the same project directory.",
            stacklevel=2,
        )
        best_model = None
    best_summary = next(t for t in trials if t.trial_id == best.trial_id)
    return SearchResult(
        best_hyperparameters=best.hyperparameters,
        best_model=best_model,
        best_trial_id=best.trial_id,
        best_score=float(best.score),
        best_decay={"kind": best_summary.kind, **best_summary.settings},
        trials=trials,
        parent_run_id=None if runs is None else runs.parent_run_id,
        experiment_id=None if runs is None else runs.experiment_id,
        tracking_uri=None if runs is None else runs.tracking_uri,
        tuner=tuner,
    )


def _best_trial(oracle: Any) -> Any | None:
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


def _summarize(trial: Any, space: DecaySpace, epochs: int) -> TrialSummary:
    values = dict(trial.hyperparameters.values)
    budget = int(values.get("tuner/epochs", epochs))
    if space.relative_to == "search":
        budget = epochs
    try:
        resolved = space.resolve(values, budget)
        kind: str | None = resolved.kind
        settings = dict(resolved.settings)
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
    )


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep KerasTuner's per-trial garbage collections to the search's objects.

    KerasTuner calls `clear_session()` and a full `gc.collect()` before every
    trial; with TensorFlow loaded each walks ~0.5 M long-lived objects (0.5-2 s
    a trial: a 6-trial search took 2.65x its bare fits, 1.29x frozen, see
    benchmarks/bench_cost.py). Objects alive before the search are moved to
    the permanent generation for its duration; the search's own garbage is
    still collected. A caller who froze the heap already keeps control of it.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _last_line(message: str | None) -> str | None:
    """The error line of a trial's traceback, without TensorFlow's node noise."""
    if not message:
        return None
    lines = [
        line
        for line in message.strip().splitlines()
        if line.strip() and not line.strip().startswith("[[{{node")
    ]
    return lines[-1] if lines else None

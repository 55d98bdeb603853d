"""`search()`: the short path from a model-building function to a tracked search.

It runs in the steps a search has, one function each: check the arguments
and fill in the defaults (`plan.make_plan`, `plan.check_data`), find this
process's role in KerasTuner's distributed mode (`_join`), build the tuner
(`tuners.build_tuner`), set up its MLflow runs (`_track`), run it (`_run`),
and assemble the `SearchResult` (`_result`).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lrdecay import defaults
from lrdecay.tuning import distributed
from lrdecay.tuning import runs as layout
from lrdecay.tuning.hypermodel import DecayHyperModel, model_initial_lr
from lrdecay.tuning.plan import SearchPlan, check_data, make_plan
from lrdecay.tuning.result import (
    RankedSetting,
    SearchResult,
    TrialEvent,
    TrialSummary,
    best_trial,
    compare_with_control,
    decay_code,
    last_line,
    rank,
    summarize,
    verdict,
)
from lrdecay.tuning.space import CONTROL_KIND, DecaySpace
from lrdecay.tuning.termination import sigterm_as_interrupt
from lrdecay.tuning.tuners import ALGORITHMS, build_tuner, grid_size, trial_total

__all__ = [
    "ALGORITHMS",
    "DecayHyperModel",
    "RankedSetting",
    "SearchResult",
    "TrialEvent",
    "TrialSummary",
    "grid_size",
    "search",
]


def search(
    build_model: Callable[..., Any],
    x: Any = None,
    y: Any = None,
    *,
    validation_data: Any = None,
    validation_split: float | None = None,
    algorithm: str = defaults.ALGORITHM,
    kinds: Sequence[str] = defaults.KINDS,
    decay_epochs: Any = defaults.DECAY_EPOCHS,
    space: DecaySpace | None = None,
    epochs: int = defaults.EPOCHS,
    max_trials: int | None = None,
    objective: Any = defaults.OBJECTIVE,
    batch_size: int | None = defaults.BATCH_SIZE,
    seed: int | None = defaults.SEED,
    control: bool = defaults.CONTROL,
    repeats: int | None = None,
    initial_lr: Any = None,
    project_dir: str | os.PathLike[str] = defaults.PROJECT_DIR,
    project_name: str | None = None,
    overwrite: bool = False,
    tracking: bool | str | Mapping[str, Any] = True,
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

    The defaults are those of `lrdecay search` (`lrdecay.defaults`), and so
    is the default project name: a search of the bundled digits started here
    with the command line's settings resumes from `lrdecay search`, and the
    reverse.

    Process-wide state: for the duration of the KerasTuner search the objects
    alive before it are frozen (`gc.freeze()`), so that KerasTuner's full
    garbage collection before every trial does not walk them; they are
    unfrozen when the search ends, also on error or interrupt (a caller who
    froze the heap already keeps it frozen, untouched). Every execution of
    every trial calls `keras.utils.set_random_seed` (Python's `random`,
    NumPy's global generator and the backend's), so those are left seeded
    from the last execution. In the main thread, SIGTERM (Kubernetes,
    Slurm, `docker stop`) raises `lrdecay.tuning.termination.Terminated`, a
    `KeyboardInterrupt`, for the duration of the KerasTuner search, unless
    the program set its own SIGTERM handler: the search then ends as on
    Ctrl-C (the trial's run and the parent KILLED, KerasTuner's state
    saved; the same call resumes), and SIGTERM's default action is restored
    when the search ends. Nothing else process-wide is changed.

    Reproducible: a search has one seed (`seed`, else the one a resumed
    search recorded, else one it picks and records: `SearchResult.seed`,
    the parent run's param `seed`). Execution `i` of every trial (and of the
    control) is seeded with `seed + i` before its model is built (each
    child run's param `seed`), so every setting starts from the same
    weights and data order. On CPU the same seeded search gives the same
    per-epoch metrics for every trial, run after run and in any folder, on
    TensorFlow and JAX: both run the dense models of lrdecay's tests
    deterministically without TensorFlow's `enable_op_determinism()`, which
    is therefore left off (turn it on yourself for models whose CPU kernels
    are not deterministic; it slows training and rejects some ops). On GPUs
    cuDNN and atomic reductions are not deterministic by default: expect
    small differences from run to run unless the backend's determinism
    switch is on (`tf.config.experimental.enable_op_determinism()`, or
    `XLA_FLAGS=--xla_gpu_deterministic_ops=true` for JAX).

    The constant-rate control (`control=True`): one more setting,
    `decay_kind="constant"`, the model at its initial rate without decay,
    run first (see `lrdecay.tuning.tuners`). `repeats=N` runs every setting
    N times with seeds `seed .. seed + N - 1` (KerasTuner's executions per
    trial; the trial's score is their mean), and `SearchResult.ranking`
    gives each setting's mean and spread and marks those indistinguishable
    from the best (`lrdecay.tuning.result`); `SearchResult.verdict` says
    whether the best decay beat the control beyond the noise.

    Example:

    ```python
    result = lrdecay.search(
        build_model, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"),
        decay_epochs=[10, 20, 30], epochs=40,
    )
    print(result.best_decay_code)  # e.g. StepDecay(initial_lr=0.1, ...)
    ```

    Args:
        build_model: Callable. `build_model(hp)` or `build_model()`,
            returning a compiled Keras model.
        x, y: Training data, as for `model.fit`.
        validation_data: Validation data, as for `model.fit`.
        validation_split: Float or `None`, as for `model.fit`.
        algorithm: `"grid"`, `"random"`, `"hyperband"` or `"bayesian"`.
            Defaults to `"grid"`.
        kinds: Decay kinds to try. Defaults to
            `("step", "exponential", "plateau")`.
        decay_epochs: Epochs between decays: a grid, a `range`, a
            `lrdecay.tuning.space.Range`, a fixed value; floats in (0, 1] are
            fractions of each trial's epoch budget. Defaults to
            `(5, 10, 20, 30)`.
        space: `DecaySpace` or `None`. Overrides `kinds`, `decay_epochs` and
            `initial_lr` when given.
        epochs: Int. Epochs per trial (Hyperband's `max_epochs`). Defaults
            to `40`.
        max_trials: Int or `None`. Trials at most (not for Hyperband).
            `None`: every grid point for grid search, KerasTuner's default
            (10) for random and Bayesian search.
        objective: The KerasTuner objective. Defaults to `"val_loss"`.
        batch_size: Int. Defaults to `32`.
        seed: Int in [0, 2**32) or `None`. The search's seed: the tuner's
            sampling and every execution (`seed + i`). `None`: the seed a
            resumed search recorded, else a new one, recorded. Defaults to
            `None`.
        control: Bool. Run the constant-rate control (`decay_kind=
            "constant"`) as one more setting. Defaults to `True`.
        repeats: Int or `None`. Runs per setting, one seed each, one child
            run each. `None`: `executions_per_trial`. Defaults to `None`
            (one run).
        initial_lr: `None` (keep the model's rate), a float, a grid or a
            `Range` to search.
        project_dir: Where KerasTuner keeps its projects. Defaults to
            `"lrdecay_project"`.
        project_name: String or `None`. The search's KerasTuner project and
            its name in MLflow (tag `lrdecay.search`). `None`:
            `lrdecay.defaults.project_name(...)` of the search's settings
            (`algorithm`, `kinds`, `decay_epochs`, `initial_lr`, `epochs`,
            `batch_size`, `objective`, `seed`, and `control` / `repeats`
            when not the defaults), e.g. `"grid-digits-3f2a9c1e"`.
        overwrite: Bool. Start over instead of resuming. Defaults to `False`.
        tracking: Bool, string or dict; the same values as
            `DecayHyperModel(tracking=)`. `False`: no MLflow. `True`: track.
            A string: the MLflow tracking URI. A dict may hold
            `tracking_uri`, `experiment_name`, `parent_run_id` (log under
            this run instead of finding or creating the search's own) and
            `MlflowLogger` options for every trial (`log_plots`,
            `log_every_n_steps`, `flush_interval`, `request_timeout`,
            `give_up_after`, `offline_dir`). Defaults to `True`.
        tracking_uri: String or `None`. The MLflow store; else the one in
            `tracking`, else `MLFLOW_TRACKING_URI`, else MLflow's default.
        experiment_name: String or `None`. The MLflow experiment (created if
            missing); else the one in `tracking`, else
            `MLFLOW_EXPERIMENT_NAME`, else `"lrdecay"`.
        executions_per_trial: Int. Fits per trial (one run each); the same
            as `repeats`. Defaults to `1`.
        callbacks: Extra Keras callbacks for every trial (deep-copied).
        progress: Callable or `None`. Receives a `TrialEvent` whenever a
            trial ends.
        verbose: Int. Keras/KerasTuner verbosity. Defaults to `0`.
        **tuner_kwargs: More arguments for the KerasTuner tuner (e.g.
            `factor` for Hyperband, `max_consecutive_failed_trials`).

    Returns:
        A `SearchResult`.

    Raises:
        TypeError: For an argument of the wrong type, before any training.
        ValueError: For a bad argument or space, before any training.
        RuntimeError: If no trial completed.
    """
    plan = make_plan(
        algorithm=algorithm,
        kinds=kinds,
        decay_epochs=decay_epochs,
        space=space,
        initial_lr=initial_lr,
        epochs=epochs,
        max_trials=max_trials,
        objective=objective,
        batch_size=batch_size,
        seed=seed,
        control=control,
        repeats=repeats,
        project_dir=project_dir,
        project_name=project_name,
        overwrite=overwrite,
        tracking=tracking,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        executions_per_trial=executions_per_trial,
        tuner_kwargs=tuner_kwargs,
    )
    check_data(plan, validation_data, validation_split, progress)
    role, joined = _join(plan)
    hypermodel = DecayHyperModel(
        build_model, plan.space, max_epochs=plan.epochs, tracking=False
    )
    tuner = build_tuner(plan, hypermodel)
    if not role.is_worker and plan.seed is not None:
        layout.write_seed(plan.project_path, plan.seed)
    runs = _track(plan, tuner, hypermodel, joined)
    fit_kwargs: dict[str, Any] = {
        "epochs": plan.epochs,
        "batch_size": plan.batch_size,
        "verbose": verbose,
        "callbacks": list(callbacks or []),
    }
    if validation_data is not None:
        fit_kwargs["validation_data"] = validation_data
    if validation_split:
        fit_kwargs["validation_split"] = validation_split
    _run(plan, tuner, runs, role, progress, x, y, fit_kwargs)
    return _result(plan, tuner, hypermodel, runs, role)


def _join(plan: SearchPlan) -> tuple[distributed.Role, Any | None]:
    """This process's role; a worker joins the chief's search (or exits).

    KerasTuner's distributed mode (`KERASTUNER_*` variables): a worker
    joins the chief's search and its MLflow parent run, or raises
    `SearchEndedError` if the search is over.
    """
    role = distributed.resolve_role()
    if not role.is_worker:
        return role, None
    options = plan.tracking or {}
    joined = distributed.join_search(
        role,
        plan.project_name,
        tracking=plan.tracking is not None,
        tracking_uri=options.get("tracking_uri"),
        experiment_name=plan.experiment_name,
    )
    plan.overwrite = False  # a shared project directory is the chief's
    if not plan.seed_given and joined.parent_run_id is not None:
        # The chief picked the seed: every execution seeds from it.
        recorded = _recorded_seed(joined.tracking_uri, joined.parent_run_id)
        if recorded is not None:
            plan.seed = recorded
    return role, joined


def _recorded_seed(tracking_uri: str | None, parent_run_id: str) -> int | None:
    """The seed a search's parent run records (its param `seed`), or `None`."""
    import mlflow

    try:
        run = mlflow.MlflowClient(tracking_uri).get_run(parent_run_id)
        return int(run.data.params["seed"])
    except Exception:
        return None


def _track(
    plan: SearchPlan, tuner: Any, hypermodel: DecayHyperModel, joined: Any | None
) -> Any | None:
    """The search's MLflow runs (`tracker.SearchRuns`), or `None` untracked."""
    if plan.tracking is None:
        return None
    from lrdecay.tuning import tracker

    if joined is not None:  # a worker logs under the chief's run
        runs = tracker.SearchRuns(
            joined.tracking_uri or "",
            joined.experiment_id or "0",
            joined.parent_run_id,
            plan.project_name,
            plan.tracking,
        )
    else:
        resuming = not plan.overwrite and os.path.exists(
            os.path.join(plan.project_path, "oracle.json")
        )
        runs = tracker.SearchRuns.for_search(
            options=plan.tracking,
            project_name=plan.project_name,
            project_path=plan.project_path,
            resuming=resuming,
            settings=plan.settings(),
            space=plan.space,
        )
        runs.close_stale_runs(tuner)
    hypermodel.tracking = {}
    hypermodel.attach_search_runs(runs)
    return runs


def _run(
    plan: SearchPlan,
    tuner: Any,
    runs: Any | None,
    role: distributed.Role,
    progress: Callable[[TrialEvent], None] | None,
    x: Any,
    y: Any,
    fit_kwargs: dict[str, Any],
) -> None:
    """Run the tuner; keep the trials' runs and `progress` up to date."""
    total = trial_total(plan, tuner)
    ended_here: list[str] = []

    def on_trial_end(the_tuner: Any, trial: Any) -> None:
        oracle = the_tuner.oracle
        ended = oracle.get_trial(trial.trial_id)
        if runs is not None:
            runs.trial_ended(ended)
        if progress is None:
            return
        summary = summarize(ended, plan.space, plan.epochs)
        # A worker's oracle is the chief's, over gRPC: no local trial list,
        # so a worker counts the trials it ran itself.
        ended_here.append(summary.trial_id)
        best = None if role.is_worker else best_trial(oracle)
        index = (
            len(ended_here) if role.is_worker else len(getattr(oracle, "end_order", ()))
        )
        progress(
            TrialEvent(
                index=index,
                total=total,
                trial_id=summary.trial_id,
                status=summary.status,
                score=summary.score,
                best_trial_id=None if best is None else best.trial_id,
                best_score=None if best is None else float(best.score),
                kind=summary.kind,
                settings=summary.settings,
                message=last_line(ended.message),
            )
        )

    tuner.lrdecay_on_trial_end = on_trial_end
    try:
        with (
            sigterm_as_interrupt(),
            _frozen_heap(),
            distributed.watch_chief(
                tuner.oracle,
                role,
                on_trial_end=lambda trial: on_trial_end(tuner, trial),
                tracking_uri=None if runs is None else runs.tracking_uri,
                parent_run_id=None if runs is None else runs.parent_run_id,
            ),
            distributed.watch_for_chief(role),
        ):
            tuner.search(x, y, **fit_kwargs)
    except BaseException as error:
        if runs is not None:
            runs.search_interrupted(error)
        if isinstance(error, KeyboardInterrupt) and not role.is_worker:
            # Rewrite KerasTuner's state in full: the interrupt may have
            # landed while it was being written.
            _save_state(tuner)
        raise


def _save_state(tuner: Any) -> None:
    try:
        tuner.save()
    except Exception as error:
        warnings.warn(
            f"lrdecay: saving KerasTuner's state after the interrupt failed "
            f"({type(error).__name__}: {error}); the search may not resume.",
            stacklevel=3,
        )


def _result(
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
        return SearchResult(
            best_hyperparameters=None,
            best_model=None,
            best_trial_id="",
            best_score=math.nan,
            best_decay={},
            trials=[],
            parent_run_id=parent_run_id,
            experiment_id=experiment_id,
            tracking_uri=tracking_uri,
            tuner=tuner,
            seed=plan.seed,
            repeats=plan.repeats,
            objective=_objective_name(tuner),
            direction=_direction(tuner),
            verdict="A worker's part of the search: the chief holds the ranking.",
        )
    best = best_trial(tuner.oracle)
    trials = [
        summarize(trial, plan.space, plan.epochs)
        for _, trial in sorted(tuner.oracle.trials.items())
    ]
    if runs is not None:
        trials = runs.search_ended(tuner, trials, best)
    if best is None:
        raise RuntimeError(
            f"No trial of the search {plan.project_name!r} completed with a "
            "finite score; see each trial's message (`tuner.oracle.trials`)."
        )
    best_model = _best_model(tuner, role)
    summary = next(t for t in trials if t.trial_id == best.trial_id)
    direction = _direction(tuner)
    objective = _objective_name(tuner)
    ranking = rank(tuner.oracle.trials, trials, plan.repeats, direction, best.trial_id)
    control, beats_control_by, control_p_value = compare_with_control(
        ranking, direction
    )
    return SearchResult(
        best_hyperparameters=best.hyperparameters,
        best_model=best_model,
        best_trial_id=best.trial_id,
        best_score=float(best.score),
        best_decay={"kind": summary.kind, **summary.settings},
        trials=trials,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        tuner=tuner,
        best_decay_code=_best_code(summary, tuner, hypermodel, best_model),
        seed=plan.seed,
        repeats=plan.repeats,
        objective=objective,
        direction=direction,
        ranking=ranking,
        control=control,
        beats_control_by=beats_control_by,
        control_p_value=control_p_value,
        verdict=verdict(ranking, objective, direction, plan.repeats),
    )


def _objective_name(tuner: Any) -> str:
    name = getattr(getattr(tuner.oracle, "objective", None), "name", None)
    return name if isinstance(name, str) else str(defaults.OBJECTIVE)


def _direction(tuner: Any) -> str:
    direction = getattr(getattr(tuner.oracle, "objective", None), "direction", None)
    return "max" if direction == "max" else "min"


def _best_model(tuner: Any, role: distributed.Role) -> Any | None:
    try:
        return tuner.get_best_models(1)[0]
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
) -> str | None:
    """The best decay as the callback to paste, with the rate it started at.

    `None` when the constant-rate control won: no decay to paste.
    """
    if summary.kind is None:
        return ""
    if summary.kind == CONTROL_KIND:
        return None
    initial_lr = summary.settings.get("initial_lr")
    if initial_lr is None:
        initial_lr = hypermodel.trial_initial_lr(tuner, summary.trial_id)
    if initial_lr is None and getattr(best_model, "optimizer", None) is not None:
        # The rebuilt model is compiled with the rate the trial started at.
        initial_lr = model_initial_lr(best_model)
    return decay_code(summary.kind, summary.settings, initial_lr, summary.half_life)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep KerasTuner's per-trial garbage collections to the search's objects.

    KerasTuner calls `clear_session()` and a full `gc.collect()` before every
    trial; with TensorFlow loaded each walks ~0.5 M long-lived objects (0.5-2 s
    a trial: a 6-trial search took 2.65x its bare fits, 1.29x frozen, see
    benchmarks/bench_cost.py). Objects alive before the search are moved to
    the permanent generation for its duration and moved back when it ends,
    however it ends; the search's own garbage is still collected. A caller
    who froze the heap already keeps control of it.
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

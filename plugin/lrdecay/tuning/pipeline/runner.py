"""`search()`: the short path from a model-building function to a tracked search.

It runs in the steps a search has, one function each: check the arguments
and fill in the defaults (`plan.make_plan`, `plan.check_data`), check one
model from `build_model` before any run or trial (`checks.preflight`:
compiled, a float learning rate, a loss that computes on the first batch,
an objective the model logs), find this
process's role in KerasTuner's distributed mode (`prepare.join`), build the
tuner (`tuners.build_tuner`), set up its MLflow runs (`prepare.track`), run
it (`execute.run_tuner`), and assemble the `SearchResult` (`assemble.search_result`).

Tracking and resuming: with tracking, the search is one MLflow parent run
(its settings, the space, the best trial and a comparison plot of every
trial's learning-rate and validation curves) and every trial execution one
child run. Calling `search` again with the same `project_dir` /
`project_name` resumes an interrupted search: finished trials are kept, the
interrupted trial re-runs, its stale run is closed as KILLED, and the parent
run is the same. The defaults are those of `lrdecay search`
(`lrdecay.defaults`), and so is the default project name: a search of the
bundled digits started from Python with the command line's settings resumes
from `lrdecay search`, and the reverse. A search is its settings, its
data and its model (`lrdecay.tuning.pipeline.identity`): the default project name
hashes `algorithm`, `kinds`, `decay_epochs`, `initial_lr`, `epochs`,
`batch_size`, `objective`, `seed`, `control` / `repeats` when not the
defaults, a digest of the data and a digest of the model (its architecture
and optimizer, read from one model `build_model` builds with default
hyperparameters before the search; `keras.backend.clear_session()` follows,
as before every trial). Other data or another model is a new project and a
new parent run; the same call again resumes, training nothing. A project
named with `project_name` that holds another search stops with a
`ValueError` before anything trains, unless
`tuner_options={"overwrite": True}`.

Said where you look: the rate warning, and the verdict when no decay beat
the control, are also warned (`lrdecay.tuning.evidence.result.EvidenceWarning`, a
`UserWarning`) at the line that called `search()`, once per search;
`print(result)` shows the ranking, the winner and the verdict. Exact ties go
to the control, then to the earlier trial (`evidence.verdict.ranking_key`),
so a rerun never changes the winner.

Process-wide state (the frozen heap, SIGTERM, seeds): `pipeline.execute`.
`jobs=N`: `lrdecay.tuning.pipeline.jobs`. Locks and damaged files:
`record.runner_lock`, `_compat.keras_tuner_files`, `prefixes.trunk_check`.

Reproducible: a search has one seed (`seed`, else the one a resumed
search recorded, else one it picks and records: `SearchResult.seed`,
the parent run's param `seed`). Execution `i` of every trial (and of the
control) is seeded with `seed + i` before its model is built (each
child run's param `seed`), so every setting starts from the same
weights and data order. On CPU the same seeded search gives the same
per-epoch metrics for every trial, run after run and in any folder, on
TensorFlow and JAX (without `enable_op_determinism()`, left off: turn it on
for models whose CPU kernels are not deterministic). On GPUs, cuDNN and
atomic reductions differ run to run unless the backend's determinism switch
is on (`tf.config.experimental.enable_op_determinism()`,
`XLA_FLAGS=--xla_gpu_deterministic_ops=true`).

The constant-rate control (`control=True`): one more setting,
`decay_kind="constant"`, the model at its initial rate without decay,
run first (see `lrdecay.tuning.pipeline.tuners`). `repeats=N` runs every setting
N times with seeds `seed .. seed + N - 1` (KerasTuner's executions per
trial; the trial's score is their mean), and `SearchResult.evidence.ranking`
gives each setting's mean and spread and marks those indistinguishable
from the best (`lrdecay.tuning.evidence.result`); `SearchResult.evidence.verdict` says
whether the best decay beat the control beyond the noise.

Shared prefixes (`share_prefix=True`, the default): each trial continues the
constant-rate trunk of its setting from the epoch it departs from it, with
the numbers of independent trials; `lrdecay.tuning.prefixes` says how.

`initial_lr="auto"`: run the LR range test (`lrdecay.find_lr`) on a model
from `build_model` and the training data first (`SearchResult.evidence.lr_range`;
the parent run's `lr_range/*` params and plot), then search the initial rates
`suggested_lr * (0.3, 1, 3)` (`lr_finder.auto_lr`); the best decay's code
names its rate; a resumed search reads the recorded test.
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from lrdecay import defaults, schedules
from lrdecay._compat.keras_tuner_files import atomic_json_writes
from lrdecay.tuning.data import checks, inputs, normalize_data, user_callbacks
from lrdecay.tuning.evidence.result import (
    EvidenceWarning,
    RankedSetting,
    SearchResult,
    TrialEvent,
    TrialSummary,
    evidence_warnings,
)
from lrdecay.tuning.pipeline import (
    arguments,
    assemble,
    execute,
    identity,
    keywords,
    prepare,
    variant,
)
from lrdecay.tuning.pipeline import jobs as local_jobs
from lrdecay.tuning.pipeline.caller_warnings import warn_again
from lrdecay.tuning.pipeline.dry_run import SearchOutline
from lrdecay.tuning.pipeline.dry_run import checked_outline as dry_run_outline
from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel
from lrdecay.tuning.pipeline.plan import (
    SearchPlan,
    check_data,
    make_plan,
    with_identity,
)
from lrdecay.tuning.pipeline.tuners import (
    ALGORITHMS,
    build_tuner,
    grid_size,
)
from lrdecay.tuning.record import project_files, runner_lock
from lrdecay.tuning.searchspace.space import DecaySpace
from lrdecay.tuning.termination import signals_deferred, stop_on_signals

__all__ = [
    "ALGORITHMS",
    "DecayHyperModel",
    "RankedSetting",
    "SearchResult",
    "TrialEvent",
    "TrialSummary",
    "grid_size",
    "search",
    "search_outline",
]

# Set by `search_outline()`: the search stops before its first trial.
_OUTLINE_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lrdecay_outline_only", default=False
)


def search_outline(
    build_model: Callable[..., Any],
    x: Any = None,
    y: Any = None,
    **search_arguments: Any,
) -> SearchOutline:
    """The outline of `search(build_model, x, y, **search_arguments)`: a dry run.

    Checks everything `search()` checks before its first trial (the
    arguments, the data, one model, the project, the tracking store) and
    returns a `lrdecay.tuning.pipeline.dry_run.SearchOutline` (the trials,
    epochs per trial, epochs trained with shared prefixes) instead of
    training; no project file or MLflow run is created. `lrdecay search
    --dry-run` prints it.

    Example:

    ```python
    outline = lrdecay.search_outline(build_model, x, y, validation_data=(xv, yv))
    print(outline)  # trials    13, grid: constant (the control); step ...
    ```

    Raises:
        What `search()` raises before its first trial, for the same reasons.
    """
    token = _OUTLINE_ONLY.set(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outline: Any = search(build_model, x, y, **search_arguments)
    finally:
        _OUTLINE_ONLY.reset(token)
    warn_again(caught, __file__, stacklevel=2)
    return cast(SearchOutline, outline)


def search(
    build_model: Callable[..., Any],
    x: Any = None,
    y: Any = None,
    *,
    algorithm: str = defaults.ALGORITHM,
    kinds: Sequence[str] | None = None,
    decay_epochs: Any = None,
    initial_lr: Any = None,
    space: DecaySpace | None = None,
    max_trials: int | None = None,
    objective: Any = defaults.OBJECTIVE,
    repeats: int | None = None,
    seed: int | None = defaults.SEED,
    control: bool = defaults.CONTROL,
    share_prefix: bool = defaults.SHARE_PREFIX,
    project_dir: str | os.PathLike[str] = defaults.PROJECT_DIR,
    project_name: str | None = None,
    tracking: bool | str | Mapping[str, Any] = True,
    progress: Callable[[TrialEvent], None] | None = None,
    tuner_options: Mapping[str, Any] | None = None,
    jobs: int | str = 1,
    **fit_kwargs: Any,
) -> SearchResult:
    """Search the decay kind and its epochs with KerasTuner; track it in MLflow.

    One KerasTuner search of a `DecaySpace`; with tracking, one MLflow parent
    run and one child run per execution. The same project resumes. See the
    module docstring for tracking, resuming, the process-wide state it
    changes, seeds and determinism, the control, repeats and `"auto"`.

    Example:

    ```python
    result = lrdecay.search(
        build_model, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"),
        decay_epochs=[10, 20, 30], epochs=40,
    )
    print(result.winner.code)  # e.g. StepDecay(initial_lr=0.1, ...)
    ```

    Args:
        build_model: `build_model(hp)` or `build_model()`: a compiled model.
        x, y: Training data, as for `model.fit`: arrays, a dict or list of
            arrays, a `tf.data.Dataset`, a `keras.utils.PyDataset`, a
            generator (read once before the trials: see the module
            docstring and `lrdecay.tuning.data.inputs`).
        algorithm: `"grid"` (default), `"random"`, `"hyperband"`, `"bayesian"`.
        kinds: Decay kinds. Defaults to `("step", "exponential", "plateau")`.
        decay_epochs: Epochs between decays: grid, `range`, `Range` or value;
            floats in (0, 1] are fractions of the budget; a `Range` reaching
            past `epochs` is cut at `epochs` (a `UserWarning` says so).
            `None` (default): `(5, 10, 20, 30)` at 40 epochs, the same
            fractions of another budget; for Hyperband, fractions
            `(0.25, 0.5, 0.75)` (`lrdecay.defaults.decay_epochs_for`).
        initial_lr: `None` (the model's rate), a float, a grid, a `Range`,
            or `"auto"`: search `suggested_lr * (0.3, 1, 3)` of the LR range
            test (`SearchResult.evidence.lr_range`; see the module docstring).
        space: `DecaySpace` or `None`: the decays searched, instead of
            `kinds`, `decay_epochs` and `initial_lr` (giving one of them too
            is a `ValueError`).
        max_trials: Int or `None` (not for Hyperband): every grid point for
            grid, KerasTuner's default (10) for random and Bayesian.
        objective: The KerasTuner objective. Defaults to `"val_loss"`.
        repeats: Int or `None` (default: 1). Runs per setting, one seed and
            one child run each.
        seed: Int in [0, 2**32) or `None` (default: the recorded seed of a
            resumed search, else a new one). Execution `i` uses `seed + i`.
        control: Bool. Also run the constant-rate control. Defaults to `True`.
        share_prefix: Bool. Train the constant-rate prefix that trials share
            once and branch each trial from it (see the module docstring).
            Defaults to `True`.
        project_dir: KerasTuner's projects folder. Default `"lrdecay_project"`.
        project_name: String or `None`: the KerasTuner project and MLflow tag
            `lrdecay.search`; `None`: named after the settings, the data and
            the model, e.g. `"grid-digits-3f2a9c1e"`.
        tracking: Bool, string (tracking URI) or dict, as for
            `DecayHyperModel(tracking=)`; a dict may hold `tracking_uri`
            (else `MLFLOW_TRACKING_URI`, else MLflow's default),
            `experiment_name` (created if missing; else
            `MLFLOW_EXPERIMENT_NAME`, else `"lrdecay"`), `parent_run_id` and
            `MlflowLogger` options (`log_plots`, `log_every_n_steps`,
            `flush_interval`, `request_timeout`, `give_up_after`,
            `offline_dir`). Default `True`.
        progress: Callable or `None`. Receives a `TrialEvent` per ended trial.
        tuner_options: Dict or `None`. More arguments for the KerasTuner
            tuner, e.g. `{"max_consecutive_failed_trials": 5}`;
            `{"overwrite": True}` starts the project over instead of
            resuming it (also one that holds another search); for
            Hyperband also `factor`, `min_epochs` (the smallest budget) and
            `brackets` (`None`: all) of `lrdecay.tuning.pipeline.hyperband.Hyperband`,
            whose defaults are `lrdecay.defaults.HYPERBAND_*`.
        jobs: Int or `"auto"`. Trials at a time, in worker processes of this
            machine (`lrdecay.tuning.pipeline.jobs`; `"auto"`: what its cores
            and memory allow). Defaults to `1`: this process alone.
        **fit_kwargs: `model.fit` arguments, as KerasTuner's `search()`
            takes them. The search reads these itself:
            `epochs` (per trial; Hyperband's `max_epochs`; default 40),
            `batch_size` (default 32), `validation_data`, `validation_split`,
            `verbose` (Keras/KerasTuner verbosity, default 0) and `callbacks`
            (extra Keras callbacks for every trial, deep-copied, each seeing
            what an independent fit shows it: with one that keeps state
            across epochs (`EarlyStopping`, ...) trials do not share
            prefixes (a `UserWarning` says so); a `ModelCheckpoint`,
            `CSVLogger`, `TensorBoard` or `BackupAndRestore` writes each
            trial to its own path: `{trial_id}` in the path is filled in,
            else `-trial_<id>` goes before a file's extension
            (`best-trial_0001.keras`), `trial_<id>/` into a folder). Every
            trial's `fit` gets the others: `steps_per_epoch`,
            `validation_steps`, `validation_batch_size`, `validation_freq`,
            `class_weight`, `sample_weight`, `shuffle`. Deprecated, for one
            release (a `DeprecationWarning`): a tuner option given here (use
            `tuner_options=`), `executions_per_trial` (use `repeats`),
            `tracking_uri` and `experiment_name` (use `tracking=` keys),
            `overwrite` (use `tuner_options={"overwrite": ...}`).

    Returns:
        A `SearchResult`.

    Raises:
        TypeError: For an argument of the wrong type, a keyword that is
            neither a `model.fit` argument nor a tuner option, or a model
            compiled with a `LearningRateSchedule`, before any training or
            run.
        ValueError: For a bad argument or space, an uncompiled model, labels
            the model's loss cannot take, an objective the model does not
            log (the message names the ones it does), or a `project_name`
            whose project holds another search, before any training or run.
        RuntimeError: If no trial completed.
        lrdecay.errors.DivergedSearchError: A `RuntimeError`, when
            every trial diverged; it suggests `initial_lr="auto"` (trials
            completed but the rate looks wrong: `SearchResult.evidence.rate_warning`).
    """
    called = dict(locals())  # for the workers of `jobs`
    fit_kwargs = dict(fit_kwargs)
    old = arguments.renamed(fit_kwargs)
    fit = arguments.fit_settings(fit_kwargs)
    arguments.space_alone(
        space, {"kinds": kinds, "decay_epochs": decay_epochs, "initial_lr": initial_lr}
    )
    fit_kwargs, options = keywords.split_keywords(fit_kwargs, tuner_options)
    overwrite = arguments.overwrite(options, old.overwrite)
    plan = make_plan(
        algorithm=algorithm,
        kinds=schedules.DEFAULT_KINDS if kinds is None else kinds,
        decay_epochs=decay_epochs,
        space=space,
        initial_lr=initial_lr,
        epochs=fit["epochs"],
        max_trials=max_trials,
        objective=objective,
        batch_size=fit["batch_size"],
        seed=seed,
        control=control,
        share_prefix=share_prefix,
        repeats=repeats,
        project_dir=project_dir,
        project_name=project_name,
        overwrite=overwrite,
        tracking=tracking,
        tracking_uri=old.tracking_uri,
        experiment_name=old.experiment_name,
        executions_per_trial=1 if old.repeats is None else old.repeats,
        tuner_kwargs=options,
    )
    searched_as = variant.current()
    if searched_as is not None:  # e.g. a budget search (`lrdecay.budget`)
        plan = dataclasses.replace(
            plan, identity_settings={**plan.identity_settings, **searched_as.identity}
        )
    validation_data = fit["validation_data"]
    validation_split = fit["validation_split"]
    check_data(plan, validation_data, validation_split, progress)
    dry_run = _OUTLINE_ONLY.get()
    chosen = local_jobs.checked_jobs(jobs)
    if chosen.count > 1 and not dry_run:
        searched = local_jobs.search_in_jobs(search, chosen, called)
        return cast(SearchResult, searched)
    with (
        prepare.credentials_out_of_the_uri(plan) as plan,
        runner_lock.scope(),  # `prepare.join` takes it, for the whole search
        atomic_json_writes(),  # a kill never leaves half a KerasTuner file
        execute.frozen_heap(),
    ):
        result = _search(
            plan, build_model, x, y, validation_data, validation_split,
            fit["callbacks"], progress, fit["verbose"], fit_kwargs, dry_run,
        )  # fmt: skip
    if isinstance(result, SearchOutline):
        return result  # type: ignore[return-value]  # search_outline()'s
    for message in evidence_warnings(result):
        # At the caller's line: where a notebook or script user looks.
        warnings.warn(message, EvidenceWarning, stacklevel=2)
    return result


def _search(
    plan: SearchPlan,
    build_model: Callable[..., Any],
    x: Any,
    y: Any,
    validation_data: Any,
    validation_split: float | None,
    callbacks: Sequence[Any] | None,
    progress: Callable[[TrialEvent], None] | None,
    verbose: int,
    fit_kwargs: Mapping[str, Any],
    dry_run: bool = False,
) -> SearchResult | SearchOutline:
    """`search()` after its arguments are checked: the steps, in order."""
    opening = None if dry_run else prepare.open_store_early(plan)
    data = normalize_data.normalize(
        x,
        y,
        validation_data=validation_data,
        validation_split=validation_split,
        batch_size=plan.batch_size,
        epochs=plan.epochs,
        fit_kwargs=fit_kwargs,
    )
    # The data as given (a generator read already is replayed from what was
    # read), for the checks, the identity's fallback and the range test.
    (x, *rest), _ = data.given
    y = rest[0] if rest else None
    # Before any run or trial: what every trial would fail on.
    checks.preflight(
        DecayHyperModel(build_model, plan.space, tracking=False),
        x,
        y,
        validation_data=validation_data,
        validation_split=validation_split,
        batch_size=plan.batch_size,
        objective=plan.objective,
        callbacks=callbacks or (),
    )
    search_identity = identity.identify(
        plan.identity_settings, build_model, x, y, validation_data,
        validation_split, data_digest=data.digest(), seed=plan.seed,
    )  # fmt: skip
    searched_as = variant.current()
    data_identity = searched_as.data_identity if searched_as else None
    plan = with_identity(plan, search_identity, data_identity)
    if dry_run:
        return dry_run_outline(plan, build_model, search_identity)
    joining = prepare.join(plan)
    role, joined, plan = joining.role, joining.search, joining.plan
    if not role.is_worker:
        identity.check_project(
            plan.project_path, search_identity, overwrite=plan.overwrite
        )
    lr_range = None
    if plan.auto_initial_lr:
        lr_range = prepare.range_test(plan, build_model, x, y, validation_split)
        plan = dataclasses.replace(plan, space=lr_range.space)
    sharing_off = user_callbacks.settle_sharing(plan, callbacks or ())
    if sharing_off is not None:
        plan = dataclasses.replace(plan, share_prefix=False)
    make_hypermodel = searched_as.make_hypermodel if searched_as else DecayHyperModel
    hypermodel = make_hypermodel(
        build_model,
        plan.space,
        max_epochs=plan.epochs,
        tracking=False,
        share_prefix=plan.shares_prefix,
    )
    tuner = build_tuner(plan, hypermodel, verbose=verbose)
    if not role.is_worker:
        project_files.write_identity(plan.project_path, search_identity.digest())
        if plan.seed is not None:
            project_files.write_seed(plan.project_path, plan.seed)
    if opening is not None:
        opening.join()  # MLflow's import and the store's migrations
    runs = None
    try:
        # The parent run is created and set up whole before a signal stops
        # the search, so the handler below always has it to end KILLED.
        with stop_on_signals():
            with signals_deferred():
                runs = prepare.track(plan, tuner, hypermodel, joined, data)
            prepare.record_setup(plan, runs, role.is_worker, sharing_off, lr_range)
            fit = _fit_kwargs(plan, verbose, callbacks, fit_kwargs)
            execute.run_tuner(plan, tuner, runs, role, progress, data, None, fit)
            result = assemble.search_result(plan, tuner, hypermodel, runs, role)
    except BaseException as error:
        # Stopped anywhere once the parent run exists: it ends KILLED (FAILED
        # after an error) and the same call resumes.
        if runs is not None:
            runs.search_interrupted(error)
        raise
    result = dataclasses.replace(
        result,
        evidence=dataclasses.replace(
            result.evidence, lr_range=None if lr_range is None else lr_range.result
        ),
        inputs=data,
    )
    return result


def _fit_kwargs(
    plan: SearchPlan,
    verbose: int,
    callbacks: Sequence[Any] | None,
    fit_kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """The arguments of every trial's `model.fit` besides its data.

    The data, with their own arguments (`validation_data`,
    `steps_per_epoch`, `sample_weight`, ...), come as one
    `lrdecay.tuning.data.inputs.SearchInputs` (`DecayHyperModel.fit` unpacks it).
    """
    return {
        "epochs": plan.epochs,
        "verbose": verbose,
        "callbacks": list(callbacks or []),
        **inputs.passed_on(fit_kwargs),
    }

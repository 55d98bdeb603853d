"""The MLflow run layout of a search: its tag names and the lookups built on them.

This module is the one place that says how a search looks in MLflow; the
search (`lrdecay.tuning.record.tracker`), distributed workers and `lrdecay report`
call it rather than writing a tag name or a query of their own.

- The search is one parent run tagged `lrdecay.role=search` and
  `lrdecay.search=<project_name>` (`ROLE_TAG`, `SEARCH_TAG`), its settings
  as params (among them `seed`, the search's seed, picked when the user gave
  none). Its id and the seed are kept in
  `<project_dir>/<project_name>/lrdecay_search.json` (`project_files.MARKER_FILE`), so a
  resumed search logs under the same parent with the same seed, and the
  digest of the search's identity (data, model, settings:
  `lrdecay.tuning.pipeline.identity`), so a project is never resumed by another
  search; without the
  file, the newest parent with those tags in the experiment is used (`find_parent_run`).
- Each trial execution is one child run (`mlflow.parentRunId`, `PARENT_TAG`)
  holding the trial's hyperparameters (`decay_kind=constant` for the
  constant-rate control) and its execution's `seed` as params,
  tagged `lrdecay.role=trial`, `lrdecay.trial_id` (`TRIAL_TAG`) and
  `lrdecay.execution` (`EXECUTION_TAG`); once the trial ended,
  `lrdecay.status` (`STATUS_TAG`, `lrdecay.tracking.tags`) holds
  KerasTuner's status of the trial (COMPLETED, FAILED, INVALID, KILLED) and
  the parent's says how the search ended (FINISHED, FAILED, KILLED); a
  completed trial's runs
  carry its score (`SCORE_TAG`), the best trial's runs `lrdecay.best=true`
  (`BEST_TAG`): "best" is said of a setting, so with repeats every run of the
  best setting carries it (filter on it to see the setting's spread); the
  parent names the setting's first run in `lrdecay.best_run_id`.
  Every trial run holds, beside the kind's own names (`step/epochs_drop`,
  `plateau/patience`, ...), its decay epochs under one name for every kind,
  `decay_epochs` (`DECAY_EPOCHS_PARAM`: the epochs as the trial ran them,
  a fraction already taken of its budget), so MLflow's compare view puts
  all trials on one axis. The control, which never decays, has none: the
  parallel-coordinates plot of MLflow 3.17 draws a run without the param
  just above the axis' highest value and keeps the axis numeric (a text
  value such as "-" would make it categorical, ordered as text: 10, 20, 5).
- A trial that continued a shared trunk is tagged `lrdecay.branch_of` and
  `lrdecay.departure_epoch` (`BRANCH_OF_TAG`, `DEPARTURE_TAG`) and holds the
  trunk's epochs before the departure as its own; the parent run holds the
  metrics `epochs_trained` and `epochs_independent`.
- A search whose data are not exact (`lrdecay.tuning.data.inputs`) has its
  parent tagged `lrdecay.data_exact=false` and `lrdecay.data_reason`
  (`DATA_EXACT_TAG`, `DATA_REASON_TAG`); exact data, `lrdecay.data_exact=true`.
- A run that no process can still write (its process was killed) is ended
  KILLED with `lrdecay.stale=true` (`STALE_TAG`) and the reason in
  `lrdecay.error` (`ERROR_TAG`): `end_stale_runs`.
- Stores written by earlier versions held a trial's status in
  `lrdecay.trial_status` and its kind in the tag `lrdecay.kind`;
  `lrdecay.tracking.tags.run_status` / `run_kind` read them, and a status
  written here on such a run (`set_status`) replaces the old tag.

Pure lookups on an `mlflow.MlflowClient` passed in: importing this module
imports neither MLflow, Keras nor KerasTuner.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

from lrdecay.tracking.tags import ERROR_TAG, LEGACY_TRIAL_STATUS_TAG, STATUS_TAG
from lrdecay.tuning.record.project_files import (
    MARKER_FILE,
    parent_run_lock,
    read_marker,
    write_marker,
    written_after,
)

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
ROLE_TAG = "lrdecay.role"
SEARCH_ROLE = "search"
TRIAL_ROLE = "trial"
SEARCH_TAG = "lrdecay.search"
PROJECT_DIR_TAG = "lrdecay.project_dir"
RESUMES_TAG = "lrdecay.resumes"
TRIAL_TAG = "lrdecay.trial_id"
EXECUTION_TAG = "lrdecay.execution"
SCORE_TAG = "lrdecay.score"
# A trial run's decay epochs, whatever its kind calls them.
DECAY_EPOCHS_PARAM = "decay_epochs"
BEST_TAG = "lrdecay.best"
BEST_TRIAL_TAG = "lrdecay.best_trial_id"
BEST_RUN_TAG = "lrdecay.best_run_id"
BEST_VALUE_PREFIX = "lrdecay.best."
STALE_TAG = "lrdecay.stale"
CONTINUED_FROM_TAG = "lrdecay.continued_from"
CONTINUED_FROM_RUN_TAG = "lrdecay.continued_from_run"
# A trial continuing a shared constant-rate trunk (`search(share_prefix=True)`):
# the trial that trained the trunk up to the branch point (else the trunk's
# key), and the branch point, the first epoch the trial trained itself. Its
# run holds the trunk's epochs before it too, logged with the trunk's values.
BRANCH_OF_TAG = "lrdecay.branch_of"
DEPARTURE_TAG = "lrdecay.departure_epoch"
# The parent run of a search whose trials could not share prefixes although
# asked to (`lrdecay.tuning.data.user_callbacks`): why.
SHARING_OFF_TAG = "lrdecay.share_prefix_off"
# The parent run's metrics: epochs the search's trials fitted, and epochs
# independent trials would have fitted.
EPOCHS_TRAINED_METRIC = "epochs_trained"
# The parent run of a search whose data cannot be given to every trial as the
# control saw them (`lrdecay.tuning.data.inputs.SearchInputs.exact`): "false", and
# why. Its trials ran as given, nothing shared.
DATA_EXACT_TAG = "lrdecay.data_exact"
DATA_REASON_TAG = "lrdecay.data_reason"
EPOCHS_INDEPENDENT_METRIC = "epochs_independent"
# Hyperband's place of a trial: `tuner/<key>` hyperparameter -> `lrdecay.<key>`.
HYPERBAND_KEYS = ("bracket", "round", "initial_epoch", "epochs")

# The most child runs one lookup reads (a search of more trials than this is
# read in part).
MAX_CHILD_RUNS = 5000


def experiment_id(
    client: Any,
    experiment_name: str | None = None,
    *,
    create: bool = True,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The id of the search's experiment, created if missing.

    The name is `experiment_name`, else `MLFLOW_EXPERIMENT_NAME`; with
    neither, `MLFLOW_EXPERIMENT_ID`, else MLflow's default experiment `"0"`.

    Args:
        client: `mlflow.MlflowClient` (or a tracking store: the same two
            methods are used).
        experiment_name: String or `None`.
        create: Bool. Create a missing experiment; `False` returns `None`
            for it instead (a worker waiting for the chief to create it).
            Defaults to `True`.
        environ: Mapping. Defaults to `os.environ`.

    Returns:
        The experiment id, or `None` when it is missing and `create=False`.
    """
    environ = os.environ if environ is None else environ
    name = experiment_name or environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return environ.get("MLFLOW_EXPERIMENT_ID") or "0"
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if not create:
        return None
    from mlflow.exceptions import MlflowException

    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Another process (a worker, a second search) created it first.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def find_parent_run(
    client: Any, experiment_id: str, project_name: str | None = None
) -> Any | None:
    """The newest parent run of the search `project_name` (or of any search).

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String.
        project_name: String or `None`. The search's name (tag
            `lrdecay.search`); `None`: the newest search of the experiment.

    Returns:
        An `mlflow.entities.Run`, or `None`.
    """
    query = f"tags.`{ROLE_TAG}` = '{SEARCH_ROLE}'"
    if project_name:
        query += f" and tags.`{SEARCH_TAG}` = '{project_name}'"
    runs = client.search_runs(
        [experiment_id],
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def live_run(client: Any, run_id: str | None) -> Any | None:
    """Run `run_id` unless it is missing or deleted, else `None`."""
    if run_id is None:
        return None
    try:
        run = client.get_run(run_id)
    except Exception:
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def create_parent_run(
    client: Any, experiment_id: str, project_name: str, project_path: str | None
) -> str:
    """Create the parent run of the search `project_name`; return its id.

    The run carries the context tags `mlflow.start_run` gives a run
    (`mlflow.user`, `mlflow.source.name`, `mlflow.source.type`, git's commit),
    which `MlflowClient.create_run` alone leaves out.
    """
    from lrdecay._compat.mlflow import resolve_tags

    tags = {
        ROLE_TAG: SEARCH_ROLE,
        SEARCH_TAG: project_name,
        RUN_NAME_TAG: project_name,
    }
    if project_path is not None:
        tags[PROJECT_DIR_TAG] = os.path.abspath(project_path)
    run = client.create_run(
        experiment_id, tags=resolve_tags(tags), run_name=project_name
    )
    return str(run.info.run_id)


def claim_parent_run(
    client: Any,
    experiment_id: str,
    project_name: str,
    project_path: str,
    tracking_uri: str,
    *,
    reuse: bool,
    since: float | None = None,
) -> tuple[str, Any | None]:
    """Find or create the search's parent run, once across processes.

    Under `parent_run_lock`, and re-reading the marker and MLflow only once
    it holds the lock: of two processes starting the same search at the same
    instant, one creates the parent and the other finds it.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String.
        project_name: String. The search's name (tag `lrdecay.search`).
        project_path: String. The KerasTuner project directory.
        tracking_uri: String. Kept (without credentials) in the marker.
        reuse: Bool. A resumed search: reuse the marker's parent, else the
            newest parent of `project_name`. `False`: a new search, which
            still joins a parent that a concurrent process created for the
            same project after `since`.
        since: Float or `None`. When this search's process started
            (`process_started()`).

    Returns:
        `(parent_run_id, parent)`: `parent` is the existing `Run` reused,
        `None` when this call created it.
    """
    with parent_run_lock(project_path):
        parent = None
        marker = os.path.join(project_path, MARKER_FILE)
        if reuse:
            parent = live_run(client, read_marker(project_path))
            if parent is None:
                parent = find_parent_run(client, experiment_id, project_name)
        elif since is not None and written_after(marker, since):
            parent = live_run(client, read_marker(project_path))
            if parent is not None and parent.info.status != "RUNNING":
                parent = None
        if parent is None:
            parent_run_id = create_parent_run(
                client, experiment_id, project_name, project_path
            )
        else:
            parent_run_id = str(parent.info.run_id)
        write_marker(project_path, parent_run_id, tracking_uri)
    return parent_run_id, parent


def trial_runs(
    client: Any,
    experiment_id: str,
    parent_run_id: str,
    *,
    status: str | None = None,
    trial_id: str | None = None,
) -> list[Any]:
    """The child runs of a search's parent run (its trial executions).

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String. The parent's experiment.
        parent_run_id: String.
        status: String or `None`. Only runs in this MLflow status
            (e.g. `"RUNNING"`).
        trial_id: String or `None`. Only this trial's runs.

    Returns:
        A list of `mlflow.entities.Run`, in MLflow's order.
    """
    filters = [f"tags.`{PARENT_TAG}` = '{parent_run_id}'"]
    if status is not None:
        filters.append(f"attributes.status = '{status}'")
    if trial_id is not None:
        filters.append(f"tags.`{TRIAL_TAG}` = '{trial_id}'")
    return list(
        client.search_runs(
            [experiment_id],
            filter_string=" and ".join(filters),
            max_results=MAX_CHILD_RUNS,
        )
    )


def end_stale_runs(
    client: Any,
    experiment_id: str,
    parent_run_id: str,
    *,
    reason: str,
    trial_id: str | None = None,
    superseded: Collection[str] = (),
) -> list[str]:
    """End as KILLED the child runs no process can still write; return their ids.

    A run still RUNNING belongs to a process that died (a `kill -9`, a
    crash). A FINISHED run of a trial in `superseded` (one KerasTuner had
    not ended when its process died, and re-runs) is replaced by the re-run.
    Each ends KILLED, tagged `lrdecay.stale=true`,
    `lrdecay.status=KILLED` and `lrdecay.error=<reason>`.

    Call it only when no live process writes those runs: a search resuming,
    a restarted worker for the trial the oracle hands back to it, the chief
    once every trial ended.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String. The parent's experiment.
        parent_run_id: String.
        reason: String, written to the run's `lrdecay.error` tag.
        trial_id: String or `None`. Only this trial's runs; `None`: all.
        superseded: Trial ids whose FINISHED runs are stale too.

    Returns:
        The ids of the runs ended.
    """
    superseded = set(superseded)
    if superseded:
        candidates = trial_runs(client, experiment_id, parent_run_id, trial_id=trial_id)
    else:
        candidates = trial_runs(
            client, experiment_id, parent_run_id, status="RUNNING", trial_id=trial_id
        )
    ended = []
    for run in candidates:
        status = run.info.status
        stale = status == "RUNNING" or (
            status == "FINISHED" and run.data.tags.get(TRIAL_TAG) in superseded
        )
        if not stale:
            continue
        run_id = run.info.run_id
        client.set_tag(run_id, STALE_TAG, "true")
        set_status(client, run, "KILLED")
        client.set_tag(run_id, ERROR_TAG, reason)
        client.set_terminated(run_id, "KILLED")
        ended.append(str(run_id))
    return ended


def set_status(client: Any, run: Any, status: str) -> None:
    """Write `status` in the run's `lrdecay.status` tag.

    A run of an older store holding `lrdecay.trial_status` loses it, so that
    `lrdecay.tracking.tags.run_status` reads the new status.
    """
    client.set_tag(run.info.run_id, STATUS_TAG, status)
    if LEGACY_TRIAL_STATUS_TAG in run.data.tags:
        client.delete_tag(run.info.run_id, LEGACY_TRIAL_STATUS_TAG)


# -- what `tracking=` may say ---------------------------------------------------

# Where the runs go.
TRACKING_TARGETS = ("tracking_uri", "experiment_name", "parent_run_id")
# `lrdecay.MlflowLogger` options a `tracking=` dict may pass on to each trial.
LOGGER_OPTIONS = (
    "log_plots",
    "log_every_n_steps",
    "flush_interval",
    "request_timeout",
    "give_up_after",
    "offline_dir",
)


def tracking_options(tracking: Any) -> dict[str, Any] | None:
    """The `tracking=` argument of `search()` / `DecayHyperModel`, as a dict.

    `False` -> `None` (no MLflow); `True` -> `{}` (`MLFLOW_TRACKING_URI` /
    `MLFLOW_EXPERIMENT_NAME`, else the defaults); a string -> that MLflow
    tracking URI; a dict -> its `TRACKING_TARGETS` and `LOGGER_OPTIONS`.

    Raises:
        TypeError: For another type.
        ValueError: For an empty URI or a dict key not listed above.
    """
    if isinstance(tracking, bool):
        return {} if tracking else None
    if isinstance(tracking, str):
        if not tracking:
            raise ValueError(
                "Argument `tracking` as a string is an MLflow tracking URI; "
                "it cannot be empty. Received: tracking=''"
            )
        return {"tracking_uri": tracking}
    if isinstance(tracking, Mapping):
        unknown = sorted(set(tracking) - set(TRACKING_TARGETS) - set(LOGGER_OPTIONS))
        if unknown:
            raise ValueError(
                f"Argument `tracking` has unknown keys {unknown}; it may hold "
                f"{list(TRACKING_TARGETS + LOGGER_OPTIONS)}. "
                f"Received: tracking={dict(tracking)!r}"
            )
        return dict(tracking)
    raise TypeError(
        "Argument `tracking` must be a bool, an MLflow tracking URI or a dict "
        f"of options. Received: tracking={tracking!r}"
    )

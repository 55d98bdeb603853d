"""The MLflow runs a distributed search reads: the chief's parent, stale trial runs.

A copy of the run layout `lrdecay.tuning.runs` writes (tag names, the parent
run lookup, ending stale runs), kept here until `runs` offers them publicly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLE_TAG = "lrdecay.role"
SEARCH_TAG = "lrdecay.search"
TRIAL_TAG = "lrdecay.trial_id"
STALE_TAG = "lrdecay.stale"
TRIAL_STATUS_TAG = "lrdecay.trial_status"


def experiment_id(
    client: Any, experiment_name: str | None, environ: Mapping[str, str]
) -> str | None:
    """The experiment's id, or `None` while the chief has not created it."""
    name = experiment_name or environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return environ.get("MLFLOW_EXPERIMENT_ID") or "0"
    experiment = client.get_experiment_by_name(name)
    return None if experiment is None else str(experiment.experiment_id)


def find_parent_run(client: Any, experiment_id: str, project_name: str) -> Any | None:
    """The newest parent run of the search `project_name`, or `None`.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String.
        project_name: String. The search's name (tag `lrdecay.search`).
    """
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{ROLE_TAG}` = 'search' and tags.`{SEARCH_TAG}` = '{project_name}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def end_stale_trial_runs(
    client: Any,
    experiment_id: str,
    parent_run_id: str,
    trial_id: str | None = None,
    *,
    reason: str,
) -> list[str]:
    """End as KILLED the RUNNING child runs of `parent_run_id`; return their ids.

    Called when no process can still be writing them: a restarted worker for
    the trial the oracle hands back to it, the chief once every trial ended.

    Args:
        client: `mlflow.MlflowClient`.
        experiment_id: String. The parent's experiment.
        parent_run_id: String.
        trial_id: String or `None`. Only this trial's runs; `None`: all.
        reason: String, written to the run's `lrdecay.error` tag.
    """
    filters = [
        f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
        "attributes.status = 'RUNNING'",
    ]
    if trial_id is not None:
        filters.append(f"tags.`{TRIAL_TAG}` = '{trial_id}'")
    runs = client.search_runs(
        [experiment_id], filter_string=" and ".join(filters), max_results=1000
    )
    ended = []
    for run in runs:
        run_id = run.info.run_id
        client.set_tag(run_id, STALE_TAG, "true")
        client.set_tag(run_id, TRIAL_STATUS_TAG, "KILLED")
        client.set_tag(run_id, "lrdecay.error", reason)
        client.set_terminated(run_id, "KILLED")
        ended.append(str(run_id))
    return ended

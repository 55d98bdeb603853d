"""What a search's parent run says of its trials when the search ends.

`lrdecay.tuning.record.tracker.SearchRuns.search_ended` calls these: each
trial run gets KerasTuner's final status and the best setting's runs
`lrdecay.best=true`; the parent run gets `lrdecay/trials.json`, the trial
counts, the best score and the best trial's tags (`runs` names them all),
and the experiment the UI's saved view of the trials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from mlflow.entities import Metric, RunTag

from lrdecay.tracking import uri as tracking_uri_module
from lrdecay.tracking.tags import LEGACY_TRIAL_STATUS_TAG
from lrdecay.tuning.record import runs as layout
from lrdecay.tuning.record.range_test_run import now_ms


def runs_by_trial(children: Sequence[Any]) -> dict[str, list[Any]]:
    """Trial id -> its runs (the search's child runs), oldest first; not KILLED."""
    by_trial: dict[str, list[Any]] = {}
    for run in children:
        trial_id = run.data.tags.get(layout.TRIAL_TAG)
        if trial_id is not None and run.info.status != "KILLED":
            by_trial.setdefault(trial_id, []).append(run)
    for runs in by_trial.values():
        runs.sort(key=lambda run: run.info.start_time)
    return by_trial


def with_run_ids(trials: Sequence[Any], by_trial: dict[str, list[Any]]) -> list[Any]:
    """`trials` (`TrialSummary`s) with the `run_id` of each one's first run."""
    return [
        dataclasses.replace(
            trial,
            run_id=by_trial[trial.trial_id][0].info.run_id
            if trial.trial_id in by_trial
            else None,
        )
        for trial in trials
    ]


def tag_trial_runs(
    client: Any, tuner: Any, by_trial: dict[str, list[Any]], best_id: str | None
) -> None:
    """Each trial run's final status; `lrdecay.best` on the best setting's runs."""
    for trial_id, runs in by_trial.items():
        oracle_trial = tuner.oracle.trials.get(trial_id)
        for run in runs:
            if oracle_trial is not None:
                status = str(oracle_trial.status)
                tags = run.data.tags
                if tags.get(layout.STATUS_TAG) != status or (
                    LEGACY_TRIAL_STATUS_TAG in tags
                ):
                    layout.set_status(client, run, status)
            if trial_id == best_id:
                client.set_tag(run.info.run_id, layout.BEST_TAG, "true")
            elif layout.BEST_TAG in run.data.tags:
                client.delete_tag(run.info.run_id, layout.BEST_TAG)


def log_summary(
    client: Any,
    parent_run_id: str,
    trials: Sequence[Any],
    best: Any | None,
    by_trial: dict[str, list[Any]],
) -> None:
    """The trials (`lrdecay/trials.json`), their counts and the best, on the parent."""
    best_id = None if best is None else str(best.trial_id)
    summary = [
        {
            "trial_id": trial.trial_id,
            "status": trial.status,
            "kind": trial.kind,
            "settings": trial.settings,
            "score": trial.score,
            "run_ids": [run.info.run_id for run in by_trial.get(trial.trial_id, [])],
        }
        for trial in trials
    ]
    client.log_dict(parent_run_id, summary, "lrdecay/trials.json")
    completed = sum(1 for trial in trials if trial.status == "COMPLETED")
    failed = sum(1 for trial in trials if trial.status == "FAILED")
    metrics = [
        Metric("trials_completed", completed, now_ms(), 0),
        Metric("trials_failed", failed, now_ms(), 0),
    ]
    tags = []
    if best is not None:
        metrics.append(Metric("best_score", float(best.score), now_ms(), 0))
        tags.append(RunTag(layout.BEST_TRIAL_TAG, best_id or ""))
        best_runs = by_trial.get(best_id or "", [])
        if best_runs:
            tags.append(RunTag(layout.BEST_RUN_TAG, best_runs[0].info.run_id))
        for key, value in best.hyperparameters.values.items():
            tags.append(RunTag(f"{layout.BEST_VALUE_PREFIX}{key}", str(value)))
    client.log_batch(parent_run_id, metrics=metrics, tags=tags)


def save_view(
    client: Any, experiment_id: str, parent_run_id: str, tuner: Any, objective: str
) -> None:
    """Save the MLflow UI's view of the trials, every one drawn.

    The link the search prints opens it (`tracking.uri.saved_view`).
    """
    direction = getattr(getattr(tuner.oracle, "objective", None), "direction", None)
    key, value = tracking_uri_module.saved_view(
        parent_run_id, objective, lower_is_better=direction != "max"
    )
    client.set_experiment_tag(experiment_id, key, value)


def fixed_hyperparameters(tuner: Any) -> set[str]:
    """The search's hyperparameters that take one value: no run differs there."""
    space = getattr(getattr(tuner, "oracle", None), "hyperparameters", None)
    fixed = set()
    for hp in getattr(space, "space", ()):
        kind = type(hp).__name__
        if kind == "Fixed" or (kind == "Choice" and len(hp.values) == 1):
            fixed.add(hp.name)
    return fixed

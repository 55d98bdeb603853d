"""A search's params and tags as MLflow holds them: each fact once, one axis.

A tiny tracked search with repeats is read back through `MlflowClient`: every
trial run names its decay epochs `decay_epochs` whatever its kind (the
control none), the parent holds `repeats` (not `executions_per_trial` too),
every run one status tag, `lrdecay.status` (no `lrdecay.trial_status`, and
the kind only as the param `decay_kind`),
the user and source tags MLflow's own runs have, and the experiment the
saved view its printed link opens (every run drawn).
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import pytest

import search_store as store


@pytest.mark.slow
def test_tracked_search_params_and_tags_say_each_fact_once(
    digits: Any, tmp_path: Any
) -> None:
    from lrdecay import search

    x, y, x_val, y_val = digits
    result = search(
        store.unseeded_digits_model(8), x[:300], y[:300],
        validation_data=(x_val[:100], y_val[:100]),
        algorithm="grid", kinds=("step", "exponential"), decay_epochs=[1],
        epochs=2, batch_size=100, repeats=2, seed=3,
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
    )  # fmt: skip
    client = store.client(tmp_path)
    (parent,) = store.runs(client, "search")
    params = parent.data.params
    assert params["repeats"] == "2"
    assert "executions_per_trial" not in params
    tags = parent.data.tags
    assert tags["mlflow.user"] == getpass.getuser()
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"]
    assert tags["lrdecay.status"] == "FINISHED"

    children = store.runs(client, "trial")
    assert len(children) == 6  # the control and two decays, two seeds each
    seen = sorted(
        (
            run.data.params["decay_kind"],
            run.data.params.get("decay_epochs"),
            run.data.params["seed"],
            run.data.tags.get("lrdecay.best"),
        )
        for run in children
    )
    best = result.best_decay["kind"]
    assert seen == sorted(
        (kind, epochs, seed, "true" if kind == best else None)
        for kind, epochs in (("constant", None), ("exponential", "1"), ("step", "1"))
        for seed in ("3", "4")
    )
    for run in children:  # the kind's own name beside the generic one
        # One status tag, KerasTuner's word; the kind is the param only.
        assert run.data.tags["lrdecay.status"] == "COMPLETED"
        assert not {"lrdecay.kind", "lrdecay.trial_status"} & set(run.data.tags)
        kind = run.data.params["decay_kind"]
        if kind == "constant":  # no settings of its own: its rate is the others'
            assert not [name for name in run.data.params if "/" in name]
        own = {"step": "step/epochs_drop", "exponential": "exponential/half_life"}
        if kind in own:
            assert run.data.params[own[kind]] == "1"

    experiment = client.get_experiment(parent.info.experiment_id)
    view = json.loads(
        experiment.tags[f"mlflow.sharedViewState.lrdecay-{parent.info.run_id}"]
    )
    assert view == {
        "searchFilter": f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        "orderByKey": "metrics.`val_loss`",
        "orderByAsc": True,
        "runsHiddenMode": "SHOW_ALL",
    }


def test_runs_of_earlier_versions_are_read_and_closed_in_the_new_layout(
    tmp_path: Any,
) -> None:
    """A store an earlier lrdecay wrote: the kind and trial status in old tags."""
    import mlflow

    from lrdecay.tracking import tags as run_tags
    from lrdecay.tuning.record import runs as layout

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.create_experiment("old")
    parent = client.create_run(experiment_id).info.run_id
    old_tags = {
        "mlflow.parentRunId": parent,
        "lrdecay.trial_id": "0000",
        "lrdecay.kind": "step",
        "lrdecay.trial_status": "RUNNING",
    }
    running = client.create_run(experiment_id, tags=old_tags).info.run_id
    finished = client.create_run(
        experiment_id,
        tags={**old_tags, "lrdecay.trial_status": "COMPLETED"}
        | {"lrdecay.status": "FINISHED", "lrdecay.trial_id": "0001"},
    ).info.run_id
    client.set_terminated(finished, "FINISHED")
    read = client.get_run(finished).data
    assert run_tags.run_status(read.tags) == "COMPLETED"
    assert run_tags.run_kind(read.params, read.tags) == "step"
    assert run_tags.run_kind({"decay_kind": "exponential"}, {}) == "exponential"

    # The killed process's run: ended KILLED, the old status tag replaced.
    assert layout.end_stale_runs(client, experiment_id, parent, reason="killed") == [
        running
    ]
    tags = client.get_run(running).data.tags
    assert tags["lrdecay.status"] == "KILLED"
    assert "lrdecay.trial_status" not in tags
    assert run_tags.run_status(tags) == "KILLED"

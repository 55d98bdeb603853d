"""A search's params and tags as MLflow holds them: each fact once, one axis.

A tiny tracked search with repeats is read back through `MlflowClient`: every
trial run names its decay epochs `decay_epochs` whatever its kind (the
control "-"), the parent holds `repeats` (not `executions_per_trial` too),
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

"""`lrdecay.budget()`: WSD cooldowns off one constant-rate trunk, exact and cheaper.

The budget search at budgets 4 and 8 with a 50% cooldown (two seeds, SGD
with momentum on the digits, tracked to SQLite) must give, for every budget
and seed, every metric of every epoch of the independent WSD run of that
many epochs (`prefix_trainer.train_independent`) bit for bit (`==`; so it
does on TensorFlow and on JAX, tests/test_jax.py), for the epochs its plan
counts. The plan's count at budgets 20, 40, 60, 80 with a 20% cooldown is
the issue's "done when" bar.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from search_store import unseeded_digits_model

SEED = 5
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


# Momentum: a branch must carry the optimizer's state.
build_model = unseeded_digits_model(16, learning_rate=0.3, momentum=0.9)


def test_the_plan_trains_about_half_the_epochs_of_independent_runs() -> None:
    from lrdecay.tuning.budgets.plan import make_budget_plan

    plan = make_budget_plan([80, 20, 60, 40], cooldown=0.2)
    assert plan.budgets == (20, 40, 60, 80)
    # Cooldowns of 4, 8, 12, 16 epochs; each one's first epoch (p = 0) still
    # runs at the constant rate, so it departs at B - C + 1.
    assert [plan.departure(b) for b in plan.budgets] == [17, 33, 49, 65]
    assert plan.trunk_epochs == 65
    assert plan.epochs_trained() == 65 + 3 + 7 + 11 + 15 == 101
    assert plan.epochs_independent() == 200
    assert plan.epochs_trained() / plan.epochs_independent() <= 0.55
    assert plan.epochs_trained(repeats=3) == 303
    # A one-epoch cooldown is the constant rate throughout: all trunk.
    assert make_budget_plan([1, 2], cooldown=0.2).epochs_trained() == 2


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"budgets": "10,20"}, TypeError, r"budgets='10,20'"),
        ({"budgets": [10, 0]}, ValueError, r"budgets=\[10, 0\]"),
        ({"budgets": [10, 2.5]}, TypeError, r"budgets=\[10, 2.5\]"),
        ({"budgets": [10, 10]}, ValueError, r"repeat.*budgets=\[10, 10\]"),
        ({"budgets": []}, ValueError, r"budgets=\[\]"),
        ({"cooldown": 0}, ValueError, r"cooldown=0"),
        ({"cooldown": 1.5}, ValueError, r"cooldown=1.5"),
        ({"shape": "cosine"}, ValueError, r"shape='cosine'"),
        ({"epochs": 30}, ValueError, r"epochs=30"),
        ({"initial_lr": -0.1}, ValueError, r"initial_lr"),
        ({"data_identity": "houses"}, TypeError, r"data_identity='houses'"),
    ],
)
def test_bad_arguments_fail_before_any_training(
    tmp_path: Path, arguments: dict[str, Any], error: type, match: str
) -> None:
    import lrdecay

    def never_built() -> Any:
        raise AssertionError("no model may be built for a bad argument")

    with pytest.raises(error, match=match):
        lrdecay.budget(never_built, project_dir=tmp_path, tracking=False, **arguments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_each_budget_is_its_independent_wsd_run(digits: Any, tmp_path: Path) -> None:
    import mlflow

    import lrdecay
    from prefix_trainer import train_independent

    x, y, x_val, y_val = digits
    result = lrdecay.budget(
        build_model, x, y, validation_data=(x_val, y_val), budgets=[8, 4],
        cooldown=0.5, repeats=2, seed=SEED, batch_size=128,
        project_dir=tmp_path, tracking=f"sqlite:///{tmp_path}/mlflow.db",
    )  # fmt: skip
    curves = {(curve.budget, curve.seed): curve.history for curve in result.curves}
    assert sorted(curves) == [(4, SEED), (4, SEED + 1), (8, SEED), (8, SEED + 1)]
    for (budget, seed), history in curves.items():
        decay = lrdecay.WSDDecay(decay_epochs=budget, cooldown=0.5, shape="1-sqrt")
        independent = train_independent(
            build_model, decay, x, y, validation_data=(x_val, y_val),
            epochs=budget, seed=seed, batch_size=128,
        )  # fmt: skip
        for metric in METRICS:
            assert history[metric] == [logs[metric] for logs in independent], (
                budget,
                seed,
                metric,
            )
    # Per seed: the trunk to budget 8's departure (5), then 1 + 3 cooldown
    # epochs; independent runs: 4 + 8.
    assert (result.epochs_trained, result.epochs_independent) == (18, 24)
    assert result.plan.epochs_trained(repeats=2) == 18
    assert str(result).splitlines()[-1] == "epochs: 18 trained of 24 (75%)"
    # Each point is its runs' last val_loss; the constant rate beside it is
    # the trunk's own (budget 8's first 5 epochs), none past the trunk.
    four, eight = result.points
    assert four.scores == (
        curves[(4, SEED)]["val_loss"][3],
        curves[(4, SEED + 1)]["val_loss"][3],
    )
    assert four.constant == pytest.approx(
        (curves[(8, SEED)]["val_loss"][3] + curves[(8, SEED + 1)]["val_loss"][3]) / 2
    )
    assert eight.constant is None
    assert result.recommended in (4, 8)
    assert f"decay_epochs={result.recommended}" in result.code
    assert f"epochs={result.recommended})" in result.code
    # MLflow: one child run per budget and seed, named by budget.
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    children = client.search_runs(
        [result.search.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{result.search.parent_run_id}'",
    )
    assert sorted(
        (run.info.run_name, run.data.params["budget"], run.data.params["cooldown"])
        for run in children
    ) == [
        (f"budget 4 seed={SEED}", "4", "0.5"),
        (f"budget 4 seed={SEED + 1}", "4", "0.5"),
        (f"budget 8 seed={SEED}", "8", "0.5"),
        (f"budget 8 seed={SEED + 1}", "8", "0.5"),
    ]
    assert {run.data.params["shape"] for run in children} == {"1-sqrt"}
    parent = client.get_run(result.search.parent_run_id)
    assert parent.data.params["budgets"] == "4,8"
    assert parent.data.tags["lrdecay.recommended_budget"] == str(result.recommended)
    plots = [a.path for a in client.list_artifacts(parent.info.run_id, "lrdecay")]
    assert "lrdecay/budget_curve.png" in plots
    # The same call resumes: nothing trains, the same points, the same runs.
    again = lrdecay.budget(
        build_model, x, y, validation_data=(x_val, y_val), budgets=[4, 8],
        cooldown=0.5, repeats=2, seed=SEED, batch_size=128,
        project_dir=tmp_path, tracking=f"sqlite:///{tmp_path}/mlflow.db",
    )  # fmt: skip
    assert again.points == result.points
    assert again.search.parent_run_id == result.search.parent_run_id
    assert (again.epochs_trained, again.epochs_independent) == (18, 24)


def _curves(scores: dict[int, list[float]], trunk: list[list[float]]) -> list[Any]:
    """Curves whose last `val_loss` are `scores`; budget 80's start is `trunk`."""
    from lrdecay.tuning.budgets.hypermodel import BudgetCurve

    curves = []
    for budget, values in scores.items():
        for seed, value in enumerate(values):
            history = [9.0] * (budget - 1) + [value]
            if budget == max(scores):
                history[: len(trunk[seed])] = trunk[seed]
            curves.append(BudgetCurve(budget, seed, {"val_loss": history}))
    return curves


def test_the_verdict_names_the_shortest_budget_within_the_spread() -> None:
    from lrdecay.tuning.budgets import evidence
    from lrdecay.tuning.budgets.plan import make_budget_plan

    plan = make_budget_plan([20, 40, 80])
    trunk = [[float(epoch) for epoch in range(65)]] * 2
    # 40 is 0.01 from the best (80), the runs 0.1 apart: less than the spread.
    curves = _curves({20: [0.9, 1.0], 40: [0.4, 0.5], 80: [0.38, 0.5]}, trunk)
    points = evidence.budget_points(plan, curves, "val_loss", "min")
    assert [(p.budget, p.mean, p.within_spread) for p in points] == [
        (20, pytest.approx(0.95), False),
        (40, pytest.approx(0.45), True),
        (80, pytest.approx(0.44), True),
    ]
    # The constant rate after 20 and 40 epochs: the trunk's epochs 19 and 39.
    assert [p.constant for p in points] == [19.0, 39.0, None]
    assert evidence.recommended(points, "min").budget == 40  # type: ignore[union-attr]
    assert evidence.length_verdict(points, "val_loss", "min") == (
        "Training beyond 40 epochs bought less than the run-to-run spread: "
        "val_loss 0.45 ± 0.071 at 40 epochs vs 0.44 ± 0.085 at 80."
    )
    # The constant rate (19, 39) is far worse: the cooldowns beat it.
    assert evidence.constant_verdict(points, "val_loss", "min") == ""
    near = [dataclasses.replace(p, constant=p.mean - 0.01) for p in points]
    assert evidence.constant_verdict(near, "val_loss", "min") == (
        "At 20, 40, 80 epochs the cooldown did not beat the constant rate after "
        "the same epochs by more than the run-to-run spread (val_loss)."
    )
    assert evidence.paste_line(plan, 40, 0.1) == (
        "WSDDecay(initial_lr=0.1, decay_epochs=40, cooldown=0.2, shape='1-sqrt')"
        "  # model.fit(..., epochs=40)"
    )


def test_the_verdict_says_when_the_longest_budget_still_pays() -> None:
    from lrdecay.tuning.budgets import evidence
    from lrdecay.tuning.budgets.plan import make_budget_plan

    plan = make_budget_plan([20, 80])
    trunk = [[1.0] * 65] * 2
    curves = _curves({20: [0.9, 1.0], 80: [0.3, 0.31]}, trunk)
    points = evidence.budget_points(plan, curves, "val_loss", "min")
    assert evidence.recommended(points, "min").budget == 80  # type: ignore[union-attr]
    assert evidence.length_verdict(points, "val_loss", "min").startswith(
        "val_loss still improved beyond the run-to-run spread at the longest "
        "budget, 80 epochs"
    )
    # One run per budget: no spread to judge by; the best is named.
    single = _curves({20: [0.9], 80: [0.3]}, trunk[:1])
    points = evidence.budget_points(plan, single, "val_loss", "min")
    assert evidence.recommended(points, "min").budget == 80  # type: ignore[union-attr]
    assert "no run-to-run spread" in evidence.length_verdict(points, "val_loss", "min")
    # Accuracy: higher is better.
    points = evidence.budget_points(
        plan, _curves({20: [0.9, 0.91], 80: [0.5, 0.52]}, trunk), "val_loss", "max"
    )
    assert evidence.recommended(points, "max").budget == 20  # type: ignore[union-attr]

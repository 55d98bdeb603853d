"""A budget search in MLflow, on the search's own run layout (`record.runs`).

After the grid search has written its parent run and one child run per
trial execution: each child is named by its budget and seed
(`budget 40 seed=1`) and gets the params `budget`, `cooldown`, `shape`
(what MLflow's compare view needs); the parent gets `budgets`, `cooldown`,
`shape`, the recommended budget (tag `lrdecay.recommended_budget`: a tag,
so that a resumed search can update it) and the plot
`lrdecay/budget_curve.png`: the objective against epochs trained, the
constant-rate trunk's own curve and the WSD cooldowns' end points, each the
mean over the repeats with a band from lowest to highest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrdecay.tracking.settings_plot import Curve, settings_plot
from lrdecay.tuning.budgets.hypermodel import BudgetCurve
from lrdecay.tuning.budgets.plan import BudgetPlan
from lrdecay.tuning.record import runs as layout

PLOT_PATH = "lrdecay/budget_curve.png"
RECOMMENDED_TAG = "lrdecay.recommended_budget"
TRUNK_LINE = "constant rate"


def run_name(budget: int, seed: Any) -> str:
    """`budget 40 seed=1`: a budget search's child run."""
    return f"budget {budget}" if seed is None else f"budget {budget} seed={seed}"


def record_budgets(
    search: Any,
    plan: BudgetPlan,
    curves: Sequence[BudgetCurve],
    objective: str,
    recommended: int | None,
) -> None:
    """Name the child runs, log the params and the parent's plot.

    Args:
        search: The `SearchResult` of the budget search's grid.
        plan: `BudgetPlan`.
        curves: Every execution's curve (`hypermodel.read_curves`).
        objective: String. The metric plotted.
        recommended: Int or `None`. The budget to train.
    """
    import mlflow

    if search.parent_run_id is None:
        return
    client = mlflow.MlflowClient(search.tracking_uri)
    budget_of = {
        trial.trial_id: trial.settings.get("decay_epochs") for trial in search.trials
    }
    for run in layout.trial_runs(client, search.experiment_id, search.parent_run_id):
        budget = budget_of.get(run.data.tags.get(layout.TRIAL_TAG, ""))
        if budget is None:
            continue
        client.set_tag(
            run.info.run_id,
            layout.RUN_NAME_TAG,
            run_name(int(budget), run.data.params.get("seed")),
        )
        _log_params(
            client,
            run,
            {"budget": int(budget), "cooldown": plan.cooldown, "shape": plan.shape},
        )
    parent = client.get_run(search.parent_run_id)
    _log_params(
        client,
        parent,
        {
            "budgets": ",".join(str(b) for b in plan.budgets),
            "cooldown": plan.cooldown,
            "shape": plan.shape,
        },
    )
    if recommended is not None:
        client.set_tag(search.parent_run_id, RECOMMENDED_TAG, str(recommended))
    _log_plot(client, search.parent_run_id, plan, curves, objective)


def _log_params(client: Any, run: Any, params: dict[str, Any]) -> None:
    """Log the params the run lacks (MLflow refuses to change a logged one)."""
    for key, value in params.items():
        if key not in run.data.params and value is not None:
            client.log_param(run.info.run_id, key, value)


def score_curves(
    plan: BudgetPlan, curves: Sequence[BudgetCurve], objective: str
) -> dict[str, list[Curve]]:
    """The plot's lines: the trunk per seed, the cooldowns' end points per seed.

    x is the epochs trained: epoch `e`'s value is after `e + 1` epochs.
    """
    longest = max((curve.budget for curve in curves), default=0)
    trunk_length = plan.departure(longest) if longest else 0
    wsd = f"WSD, cooldown {plan.cooldown:.0%} {plan.shape}"
    lines: dict[str, list[Curve]] = {TRUNK_LINE: [], wsd: []}
    by_seed: dict[Any, list[tuple[int, float]]] = {}
    for curve in curves:
        values = curve.history.get(objective, [])
        if curve.budget == longest:
            trunk = values[:trunk_length]
            lines[TRUNK_LINE].append(
                (list(range(1, len(trunk) + 1)), [float(v) for v in trunk])
            )
        if len(values) >= curve.budget:
            by_seed.setdefault(curve.seed, []).append(
                (curve.budget, float(values[curve.budget - 1]))
            )
    for points in by_seed.values():
        points.sort()
        lines[wsd].append(([b for b, _ in points], [v for _, v in points]))
    return {name: found for name, found in lines.items() if found}


def _log_plot(
    client: Any,
    parent_run_id: str,
    plan: BudgetPlan,
    curves: Sequence[BudgetCurve],
    objective: str,
) -> None:
    lines = score_curves(plan, curves, objective)
    if not lines:
        return
    with tempfile.TemporaryDirectory(prefix="lrdecay-budget-") as folder:
        path = settings_plot(
            lines,
            Path(folder) / Path(PLOT_PATH).name,
            control=TRUNK_LINE if TRUNK_LINE in lines else None,
            ylabel=objective,
            title=f"{objective} against epochs trained "
            "(mean over repeats, band: lowest to highest)",
            log_scale=objective.endswith("loss"),
            steps=False,
            xlabel="epochs trained",
            markers=True,
        )
        client.log_artifact(parent_run_id, str(path), str(Path(PLOT_PATH).parent))

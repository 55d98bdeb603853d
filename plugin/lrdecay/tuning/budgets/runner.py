"""`budget()`: how many epochs to train, from one constant-rate trunk.

A grid search (`lrdecay.search`'s pipeline: data read once, the preflight,
the project and resuming, the MLflow run layout, shared trunks) over WSD
trials, one per budget, each trained for its own budget
(`pipeline.variant`, `budgets.hypermodel`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lrdecay import defaults
from lrdecay._validation import check_bool, check_positive_finite
from lrdecay.tuning.budgets import evidence, record
from lrdecay.tuning.budgets.hypermodel import BudgetHyperModel, read_curves
from lrdecay.tuning.budgets.plan import WSD_KIND, BudgetPlan, make_budget_plan
from lrdecay.tuning.evidence.result import TrialEvent
from lrdecay.tuning.pipeline.caller_warnings import warn_again
from lrdecay.tuning.pipeline.runner import search
from lrdecay.tuning.pipeline.variant import SearchVariant, searching_as

__all__ = ["budget"]


def budget(
    build_model: Callable[..., Any],
    x: Any = None,
    y: Any = None,
    *,
    budgets: Sequence[int] = defaults.BUDGETS,
    cooldown: float = defaults.BUDGET_COOLDOWN,
    shape: str = defaults.BUDGET_SHAPE,
    initial_lr: float | None = None,
    objective: Any = defaults.OBJECTIVE,
    repeats: int | None = None,
    seed: int | None = defaults.SEED,
    share_prefix: bool = defaults.SHARE_PREFIX,
    project_dir: str | os.PathLike[str] = defaults.PROJECT_DIR,
    project_name: str | None = None,
    overwrite: bool = False,
    tracking: bool | str | Mapping[str, Any] = True,
    progress: Callable[[TrialEvent], None] | None = None,
    data_identity: Mapping[str, Any] | None = None,
    **fit_kwargs: Any,
) -> evidence.BudgetResult:
    """Score a warmup-stable-decay run at each epoch budget, at about half the cost.

    For each budget B, a WSD run of B epochs (`WSDDecay(decay_epochs=B,
    cooldown=cooldown, shape=shape)`: the constant rate, then a cooldown to
    0 over the last `round(cooldown * B)` epochs). Their constant-rate parts
    are one trunk per seed, trained once to the longest budget's cooldown
    start; each cooldown branches off it (`share_prefix=True`): every point
    is exactly the independent WSD run of B epochs with its seed, and the
    search trains `BudgetPlan.epochs_trained()` of
    `BudgetPlan.epochs_independent()` epochs (budgets 20, 40, 60, 80 with a
    20% cooldown: 101 of 200). A grid search underneath (`lrdecay.search`),
    with its vocabulary, data, project, resuming and MLflow layout; one
    child run per budget and seed, named `budget B seed=S`.

    Example:

    ```python
    result = lrdecay.budget(
        build_model, x, y, validation_data=(x_val, y_val),
        budgets=(20, 40, 60, 80), repeats=3,
    )
    print(result)  # the table, the verdict, the line to paste, the epochs
    ```

    Args:
        build_model: As for `search()`.
        x, y: Training data, as for `search()`.
        budgets: Sequence of int. The epochs of each run. Defaults to
            `(10, 20, 40)`.
        cooldown: Float in (0, 1]. The cooldown's fraction of each budget.
            Defaults to `0.2`.
        shape: `"1-sqrt"` (default) or `"linear"`. The cooldown's shape.
        initial_lr: Float or `None` (the model's rate). The stable rate.
        objective: The metric scored at the end of each run, as for
            `search()`. Defaults to `"val_loss"`.
        repeats: Int or `None` (default: 1). Runs per budget, one seed
            each; with 2 or more the verdict weighs the run-to-run spread.
        seed: Int or `None`, as for `search()`.
        share_prefix: Bool. Branch the cooldowns off one trunk (the same
            numbers as independent runs). Defaults to `True`.
        project_dir, project_name, overwrite, tracking, progress: As for
            `search()`; the default project is named `budget-<data>-<hash>`.
        data_identity: Mapping or `None`. What identifies the data beyond
            its content (the command line's data file, target and model),
            as `lrdecay.defaults.project_name` takes it: its `"name"` is the
            `<data>` of the default project name. Defaults to `None`
            (`digits`, as `search()` names data passed from Python).
        **fit_kwargs: `model.fit` arguments, as for `search()`, but not
            `epochs` (the budgets are the epochs).

    Returns:
        A `lrdecay.tuning.budgets.evidence.BudgetResult`.

    Raises:
        TypeError, ValueError: For a bad argument (the message names it),
            before any training; and what `search()` raises.
    """
    plan = make_budget_plan(budgets, cooldown, shape)
    if "epochs" in fit_kwargs:
        raise ValueError(
            "Argument `epochs` is set by `budgets` in a budget search: leave it "
            f"out. Received: epochs={fit_kwargs['epochs']!r}"
        )
    check_bool("overwrite", overwrite)
    if initial_lr is not None:
        check_positive_finite("initial_lr", initial_lr)
    if data_identity is not None and not isinstance(data_identity, Mapping):
        raise TypeError(
            "Argument `data_identity` must be a mapping (e.g. {'name': 'houses'}) "
            f"or None. Received: data_identity={data_identity!r}"
        )
    made: list[BudgetHyperModel] = []

    def make_hypermodel(*args: Any, **kwargs: Any) -> BudgetHyperModel:
        hypermodel = BudgetHyperModel(*args, plan=plan, **kwargs)
        made.append(hypermodel)
        return hypermodel

    variant = SearchVariant(
        make_hypermodel,
        identity={
            "algorithm": "budget",
            "kinds": [WSD_KIND, {"cooldown": plan.cooldown, "shape": plan.shape}],
        },
        data_identity=data_identity,
        overwrite_argument="overwrite=True",
    )
    with searching_as(variant), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(
            build_model, x, y,
            algorithm="grid", kinds=(WSD_KIND,), decay_epochs=list(plan.budgets),
            initial_lr=initial_lr, objective=objective, repeats=repeats,
            seed=seed, control=False, share_prefix=share_prefix,
            project_dir=project_dir, project_name=project_name,
            tuner_options={"overwrite": overwrite}, tracking=tracking,
            progress=progress,
            epochs=plan.budgets[-1], **fit_kwargs,
        )  # fmt: skip
    warn_again(caught, __file__, stacklevel=2)
    return _result(plan, result, made[-1] if made else None)


def _result(
    plan: BudgetPlan, search_result: Any, hypermodel: BudgetHyperModel | None
) -> evidence.BudgetResult:
    """The points, the verdict and the line to paste; recorded in MLflow."""
    objective = search_result.evidence.objective
    direction = search_result.evidence.direction
    curves = read_curves(search_result.tuner)
    points = evidence.budget_points(plan, curves, objective, direction)
    chosen = evidence.recommended(points, direction)
    initial_lr = None
    if hypermodel is not None and search_result.trials:
        initial_lr = hypermodel.trial_initial_lr(
            search_result.tuner, search_result.trials[0].trial_id
        )
    record.record_budgets(
        search_result,
        plan,
        curves,
        objective,
        None if chosen is None else chosen.budget,
    )
    return evidence.BudgetResult(
        plan=plan,
        points=points,
        objective=objective,
        direction=direction,
        recommended=None if chosen is None else chosen.budget,
        verdict=" ".join(
            sentence
            for sentence in (
                evidence.length_verdict(points, objective, direction),
                evidence.constant_verdict(points, objective, direction),
            )
            if sentence
        ),
        code=""
        if chosen is None
        else evidence.paste_line(plan, chosen.budget, initial_lr),
        epochs_trained=search_result.cost.epochs_trained,
        epochs_independent=search_result.cost.epochs_independent,
        curves=curves,
        search=search_result,
    )

"""`BudgetHyperModel`: a `DecayHyperModel` whose trials train their own budget.

A trial of a budget search is a WSD decay of `decay_epochs = B` (the
search's grid of decay epochs is the budgets): its fit runs `epochs=B`
instead of the search's `epochs` (the longest budget), with the plan's
cooldown and shape. Everything else is `DecayHyperModel`'s: seeding, the
shared trunk (a trial extends it to its departure, then branches), the
MLflow run. Each execution's whole curve (the shared epochs included) is
written beside the trial (`curve_path`), so the evidence reads it after a
fresh or a resumed search alike.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from collections.abc import Callable
from typing import Any

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.callbacks import WSDDecay
from lrdecay.tuning.budgets.plan import BudgetPlan
from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel, TrialContext
from lrdecay.tuning.searchspace.space import ResolvedDecay

CURVE_FILE = "lrdecay_budget_seed{seed}.json"


@dataclasses.dataclass(frozen=True)
class BudgetCurve:
    """One execution of one budget: its seed and its per-epoch logs."""

    budget: int
    seed: int | None
    history: dict[str, list[float]]


class BudgetHyperModel(DecayHyperModel):
    """The hypermodel of a budget search (see the module docstring).

    Args:
        build_model: As `DecayHyperModel`'s.
        space: The search's `DecaySpace` (kind `"wsd"`, the budgets as its
            decay epochs).
        plan: `BudgetPlan`. The cooldown and shape of every trial.
        **kwargs: `DecayHyperModel`'s other arguments.
    """

    def __init__(
        self,
        build_model: Callable[..., Any],
        space: Any = None,
        *,
        plan: BudgetPlan,
        **kwargs: Any,
    ) -> None:
        super().__init__(build_model, space, **kwargs)
        self.plan = plan

    def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        budget = self.space.resolve(hp.values, int(kwargs.get("epochs", 1)))
        kwargs["epochs"] = int(budget.decay_epochs or kwargs.get("epochs", 1))
        seed = self.execution_seed
        history = super().fit(hp, model, *args, **kwargs)
        tuner_callback = keras_tuner_compat.find_tuner_callback(
            kwargs.get("callbacks") or ()
        )
        if tuner_callback is not None:
            folder = tuner_callback.tuner.get_trial_dir(tuner_callback.trial.trial_id)
            _write_curve(folder, kwargs["epochs"], seed, history.history)
        return history

    def _make_decay(
        self, context: TrialContext, model: Any, epochs: int
    ) -> tuple[Any, ResolvedDecay]:
        _, resolved = super()._make_decay(context, model, epochs)
        settings = {
            **resolved.settings,
            "cooldown": self.plan.cooldown,
            "shape": self.plan.shape,
        }
        decay = WSDDecay(initial_lr=resolved.initial_lr, **settings)
        return decay, dataclasses.replace(resolved, settings=settings)


def _write_curve(
    folder: str, budget: int, seed: int | None, history: dict[str, Any]
) -> None:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, CURVE_FILE.format(seed=seed))
    logs = {key: [float(value) for value in values] for key, values in history.items()}
    with open(path, "w") as file:
        json.dump({"budget": budget, "seed": seed, "history": logs}, file)


def read_curves(tuner: Any) -> list[BudgetCurve]:
    """Every completed execution's curve, from the trials' folders."""
    curves = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        if str(trial.status) != "COMPLETED":
            continue
        folder = tuner.get_trial_dir(trial_id)
        pattern = os.path.join(folder, CURVE_FILE.format(seed="*"))
        for path in sorted(glob.glob(pattern)):
            with open(path) as file:
                stored = json.load(file)
            curves.append(
                BudgetCurve(int(stored["budget"]), stored["seed"], stored["history"])
            )
    return curves

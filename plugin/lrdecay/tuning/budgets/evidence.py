"""The evidence of a budget search: the score at each budget, and the verdict.

Per budget B (`BudgetPoint`): the objective at the end of each repeat's WSD
run of B epochs, their mean and sample spread, and beside it the constant
rate after the same B epochs, read off the trunk's own curve (the first
epochs of the longest run, which follow the constant rate up to its
departure; `None` past it). Each point is marked as the search marks its
settings, indistinguishable from the best or not (Welch's test at
`verdict.ALPHA`), and within the run-to-run spread of the best or not: its
mean is less than the spread (the larger sample standard deviation of the
two) from the best's. The recommended budget is the shortest one within the
spread of the best; when it is shorter than the best, "training beyond B
epochs bought less than the run-to-run spread".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lrdecay.tuning.budgets.hypermodel import BudgetCurve
from lrdecay.tuning.budgets.plan import WSD_KIND, BudgetPlan
from lrdecay.tuning.evidence.result import decay_code
from lrdecay.tuning.evidence.verdict import ALPHA, welch_p_value


@dataclasses.dataclass(frozen=True)
class BudgetPoint:
    """One budget's WSD runs.

    Attributes:
        budget: Int. The epochs of the run (B).
        departure: Int. The epochs it shares with the constant-rate trunk.
        scores: Tuple of float. The objective after B epochs, per repeat.
        mean: Float. Their mean.
        std: Float. Their sample standard deviation (`nan` with one).
        constant: Float or `None`. The constant rate's objective after B
            epochs (mean over the repeats' trunks); `None` past the trunk.
        indistinguishable_from_best: Bool. Welch's test against the best
            does not reject equal means (or fewer than two repeats); `True`
            for the best itself.
        p_value: Float or `None`. Welch's p-value against the best budget.
        within_spread: Bool. Its mean is less than the run-to-run spread
            from the best's; `True` for the best itself, `False` with fewer
            than two repeats on either side (no spread to compare with).
    """

    budget: int
    departure: int
    scores: tuple[float, ...]
    mean: float
    std: float
    constant: float | None
    indistinguishable_from_best: bool = True
    p_value: float | None = None
    within_spread: bool = True

    def spread_text(self) -> str:
        if len(self.scores) < 2:
            return f"{self.mean:.4g}"
        return f"{self.mean:.4g} ± {self.std:.2g}"


def budget_points(
    plan: BudgetPlan, curves: Sequence[BudgetCurve], objective: str, direction: str
) -> list[BudgetPoint]:
    """The points of the budgets that have runs, shortest first."""
    longest = max((curve.budget for curve in curves), default=0)
    trunk_length = plan.departure(longest) if longest else 0
    trunks = [
        curve.history.get(objective, [])[:trunk_length]
        for curve in curves
        if curve.budget == longest
    ]
    raw = []
    for budget in plan.budgets:
        scores = tuple(
            float(values[budget - 1])
            for curve in curves
            if curve.budget == budget
            and len(values := curve.history.get(objective, [])) >= budget
        )
        if not scores:
            continue
        at_budget = [trunk[budget - 1] for trunk in trunks if len(trunk) >= budget]
        raw.append(
            BudgetPoint(
                budget=budget,
                departure=plan.departure(budget),
                scores=scores,
                mean=float(np.mean(scores)),
                std=float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan,
                constant=float(np.mean(at_budget)) if at_budget else None,
            )
        )
    best = best_point(raw, direction)
    if best is None:
        return raw
    return [_against(point, best) for point in raw]


def best_point(points: Sequence[BudgetPoint], direction: str) -> BudgetPoint | None:
    """The best mean; exact ties go to the shorter budget."""
    sign = 1.0 if direction == "min" else -1.0
    finite = [point for point in points if math.isfinite(point.mean)]
    return min(finite, key=lambda p: (sign * p.mean, p.budget), default=None)


def _against(point: BudgetPoint, best: BudgetPoint) -> BudgetPoint:
    if point.budget == best.budget:
        return point
    p_value = welch_p_value(point.scores, best.scores)
    spread = max(point.std, best.std)
    return dataclasses.replace(
        point,
        p_value=p_value,
        indistinguishable_from_best=p_value is None or p_value >= ALPHA,
        # nan (one repeat) compares False: no spread, nothing is within it.
        within_spread=abs(point.mean - best.mean) < spread,
    )


def recommended(points: Sequence[BudgetPoint], direction: str) -> BudgetPoint | None:
    """The shortest budget within the run-to-run spread of the best.

    With one run per budget there is no spread: the best.
    """
    best = best_point(points, direction)
    if best is None or len(best.scores) < 2:
        return best
    return next(point for point in points if point.within_spread)


def length_verdict(
    points: Sequence[BudgetPoint], objective: str, direction: str
) -> str:
    """One sentence on how long to train."""
    best = best_point(points, direction)
    chosen = recommended(points, direction)
    if best is None or chosen is None:
        return "No budget completed: nothing to judge the length by."
    if len(best.scores) < 2:
        return (
            f"The best {objective} was at {best.budget} epochs; with one run per "
            "budget there is no run-to-run spread to judge the length by "
            "(use repeats=3)."
        )
    if chosen.budget < best.budget:
        return (
            f"Training beyond {chosen.budget} epochs bought less than the "
            f"run-to-run spread: {objective} {chosen.spread_text()} at "
            f"{chosen.budget} epochs vs {best.spread_text()} at {best.budget}."
        )
    if best.budget == points[-1].budget and len(points) > 1:
        return (
            f"{objective} still improved beyond the run-to-run spread at the "
            f"longest budget, {best.budget} epochs ({best.spread_text()}): "
            "longer training may pay; try longer budgets."
        )
    return (
        f"{best.budget} epochs scored best beyond the run-to-run spread "
        f"({objective} {best.spread_text()}); longer runs did not do better."
    )


def constant_verdict(
    points: Sequence[BudgetPoint], objective: str, direction: str
) -> str:
    """One sentence when the cooldown did not beat the constant rate, else "".

    A budget's cooldown beats the constant rate when its mean is better than
    the constant rate's after the same epochs by more than its run-to-run
    spread; with one run per budget nothing is said.
    """
    sign = 1.0 if direction == "min" else -1.0
    not_beaten = [
        point.budget
        for point in points
        if point.constant is not None
        and len(point.scores) > 1
        and not sign * (point.constant - point.mean) > point.std
    ]
    if not not_beaten:
        return ""
    budgets = ", ".join(str(budget) for budget in not_beaten)
    return (
        f"At {budgets} epochs the cooldown did not beat the constant rate after "
        f"the same epochs by more than the run-to-run spread ({objective})."
    )


def paste_line(plan: BudgetPlan, budget: int, initial_lr: float | None) -> str:
    """`WSDDecay(...)` for the run of `budget` epochs, and its `epochs=`."""
    code = decay_code(
        WSD_KIND,
        {"decay_epochs": budget, "cooldown": plan.cooldown, "shape": plan.shape},
        initial_lr=initial_lr,
    )
    return f"{code}  # model.fit(..., epochs={budget})"


@dataclasses.dataclass(frozen=True)
class BudgetResult:
    """What `lrdecay.budget()` returns.

    Attributes:
        plan: `BudgetPlan`.
        points: List of `BudgetPoint`, shortest budget first.
        objective: String. The metric scored (the search's objective).
        direction: `"min"` or `"max"`.
        recommended: Int or `None`. The budget to train (see
            `recommended`).
        verdict: String. One sentence on the length.
        code: String. The decay to paste, with its `epochs=`.
        epochs_trained: Int. Epochs the search trained.
        epochs_independent: Int. Epochs of independent runs of every budget.
        curves: List of `BudgetCurve`. Every execution's whole curve.
        search: The `lrdecay.SearchResult` of the underlying grid search
            (its MLflow parent run, its tuner).
    """

    plan: BudgetPlan
    points: list[BudgetPoint]
    objective: str
    direction: str
    recommended: int | None
    verdict: str
    code: str
    epochs_trained: int
    epochs_independent: int
    curves: list[BudgetCurve]
    search: Any

    def table(self) -> str:
        """The points as text: one row per budget."""
        header = (
            f"{'budget':>6}  {'cooldown from':>13}  {self.objective + ' (WSD)':>22}"
            f"  {'constant rate':>13}"
        )
        rows = [header]
        for point in self.points:
            constant = "-" if point.constant is None else f"{point.constant:.4g}"
            mark = ""
            if point.budget == self.recommended:
                mark = "  <- train this"
            elif len(point.scores) < 2:
                mark = ""
            elif point.within_spread:
                mark = "  (within the spread of the best)"
            else:
                mark = "  (worse beyond the spread)"
            rows.append(
                f"{point.budget:>6}  {'epoch ' + str(point.departure):>13}  "
                f"{point.spread_text():>22}  {constant:>13}{mark}"
            )
        if any(point.constant is None for point in self.points):
            rows.append(
                "(constant rate -: past the constant-rate trunk, which ends where "
                f"the longest cooldown starts, epoch {self.plan.trunk_epochs})"
            )
        return "\n".join(rows)

    def epochs_line(self) -> str:
        """`epochs: N trained of M (P%)`, as a search says it."""
        total = self.epochs_independent or 1
        return (
            f"epochs: {self.epochs_trained} trained of {self.epochs_independent} "
            f"({100 * self.epochs_trained / total:.0f}%)"
        )

    def __str__(self) -> str:
        return "\n".join([self.table(), self.verdict, self.code, self.epochs_line()])

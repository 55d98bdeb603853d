"""`BudgetPlan`: the budgets of a budget search, its cooldown, and what it costs.

One WSD run per budget B: the constant rate up to its departure epoch
(`WSDSchedule.departure_epoch`: `B - C + 1` with `C = max(1, round(cooldown
* B))`, the cooldown's first epoch still at the constant rate), then the
cooldown to B. With shared prefixes the constant-rate part is one trunk per
seed, trained to the latest departure; each budget trains only its epochs
after its departure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from lrdecay import defaults
from lrdecay._validation import check_choice, check_epoch_count, check_number
from lrdecay.schedules import WSDSchedule

# The kind a budget search runs: warmup-stable-decay, its cooldown per budget.
WSD_KIND = WSDSchedule.kind


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """The WSD runs of a budget search.

    Attributes:
        budgets: Tuple of int. The epochs of each run, increasing, no repeats.
        cooldown: Float in (0, 1]. The cooldown's fraction of each budget.
        shape: String. The cooldown's shape (`WSDSchedule.SHAPES`).
    """

    budgets: tuple[int, ...]
    cooldown: float = defaults.BUDGET_COOLDOWN
    shape: str = defaults.BUDGET_SHAPE

    def schedule(self, budget: int, initial_lr: float = 1.0) -> WSDSchedule:
        """The WSD schedule of the run of `budget` epochs."""
        return WSDSchedule(
            initial_lr=initial_lr,
            decay_epochs=budget,
            cooldown=self.cooldown,
            shape=self.shape,
        )

    def departure(self, budget: int) -> int:
        """The epochs the run of `budget` shares with the constant-rate trunk."""
        return min(budget, self.schedule(budget).departure_epoch())

    @property
    def trunk_epochs(self) -> int:
        """The trunk's length: the latest departure."""
        return max(self.departure(budget) for budget in self.budgets)

    def epochs_trained(self, repeats: int = 1) -> int:
        """Epochs trained with a shared trunk: the trunk, then each cooldown."""
        cooldowns = sum(budget - self.departure(budget) for budget in self.budgets)
        return repeats * (self.trunk_epochs + cooldowns)

    def epochs_independent(self, repeats: int = 1) -> int:
        """Epochs of one independent run per budget (and repeat)."""
        return repeats * sum(self.budgets)

    def outline(self, repeats: int = 1, share_prefix: bool = True) -> str:
        """What the search will train, before it does (`lrdecay budget --dry-run`).

        Example:

        ```python
        print(make_budget_plan([20, 40]).outline())
        # budget 20: constant rate to epoch 16, cooldown epochs 17-19
        # budget 40: constant rate to epoch 32, cooldown epochs 33-39
        # trunk     33 epochs per seed, shared by every budget
        # epochs: 43 to train of 60 (72%)
        ```
        """
        lines = []
        for budget in self.budgets:
            departure = self.departure(budget)
            cooldown = (
                f"cooldown epochs {departure}-{budget - 1}"
                if departure < budget
                else "no epoch off the constant rate"
            )
            lines.append(
                f"budget {budget}: constant rate to epoch {departure - 1}, {cooldown}"
            )
        independent = self.epochs_independent(repeats)
        trained = self.epochs_trained(repeats) if share_prefix else independent
        if share_prefix:
            lines.append(
                f"trunk     {self.trunk_epochs} epochs per seed, shared by every budget"
            )
        lines.append(
            f"epochs: {trained} to train of {independent} "
            f"({100 * trained / independent:.0f}%)"
        )
        return "\n".join(lines)


def make_budget_plan(
    budgets: Any,
    cooldown: Any = defaults.BUDGET_COOLDOWN,
    shape: Any = defaults.BUDGET_SHAPE,
) -> BudgetPlan:
    """A checked `BudgetPlan`: budgets sorted, each a whole number of epochs.

    Raises:
        TypeError: If `budgets` is not a sequence of ints, `cooldown` not a
            number or `shape` not a string.
        ValueError: If a budget is not positive, the budgets are empty or
            repeat, `cooldown` is outside (0, 1] or `shape` unknown.
    """
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Sequence):
        raise TypeError(
            "Argument `budgets` must be a list of epoch counts, e.g. "
            f"[20, 40, 60, 80]. Received: budgets={budgets!r}"
        )
    for value in budgets:
        try:
            check_epoch_count("budgets", value, allow_zero=False)
        except (TypeError, ValueError) as error:
            # The message names the whole list, as the user wrote it.
            raise type(error)(
                "Argument `budgets` must hold positive whole numbers of epochs. "
                f"Received: budgets={budgets!r}"
            ) from None
    if not budgets:
        raise ValueError(
            "Argument `budgets` must name at least one epoch count. "
            f"Received: budgets={budgets!r}"
        )
    if len(set(budgets)) != len(budgets):
        raise ValueError(
            "Argument `budgets` must not repeat a budget. "
            f"Received: budgets={budgets!r}"
        )
    check_number("cooldown", cooldown)
    if not 0 < cooldown <= 1:
        raise ValueError(
            "Argument `cooldown` must be a fraction of each budget in (0, 1]. "
            f"Received: cooldown={cooldown!r}"
        )
    check_choice("shape", shape, WSDSchedule.SHAPES)
    return BudgetPlan(tuple(sorted(int(b) for b in budgets)), float(cooldown), shape)

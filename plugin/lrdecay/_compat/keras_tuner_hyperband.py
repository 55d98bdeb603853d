"""Internals of KerasTuner's Hyperband oracle that lrdecay's Hyperband relies on.

`BracketHooks` is `keras_tuner.oracles.HyperbandOracle` with three seams
`lrdecay.tuning.pipeline.hyperband` fills in: a floor on the smallest budget, a limit
on the brackets of an iteration, and who picks the first round's values.

Relies on the private methods `_get_num_brackets`, `_get_num_rounds`,
`_get_size(bracket_num, round_num)`, `_get_epochs(bracket_num, round_num)`,
`_random_trial(trial_id, bracket)`, `_start_new_bracket` and the attributes
`min_epochs`, `_current_bracket` and `_brackets` (a list of
`{"bracket_num", "rounds"}` dicts whose rounds hold `{"past_id", "id"}`)
of `keras_tuner.src.tuners.hyperband.HyperbandOracle`. Verified:
keras-tuner 1.4.7, 1.4.8 (the module is identical in both).

Importing this module imports KerasTuner: only `lrdecay.tuning` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras_tuner


class BracketHooks(keras_tuner.oracles.HyperbandOracle):
    """`HyperbandOracle` with a budget floor, fewer brackets, and picked values.

    Brackets are numbered as KerasTuner numbers them (`s`, the number of
    halvings: the largest is the most aggressive), counting only those
    whose smallest budget `max_epochs / factor**s` is at least
    `min_epochs`. With `brackets=n` an iteration runs only the `n` most
    aggressive of them; the oracle numbers those `0..n-1` internally
    (`tuner/bracket`) and maps them back to `s` for sizes and budgets.

    Subclasses override `round_size` (the number of trials of a round) and
    `first_round_values` (the values of a bracket's next first-round trial).

    Args:
        min_epochs: Int. The smallest budget a bracket may start with.
        brackets: Int or `None`. The brackets per iteration, most aggressive
            first; `None` for all.
        **kwargs: As `keras_tuner.oracles.HyperbandOracle`.
    """

    def __init__(self, *, min_epochs: int, brackets: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.lrdecay_brackets = brackets
        # KerasTuner fixes `min_epochs = 1` and plans the first bracket in
        # `__init__`: plan it again with the floor.
        self.min_epochs = min_epochs
        self._current_bracket = self._get_num_brackets() - 1
        self._brackets: list[dict[str, Any]] = []
        self._start_new_bracket()

    # -- what subclasses decide ---------------------------------------------

    def round_size(
        self, halvings: int, round_num: int, stock_size: int, stock_first: int
    ) -> int:
        """The trials of round `round_num` of bracket `halvings`.

        `stock_size`: KerasTuner's size of that round; `stock_first`: of the
        bracket's first round. Stock: `stock_size`.
        """
        return stock_size

    def first_round_values(
        self, budget: int, taken: list[Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        """Values for a new first-round trial of `budget` epochs, or `None`.

        `taken`: the values of the bracket's first-round trials so far.
        """
        values: dict[str, Any] | None = self._random_values()
        return values

    # -- the stock oracle, through the seams ---------------------------------

    def halvings(self, bracket_num: int) -> int:
        """KerasTuner's `s` of the oracle's bracket `bracket_num`."""
        return bracket_num + self.all_brackets() - self._get_num_brackets()

    def all_brackets(self) -> int:
        """The brackets whose smallest budget reaches `min_epochs`."""
        count: int = super()._get_num_brackets()
        return count

    def bracket_budgets(self, bracket_num: int) -> list[int]:
        """The epoch budget of each round of bracket `bracket_num`."""
        return [
            self._get_epochs(bracket_num, round_num)
            for round_num in range(self._get_num_rounds(bracket_num))
        ]

    def planned_trials(self) -> int | None:
        """The trials the oracle will create, or `None` without an end.

        Counts every bracket of every iteration at its planned sizes (a
        retried trial is not counted twice).
        """
        if self.hyperband_iterations == float("inf"):
            return None
        per_iteration = sum(
            self._get_size(bracket_num, round_num)
            for bracket_num in range(self._get_num_brackets())
            for round_num in range(self._get_num_rounds(bracket_num))
        )
        return int(per_iteration * self.hyperband_iterations)

    def planned_epochs(self) -> int | None:
        """The epochs the planned trials train, or `None` without an end.

        A continued trial trains only the epochs it adds to the trial it
        continues (KerasTuner resumes it from that trial's checkpoint).
        """
        if self.hyperband_iterations == float("inf"):
            return None
        per_iteration = 0
        for bracket_num in range(self._get_num_brackets()):
            previous = 0
            for round_num in range(self._get_num_rounds(bracket_num)):
                budget = self._get_epochs(bracket_num, round_num)
                per_iteration += self._get_size(bracket_num, round_num) * (
                    budget - previous
                )
                previous = budget
        return int(per_iteration * self.hyperband_iterations)

    def _get_num_brackets(self) -> int:
        count = self.all_brackets()
        limit = getattr(self, "lrdecay_brackets", None)
        return count if limit is None else min(count, limit)

    def _get_num_rounds(self, bracket_num: int) -> int:
        return self.halvings(bracket_num) + 1

    def _get_epochs(self, bracket_num: int, round_num: int) -> int:
        epochs: int = super()._get_epochs(self.halvings(bracket_num), round_num)
        return epochs

    def _get_size(self, bracket_num: int, round_num: int) -> int:
        halvings = self.halvings(bracket_num)
        stock: int = super()._get_size(halvings, round_num)
        first: int = super()._get_size(halvings, 0)
        return self.round_size(halvings, round_num, stock, first)

    def _random_trial(self, trial_id: str, bracket: dict[str, Any]) -> dict[str, Any]:
        # `HyperbandOracle._random_trial`, with the values from
        # `first_round_values`.
        bracket_num = bracket["bracket_num"]
        rounds = bracket["rounds"]
        budget = self._get_epochs(bracket_num, 0)
        taken = [
            self.trials[info["id"]].hyperparameters.values
            for info in rounds[0]
            if info["id"] in self.trials
        ]
        values = self.first_round_values(budget, taken)
        if values:
            values = dict(values)
            values["tuner/epochs"] = budget
            values["tuner/initial_epoch"] = 0
            values["tuner/bracket"] = self._current_bracket
            values["tuner/round"] = 0
            rounds[0].append({"past_id": None, "id": trial_id})
            return {"status": "RUNNING", "values": values}
        if self.ongoing_trials:
            return {"status": "IDLE"}
        return {"status": "STOPPED"}

"""lrdecay's Hyperband: budgets a decay can act in, and no duplicate trials.

KerasTuner's Hyperband, run on a decay space as it stands, wastes its budget:
its most aggressive bracket starts trials at `max_epochs / factor**s` epochs
(2 of 40), where decay epochs of 0.25 and 0.5 of the budget both round to 1
epoch (two identical trials), and on a space of a few settings it asks for
more first-round trials than there are settings, finds no new values and
stops the whole search before any trial is continued.

`HyperbandOracle` changes three things and keeps the rest (the brackets'
sizes and budgets, successive halving, continued trials, state and resume):

- **A floor on the budget** (`min_epochs`): brackets whose smallest budget
  is below it are not run. `minimum_budget` picks one the decay epochs fit
  in: at least `lrdecay.defaults.HYPERBAND_MIN_EPOCHS`, and large enough that
  every kind's fractions of the budget resolve to distinct epochs (absolute
  decay epochs: one more than the smallest, so at least one acts).
- **Fewer brackets** (`brackets`): an iteration runs only the most
  aggressive ones. lrdecay's default (`HYPERBAND_BRACKETS = 1`) is
  successive halving over every setting: decay epochs given as fractions of
  each trial's budget make a short trial a scaled copy of a full one, which
  is what makes its early ranking worth following. `brackets=None` runs
  every bracket, as KerasTuner does.
- **No duplicates at one budget**: a first round holds each *effective*
  setting once (the decay a trial resolves to at that budget: fractions
  rounded to epochs, `DecaySpace.resolve`, plus every other value it
  holds). Two settings that resolve to the same decay at a budget run as
  one trial (the first one in the space's order stands for both).
  On a finite space (grids, fixed values) every effective setting is
  listed and a round never asks for more trials than there are, so
  successive halving goes on (the control first, then the others in an
  order shuffled by the seed); on a space with continuous ranges the
  oracle samples as KerasTuner does and redraws a duplicate.

`Hyperband` is `keras_tuner.Hyperband` with this oracle.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Hashable, Mapping
from typing import Any

import keras_tuner

from lrdecay import defaults
from lrdecay._compat.keras_tuner_hyperband import BracketHooks
from lrdecay.tuning.prefixes.branch import decay_hyperparameter_names
from lrdecay.tuning.searchspace.space import (
    CONTROL_KIND,
    KIND_HP,
    DecaySpace,
    relative_epochs,
)

__all__ = [
    "EffectiveSettings",
    "Hyperband",
    "HyperbandOracle",
    "default_options",
    "minimum_budget",
]

# A space with more grid points than this is sampled, not listed.
_MAX_LISTED = 4096
# Draws of a sampled space before a first round counts as full.
_MAX_REDRAWS = 20


class EffectiveSettings:
    """What a trial of a decay space effectively runs at a given budget.

    Args:
        space: `DecaySpace`. The space the trials' values come from.
        max_epochs: Int. The search's budget (`relative_to="search"`
            resolves fractions of it).
    """

    def __init__(self, space: DecaySpace, max_epochs: int) -> None:
        self.space = space
        self.max_epochs = max_epochs
        self._decay_names = decay_hyperparameter_names(space.declare)
        # (budget, the space's size) -> the listed settings
        self._listed: dict[tuple[int, int], list[dict[str, Any]] | None] = {}

    def key(self, values: Mapping[str, Any], budget: int) -> Hashable:
        """Equal for two trials that would train the same at `budget` epochs."""
        resolve_budget = (
            budget if self.space.relative_to == "trial" else self.max_epochs
        )
        resolved = self.space.resolve(values, resolve_budget)
        others = tuple(
            sorted(
                (name, repr(value))
                for name, value in values.items()
                if name not in self._decay_names and not name.startswith("tuner/")
            )
        )
        settings = tuple(
            sorted((name, repr(v)) for name, v in resolved.settings.items())
        )
        return (resolved.kind, settings, resolved.initial_lr, others)

    def listed(self, hyperparameters: Any, budget: int) -> list[dict[str, Any]] | None:
        """One values dict per effective setting at `budget`, the control first.

        `None` when the space cannot be listed (a continuous range, or more
        than `_MAX_LISTED` points).
        """
        cache_key = (budget, len(hyperparameters.space))
        if cache_key not in self._listed:
            self._listed[cache_key] = self._distinct(hyperparameters, budget)
        return self._listed[cache_key]

    def _distinct(
        self, hyperparameters: Any, budget: int
    ) -> list[dict[str, Any]] | None:
        points = _grid_points(hyperparameters)
        if points is None:
            return None
        points.sort(key=lambda values: values.get(KIND_HP) != CONTROL_KIND)
        seen: set[Hashable] = set()
        distinct = []
        for values in points:
            key = self.key(values, budget)
            if key not in seen:
                seen.add(key)
                distinct.append(values)
        return distinct


def _grid_points(hyperparameters: Any) -> list[dict[str, Any]] | None:
    """Every combination of active values of a finite KerasTuner space."""
    choices = []
    total = 1
    for parameter in hyperparameters.space:
        if getattr(parameter, "step", 0) is None:
            return None  # a continuous (or unstepped) range
        values = list(parameter.values)
        total *= len(values)
        if total > _MAX_LISTED:
            return None
        choices.append((parameter.name, values))
    points: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for combination in itertools.product(*(values for _, values in choices)):
        scratch = hyperparameters.copy()
        scratch.values = {
            name: value for (name, _), value in zip(choices, combination, strict=True)
        }
        active = {
            name: value
            for name, value in scratch.values.items()
            if scratch.is_active(name)
        }
        marker = tuple(sorted((name, repr(value)) for name, value in active.items()))
        if marker not in seen:
            seen.add(marker)
            points.append(active)
    return points


class HyperbandOracle(BracketHooks):
    """KerasTuner's Hyperband oracle with a budget floor and no duplicates.

    See the module docstring.

    Args:
        objective, max_epochs, factor, hyperband_iterations, seed,
            hyperparameters, allow_new_entries, tune_new_entries,
            max_retries_per_trial, max_consecutive_failed_trials: As
            `keras_tuner.oracles.HyperbandOracle`.
        min_epochs: Int. The smallest budget of a bracket's first round.
            Defaults to `1` (KerasTuner's).
        brackets: Int or `None`. The brackets per iteration, the most
            aggressive first; `None` (default) for all.
        effective: `EffectiveSettings` or `None`. What makes two trials the
            same at a budget; `None` compares their values.

    Raises:
        ValueError: If `min_epochs` is not in `[1, max_epochs]` or
            `brackets` is not positive.
    """

    def __init__(
        self,
        objective: Any = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        min_epochs: int = 1,
        brackets: int | None = None,
        effective: EffectiveSettings | None = None,
        **kwargs: Any,
    ) -> None:
        _check_int("min_epochs", min_epochs, 1, max_epochs, "max_epochs")
        if brackets is not None:
            _check_int("brackets", brackets, 1, None, None)
        self.effective = effective
        super().__init__(
            objective=objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            min_epochs=min_epochs,
            brackets=brackets,
            **kwargs,
        )

    def _listed(self, budget: int) -> list[dict[str, Any]] | None:
        if self.effective is None:
            return None
        return self.effective.listed(self.hyperparameters, budget)

    def _key(self, values: Mapping[str, Any], budget: int) -> Hashable:
        if self.effective is None:
            return tuple(sorted((name, repr(value)) for name, value in values.items()))
        return self.effective.key(values, budget)

    def round_size(
        self, halvings: int, round_num: int, stock_size: int, stock_first: int
    ) -> int:
        # Never more first-round trials than effective settings at its
        # budget; the later rounds shrink with it, by `factor` a round.
        listed = self._listed(math.ceil(self.max_epochs / self.factor**halvings))
        if listed is None:
            return stock_size
        first = min(stock_first, len(listed))
        return min(stock_size, max(1, math.ceil(first / self.factor**round_num)))

    def _in_seeded_order(
        self, listed: list[dict[str, Any]], budget: int
    ) -> list[dict[str, Any]]:
        """The control first, then the others shuffled by the seed and budget.

        A first round smaller than the listed settings then samples them
        (as KerasTuner would), instead of taking the space's first kinds.
        """
        control = [values for values in listed if values.get(KIND_HP) == CONTROL_KIND]
        others = [values for values in listed if values.get(KIND_HP) != CONTROL_KIND]
        random.Random(f"{self.seed}-{budget}").shuffle(others)
        return control + others

    def first_round_values(
        self, budget: int, taken: list[Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        used = {self._key(values, budget) for values in taken}
        listed = self._listed(budget)
        if listed is not None:
            for values in self._in_seeded_order(listed, budget):
                if self._key(values, budget) not in used:
                    return dict(values)
            return None
        for _ in range(_MAX_REDRAWS):
            values = self._random_values()
            if values is None:
                return None
            if self._key(values, budget) not in used:
                return values
        return None


def _check_int(
    name: str, value: Any, low: int, high: int | None, high_name: str | None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Argument `{name}` must be an int. Received: {name}={value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high_name}={high}]" if high is not None else f">= {low}"
        raise ValueError(
            f"Argument `{name}` must be {bound}. Received: {name}={value!r}"
        )


class Hyperband(keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with lrdecay's `HyperbandOracle`.

    Args:
        min_epochs: Int. The smallest budget of a bracket. Defaults to `1`.
        brackets: Int or `None`. Brackets per iteration, most aggressive
            first. Defaults to `None` (all).
        Others: as `keras_tuner.Hyperband`. A `DecayHyperModel` hypermodel
            makes trials that resolve to the same decay at a budget count
            as one.
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        min_epochs: int = 1,
        brackets: int | None = None,
        seed: int | None = None,
        hyperparameters: Any = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        space = getattr(hypermodel, "space", None)
        effective = (
            EffectiveSettings(space, max_epochs)
            if isinstance(space, DecaySpace)
            else None
        )
        oracle = HyperbandOracle(
            objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            min_epochs=min_epochs,
            brackets=brackets,
            effective=effective,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # Skip keras_tuner.Hyperband.__init__, which builds the stock oracle.
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def minimum_budget(space: DecaySpace, max_epochs: int) -> int:
    """The smallest trial budget the space's decay epochs fit in.

    At least `lrdecay.defaults.HYPERBAND_MIN_EPOCHS`; for fractions of the
    budget (listed ones), the smallest budget at which each kind's
    fractions resolve to distinct epochs; for absolute decay epochs, one
    more than the smallest of them (so that one of them acts). Never above
    `max_epochs`.
    """
    floor = defaults.HYPERBAND_MIN_EPOCHS
    for kind in space.kinds:
        spec = space.decay_epochs[kind]
        setting = spec.setting
        if not spec.relative:
            floor = max(floor, int(setting.low) + 1)
        elif setting.range is None and space.relative_to == "trial":
            budget = floor
            while budget < max_epochs and len(
                {relative_epochs(value, budget) for value in setting.values}
            ) < len(setting.values):
                budget += 1
            floor = max(floor, budget)
    return min(floor, max_epochs)


def default_options(space: DecaySpace, max_epochs: int) -> dict[str, Any]:
    """lrdecay's Hyperband options for `space` (the user's own go on top)."""
    return {
        "factor": defaults.HYPERBAND_FACTOR,
        "min_epochs": minimum_budget(space, max_epochs),
        "brackets": defaults.HYPERBAND_BRACKETS,
    }

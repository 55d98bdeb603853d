"""A search's decay epochs: epochs or fractions, and how they meet its budget.

Whole numbers are epochs, floats in (0, 1] fractions of each trial's budget
(`parse_decay_epochs`, `relative_epochs`).

One rule for `lrdecay.search()` and `lrdecay search`, applied before the
space is built and the search is named:

- no decay epochs given: the default follows the budget
  (`lrdecay.defaults.decay_epochs_for`), so `epochs=10` alone runs;
- a range of whole epochs whose upper end lies beyond the budget (`10:50` at
  40 epochs) is searched up to the budget (`10:40`), said in one line: a
  range is a span to sample, and its part within the budget is the part that
  can act;
- anything else is left as given: a grid value beyond the budget still fails
  with its one line (`DecaySpace.check_budget`), as does a range that starts
  beyond it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

from lrdecay import defaults
from lrdecay.schedules import KIND_TABLE
from lrdecay.tuning.searchspace.ranges import (
    Range,
    Setting,
    all_values,
    check_between,
    parse_setting,
)

__all__ = [
    "BudgetedDecayEpochs",
    "DecayEpochs",
    "fit_to_budget",
    "parse_decay_epochs",
    "relative_epochs",
]


@dataclasses.dataclass(frozen=True)
class BudgetedDecayEpochs:
    """The decay epochs a search searches, and what changed in them.

    Attributes:
        decay_epochs: The decay epochs (a grid, a `Range`, a dict per kind).
        note: String or `None`. One line saying what was cut to the budget;
            `None` when the decay epochs are the ones given (or the default).
    """

    decay_epochs: Any
    note: str | None = None


def fit_to_budget(
    decay_epochs: Any, epochs: int, algorithm: str = defaults.ALGORITHM
) -> BudgetedDecayEpochs:
    """The decay epochs a search of `epochs` epochs per trial searches.

    Example:

    ```python
    fit_to_budget(None, 10).decay_epochs              # (1, 3, 5, 8)
    fit_to_budget(Range(10, 50), 40).decay_epochs     # Range(10, 40)
    fit_to_budget([10, 50], 40).decay_epochs          # [10, 50]: check_budget fails
    ```

    Args:
        decay_epochs: The decay epochs as given (`None`: the default), or a
            dict kind -> decay epochs.
        epochs: Int. The epochs per trial (Hyperband's `max_epochs`).
        algorithm: String. The search algorithm, for the default
            (`lrdecay.defaults.decay_epochs_for`).

    Returns:
        A `BudgetedDecayEpochs`: the decay epochs, and a one-line note when
        a range was cut to the budget (else `None`).
    """
    if decay_epochs is None:
        return BudgetedDecayEpochs(defaults.decay_epochs_for(epochs, algorithm))
    if isinstance(decay_epochs, Mapping):
        fitted = {}
        notes = []
        for kind, spec in decay_epochs.items():
            clipped = _clip(spec, epochs)
            fitted[kind] = spec if clipped is None else clipped
            if clipped is not None:
                notes.append(f"{kind}: {_spec(spec)} -> {_spec(clipped)}")
        if not notes:
            return BudgetedDecayEpochs(decay_epochs)
        return BudgetedDecayEpochs(fitted, _note(", ".join(notes), epochs))
    clipped = _clip(decay_epochs, epochs)
    if clipped is None:
        return BudgetedDecayEpochs(decay_epochs)
    change = f"{_spec(decay_epochs)} -> {_spec(clipped)}"
    return BudgetedDecayEpochs(clipped, _note(change, epochs))


def _clip(spec: Any, epochs: int) -> Range | None:
    """`spec` cut at `epochs`, or `None` when it is left as given."""
    if not isinstance(spec, Range) or not spec.is_int:
        return None
    if not spec.low <= epochs < spec.high:
        return None
    return Range(spec.low, epochs, spec.step, spec.sampling)


def _spec(spec: Range) -> str:
    step = "" if spec.step is None else f":{spec.step}"
    return f"{spec.low}:{spec.high}{step}"


def _note(change: str, epochs: int) -> str:
    return (
        f"decay epochs {change}: decays beyond the epoch budget epochs={epochs} "
        "never act"
    )


@dataclasses.dataclass(frozen=True)
class DecayEpochs:
    """The parsed decay-epochs setting of one kind: epochs or budget fractions."""

    setting: Setting
    relative: bool

    def hp_name(self, kind: str) -> str:
        return KIND_TABLE[kind].decay_epochs_hp(self.relative)


def parse_decay_epochs(name: str, spec: Any) -> DecayEpochs:
    """Whole numbers are epochs (>= 1); floats are fractions in (0, 1]."""
    setting = parse_setting(name, spec)
    values = all_values(setting)
    integral = [isinstance(value, numbers.Integral) for value in values]
    if setting.range is not None:
        integral = [setting.range.is_int]
    if all(integral):
        for value in values:
            if value < 1:
                raise ValueError(
                    f"Argument `{name}` must hold positive numbers of epochs "
                    f"(or fractions of the epoch budget as floats in (0, 1]). "
                    f"Received: {name}={spec!r} (holding {value!r})"
                )
        return DecayEpochs(setting, relative=False)
    if any(integral):
        raise ValueError(
            f"Argument `{name}` mixes whole epochs and fractions of the epoch "
            "budget; give only ints (epochs) or only floats in (0, 1] "
            f"(fractions). Received: {name}={spec!r}"
        )
    check_between(name, spec, setting, 0.0, 1.0, low_open=True, high_open=False)
    return DecayEpochs(setting, relative=True)


def relative_epochs(fraction: float, budget: int) -> int:
    """The decay epochs of `fraction` of a `budget`: round half up, at least 1."""
    return max(1, math.floor(fraction * budget + 0.5))

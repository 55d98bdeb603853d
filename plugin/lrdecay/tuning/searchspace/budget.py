"""How a search's decay epochs meet its epoch budget.

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
from collections.abc import Mapping
from typing import Any

from lrdecay import defaults
from lrdecay.tuning.searchspace.ranges import Range

__all__ = ["BudgetedDecayEpochs", "fit_to_budget"]


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

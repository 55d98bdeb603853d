"""One searched setting: a fixed value, a grid, or a `Range`.

`parse_setting` turns what a user gives for a setting of a `DecaySpace` (a
number, a list or tuple, a Python `range`, a `Range`) into a `Setting`, which
declares itself as one KerasTuner hyperparameter. Pure Python: no Keras, no
KerasTuner. Argument checks follow `lrdecay._validation`: a wrong type raises
`TypeError`, a wrong value `ValueError`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

from lrdecay._validation import check_choice, check_number, check_positive_finite

SAMPLINGS: tuple[str, ...] = ("linear", "log", "reverse_log")


@dataclasses.dataclass(frozen=True)
class Range:
    """A range of values to search, for any setting of a `DecaySpace`.

    Whole-number bounds make an integer range (KerasTuner's `hp.Int`), others
    a float range (`hp.Float`). Both bounds are included.

    Example:

    ```python
    DecaySpace(decay_epochs=Range(10, 50))             # randint(10, 50)
    DecaySpace(decay_epochs=Range(0.1, 0.5))           # fractions of the budget
    DecaySpace(initial_lr=Range(1e-3, 1e-1, sampling="log"))
    ```

    Args:
        low: Number. The smallest value.
        high: Number. The largest value.
        step: Number or `None`. The distance between two values; `None` for
            every integer (integer ranges) or a continuous range (floats).
            Defaults to `None`.
        sampling: String. `"linear"`, `"log"` or `"reverse_log"`. Defaults
            to `"linear"`.

    Raises:
        TypeError: If a bound or `step` is not a number, or `sampling` not a
            string.
        ValueError: If a bound is not finite, `low > high`, `step <= 0`,
            `sampling` is unknown, or a log range has `low <= 0`.
    """

    low: float
    high: float
    step: float | None = None
    sampling: str = "linear"

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            check_number(name, value)
            if not math.isfinite(value):
                raise ValueError(
                    f"Argument `{name}` of Range must be finite. "
                    f"Received: {name}={value!r}"
                )
        if self.low > self.high:
            raise ValueError(
                "Range is empty: `low` is above `high`. "
                f"Received: low={self.low!r}, high={self.high!r}"
            )
        if self.step is not None:
            check_positive_finite("step", self.step)
        check_choice("sampling", self.sampling, SAMPLINGS)
        if self.sampling != "linear" and self.low <= 0:
            raise ValueError(
                "A log-sampled Range needs `low` > 0. "
                f"Received: low={self.low!r}, sampling={self.sampling!r}"
            )

    @property
    def is_int(self) -> bool:
        return all(
            isinstance(value, numbers.Integral)
            for value in (self.low, self.high, self.step)
            if value is not None
        )


@dataclasses.dataclass(frozen=True)
class Setting:
    """One searched setting after parsing: a fixed value, a grid or a range."""

    values: tuple[Any, ...] = ()
    range: Range | None = None

    @property
    def low(self) -> float:
        return self.range.low if self.range is not None else min(self.values)

    @property
    def high(self) -> float:
        return self.range.high if self.range is not None else max(self.values)

    def declare(self, hp: Any, name: str) -> Any:
        """Register this setting as hyperparameter `name` of `hp`."""
        if self.range is not None:
            r = self.range
            if r.is_int:
                return hp.Int(
                    name,
                    int(r.low),
                    int(r.high),
                    step=None if r.step is None else int(r.step),
                    sampling=r.sampling,
                )
            return hp.Float(
                name, float(r.low), float(r.high), step=r.step, sampling=r.sampling
            )
        if len(self.values) == 1:
            return hp.Fixed(name, self.values[0])
        return hp.Choice(name, list(self.values))

    def describe(self) -> Any:
        """A JSON-friendly description, for the search's MLflow run."""
        if self.range is not None:
            return {"range": dataclasses.asdict(self.range)}
        return self.values[0] if len(self.values) == 1 else list(self.values)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def parse_setting(name: str, spec: Any) -> Setting:
    """Parse a number, a sequence (grid), a `range` or a `Range`.

    Raises:
        ValueError: For an empty grid or range (the message names `name`).
        TypeError: For anything that is not numbers.
    """
    if isinstance(spec, Range):
        return Setting(range=spec)
    if isinstance(spec, range):
        if len(spec) == 0:
            raise ValueError(
                f"Argument `{name}` is an empty range. Received: {name}={spec!r}"
            )
        if spec.step < 0:
            spec = spec[::-1]
        return Setting(range=Range(spec.start, spec[-1], spec.step))
    if _is_number(spec):
        return Setting(values=(spec,))
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        if len(spec) == 0:
            raise ValueError(
                f"Argument `{name}` is an empty grid: give at least one value. "
                f"Received: {name}={spec!r}"
            )
        for value in spec:
            if not _is_number(value):
                raise TypeError(
                    f"Argument `{name}` must hold numbers. "
                    f"Received: {name}={spec!r} (holding {value!r})"
                )
        if len(set(spec)) != len(spec):
            raise ValueError(
                f"Argument `{name}` repeats a value. Received: {name}={spec!r}"
            )
        return Setting(values=tuple(spec))
    raise TypeError(
        f"Argument `{name}` must be a number, a sequence of numbers (a grid), "
        "a `range` or an `lrdecay.tuning.searchspace.space.Range`. "
        f"Received: {name}={spec!r}"
    )


def all_values(setting: Setting) -> tuple[Any, ...]:
    """The values of a grid, or the bounds of a range."""
    if setting.range is not None:
        return (setting.range.low, setting.range.high)
    return setting.values


def check_between(
    name: str,
    spec: Any,
    setting: Setting,
    low: float,
    high: float,
    *,
    low_open: bool,
    high_open: bool,
) -> None:
    """Raise `ValueError` unless every value of `setting` lies in the interval."""
    for value in all_values(setting):
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high or not math.isfinite(value):
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            raise ValueError(
                f"Argument `{name}` must lie in {lo}{low}, {high}{hi}. "
                f"Received: {name}={spec!r} (holding {value!r})"
            )

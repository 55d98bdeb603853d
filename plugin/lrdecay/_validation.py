"""Argument checks, in Keras' voice, shared by every layer of lrdecay.

One rule for all of them: the wrong *type* raises `TypeError`, a value of the
right type outside its range raises `ValueError`, and both name the argument
and repeat the value received. Pure Python: no Keras, no MLflow.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any


def check_positive_finite(name: str, value: float) -> None:
    """Raise `ValueError` unless `value` is a finite number > 0."""
    check_number(name, value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"Argument `{name}` must be a positive, finite number. "
            f"Received: {name}={value!r}"
        )


def check_number(name: str, value: Any) -> None:
    """Raise `TypeError` unless `value` is a real number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Argument `{name}` must be a number. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )


def check_non_negative_finite(name: str, value: Any) -> None:
    """Raise unless `value` is a finite number >= 0."""
    check_number(name, value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Argument `{name}` must be a finite number >= 0. "
            f"Received: {name}={value!r}"
        )


def check_epoch_count(name: str, value: Any, *, allow_zero: bool) -> None:
    """Raise unless `value` is a whole number of epochs (>= 0 or > 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Argument `{name}` must be a whole number of epochs. "
            f"Received: {name}={value!r}"
        )
    if value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(
            f"Argument `{name}` must be {kind} number of epochs. "
            f"Received: {name}={value!r}"
        )


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Raise unless `value` is a whole number > 0 (or `None` when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Argument `{name}` must be a positive integer. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )


def check_fraction(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise unless `value` is a number in (0, 1), or [0, 1) with `allow_zero`."""
    check_number(name, value)
    if not (0 <= value < 1 if allow_zero else 0 < value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(
            f"Argument `{name}` must be a fraction in {interval}. "
            f"Received: {name}={value!r}"
        )


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise unless `value` is one of the strings `choices`."""
    if not isinstance(value, str):
        raise TypeError(
            f"Argument `{name}` must be one of {list(choices)}. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value not in choices:
        raise ValueError(
            f"Argument `{name}` must be one of {list(choices)}. "
            f"Received: {name}={value!r}"
        )


def check_bool(name: str, value: Any) -> None:
    """Raise `TypeError` unless `value` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(
            f"Argument `{name}` must be a bool. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )


def check_seed(name: str, value: Any, *, allow_none: bool = True) -> None:
    """Raise unless `value` is a whole number in [0, 2**32) (or `None`)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Argument `{name}` must be an integer seed. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if not 0 <= int(value) < 2**32:
        raise ValueError(
            f"Argument `{name}` must be a seed in [0, 2**32). "
            f"Received: {name}={value!r}"
        )


def check_drop(drop: float) -> None:
    check_number("drop", drop)
    if not 0 < drop <= 1:
        raise ValueError(f"Argument `drop` must be in (0, 1]. Received: drop={drop!r}")


def check_milestones(milestones: Sequence[int]) -> tuple[int, ...]:
    """Return `milestones` as a tuple, or raise if not increasing epochs >= 0."""
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise TypeError(
            "Argument `milestones` must be a sequence of epochs. "
            f"Received: milestones={milestones!r}"
        )
    if len(milestones) == 0:
        raise ValueError(
            "Argument `milestones` must name at least one epoch. "
            f"Received: milestones={milestones!r}"
        )
    for milestone in milestones:
        if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral):
            raise TypeError(
                "Argument `milestones` must hold whole numbers of epochs. "
                f"Received: milestones={milestones!r}"
            )
        if milestone < 0:
            raise ValueError(
                "Argument `milestones` must hold epochs >= 0. "
                f"Received: milestones={milestones!r}"
            )
    if any(b <= a for a, b in itertools.pairwise(milestones)):
        raise ValueError(
            "Argument `milestones` must be strictly increasing. "
            f"Received: milestones={milestones!r}"
        )
    return tuple(int(milestone) for milestone in milestones)

"""The decay callback of each kind, filled by the callback classes.

A callback class declares the kind it implements with `@decay_of(spec)`, the
`KindSpec` of its schedule (`StepSchedule.spec`) or of the plateau rule
(`lrdecay.schedules.PLATEAU`); `DECAYS` maps each kind name to its class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from lrdecay.kinds import KindSpec

__all__ = ["DECAYS", "decay_of"]

DECAYS: dict[str, type[Any]] = {}
"""Kind name -> decay callback class (`lrdecay.search()` builds trials with it)."""

_Class = TypeVar("_Class", bound=type)


def decay_of(spec: KindSpec | None) -> Callable[[_Class], _Class]:
    """Register the decorated callback class as the decay of kind `spec`."""
    if not isinstance(spec, KindSpec):
        raise TypeError(f"Expected a KindSpec. Received: spec={spec!r}")

    def register(cls: _Class) -> _Class:
        DECAYS[spec.name] = cls
        return cls

    return register

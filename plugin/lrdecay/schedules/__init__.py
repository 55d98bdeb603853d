"""Pure learning-rate math: epoch -> learning rate.

Nothing here imports Keras or MLflow. Each schedule is a small frozen
dataclass that validates its arguments at construction, evaluates the rate of
any epoch (epochs count from 0, as Keras passes them), and round-trips through
`get_config()` / `from_config()`.

Warm-up follows Keras' own `CosineDecay(warmup_steps=...)`: the rate rises
linearly over the first `warmup_epochs` epochs, and the decay counts its epochs
from the end of the warm-up, so a warm-up shifts the decay curve right instead
of eating into it.

Each decay kind's search metadata (`KindSpec`: its name, the argument its
decay epochs set, its other searchable settings) is the class attribute
`spec` of its schedule; defining the class registers it in
`lrdecay.kinds.KIND_TABLE`, and `SCHEDULES`, `SEARCHABLE_KINDS` and
`DEFAULT_KINDS` derive from that table.

The modules, by kind: `base` (`Schedule`, `SCHEDULES`), `step` (step and
multi-step), `exponential`, `cosine` (with restarts), `linear`, `wsd`,
`constant` (the control) and `plateau` (the plateau rule's row; it has no
schedule). They are imported below in the order the kind table lists them.
"""

from __future__ import annotations

from lrdecay.kinds import KIND_TABLE, Extra, KindSpec
from lrdecay.schedules.base import SCHEDULES, Schedule

# The kind table lists the kinds in the order their classes are defined:
# keep these imports in that order (`lrdecay search --kinds`' help, preview).
# isort: off
from lrdecay.schedules.step import MultiStepSchedule, StepSchedule
from lrdecay.schedules.exponential import ExponentialSchedule
from lrdecay.schedules.cosine import CosineRestartsSchedule, CosineSchedule
from lrdecay.schedules.linear import LinearSchedule
from lrdecay.schedules.wsd import WSDSchedule
from lrdecay.schedules.constant import ConstantSchedule
from lrdecay.schedules.plateau import PLATEAU

# isort: on

__all__ = [
    "DEFAULT_KINDS",
    "KIND_TABLE",
    "PLATEAU",
    "SCHEDULES",
    "SEARCHABLE_KINDS",
    "ConstantSchedule",
    "CosineRestartsSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "Extra",
    "KindSpec",
    "LinearSchedule",
    "MultiStepSchedule",
    "Schedule",
    "StepSchedule",
    "WSDSchedule",
    "default_kinds",
    "searchable_kinds",
]


def default_kinds() -> tuple[str, ...]:
    """The kinds a search tries when it is not given `kinds`, in table order."""
    return tuple(
        name for name, spec in KIND_TABLE.items() if spec.searchable and spec.default
    )


def searchable_kinds() -> tuple[str, ...]:
    """Every kind a search can try: the default kinds first, then the rest."""
    first = default_kinds()
    rest = [
        name
        for name, spec in KIND_TABLE.items()
        if spec.searchable and name not in first
    ]
    return (*first, *rest)


DEFAULT_KINDS: tuple[str, ...] = default_kinds()
"""The kinds `search()` and `lrdecay search` try when not given any: the rows
of the kind table marked `default` (step, exponential and plateau)."""

SEARCHABLE_KINDS: tuple[str, ...] = searchable_kinds()
"""Every kind `search(kinds=)` and `lrdecay search --kinds` may name.

`DEFAULT_KINDS` are the ones searched by default. The decay epochs of
each kind set its `spec.decay_arg` (a cosine decay's period, SGDR's T_0, ...).
"""

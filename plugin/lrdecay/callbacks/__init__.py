"""Decay callbacks for `model.fit`: step, multi-step, exponential, cosine, plateau.

`StepDecay`, `MultiStepDecay`, `ExponentialDecay`, `CosineDecay` and
`CosineDecayRestarts` are Keras `LearningRateScheduler`s driven by the pure
schedules of `lrdecay.schedules`; `PlateauDecay` is a Keras
`ReduceLROnPlateau`. Each keeps Keras' arguments and behaviour and adds what
users miss: argument checks at construction, the applied history
(`lr_history`, and `decay_events` for plateau decay), the curve before
training (`lr_at`, `curve`), and a clear error for optimizers whose learning
rate is a `LearningRateSchedule`. A scheduled decay built without
`initial_lr` (the default) starts from the optimizer's rate, as PyTorch's
schedulers do.

A scheduled decay and a plateau rule compose: when the optimizer's rate was
changed between two epochs by someone else (a `PlateauDecay`, Keras'
`ReduceLROnPlateau`, user code), the scheduled decay keeps that change as a
multiplier on its schedule instead of overwriting it. So a plateau reduction
by 0.1 multiplies every later scheduled rate by 0.1.
"""

from __future__ import annotations

from lrdecay.callbacks.cosine import CosineDecay, CosineDecayRestarts
from lrdecay.callbacks.fit import (
    check_settable_learning_rate,
    current_learning_rate,
    decays_in_fit,
    start_fit_registry,
    starting_learning_rate,
)
from lrdecay.callbacks.linear import LinearDecay
from lrdecay.callbacks.plateau import DecayEvent, PlateauDecay
from lrdecay.callbacks.registry import DECAYS
from lrdecay.callbacks.scheduled import (
    ExponentialDecay,
    MultiStepDecay,
    ScheduledDecay,
    StepDecay,
)
from lrdecay.callbacks.wsd import WSDDecay

__all__ = [
    "DECAYS",
    "CosineDecay",
    "CosineDecayRestarts",
    "DecayEvent",
    "ExponentialDecay",
    "LinearDecay",
    "MultiStepDecay",
    "PlateauDecay",
    "ScheduledDecay",
    "StepDecay",
    "WSDDecay",
    "check_settable_learning_rate",
    "current_learning_rate",
    "decays_in_fit",
    "start_fit_registry",
    "starting_learning_rate",
]

"""lrdecay: learning-rate decay for Keras, chosen by evidence.

Decay callbacks for `model.fit`, a KerasTuner search of the decay kind and its
epochs, and MLflow tracking of every fit and trial. Names load on first use, so
`import lrdecay` is fast and imports neither Keras, MLflow nor KerasTuner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "StepDecay": "lrdecay.callbacks",
    "MultiStepDecay": "lrdecay.callbacks",
    "ExponentialDecay": "lrdecay.callbacks",
    "CosineDecay": "lrdecay.callbacks",
    "CosineDecayRestarts": "lrdecay.callbacks",
    "LinearDecay": "lrdecay.callbacks",
    "WSDDecay": "lrdecay.callbacks",
    "PlateauDecay": "lrdecay.callbacks",
    "ScheduledDecay": "lrdecay.callbacks",
    "DecayEvent": "lrdecay.callbacks",
    "Schedule": "lrdecay.schedules",
    "StepSchedule": "lrdecay.schedules",
    "MultiStepSchedule": "lrdecay.schedules",
    "ExponentialSchedule": "lrdecay.schedules",
    "CosineSchedule": "lrdecay.schedules",
    "CosineRestartsSchedule": "lrdecay.schedules",
    "LinearSchedule": "lrdecay.schedules",
    "WSDSchedule": "lrdecay.schedules",
    "MlflowLogger": "lrdecay.tracking.logger",
    "replay": "lrdecay.tracking.offline",
    "DecayHyperModel": "lrdecay.tuning.pipeline.hypermodel",
    "DecaySpace": "lrdecay.tuning.searchspace.space",
    "Range": "lrdecay.tuning.searchspace.ranges",
    "SearchResult": "lrdecay.tuning.evidence.result",
    "search": "lrdecay.tuning.pipeline.runner",
    "budget": "lrdecay.tuning.budgets.runner",
    "search_outline": "lrdecay.tuning.pipeline.runner",
    "find_lr": "lrdecay.tuning.lr_finder.lr_range",
}

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "CosineRestartsSchedule",
    "CosineSchedule",
    "DecayEvent",
    "DecayHyperModel",
    "DecaySpace",
    "ExponentialDecay",
    "ExponentialSchedule",
    "LinearDecay",
    "LinearSchedule",
    "MlflowLogger",
    "MultiStepDecay",
    "MultiStepSchedule",
    "PlateauDecay",
    "Range",
    "Schedule",
    "ScheduledDecay",
    "SearchResult",
    "StepDecay",
    "StepSchedule",
    "WSDDecay",
    "WSDSchedule",
    "__version__",
    "budget",
    "find_lr",
    "replay",
    "search",
    "search_outline",
]

if TYPE_CHECKING:
    from lrdecay.callbacks import (
        CosineDecay,
        CosineDecayRestarts,
        DecayEvent,
        ExponentialDecay,
        LinearDecay,
        MultiStepDecay,
        PlateauDecay,
        ScheduledDecay,
        StepDecay,
        WSDDecay,
    )
    from lrdecay.schedules import (
        CosineRestartsSchedule,
        CosineSchedule,
        ExponentialSchedule,
        LinearSchedule,
        MultiStepSchedule,
        Schedule,
        StepSchedule,
        WSDSchedule,
    )
    from lrdecay.tracking.logger import MlflowLogger
    from lrdecay.tracking.offline import replay
    from lrdecay.tuning.budgets.runner import budget
    from lrdecay.tuning.evidence.result import SearchResult
    from lrdecay.tuning.lr_finder.lr_range import find_lr
    from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel
    from lrdecay.tuning.pipeline.runner import search, search_outline
    from lrdecay.tuning.searchspace.ranges import Range
    from lrdecay.tuning.searchspace.space import DecaySpace


def __getattr__(name: str) -> Any:
    if name == "errors":  # the exceptions, without importing the rest
        return importlib.import_module("lrdecay.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lrdecay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""MLflow tracking of a fit: what it records, how it is sent, how a run ends.

- `logger`: `MlflowLogger`, the Keras callback;
- `recorder`: what a fit records (params, epoch metrics and rate, artifacts);
- `params`: the param naming scheme and value text (`float_text`);
- `sender`, `store`: how it is sent (background batches, bounded requests);
- `run`, `backstop`: how a run starts and ends (and the exit-time backstop);
- `offline`: `replay`, for a run saved to a local file;
- `plots`, `uri`: the plots, and where the `lrdecay` command logs.

`MlflowLogger` and `replay` load on first use: importing this package (e.g.
for `lrdecay.tracking.uri`) imports neither Keras nor MLflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["MlflowLogger", "replay"]

_EXPORTS = {
    "MlflowLogger": "lrdecay.tracking.logger",
    "replay": "lrdecay.tracking.offline",
}

if TYPE_CHECKING:
    from lrdecay.tracking.logger import MlflowLogger
    from lrdecay.tracking.offline import replay


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lrdecay.tracking' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

"""How lrdecay names and writes MLflow params: one scheme for fits and searches.

A decay's settings are logged under the names KerasTuner's hyperparameters of
a search use: `decay_kind`, then `<kind>/<setting>` (`step/epochs_drop`,
`step/drop`, `plateau/patience`, ...), so a trial run holds each setting once.
Values are written as the user gave them: a float that went through a float32
(an optimizer's rate of 0.1 reads back as 0.10000000149011612) is written as
the shortest text that gives the same float32 ("0.1").

Nothing here imports MLflow or Keras, so `lrdecay.tuning` can use it freely.
"""

from __future__ import annotations

import json
import math
import numbers
import struct
from collections.abc import Sequence
from typing import Any

__all__ = ["KIND_PARAM", "decay_params", "float_text", "param_text"]

KIND_PARAM = "decay_kind"


def _as_float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def float_text(value: float) -> str:
    """`value` as text, the shortest float32 form if it is exactly a float32.

    `float_text(0.10000000149011612) == "0.1"` (the float32 nearest 0.1, as an
    optimizer returns it), `float_text(0.1) == "0.1"`, `float_text(2.0) ==
    "2.0"`, `float_text(1e-05) == "1e-05"`; any other float is `repr(value)`.
    """
    value = float(value)
    if not math.isfinite(value):
        return json.dumps(value)  # "NaN", "Infinity", "-Infinity"
    try:
        single = _as_float32(value)
    except OverflowError:
        return repr(value)
    if single != value:
        return repr(value)  # not a float32: its own shortest form
    for digits in range(1, 10):  # 9 significant digits always round-trip
        text = f"{value:.{digits}g}"
        if _as_float32(float(text)) == single:
            return repr(float(text))
    return repr(value)  # pragma: no cover - 9 digits always suffice


def param_text(value: Any) -> str:
    """A param value as MLflow should show it (not truncated).

    Strings as they are, `None` as "None", bools and ints as JSON, floats by
    `float_text`, anything else as JSON (`str` for what JSON cannot hold).
    """
    if value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return float_text(float(value))
    return json.dumps(value, default=str)


def decay_params(decays: Sequence[Any]) -> dict[str, Any]:
    """The params of the lrdecay decay callbacks of one fit.

    `decay_kind` is the kinds joined by "+" ("step+plateau"), or "none"; each
    setting of `applied_config()` (the settings the fit ran: a decay built
    without `initial_lr` gives the optimizer's rate it started from) but
    `verbose` is `<kind>/<setting>`, or `<kind><index>/<setting>` when a kind
    appears twice. A decay whose schedule says `logs_settings = False` (a
    search's constant-rate control) gives its kind only.
    """
    kinds = [decay.kind for decay in decays]
    params: dict[str, Any] = {KIND_PARAM: "+".join(kinds) if kinds else "none"}
    for index, decay in enumerate(decays):
        prefix = decay.kind if kinds.count(decay.kind) == 1 else f"{decay.kind}{index}"
        schedule = getattr(decay, "decay_schedule", None)
        if not getattr(schedule, "logs_settings", True):
            continue
        for name, value in decay.applied_config().items():
            if name != "verbose":
                params[f"{prefix}/{name}"] = value
    return params

"""A trial whose loss becomes NaN or inf fails, as KerasTuner counts failures."""

from __future__ import annotations

import math
from typing import Any

import keras
import keras_tuner

from lrdecay.errors import NonFiniteLossError


class _FailedNonFiniteLossError(
    NonFiniteLossError, keras_tuner.errors.FailedTrialError
):
    """`NonFiniteLossError` as KerasTuner's `FailedTrialError`: the trial FAILED.

    Its name holds `verdict.DIVERGED_ERROR`, which is how a diverged trial is
    told apart in KerasTuner's `trial.message`.
    """


class _FiniteGuard(keras.callbacks.Callback):
    """Stop a fit whose epoch logs hold NaN or inf, by raising.

    KerasTuner marks a trial FAILED (not retried, never "best") only on
    `FailedTrialError`; Keras' `TerminateOnNaN` would end the fit normally
    and the trial would count as COMPLETED.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                raise _FailedNonFiniteLossError(
                    f"`{key}` became {number} at epoch {epoch}: the trial "
                    "diverged (try a lower initial learning rate)."
                )

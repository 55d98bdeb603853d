"""Cosine decay, and cosine decay with warm restarts (SGDR)."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from lrdecay._validation import check_epoch_count, check_fraction, check_number
from lrdecay.kinds import KindSpec
from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class CosineSchedule(Schedule):
    """Cosine decay from `initial_lr` to `alpha * initial_lr` in `decay_epochs`.

    Keras' `keras.optimizers.schedules.CosineDecay` evaluated at step =
    epoch: the rate of epoch `e` is
    `initial_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(e, D) / D)) + alpha)`
    with `D = decay_epochs`, so it stays at `alpha * initial_lr` after `D`.

    Args:
        decay_epochs: Int > 0. Epochs the rate takes to fall to its floor;
            usually the length of the fit. Required.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="cosine", decay_arg="decay_epochs")

    # Keyword-only and required: the period is the one setting with no
    # sensible default (it should match the length of the fit).
    decay_epochs: int = dataclasses.field(kw_only=True)
    alpha: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_epoch_count("decay_epochs", self.decay_epochs, allow_zero=False)
        check_fraction("alpha", self.alpha, allow_zero=True)

    def _decayed(self, epochs_since_warmup: int) -> float:
        fraction = min(epochs_since_warmup, self.decay_epochs) / self.decay_epochs
        return self.require_initial_lr() * _cosine(fraction, self.alpha, 1.0)


@dataclasses.dataclass(frozen=True)
class CosineRestartsSchedule(Schedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Keras' `keras.optimizers.schedules.CosineDecayRestarts` evaluated at
    step = epoch. The first period lasts `first_decay_epochs` epochs (SGDR's
    T_0), each next one `t_mul` times longer; at every restart the rate jumps
    back up, to `m_mul` times the previous peak. Within period `i` the rate is
    `initial_lr * ((1 - alpha) * m_mul**i * 0.5 * (1 + cos(pi * f)) + alpha)`,
    `f` the fraction of the period done; the floor `alpha * initial_lr` does
    not shrink with the restarts (as in Keras).

    Args:
        first_decay_epochs: Int > 0. Length of the first period. Required.
        t_mul: Float >= 1. Each period is `t_mul` times longer than the one
            before. Defaults to `2.0`.
        m_mul: Float in (0, 1]. Each restart peaks at `m_mul` times the peak
            before. Defaults to `1.0`.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(
        name="cosine_restarts", decay_arg="first_decay_epochs"
    )

    first_decay_epochs: int = dataclasses.field(kw_only=True)
    t_mul: float = 2.0
    m_mul: float = 1.0
    alpha: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_epoch_count(
            "first_decay_epochs", self.first_decay_epochs, allow_zero=False
        )
        check_number("t_mul", self.t_mul)
        if not (math.isfinite(self.t_mul) and self.t_mul >= 1):
            raise ValueError(
                "Argument `t_mul` must be a finite number >= 1 (periods never "
                f"shrink). Received: t_mul={self.t_mul!r}"
            )
        check_number("m_mul", self.m_mul)
        if not 0 < self.m_mul <= 1:
            raise ValueError(
                f"Argument `m_mul` must be in (0, 1]. Received: m_mul={self.m_mul!r}"
            )
        check_fraction("alpha", self.alpha, allow_zero=True)

    def period(self, epochs_since_warmup: int) -> tuple[int, float]:
        """(restart index, fraction of that period done) at an epoch."""
        fraction = epochs_since_warmup / self.first_decay_epochs
        t_mul = self.t_mul
        if t_mul == 1:
            restart = math.floor(fraction)
            return restart, fraction - restart

        def start(index: int) -> float:  # in units of the first period
            return (t_mul**index - 1) / (t_mul - 1)

        restart = math.floor(math.log1p(fraction * (t_mul - 1)) / math.log(t_mul))
        # The logarithm can land a hair off a whole number at a restart
        # epoch; settle the index on the exact period bounds instead.
        while start(restart + 1) <= fraction:
            restart += 1
        while restart > 0 and start(restart) > fraction:
            restart -= 1
        return restart, (fraction - start(restart)) / t_mul**restart

    def _decayed(self, epochs_since_warmup: int) -> float:
        restart, fraction = self.period(epochs_since_warmup)
        return self.require_initial_lr() * _cosine(
            fraction, self.alpha, self.m_mul**restart
        )


def _cosine(fraction: float, alpha: float, peak: float) -> float:
    """Keras' cosine factor: from `peak` (fraction 0) down to 0, floored by `alpha`."""
    cosine_decayed = 0.5 * peak * (1.0 + math.cos(math.pi * fraction))
    return (1 - alpha) * cosine_decayed + alpha

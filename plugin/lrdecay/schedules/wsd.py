"""Warmup-stable-decay: a stable rate, then a cooldown."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from lrdecay._validation import check_choice, check_epoch_count, check_number
from lrdecay.kinds import KindSpec
from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class WSDSchedule(Schedule):
    """Warmup-stable-decay: a stable `initial_lr`, then a cooldown to 0.

    The schedule of MiniCPM and of Hägele et al. 2024 ("Scaling Laws and
    Compute-Optimal Training Beyond Fixed Training Durations"), per epoch as
    Hugging Face transformers' `get_wsd_schedule` gives it per step. After
    any warm-up (from 0, as transformers warms up), with `D = decay_epochs`,
    `C = cooldown_epochs` and `S = D - C`, the rate of `t` epochs is
    `initial_lr` while `t <= S`, then `initial_lr * f((t - S) / C)` with
    `f(p) = 1 - p` (`"linear"`) or `1 - sqrt(p)` (`"1-sqrt"`), and 0 from
    `t = D` on. The stable phase is a constant-rate run, so a search trains
    it once and branches each cooldown off it (`departure_epoch`).

    Args:
        decay_epochs: Int > 0. The epoch the cooldown ends at: the length
            of the fit it plans. Required.
        cooldown: Float in (0, 1]. The fraction of `decay_epochs` the
            cooldown lasts: `cooldown_epochs = max(1, round(cooldown * D))`
            (halves round up). Defaults to `0.2`.
        shape: `"linear"` or `"1-sqrt"`. The cooldown's shape. Defaults to
            `"linear"`.
        warmup_start_lr: Float. As `Schedule`'s, but defaults to `0.0`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="wsd", decay_arg="decay_epochs")
    SHAPES: ClassVar[tuple[str, ...]] = ("linear", "1-sqrt")

    warmup_start_lr: float | None = 0.0
    decay_epochs: int = dataclasses.field(kw_only=True)
    cooldown: float = 0.2
    shape: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_epoch_count("decay_epochs", self.decay_epochs, allow_zero=False)
        check_number("cooldown", self.cooldown)
        if not 0 < self.cooldown <= 1:
            raise ValueError(
                "Argument `cooldown` must be a fraction of `decay_epochs` in "
                f"(0, 1]. Received: cooldown={self.cooldown!r}"
            )
        check_choice("shape", self.shape, self.SHAPES)

    @property
    def cooldown_epochs(self) -> int:
        """`C`, the epochs of the cooldown: `max(1, round(cooldown * D))`."""
        return max(1, math.floor(self.cooldown * self.decay_epochs + 0.5))

    def departure_epoch(self) -> int:
        """The first epoch whose rate is not `initial_lr`.

        0 with a warm-up; else `S + 1 = decay_epochs - cooldown_epochs + 1`
        (the cooldown's first epoch, `p = 0`, still runs at `initial_lr`).
        Up to it a WSD run is the constant-rate run, so a search branches
        the cooldown off a shared trunk there (`lrdecay.tuning.prefixes.prefix`).
        """
        if self.warmup_epochs:
            return 0
        return self.decay_epochs - self.cooldown_epochs + 1

    def _decayed(self, epochs_since_warmup: int) -> float:
        stable = self.decay_epochs - self.cooldown_epochs
        if epochs_since_warmup <= stable:
            return self.require_initial_lr()
        if epochs_since_warmup >= self.decay_epochs:
            return 0.0
        progress = (epochs_since_warmup - stable) / self.cooldown_epochs
        factor = 1 - progress if self.shape == "linear" else 1 - math.sqrt(progress)
        return self.require_initial_lr() * factor

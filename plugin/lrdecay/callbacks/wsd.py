"""Warmup-stable-decay, as Hugging Face transformers' `get_wsd_schedule` per epoch."""

from __future__ import annotations

from typing import cast

import keras

from lrdecay.callbacks.registry import decay_of
from lrdecay.callbacks.scheduled import ScheduledDecay
from lrdecay.schedules import WSDSchedule


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(WSDSchedule.spec)
class WSDDecay(ScheduledDecay):
    """Warmup-stable-decay: `initial_lr` until a cooldown to 0 ends the plan.

    An optional linear warm-up from 0, a stable phase at `initial_lr`, then
    a cooldown to 0 over the last `cooldown` fraction of `decay_epochs`
    (MiniCPM; Hägele et al. 2024). Per epoch, the values of Hugging Face
    transformers' `get_wsd_schedule` per step, with `num_warmup_steps =
    warmup_epochs`, `num_decay_steps = C = max(1, round(cooldown *
    decay_epochs))` and `num_stable_steps = decay_epochs - C`: the rate of
    `t` epochs after the warm-up is `initial_lr` while `t <= S = D - C`, then
    `initial_lr * (1 - p)` (`shape="linear"`) or `initial_lr * (1 - sqrt(p))`
    (`"1-sqrt"`), `p = (t - S) / C`, and 0 from `t = D` on.

    Searchable as kind `"wsd"` (the search's decay epochs set
    `decay_epochs`; `cooldown` and `shape` keep their defaults). Its stable
    phase is the constant-rate control's, so a search with shared prefixes
    trains it once and starts each cooldown at `departure_epoch()`.

    Example:

    ```python
    decay = WSDDecay(initial_lr=0.1, decay_epochs=10)  # cooldown 2 epochs
    decay.curve(11)  # [0.1] * 9 + [0.05, 0.0]
    decay.departure_epoch()  # 9
    ```

    Args:
        initial_lr: Float or `None`. The stable rate. Defaults to `None`:
            the optimizer's rate when the fit begins.
        decay_epochs: Int > 0. The epoch (after any warm-up) the cooldown
            ends at. Required.
        cooldown: Float in (0, 1]. The cooldown's fraction of
            `decay_epochs`. Defaults to `0.2`.
        shape: `"linear"` or `"1-sqrt"`. Defaults to `"linear"`.
        warmup_epochs: Int. Epochs of linear warm-up from 0. Defaults to `0`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If `decay_epochs` is missing or not a whole number, or
            `shape` is not a string; at `on_train_begin`, if the optimizer's
            rate is a `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float | None = None,
        decay_epochs: int | None = None,
        cooldown: float = 0.2,
        shape: str = "linear",
        warmup_epochs: int = 0,
        min_lr: float = 0.0,
        warmup_start_lr: float | None = 0.0,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            WSDSchedule(
                initial_lr=initial_lr,
                # None fails the schedule's check, which names it.
                decay_epochs=decay_epochs,  # type: ignore[arg-type]
                cooldown=cooldown,
                shape=shape,
                warmup_epochs=warmup_epochs,
                min_lr=min_lr,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )

    def departure_epoch(self) -> int:
        """The first epoch off the stable rate (see `WSDSchedule.departure_epoch`)."""
        return cast(WSDSchedule, self.decay_schedule).departure_epoch()

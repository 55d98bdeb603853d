"""Linear (polynomial) decay, as Keras' `PolynomialDecay` per epoch."""

from __future__ import annotations

import keras

from lrdecay.callbacks.registry import decay_of
from lrdecay.callbacks.scheduled import ScheduledDecay
from lrdecay.schedules import LinearSchedule


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(LinearSchedule.spec)
class LinearDecay(ScheduledDecay):
    """Linear decay: from `initial_lr` down to `end_lr` in `decay_epochs`.

    The per-epoch values of Keras' `keras.optimizers.schedules.PolynomialDecay`
    (`cycle=False`) evaluated at step = epoch: the rate of epoch `e` is
    `(initial_lr - end_lr) * (1 - min(e, D) / D) ** power + end_lr` with
    `D = decay_epochs`; `power=1.0` is a straight line. Searchable as kind
    `"linear"` (the search's decay epochs set `decay_epochs`).

    Example:

    ```python
    decay = LinearDecay(initial_lr=0.1, decay_epochs=10)
    decay.lr_at(0), decay.lr_at(5), decay.lr_at(10)  # (0.1, 0.05, 0.0)
    model.fit(x, y, epochs=10, callbacks=[decay])
    ```

    Args:
        initial_lr: Float or `None`. The rate of epoch 0 (after warm-up).
            Defaults to `None`: the optimizer's rate when the fit begins.
        decay_epochs: Int > 0. Epochs the rate takes to reach `end_lr`;
            usually the epochs of the fit. Required.
        end_lr: Float >= 0. The final rate. Defaults to `0.0`.
        power: Float > 0. The power of the polynomial. Defaults to `1.0`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the decay.
            Defaults to `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If `decay_epochs` is missing or not a whole number; at
            `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float | None = None,
        decay_epochs: int | None = None,
        end_lr: float = 0.0,
        power: float = 1.0,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            LinearSchedule(
                initial_lr=initial_lr,
                # None fails the schedule's check, which names it.
                decay_epochs=decay_epochs,  # type: ignore[arg-type]
                end_lr=end_lr,
                power=power,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )

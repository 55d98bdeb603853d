"""Cosine decay, with and without warm restarts, as Keras' schedules per epoch."""

from __future__ import annotations

import keras

from lrdecay.callbacks.registry import decay_of
from lrdecay.callbacks.scheduled import ScheduledDecay
from lrdecay.schedules import CosineRestartsSchedule, CosineSchedule


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(CosineSchedule.spec)
class CosineDecay(ScheduledDecay):
    """Cosine decay: from `initial_lr` down to `alpha * initial_lr` in `decay_epochs`.

    The per-epoch values of Keras' `keras.optimizers.schedules.CosineDecay`
    evaluated at step = epoch: the rate of epoch `e` is
    `initial_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(e, D) / D)) + alpha)`
    with `D = decay_epochs`. As a callback rather than an optimizer schedule,
    it composes with `PlateauDecay`, keeps `lr_history` and is tracked and
    searched like the other decays. Warm-up (as Keras' `warmup_steps`) rises
    linearly to `initial_lr`, and the cosine counts its epochs from its end.

    Example:

    ```python
    decay = CosineDecay(initial_lr=0.1, decay_epochs=50)
    decay.lr_at(0), decay.lr_at(25), decay.lr_at(50)  # (0.1, 0.05, 0.0)
    model.fit(x, y, epochs=50, callbacks=[decay])
    ```

    Args:
        initial_lr: Float or `None`. The rate of epoch 0 (after warm-up).
            Defaults to `None`: the optimizer's rate when the fit begins.
        decay_epochs: Int > 0. Epochs the rate takes to reach its floor;
            usually the epochs of the fit. Required.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
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
        alpha: float = 0.0,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            CosineSchedule(
                initial_lr=initial_lr,
                # None fails the schedule's check, which names it.
                decay_epochs=decay_epochs,  # type: ignore[arg-type]
                alpha=alpha,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(CosineRestartsSchedule.spec)
class CosineDecayRestarts(ScheduledDecay):
    """Cosine decay with warm restarts (SGDR): periods that grow by `t_mul`.

    The per-epoch values of Keras'
    `keras.optimizers.schedules.CosineDecayRestarts` evaluated at step =
    epoch. The first cosine period lasts `first_decay_epochs` epochs (SGDR's
    T_0), each next one `t_mul` times longer; each restart jumps back up to
    `m_mul` times the previous peak. The floor `alpha * initial_lr` stays
    the same in every period, as in Keras.

    Example:

    ```python
    decay = CosineDecayRestarts(initial_lr=0.1, first_decay_epochs=10)
    [round(lr, 4) for lr in decay.curve(31)[::10]]  # [0.1, 0.1, 0.05, 0.1]
    ```

    Args:
        initial_lr: Float or `None`. The rate of epoch 0 (after warm-up).
            Defaults to `None`: the optimizer's rate when the fit begins.
        first_decay_epochs: Int > 0. Length of the first period. Required.
        t_mul: Float >= 1. Each period is `t_mul` times longer than the one
            before. Defaults to `2.0`.
        m_mul: Float in (0, 1]. Each restart peaks at `m_mul` times the peak
            before. Defaults to `1.0`.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the first
            period. Defaults to `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If `first_decay_epochs` is missing or not a whole number;
            at `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float | None = None,
        first_decay_epochs: int | None = None,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            CosineRestartsSchedule(
                initial_lr=initial_lr,
                first_decay_epochs=first_decay_epochs,  # type: ignore[arg-type]
                t_mul=t_mul,
                m_mul=m_mul,
                alpha=alpha,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )

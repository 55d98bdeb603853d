"""Pure learning-rate math: epoch -> learning rate.

Nothing here imports Keras or MLflow. Each schedule is a small frozen
dataclass that validates its arguments at construction, evaluates the rate of
any epoch (epochs count from 0, as Keras passes them), and round-trips through
`get_config()` / `from_config()`.

Warm-up follows Keras' own `CosineDecay(warmup_steps=...)`: the rate rises
linearly over the first `warmup_epochs` epochs, and the decay counts its epochs
from the end of the warm-up, so a warm-up shifts the decay curve right instead
of eating into it.

Each decay kind's search metadata (`KindSpec`: its name, the argument its
decay epochs set, its other searchable settings) is the class attribute
`spec` of its schedule; defining the class registers it in
`lrdecay.kinds.KIND_TABLE`, and `SCHEDULES` and `SEARCHABLE_KINDS` derive
from that table.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Any, ClassVar, cast

from lrdecay import defaults
from lrdecay._validation import (
    check_choice,
    check_drop,
    check_epoch_count,
    check_fraction,
    check_milestones,
    check_non_negative_finite,
    check_number,
    check_positive_finite,
)
from lrdecay.kinds import KIND_TABLE, Extra, KindSpec, register_kind

SCHEDULES: dict[str, type[Schedule]] = {}
"""The schedule class of each kind that has one, filled as the classes are defined."""


def _check_epoch(epoch: int) -> None:
    if epoch < 0:
        raise ValueError(f"Epochs count from 0. Received: epoch={epoch!r}")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Base of the scheduled decays: warm-up, the decay itself, a floor.

    Subclasses implement `_decayed(epochs_since_warmup)`, the rate the decay
    formula gives `epochs_since_warmup` epochs after the warm-up ended.

    A schedule without `initial_lr` is relative to a rate not known yet (the
    decay callbacks fill in the optimizer's rate when a fit begins): it
    gives no rates until `with_initial_lr(rate)` names one; `lr_at` and
    `curve` raise a `ValueError` that says so.

    Args:
        initial_lr: Float or `None`. The rate the decay starts from (and the
            warm-up rises to). Defaults to `None`: the optimizer's rate,
            filled in by the decay callback (`with_initial_lr`).
        min_lr: Float. A floor the decayed rate never goes below. Defaults
            to `0.0`.
        warmup_epochs: Int. Number of epochs of linear warm-up before the
            decay starts. Defaults to `0` (no warm-up).
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`, so epoch `e`
            of the warm-up runs at `initial_lr * (e + 1) / (warmup_epochs + 1)`.
    """

    kind: ClassVar[str] = ""
    # The kind's row of the kind table (`lrdecay.kinds.KindSpec`); a class
    # that declares one is registered under `spec.name`.
    spec: ClassVar[KindSpec | None] = None

    initial_lr: float | None = None
    min_lr: float = 0.0
    warmup_epochs: int = 0
    warmup_start_lr: float | None = None

    def __post_init__(self) -> None:
        if self.initial_lr is not None:
            check_positive_finite("initial_lr", self.initial_lr)
        check_non_negative_finite("min_lr", self.min_lr)
        if self.initial_lr is not None and self.min_lr > self.initial_lr:
            raise ValueError(
                "Argument `min_lr` must not exceed `initial_lr`. "
                f"Received: min_lr={self.min_lr!r}, initial_lr={self.initial_lr!r}"
            )
        check_epoch_count("warmup_epochs", self.warmup_epochs, allow_zero=True)
        if self.warmup_start_lr is not None:
            check_number("warmup_start_lr", self.warmup_start_lr)
            if self.warmup_start_lr < 0 or (
                self.initial_lr is not None and self.warmup_start_lr > self.initial_lr
            ):
                raise ValueError(
                    "Argument `warmup_start_lr` must be between 0 and "
                    f"`initial_lr`. Received: warmup_start_lr="
                    f"{self.warmup_start_lr!r}, initial_lr={self.initial_lr!r}"
                )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            register_kind(spec)
            cls.kind = spec.name
            SCHEDULES[spec.name] = cls

    def _decayed(self, epochs_since_warmup: int) -> float:
        raise NotImplementedError

    def require_initial_lr(self) -> float:
        """`initial_lr`; a `ValueError` naming the fix when it is not set yet."""
        if self.initial_lr is None:
            raise ValueError(
                f"This {type(self).__name__} has no `initial_lr`: it starts from "
                "the optimizer's rate, known once a fit begins. To read its "
                "rates before training, give the rate it starts from, e.g. "
                "`schedule.with_initial_lr(0.001).curve(epochs)`."
            )
        return self.initial_lr

    def with_initial_lr(self, initial_lr: float) -> Schedule:
        """This schedule starting from `initial_lr` (its other settings kept).

        Raises:
            ValueError: If `initial_lr` is not a positive number, or is below
                `min_lr` or `warmup_start_lr`.
        """
        return dataclasses.replace(self, initial_lr=initial_lr)

    def lr_at(self, epoch: int, scale: float = 1.0) -> float:
        """The learning rate of `epoch` (from 0).

        Args:
            epoch: Int. The epoch, counted from 0 as Keras counts it.
            scale: Float. A multiplier on the schedule, e.g. the product of
                the plateau reductions so far. The `min_lr` floor applies
                after it. Defaults to `1.0`.

        Raises:
            ValueError: If the schedule has no `initial_lr` (see
                `with_initial_lr`).
        """
        _check_epoch(epoch)
        initial_lr = self.require_initial_lr()
        if epoch < self.warmup_epochs:
            start = (
                initial_lr / (self.warmup_epochs + 1)
                if self.warmup_start_lr is None
                else self.warmup_start_lr
            )
            fraction = epoch / self.warmup_epochs
            return scale * (start + (initial_lr - start) * fraction)
        return max(scale * self._decayed(epoch - self.warmup_epochs), self.min_lr)

    def curve(self, epochs: int) -> list[float]:
        """The learning rates of epochs `0 .. epochs - 1`.

        Raises:
            ValueError: If the schedule has no `initial_lr` (see
                `with_initial_lr`).
        """
        check_epoch_count("epochs", epochs, allow_zero=True)
        return [self.lr_at(epoch) for epoch in range(epochs)]

    def get_config(self) -> dict[str, Any]:
        config = dataclasses.asdict(self)
        for key, value in config.items():
            if isinstance(value, tuple):
                config[key] = list(value)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class StepSchedule(Schedule):
    """`initial_lr * drop ** floor(epoch / epochs_drop)`.

    Args:
        drop: Float in (0, 1]. The factor applied at every decay. Defaults
            to `0.5`.
        epochs_drop: Int. Epochs between two decays. Defaults to `30`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(
        name="step",
        decay_arg="epochs_drop",
        extras=(Extra("drop", 0, 1, high_open=False),),
        piecewise=True,
    )

    drop: float = 0.5
    epochs_drop: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        check_drop(self.drop)
        check_epoch_count("epochs_drop", self.epochs_drop, allow_zero=False)

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr() * self.drop ** (
            epochs_since_warmup // self.epochs_drop
        )


@dataclasses.dataclass(frozen=True)
class MultiStepSchedule(Schedule):
    """`initial_lr * drop ** (number of milestones <= epoch)`.

    PyTorch's `MultiStepLR`: decay at a given list of epochs.

    Args:
        drop: Float in (0, 1]. The factor applied at every milestone.
            Defaults to `0.1`.
        milestones: Sequence of int. Strictly increasing epochs (counted
            after any warm-up) at which the rate is multiplied by `drop`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="multistep", piecewise=True)

    drop: float = 0.1
    milestones: tuple[int, ...] = (30, 60, 90)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_drop(self.drop)
        object.__setattr__(self, "milestones", check_milestones(self.milestones))

    def _decayed(self, epochs_since_warmup: int) -> float:
        decays = bisect.bisect_right(self.milestones, epochs_since_warmup)
        return self.require_initial_lr() * self.drop**decays


@dataclasses.dataclass(frozen=True)
class ExponentialSchedule(Schedule):
    """`initial_lr * exp(-k * epoch)`, given by `k` or by its half-life.

    `half_life` is the name the search, the CLI tables and `preview` use:
    the epochs it takes to halve the rate, `k = ln 2 / half_life`. Give one
    of the two; the config keeps the one given.

    Args:
        k: Float >= 0 or `None`. The decay rate per epoch. Defaults to
            `0.1` unless `half_life` is given.
        half_life: Float > 0 or `None`. Epochs to halve the rate. Defaults
            to `None` (use `k`).
    """

    spec: ClassVar[KindSpec | None] = KindSpec(
        name="exponential",
        decay_arg="half_life",
        rate_arg=Extra("k", 0, low_open=False),
        rate_of_epochs=lambda half_life: math.log(2.0) / half_life,
    )

    k: float | None = None
    half_life: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.half_life is None:
            # Only `k` is stored when given or defaulted, so `replace()` and
            # the config see exactly what the user chose.
            object.__setattr__(self, "k", 0.1 if self.k is None else self.k)
            check_non_negative_finite("k", self.k)
            return
        if self.k is not None:
            raise ValueError(
                "Give exponential decay `k` or `half_life`, not both "
                "(k = ln 2 / half_life). "
                f"Received: k={self.k!r}, half_life={self.half_life!r}"
            )
        check_positive_finite("half_life", self.half_life)

    @property
    def decay_rate(self) -> float:
        """`k`, also when the decay was given by its `half_life`."""
        if self.half_life is not None:
            return math.log(2) / self.half_life
        return cast(float, self.k)

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr() * math.exp(
            -self.decay_rate * epochs_since_warmup
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["k" if self.half_life is not None else "half_life"]
        return config


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


@dataclasses.dataclass(frozen=True)
class LinearSchedule(Schedule):
    """Linear (or polynomial) decay from `initial_lr` to `end_lr` in `decay_epochs`.

    Keras' `keras.optimizers.schedules.PolynomialDecay` (`cycle=False`)
    evaluated at step = epoch: the rate of epoch `e` is
    `(initial_lr - end_lr) * (1 - min(e, D) / D) ** power + end_lr` with
    `D = decay_epochs`, so it stays at `end_lr` from epoch `D` on.

    Args:
        decay_epochs: Int > 0. Epochs the rate takes to reach `end_lr`;
            usually the length of the fit. Required.
        end_lr: Float >= 0, not above `initial_lr`. The final rate.
            Defaults to `0.0`.
        power: Float > 0. The polynomial's power; `1.0` is linear. Defaults
            to `1.0`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="linear", decay_arg="decay_epochs")

    decay_epochs: int = dataclasses.field(kw_only=True)
    end_lr: float = 0.0
    power: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_epoch_count("decay_epochs", self.decay_epochs, allow_zero=False)
        check_non_negative_finite("end_lr", self.end_lr)
        if self.initial_lr is not None and self.end_lr > self.initial_lr:
            raise ValueError(
                "Argument `end_lr` must not exceed `initial_lr`. "
                f"Received: end_lr={self.end_lr!r}, initial_lr={self.initial_lr!r}"
            )
        check_positive_finite("power", self.power)

    def _decayed(self, epochs_since_warmup: int) -> float:
        fraction = min(epochs_since_warmup, self.decay_epochs) / self.decay_epochs
        span = self.require_initial_lr() - self.end_lr
        return span * (1 - fraction) ** self.power + self.end_lr


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


def _cosine(fraction: float, alpha: float, peak: float) -> float:
    """Keras' cosine factor: from `peak` (fraction 0) down to 0, floored by `alpha`."""
    cosine_decayed = 0.5 * peak * (1.0 + math.cos(math.pi * fraction))
    return (1 - alpha) * cosine_decayed + alpha


@dataclasses.dataclass(frozen=True)
class ConstantSchedule(Schedule):
    """The constant-rate control's schedule: `initial_lr` at every epoch.

    A `Schedule` of kind `"constant"` (not a searchable kind: the search's
    control), so that the control trains through the same `ScheduledDecay`
    as the decays (its rate recorded per epoch, its MLflow param
    `decay_kind=constant`). It logs no settings of its own
    (`logs_settings`): it has none but the rate, which the decays' runs hold
    too, and MLflow's compare page opens its parallel-coordinates plot on the
    first three differing params by name, which `constant/...` would take
    before `decay_epochs` and `decay_kind`.
    """

    kind: ClassVar[str] = "constant"
    logs_settings: ClassVar[bool] = False

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr()


# The plateau rule has no schedule (`lrdecay.callbacks.PlateauDecay` reacts to
# a metric); its row of the kind table lives here with the others.
PLATEAU = register_kind(
    KindSpec(
        name="plateau",
        decay_arg="patience",
        extras=(Extra("factor", 0, 1),),
        plateau=True,
        preview=False,
    )
)


def searchable_kinds() -> tuple[str, ...]:
    """Every kind a search can try: the default kinds first, then the rest."""
    searchable = [name for name, spec in KIND_TABLE.items() if spec.searchable]
    rest = [name for name in searchable if name not in defaults.KINDS]
    return (*defaults.KINDS, *rest)


SEARCHABLE_KINDS: tuple[str, ...] = searchable_kinds()
"""Every kind `search(kinds=)` and `lrdecay search --kinds` may name.

`lrdecay.defaults.KINDS` are the ones searched by default. The decay epochs of
each kind set its `spec.decay_arg` (a cosine decay's period, SGDR's T_0, ...).
"""

"""The pure schedules: exact rates, warm-up, floors, configs and bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest

from lrdecay.schedules import (
    SCHEDULES,
    CosineRestartsSchedule,
    CosineSchedule,
    ExponentialSchedule,
    MultiStepSchedule,
    StepSchedule,
)

# The settings a kind cannot do without (its period); the others default.
# The settings without a default (a cosine's period, ...): each kind's decay
# epochs (`spec.decay_arg`, from the kind table), set to 7.
REQUIRED = {
    kind: {field.name: 7}
    for kind, schedule in SCHEDULES.items()
    for field in dataclasses.fields(schedule)
    if field.default is dataclasses.MISSING
    and field.default_factory is dataclasses.MISSING
}


def test_step_schedule_halves_every_epochs_drop() -> None:
    schedule = StepSchedule(initial_lr=0.1, drop=0.5, epochs_drop=30)
    assert schedule.lr_at(0) == 0.1
    assert schedule.lr_at(29) == 0.1
    assert schedule.lr_at(30) == 0.05
    assert schedule.lr_at(59) == 0.05
    assert schedule.lr_at(60) == 0.025
    assert schedule.curve(4) == [0.1] * 4


def test_exponential_schedule_is_exp_of_minus_k_epoch() -> None:
    schedule = ExponentialSchedule(initial_lr=0.1, k=0.1)
    assert schedule.curve(5) == pytest.approx(
        [0.1 * math.exp(-0.1 * epoch) for epoch in range(5)], rel=1e-12
    )


def test_multistep_schedule_drops_at_each_milestone() -> None:
    schedule = MultiStepSchedule(initial_lr=1.0, drop=0.1, milestones=[2, 5])
    assert schedule.curve(7) == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01], rel=1e-12
    )


def test_min_lr_floors_the_decay() -> None:
    schedule = StepSchedule(initial_lr=0.1, drop=0.1, epochs_drop=1, min_lr=0.005)
    assert schedule.curve(4) == pytest.approx([0.1, 0.01, 0.005, 0.005])


def test_warmup_rises_linearly_then_decay_counts_from_its_end() -> None:
    schedule = StepSchedule(initial_lr=0.3, drop=0.5, epochs_drop=2, warmup_epochs=2)
    # warm-up: 0.3 * 1/3, 0.3 * 2/3; then the step decay from its own epoch 0.
    assert schedule.curve(6) == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.15, 0.15])
    exponential = ExponentialSchedule(
        initial_lr=0.2, k=1.0, warmup_epochs=1, warmup_start_lr=0.0
    )
    assert exponential.curve(3) == pytest.approx([0.0, 0.2, 0.2 * math.exp(-1)])


def test_scale_multiplies_before_the_floor() -> None:
    schedule = StepSchedule(initial_lr=0.1, drop=0.5, epochs_drop=1, min_lr=0.02)
    assert schedule.lr_at(1, scale=0.5) == pytest.approx(0.025)
    assert schedule.lr_at(2, scale=0.5) == pytest.approx(0.02)


@pytest.mark.parametrize("kind", sorted(SCHEDULES))
def test_config_round_trip(kind: str) -> None:
    schedule = SCHEDULES[kind](
        initial_lr=0.2, warmup_epochs=1, **REQUIRED.get(kind, {})
    )
    again = type(schedule).from_config(schedule.get_config())
    assert again == schedule
    assert again.curve(40) == schedule.curve(40)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: StepSchedule(initial_lr=0), "initial_lr=0"),
        (lambda: StepSchedule(initial_lr=-0.1), "initial_lr=-0.1"),
        (lambda: StepSchedule(initial_lr=math.inf), "initial_lr=inf"),
        (lambda: StepSchedule(initial_lr=math.nan), "initial_lr=nan"),
        (lambda: StepSchedule(drop=0), "drop=0"),
        (lambda: StepSchedule(drop=1.5), "drop=1.5"),
        (lambda: StepSchedule(epochs_drop=0), "epochs_drop=0"),
        (lambda: StepSchedule(epochs_drop=-3), "epochs_drop=-3"),
        (lambda: ExponentialSchedule(k=-0.1), "k=-0.1"),
        (lambda: StepSchedule(initial_lr=0.1, min_lr=0.2), "min_lr=0.2"),
        (lambda: StepSchedule(min_lr=-1), "min_lr=-1"),
        (lambda: StepSchedule(warmup_epochs=-1), "warmup_epochs=-1"),
        (lambda: MultiStepSchedule(milestones=[30, 10]), r"milestones=\[30, 10\]"),
        (lambda: MultiStepSchedule(milestones=[10, 10]), r"milestones=\[10, 10\]"),
        (lambda: MultiStepSchedule(milestones=[-1, 10]), r"milestones=\[-1, 10\]"),
        (lambda: MultiStepSchedule(milestones=[]), r"milestones=\[\]"),
        (lambda: ExponentialSchedule(half_life=0), "half_life=0"),
        (lambda: ExponentialSchedule(half_life=-5), "half_life=-5"),
        (lambda: ExponentialSchedule(half_life=math.inf), "half_life=inf"),
        (lambda: ExponentialSchedule(k=0.1, half_life=7), "k=0.1, half_life=7"),
        (lambda: CosineSchedule(decay_epochs=0), "decay_epochs=0"),
        (lambda: CosineSchedule(decay_epochs=10, alpha=1.0), "alpha=1.0"),
        (lambda: CosineSchedule(decay_epochs=10, alpha=-0.1), "alpha=-0.1"),
        (
            lambda: CosineRestartsSchedule(first_decay_epochs=-1),
            "first_decay_epochs=-1",
        ),
        (lambda: CosineRestartsSchedule(first_decay_epochs=5, t_mul=0.5), "t_mul=0.5"),
        (
            lambda: CosineRestartsSchedule(first_decay_epochs=5, t_mul=math.inf),
            "t_mul=inf",
        ),
        (lambda: CosineRestartsSchedule(first_decay_epochs=5, m_mul=0), "m_mul=0"),
        (lambda: CosineRestartsSchedule(first_decay_epochs=5, m_mul=1.5), "m_mul=1.5"),
        (lambda: CosineRestartsSchedule(first_decay_epochs=5, alpha=2), "alpha=2"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(factory, match) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: StepSchedule(initial_lr="0.1"), "initial_lr='0.1'"),
        (lambda: StepSchedule(epochs_drop=2.5), "epochs_drop=2.5"),
        (lambda: StepSchedule(drop=True), "drop=True"),
        (lambda: MultiStepSchedule(milestones="10,20"), "milestones='10,20'"),
        (lambda: MultiStepSchedule(milestones=[1.5]), r"milestones=\[1.5\]"),
        (lambda: ExponentialSchedule(half_life="10"), "half_life='10'"),
        (lambda: CosineSchedule(decay_epochs=2.5), "decay_epochs=2.5"),
        (lambda: CosineSchedule(decay_epochs=None), "decay_epochs=None"),
        (lambda: CosineSchedule(decay_epochs=10, alpha="0"), "alpha='0'"),
        (lambda: CosineSchedule(), "decay_epochs"),
        (
            lambda: CosineRestartsSchedule(first_decay_epochs=True),
            "first_decay_epochs=True",
        ),
        (lambda: CosineRestartsSchedule(first_decay_epochs=5, t_mul="2"), "t_mul='2'"),
        (
            lambda: CosineRestartsSchedule(first_decay_epochs=5, m_mul=None),
            "m_mul=None",
        ),
    ],
)
def test_wrong_types_raise_type_error_naming_the_value(factory, match) -> None:
    with pytest.raises(TypeError, match=match):
        factory()


def test_negative_epoch_is_rejected() -> None:
    with pytest.raises(ValueError, match="epoch=-1"):
        StepSchedule().lr_at(-1)


def test_exponential_schedule_by_half_life_halves_every_half_life() -> None:
    schedule = ExponentialSchedule(initial_lr=0.1, half_life=10)
    assert schedule.lr_at(10) == pytest.approx(0.05, rel=1e-12)
    assert schedule.lr_at(30) == pytest.approx(0.0125, rel=1e-12)
    by_k = ExponentialSchedule(initial_lr=0.1, k=math.log(2) / 10)
    assert schedule.curve(50) == pytest.approx(by_k.curve(50), rel=1e-12)
    assert schedule.decay_rate == pytest.approx(math.log(2) / 10, rel=1e-15)


def test_exponential_config_keeps_the_setting_the_user_gave() -> None:
    by_half_life = ExponentialSchedule(initial_lr=0.2, half_life=8, warmup_epochs=2)
    config = by_half_life.get_config()
    assert config == {
        "initial_lr": 0.2,
        "min_lr": 0.0,
        "warmup_epochs": 2,
        "warmup_start_lr": None,
        "half_life": 8,
    }
    assert ExponentialSchedule.from_config(config) == by_half_life
    assert "half_life" not in ExponentialSchedule(k=0.3).get_config()
    assert ExponentialSchedule().get_config()["k"] == 0.1
    assert ExponentialSchedule().k == 0.1
    changed = dataclasses.replace(by_half_life, initial_lr=0.4)
    assert changed.lr_at(10) == pytest.approx(0.2, rel=1e-12)


def keras_rates(schedule, epochs: int) -> list[float]:
    """A Keras `LearningRateSchedule` evaluated at step = epoch, in float64."""
    import keras

    return [
        float(keras.ops.convert_to_numpy(schedule(epoch))) for epoch in range(epochs)
    ]


def float64(value: float):
    # Keras computes in the dtype of `initial_learning_rate`: float64 here, so
    # the comparison is not limited by float32 rounding.
    import numpy as np

    return np.float64(value)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("decay_epochs", [1, 17, 60])
def test_cosine_schedule_equals_keras_cosine_decay(decay_epochs, alpha) -> None:
    import keras

    reference = keras.optimizers.schedules.CosineDecay(
        float64(0.1), decay_epochs, alpha=alpha
    )
    schedule = CosineSchedule(initial_lr=0.1, decay_epochs=decay_epochs, alpha=alpha)
    assert schedule.curve(70) == pytest.approx(keras_rates(reference, 70), rel=1e-6)
    assert schedule.lr_at(decay_epochs) == pytest.approx(0.1 * alpha)


def test_cosine_warmup_equals_keras_warmup() -> None:
    import keras

    reference = keras.optimizers.schedules.CosineDecay(
        float64(0.02), 40, alpha=0.05, warmup_target=0.1, warmup_steps=5
    )
    schedule = CosineSchedule(
        initial_lr=0.1,
        decay_epochs=40,
        alpha=0.05,
        warmup_epochs=5,
        warmup_start_lr=0.02,
    )
    assert schedule.curve(60) == pytest.approx(keras_rates(reference, 60), rel=1e-6)


@pytest.mark.parametrize(
    ("first_decay_epochs", "t_mul", "m_mul", "alpha"),
    [(5, 2.0, 1.0, 0.0), (5, 2.0, 0.5, 0.1), (7, 1.0, 0.5, 0.0), (4, 1.5, 1.0, 0.25)],
)
def test_cosine_restarts_schedule_equals_keras(first_decay_epochs, t_mul, m_mul, alpha):
    import keras

    reference = keras.optimizers.schedules.CosineDecayRestarts(
        float64(0.1), first_decay_epochs, t_mul=t_mul, m_mul=m_mul, alpha=alpha
    )
    schedule = CosineRestartsSchedule(
        initial_lr=0.1,
        first_decay_epochs=first_decay_epochs,
        t_mul=t_mul,
        m_mul=m_mul,
        alpha=alpha,
    )
    assert schedule.curve(60) == pytest.approx(keras_rates(reference, 60), rel=1e-6)


def test_cosine_restarts_restart_on_the_exact_period_bounds() -> None:
    # Periods of 3, 9, 27 epochs: restarts at epochs 3, 12 and 39, each at
    # the peak m_mul ** i, whatever the rounding of log(...) / log(t_mul).
    schedule = CosineRestartsSchedule(
        initial_lr=1.0, first_decay_epochs=3, t_mul=3.0, m_mul=0.5
    )
    assert [schedule.period(epoch) for epoch in (0, 3, 12, 39)] == [
        (0, 0.0),
        (1, 0.0),
        (2, 0.0),
        (3, 0.0),
    ]
    assert [schedule.lr_at(epoch) for epoch in (0, 3, 12, 39)] == [
        1.0,
        0.5,
        0.25,
        0.125,
    ]
    assert schedule.lr_at(11) == pytest.approx(
        0.5 * 0.5 * (1 + math.cos(math.pi * 8 / 9))
    )


def test_cosine_min_lr_floors_and_warmup_shifts_the_curve() -> None:
    schedule = CosineSchedule(
        initial_lr=0.1, decay_epochs=4, min_lr=0.02, warmup_epochs=2
    )
    expected = [0.1 / 3, 0.2 / 3, 0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 4)), 0.05]
    expected += [max(0.1 * 0.5 * (1 + math.cos(math.pi * 3 / 4)), 0.02), 0.02, 0.02]
    assert schedule.curve(8) == pytest.approx(expected, rel=1e-12)


def test_a_schedule_without_initial_lr_needs_one_for_its_rates():
    relative = StepSchedule(epochs_drop=2, min_lr=0.01)
    with pytest.raises(ValueError, match=r"no `initial_lr`.*with_initial_lr"):
        relative.curve(3)
    assert relative.with_initial_lr(0.1).curve(5) == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert relative.get_config()["initial_lr"] is None
    with pytest.raises(ValueError, match=r"min_lr=0\.01, initial_lr=0\.001"):
        relative.with_initial_lr(0.001)

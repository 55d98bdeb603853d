"""The pure schedules: exact rates, warm-up, floors, configs and bad input."""

from __future__ import annotations

import math

import pytest

from lrdecay.schedules import (
    SCHEDULES,
    ExponentialSchedule,
    MultiStepSchedule,
    StepSchedule,
)


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
    schedule = SCHEDULES[kind](initial_lr=0.2, warmup_epochs=1)
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
    ],
)
def test_wrong_types_raise_type_error_naming_the_value(factory, match) -> None:
    with pytest.raises(TypeError, match=match):
        factory()


def test_negative_epoch_is_rejected() -> None:
    with pytest.raises(ValueError, match="epoch=-1"):
        StepSchedule().lr_at(-1)

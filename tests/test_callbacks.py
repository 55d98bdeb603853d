"""The decay callbacks in real fits on the digits: the exact rate of every epoch.

Every test reads the rate the optimizer really held in each epoch (through the
`lr_probe` batch hook), not only what the callback meant to set. The tests
that set the optimizer's rate in a fit also run on the JAX backend (see
tests/test_jax.py); the checks of arguments, configs and copies
are backend-free and run once.
"""

from __future__ import annotations

import copy
import functools
import math
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import fit as digits_fit
from lrdecay import (
    CosineDecay,
    CosineDecayRestarts,
    DecayEvent,
    ExponentialDecay,
    MultiStepDecay,
    PlateauDecay,
    StepDecay,
)
from lrdecay.callbacks import DECAYS, decays_in_fit

F32 = 1e-6  # the optimizer holds its rate as float32

fit = functools.partial(digits_fit, batch_size=256)


def split(lr_history):
    """(epochs, rates) of a callback's `lr_history`."""
    return [epoch for epoch, _ in lr_history], [rate for _, rate in lr_history]


def never_improves(**kwargs) -> PlateauDecay:
    """A plateau rule that sees no improvement after epoch 0, whatever the data."""
    return PlateauDecay(monitor="loss", min_delta=1e9, **kwargs)


@pytest.mark.jax
def test_step_decay_sets_the_formula_rate_every_epoch(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=2)
    history = fit(make_model(), digits, [decay, lr_probe], epochs=5)
    expected = [0.2, 0.2, 0.1, 0.1, 0.05]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert history.history["learning_rate"] == pytest.approx(expected, rel=F32)
    epochs, rates = split(decay.lr_history)
    assert epochs == [0, 1, 2, 3, 4]
    assert rates == pytest.approx(expected, rel=F32)


def test_exponential_decay_sets_the_formula_rate_every_epoch(
    make_model, digits, lr_probe
):
    decay = ExponentialDecay(initial_lr=0.1, k=0.5)
    fit(make_model(), digits, [decay, lr_probe], epochs=4)
    expected = [0.1 * math.exp(-0.5 * epoch) for epoch in range(4)]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert decay.curve(4) == pytest.approx(expected, rel=1e-12)


def test_exponential_decay_by_half_life_halves_every_half_life(
    make_model, digits, lr_probe
):
    decay = ExponentialDecay(initial_lr=0.2, half_life=2)
    fit(make_model(), digits, [decay, lr_probe], epochs=5)
    expected = [0.2 * 0.5 ** (epoch / 2) for epoch in range(5)]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert decay.get_config()["half_life"] == 2
    assert "k" not in decay.get_config()


def keras_rates(schedule, epochs):
    """A Keras `LearningRateSchedule` evaluated at step = epoch."""
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(epochs)]


@pytest.mark.jax
def test_cosine_decay_equals_keras_cosine_decay_every_epoch(
    make_model, digits, lr_probe
):
    decay = CosineDecay(initial_lr=0.1, decay_epochs=45, alpha=0.1)
    history = fit(make_model(), digits, [decay, lr_probe], epochs=60)
    expected = keras_rates(
        keras.optimizers.schedules.CosineDecay(0.1, decay_steps=45, alpha=0.1), 60
    )
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert history.history["learning_rate"] == pytest.approx(expected, rel=F32)
    assert split(decay.lr_history) == (
        list(range(60)),
        pytest.approx(expected, rel=F32),
    )
    assert decay.curve(60) == pytest.approx(expected, rel=F32)
    assert decay.kind == "cosine"


def test_cosine_decay_restarts_equals_keras_every_epoch(make_model, digits, lr_probe):
    decay = CosineDecayRestarts(
        initial_lr=0.1, first_decay_epochs=5, t_mul=2.0, m_mul=0.5, alpha=0.1
    )
    fit(make_model(), digits, [decay, lr_probe], epochs=60)
    expected = keras_rates(
        keras.optimizers.schedules.CosineDecayRestarts(
            0.1, first_decay_steps=5, t_mul=2.0, m_mul=0.5, alpha=0.1
        ),
        60,
    )
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    # Restarts at 5, 15 and 35, each peaking at half the peak before.
    assert [lr_probe.rates[epoch] for epoch in (0, 5, 15, 35)] == pytest.approx(
        [
            0.1,
            0.1 * (0.9 * 0.5 + 0.1),
            0.1 * (0.9 * 0.25 + 0.1),
            0.1 * (0.9 * 0.125 + 0.1),
        ],
        rel=F32,
    )
    assert decay.kind == "cosine_restarts"


def test_cosine_warmup_min_lr_and_plateau_compose(make_model, digits, lr_probe):
    decay = CosineDecay(initial_lr=0.3, decay_epochs=4, min_lr=0.05, warmup_epochs=2)
    plateau = never_improves(factor=0.5, patience=4)
    fit(make_model(), digits, [decay, plateau, lr_probe], epochs=8)
    cosine = [0.1, 0.2, 0.3, 0.15 * (1 + math.cos(math.pi / 4)), 0.15]
    cosine += [0.15 * (1 + math.cos(math.pi * 3 / 4)), 0.0, 0.0]
    # The plateau halves from epoch 5 on; the floor applies after it.
    expected = [
        max(lr * (0.5 if epoch >= 5 else 1.0), 0.05) if epoch >= 2 else lr
        for epoch, lr in enumerate(cosine)
    ]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)


def test_every_decay_kind_is_registered_under_its_kind():
    assert DECAYS["cosine"] is CosineDecay
    assert DECAYS["cosine_restarts"] is CosineDecayRestarts
    for kind, decay_class in DECAYS.items():
        if kind != "plateau":
            assert decay_class.__init__.__defaults__ is not None
    assert CosineDecay(decay_epochs=3).kind == "cosine"


def test_multistep_decay_drops_at_the_milestones(make_model, digits, lr_probe):
    decay = MultiStepDecay(initial_lr=0.1, drop=0.1, milestones=[1, 3])
    fit(make_model(), digits, [decay, lr_probe], epochs=4)
    assert lr_probe.rates == pytest.approx([0.1, 0.01, 0.01, 0.001], rel=F32)


def test_warmup_composes_with_step_and_exponential(make_model, digits, lr_probe):
    step = StepDecay(initial_lr=0.3, drop=0.5, epochs_drop=1, warmup_epochs=2)
    fit(make_model(), digits, [step, lr_probe], epochs=4)
    assert lr_probe.rates == pytest.approx([0.1, 0.2, 0.3, 0.15], rel=F32)

    probe = type(lr_probe)()
    exponential = ExponentialDecay(initial_lr=0.2, k=1.0, warmup_epochs=1)
    fit(make_model(), digits, [exponential, probe], epochs=3)
    assert probe.rates == pytest.approx([0.1, 0.2, 0.2 * math.exp(-1)], rel=F32)


def test_min_lr_floors_the_optimizer_rate(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.1, drop=0.1, epochs_drop=1, min_lr=0.005)
    fit(make_model(), digits, [decay, lr_probe], epochs=4)
    assert lr_probe.rates == pytest.approx([0.1, 0.01, 0.005, 0.005], rel=F32)


@pytest.mark.jax
def test_plateau_decay_reduces_with_keras_semantics_and_records_events(
    make_model, digits, lr_probe
):
    plateau = never_improves(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    history = fit(make_model(learning_rate=0.1), digits, [plateau, lr_probe], epochs=8)
    # Keras' semantics: epoch 0 sets the best; waits at 1, 2 -> reduce after 2.
    # The cooldown epoch (3) resets the wait but, its counter now 0, counts a
    # wait too: reduce after 4, and after 6 down to the 0.02 floor.
    expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert history.history["learning_rate"] == pytest.approx(expected, rel=F32)
    assert [event.epoch for event in plateau.decay_events] == [2, 4, 6]
    first = plateau.decay_events[0]
    assert isinstance(first, DecayEvent)
    assert (first.old_lr, first.new_lr) == pytest.approx((0.1, 0.05), rel=F32)
    assert first.monitor_value == pytest.approx(history.history["loss"][2])
    assert split(plateau.lr_history)[1] == pytest.approx(expected, rel=F32)


def test_plateau_decay_stops_at_min_lr(make_model, digits, lr_probe):
    plateau = never_improves(factor=0.5, patience=1, min_lr=0.04)
    fit(make_model(learning_rate=0.1), digits, [plateau, lr_probe], epochs=5)
    assert lr_probe.rates == pytest.approx([0.1, 0.1, 0.05, 0.04, 0.04], rel=F32)
    assert len(plateau.decay_events) == 2


@pytest.mark.parametrize(
    "plateau_first", [pytest.param(True, marks=pytest.mark.jax), False]
)
def test_plateau_reductions_multiply_the_schedule_in_any_order(
    make_model, digits, lr_probe, plateau_first
):
    step = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=2)
    plateau = never_improves(factor=0.1, patience=3)
    callbacks = [plateau, step] if plateau_first else [step, plateau]
    history = fit(make_model(), digits, [*callbacks, lr_probe], epochs=7)
    # The plateau reduces after epoch 3: from epoch 4 on, the schedule x 0.1
    # (the reduction after epoch 6 would act from epoch 7, not run).
    schedule = [0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025]
    expected = [lr * (0.1 if epoch >= 4 else 1.0) for epoch, lr in enumerate(schedule)]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    assert history.history["learning_rate"] == pytest.approx(expected, rel=F32)
    assert [event.epoch for event in plateau.decay_events] == [3, 6]


def test_keras_reduce_lr_on_plateau_also_multiplies_the_schedule(
    make_model, digits, lr_probe
):
    step = ExponentialDecay(initial_lr=0.1, k=0.1)
    keras_plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", min_delta=1e9, factor=0.5, patience=1
    )
    fit(make_model(), digits, [step, keras_plateau, lr_probe], epochs=4)
    scale = [1, 1, 0.5, 0.25]
    expected = [0.1 * math.exp(-0.1 * e) * scale[e] for e in range(4)]
    assert lr_probe.rates == pytest.approx(expected, rel=F32)


@pytest.mark.jax
def test_initial_epoch_continues_the_schedule(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=2)
    fit(make_model(), digits, [decay, lr_probe], epochs=6, initial_epoch=3)
    assert lr_probe.rates == pytest.approx([0.1, 0.05, 0.05], rel=F32)
    assert [epoch for epoch, _ in decay.lr_history] == [3, 4, 5]


def test_a_second_fit_starts_the_schedule_afresh(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=1)
    plateau = never_improves(factor=0.5, patience=1)
    model = make_model()
    fit(model, digits, [decay, plateau], epochs=3)
    fit(model, digits, [decay, lr_probe], epochs=2)
    assert lr_probe.rates == pytest.approx([0.2, 0.1], rel=F32)
    assert decays_in_fit(model) == [decay]


def test_cosine_decays_survive_deepcopy(make_model, digits, lr_probe):
    decay = CosineDecayRestarts(initial_lr=0.2, first_decay_epochs=2, t_mul=1.0)
    fit(make_model(), digits, [decay], epochs=2)
    decay_copy = copy.deepcopy(decay)
    assert decay_copy.schedule.__self__ is decay_copy
    fit(make_model(), digits, [decay_copy, lr_probe], epochs=3)
    assert lr_probe.rates == pytest.approx([0.2, 0.1, 0.2], rel=F32)
    assert len(decay.lr_history) == 2


def test_deepcopy_gives_an_independent_working_callback(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.2, drop=0.5, epochs_drop=1)
    plateau = never_improves(factor=0.5, patience=1)
    fit(make_model(), digits, [decay, plateau], epochs=2)
    decay_copy, plateau_copy = copy.deepcopy(decay), copy.deepcopy(plateau)
    assert decay_copy.schedule.__self__ is decay_copy
    fit(make_model(), digits, [decay_copy, plateau_copy, lr_probe], epochs=3)
    assert lr_probe.rates == pytest.approx([0.2, 0.1, 0.025], rel=F32)
    assert len(decay.lr_history) == 2


@pytest.mark.parametrize(
    "callback",
    [
        StepDecay(
            initial_lr=0.3, drop=0.2, epochs_drop=7, min_lr=0.01, warmup_epochs=2
        ),
        MultiStepDecay(initial_lr=0.3, drop=0.5, milestones=[3, 8]),
        ExponentialDecay(
            initial_lr=0.05, k=0.02, warmup_start_lr=0.01, warmup_epochs=3
        ),
        PlateauDecay(monitor="val_accuracy", factor=0.3, patience=4, mode="max"),
        ExponentialDecay(initial_lr=0.05, half_life=6, min_lr=0.001),
        CosineDecay(initial_lr=0.2, decay_epochs=9, alpha=0.1, warmup_epochs=2),
        CosineDecayRestarts(
            initial_lr=0.2, first_decay_epochs=3, t_mul=1.5, m_mul=0.8, min_lr=0.01
        ),
    ],
    ids=lambda callback: f"{type(callback).__name__}-{sorted(callback.get_config())}",
)
def test_config_and_keras_serialization_round_trip(callback):
    again = type(callback).from_config(callback.get_config())
    assert again.get_config() == callback.get_config()
    serialized = keras.saving.serialize_keras_object(callback)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(callback)
    assert restored.get_config() == callback.get_config()
    if hasattr(callback, "curve"):
        assert restored.curve(12) == callback.curve(12)


def test_learning_rate_schedule_optimizer_gets_a_clear_error(make_model, digits):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=schedule))
    for callback in (StepDecay(), PlateauDecay()):
        with pytest.raises(TypeError, match=r"StepDecay|PlateauDecay") as raised:
            fit(model, digits, [callback], epochs=1)
        assert "ExponentialDecay" in str(raised.value)
        assert "float learning rate" in str(raised.value)


def test_missing_monitor_warns_and_names_the_available_keys(make_model, digits):
    plateau = PlateauDecay(monitor="val_f1", mode="max", patience=1)
    with pytest.warns(UserWarning, match=r"val_f1.*val_loss"):
        fit(make_model(), digits, [plateau], epochs=2)
    assert plateau.decay_events == []


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: StepDecay(initial_lr=0), ValueError, "initial_lr=0"),
        (lambda: StepDecay(initial_lr=float("nan")), ValueError, "initial_lr=nan"),
        (lambda: StepDecay(drop=1.01), ValueError, "drop=1.01"),
        (lambda: StepDecay(drop=0.0), ValueError, "drop=0.0"),
        (lambda: StepDecay(epochs_drop=0), ValueError, "epochs_drop=0"),
        (lambda: ExponentialDecay(k=-1), ValueError, "k=-1"),
        (lambda: StepDecay(initial_lr=0.1, min_lr=0.5), ValueError, "min_lr=0.5"),
        (lambda: MultiStepDecay(milestones=[5, 2]), ValueError, r"\[5, 2\]"),
        (lambda: MultiStepDecay(milestones=[-2]), ValueError, r"\[-2\]"),
        (lambda: PlateauDecay(factor=1.0), ValueError, "factor=1.0"),
        (lambda: PlateauDecay(factor=0), ValueError, "factor=0"),
        (lambda: PlateauDecay(patience=-1), ValueError, "patience=-1"),
        (lambda: PlateauDecay(cooldown=-2), ValueError, "cooldown=-2"),
        (lambda: PlateauDecay(mode="maximum"), ValueError, "mode='maximum'"),
        (lambda: PlateauDecay(min_delta=-0.1), ValueError, "min_delta=-0.1"),
        (lambda: PlateauDecay(min_lr=-1e-3), ValueError, "min_lr=-0.001"),
        (lambda: PlateauDecay(monitor=""), TypeError, "monitor=''"),
        (lambda: StepDecay(epochs_drop="30"), TypeError, "epochs_drop='30'"),
        (lambda: ExponentialDecay(k=0.2, half_life=5), ValueError, "half_life=5"),
        (lambda: ExponentialDecay(half_life=0), ValueError, "half_life=0"),
        (lambda: CosineDecay(), TypeError, "decay_epochs=None"),
        (lambda: CosineDecay(decay_epochs=0), ValueError, "decay_epochs=0"),
        (lambda: CosineDecay(decay_epochs=10, alpha=1), ValueError, "alpha=1"),
        (lambda: CosineDecayRestarts(), TypeError, "first_decay_epochs=None"),
        (
            lambda: CosineDecayRestarts(first_decay_epochs=4, t_mul=0.9),
            ValueError,
            "t_mul=0.9",
        ),
        (
            lambda: CosineDecayRestarts(first_decay_epochs=4, m_mul=2.0),
            ValueError,
            "m_mul=2.0",
        ),
    ],
)
def test_bad_arguments_raise_at_construction(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


def test_numpy_numbers_are_accepted():
    decay = StepDecay(
        initial_lr=np.float32(0.5), drop=np.float64(0.5), epochs_drop=np.int64(2)
    )
    assert decay.curve(3) == pytest.approx([0.5, 0.5, 0.25])


def test_import_lrdecay_loads_neither_mlflow_nor_keras_tuner():
    code = (
        "import sys, lrdecay; from lrdecay import StepDecay, PlateauDecay; "
        "bad = [m for m in ('mlflow', 'keras_tuner') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- a decay without `initial_lr` starts from the optimizer's rate ------------------


def adam_model(make_model, rate=1e-3):
    return make_model(optimizer=keras.optimizers.Adam(learning_rate=rate))


@pytest.mark.parametrize(
    "decay, expected",
    [
        (StepDecay(epochs_drop=2), [1e-3, 1e-3, 5e-4, 5e-4]),
        (ExponentialDecay(k=0.5), [1e-3 * math.exp(-0.5 * e) for e in range(4)]),
        (
            CosineDecay(decay_epochs=4),
            [1e-3 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)],
        ),
        (MultiStepDecay(drop=0.1, milestones=[1, 3]), [1e-3, 1e-4, 1e-4, 1e-5]),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, list) else "",
)
def test_a_decay_without_initial_lr_starts_from_the_optimizers_rate(
    make_model, digits, lr_probe, decay, expected
):
    assert decay.initial_lr is None
    fit(adam_model(make_model), digits, [decay, lr_probe], epochs=4)
    assert lr_probe.rates == pytest.approx(expected, rel=F32)
    # Once a fit began, its curve is the one the fit ran.
    assert decay.curve(4) == pytest.approx(expected, rel=1e-12)
    assert decay.applied_config()["initial_lr"] == 0.001
    assert decay.get_config()["initial_lr"] is None


def test_an_explicit_initial_lr_wins_over_the_optimizers(make_model, digits, lr_probe):
    decay = StepDecay(initial_lr=0.01, epochs_drop=2)
    fit(adam_model(make_model), digits, [decay, lr_probe], epochs=4)
    assert lr_probe.rates == pytest.approx([0.01, 0.01, 0.005, 0.005], rel=F32)
    assert decay.applied_config()["initial_lr"] == 0.01


@pytest.mark.jax
def test_a_continued_fit_starts_the_schedule_from_the_first_fits_rate(
    make_model, digits, lr_probe
):
    # PyTorch keeps the optimizer's first rate as `initial_lr`: a second fit
    # from epoch 2, with a new decay, does not decay the decayed rate again.
    model = adam_model(make_model)
    fit(model, digits, [StepDecay(epochs_drop=1)], epochs=2)
    decay = StepDecay(epochs_drop=1)
    fit(model, digits, [decay, lr_probe], epochs=4, initial_epoch=2)
    assert lr_probe.rates == pytest.approx([2.5e-4, 1.25e-4], rel=F32)
    assert decay.applied_config()["initial_lr"] == 0.001


def test_the_curve_before_a_fit_needs_a_rate():
    decay = StepDecay(epochs_drop=2)
    with pytest.raises(ValueError, match=r"without `initial_lr`.*optimizer_lr="):
        decay.curve(4)
    with pytest.raises(ValueError, match="initial_lr"):
        decay.lr_at(0)
    assert decay.curve(4, optimizer_lr=1e-3) == [1e-3, 1e-3, 5e-4, 5e-4]
    # The decay's own rate wins over the optimizer's.
    assert StepDecay(initial_lr=0.1, epochs_drop=2).lr_at(2, optimizer_lr=1) == 0.05


def test_a_relative_decay_survives_config_copy_and_keras_saving(make_model, digits):
    decay = ExponentialDecay(half_life=2, min_lr=1e-5)
    again = ExponentialDecay.from_config(decay.get_config())
    assert again.get_config() == decay.get_config()
    assert again.get_config()["initial_lr"] is None
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(decay)
    )
    assert restored.get_config() == decay.get_config()
    copied = copy.deepcopy(decay)
    fit(adam_model(make_model, 0.004), digits, [copied], epochs=3)
    assert [rate for _, rate in copied.lr_history] == pytest.approx(
        [0.004, 0.004 * 2**-0.5, 0.002], rel=F32
    )
    assert decay.initial_lr is None  # the original is untouched


def test_a_min_lr_above_the_optimizers_rate_fails_at_the_fits_start(make_model, digits):
    with pytest.raises(ValueError, match="min_lr"):
        fit(adam_model(make_model), digits, [StepDecay(min_lr=0.01)], epochs=1)

"""Shared prefixes: a branched run has exactly the numbers of its independent run.

The departure rules are pure and tested on their own; the exactness tests fit
a small dense model with SGD and momentum (so the optimizer state matters) on
the digits, once branched from a constant-rate trunk and once independently,
and compare every metric of every epoch. The exactness tests also run on the
JAX backend (tests/test_jax.py).
"""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest

from lrdecay import (
    CosineDecay,
    ExponentialDecay,
    MultiStepDecay,
    PlateauDecay,
    StepDecay,
)
from lrdecay.tuning.data.epoch_order import EpochOrderedData, epoch_order
from lrdecay.tuning.prefixes.prefix import departure_epoch, plateau_departure
from prefix_trainer import train_independent, train_shared_prefix

EPOCHS = 8
LR = 0.5


def constant(initial_lr: float = LR) -> StepDecay:
    """The constant-rate control: a step decay that never drops."""
    return StepDecay(initial_lr=initial_lr, drop=1.0, epochs_drop=1)


# --- departure rules (pure) ------------------------------------------------


def test_step_decay_departs_at_its_first_drop_after_the_warm_up():
    assert departure_epoch(StepDecay(initial_lr=LR, epochs_drop=3), 8, LR) == 3
    assert departure_epoch(StepDecay(initial_lr=LR, epochs_drop=8), 8, LR) is None
    warm = StepDecay(initial_lr=LR, epochs_drop=3, warmup_epochs=2)
    assert departure_epoch(warm, 8, LR) == 0


def test_multistep_decay_departs_at_its_first_milestone():
    decay = MultiStepDecay(initial_lr=LR, milestones=[2, 5])
    assert departure_epoch(decay, 8, LR) == 2
    assert departure_epoch(decay, 2, LR) is None


def test_continuous_decays_share_epoch_0_other_rates_depart_at_once():
    # Epoch 0 of an exponential or cosine decay runs at the initial rate.
    assert departure_epoch(ExponentialDecay(initial_lr=LR, k=0.1), 8, LR) == 1
    assert departure_epoch(CosineDecay(initial_lr=LR, decay_epochs=8), 8, LR) == 1
    assert departure_epoch(ExponentialDecay(initial_lr=LR, k=0.0), 8, LR) is None
    assert departure_epoch(StepDecay(initial_lr=0.1, epochs_drop=3), 8, LR) == 0
    assert departure_epoch(constant(), 8, LR) is None
    # Anything else is not known to follow the trunk at all.
    callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    assert departure_epoch(callback, 8, LR) == 0


def test_rates_are_compared_as_the_optimizer_holds_them():
    # 0.1 and 0.1 + 1e-12 are one float32.
    assert (
        departure_epoch(StepDecay(initial_lr=0.1, epochs_drop=3), 8, 0.1 + 1e-12) == 3
    )


def test_plateau_departs_the_epoch_after_keras_would_reduce():
    values = [1.0, 0.9, 0.95, 0.96, 0.5]
    assert plateau_departure(values, patience=2) == 4
    assert plateau_departure(values, patience=1) == 3
    assert plateau_departure(values, patience=3) is None
    # Only an epoch without improvement can trigger, even with patience 0.
    assert plateau_departure(values, patience=0) == 3


def test_plateau_departure_honours_min_delta_and_mode():
    # 0.95 beats 1.0 by 0.05: an improvement for min_delta 0.01, not for 0.1.
    assert plateau_departure([1.0, 0.95, 0.9], patience=1, min_delta=0.01) is None
    assert plateau_departure([1.0, 0.95, 0.9], patience=1, min_delta=0.1) == 2
    accuracies = [0.5, 0.7, 0.69, 0.8]
    assert plateau_departure(accuracies, patience=1, mode="max") == 3
    assert plateau_departure(accuracies, patience=1, mode="min") == 2
    # Missing values count for nothing, as Keras only warns about them.
    assert plateau_departure([1.0, None, None, 1.0], patience=1) == 4


def test_plateau_departure_checks_its_arguments():
    with pytest.raises(ValueError, match="mode"):
        plateau_departure([1.0], patience=1, mode="auto")
    with pytest.raises(TypeError, match="patience"):
        plateau_departure([1.0], patience=1.5)  # type: ignore[arg-type]


def test_plateau_decay_departure_reads_the_trunk_history():
    history = [{"val_loss": v} for v in (1.0, 0.9, 0.95, 0.96)]
    plateau = PlateauDecay(patience=2)
    assert departure_epoch(plateau, 8, LR, history) == 4
    assert departure_epoch(plateau, 4, LR, history) is None
    assert departure_epoch(PlateauDecay(patience=2, min_lr=LR), 8, LR, history) is None
    with pytest.raises(ValueError, match="history"):
        departure_epoch(plateau, 8, LR)
    by_accuracy = PlateauDecay(monitor="val_accuracy", patience=1)
    with pytest.raises(ValueError, match="mode"):
        departure_epoch(by_accuracy, 8, LR, history)


# --- data order --------------------------------------------------------------


def test_a_stream_started_later_sees_the_same_batches():
    x = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10)
    whole = EpochOrderedData(x, y, batch_size=4, seed=7)
    later = EpochOrderedData(x, y, batch_size=4, seed=7, initial_epoch=2)
    assert whole.steps_per_epoch == 3
    for index in range(6):
        np.testing.assert_array_equal(whole[6 + index][1], later[index][1])
    epoch_two = np.concatenate([whole[6 + batch][1] for batch in range(3)])
    np.testing.assert_array_equal(epoch_two, epoch_order(7, 2, 10))
    assert sorted(epoch_two) == list(range(10))
    assert list(epoch_order(7, 2, 10)) != list(epoch_order(7, 3, 10))


def test_epoch_ordered_data_checks_its_arguments():
    with pytest.raises(ValueError, match="same number"):
        EpochOrderedData(np.zeros((3, 1)), np.zeros(2), batch_size=2, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        EpochOrderedData(np.zeros((3, 1)), np.zeros(3), batch_size=0, seed=0)


# --- exactness -----------------------------------------------------------------


def build_model():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LR, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def decays():
    return [
        StepDecay(initial_lr=LR, drop=0.5, epochs_drop=3),
        MultiStepDecay(initial_lr=LR, drop=0.1, milestones=[2, 5]),
        # A rate of 0.5 with momentum overshoots: val_loss rises at epoch 1.
        PlateauDecay(monitor="val_loss", factor=0.1, patience=1),
        constant(),
    ]


@pytest.fixture(scope="module")
def runs(digits):
    x, y, x_val, y_val = digits
    fit_args = {
        "validation_data": (x_val, y_val),
        "epochs": EPOCHS,
        "seed": 0,
        "batch_size": 64,
    }
    shared = train_shared_prefix(build_model, decays(), x, y, **fit_args)
    independent = [
        (decay, train_independent(build_model, decay, x, y, **fit_args))
        for decay in decays()
    ]
    return shared, independent


@pytest.mark.jax
def test_every_branch_has_its_independent_run_s_metrics(runs):
    shared, independent = runs
    for branch, (decay, history) in zip(shared.branches, independent, strict=True):
        assert len(branch.history) == EPOCHS
        for epoch, (mine, theirs) in enumerate(
            zip(branch.history, history, strict=True)
        ):
            assert (
                sorted(mine)
                == sorted(theirs)
                == sorted(
                    ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
                )
            ), (type(decay).__name__, epoch)
            assert mine == pytest.approx(theirs, rel=1e-5), (
                type(decay).__name__,
                epoch,
            )


@pytest.mark.jax
def test_branches_record_the_whole_rate_curve_and_the_plateau_event(runs):
    shared, independent = runs
    for branch, (decay, _) in zip(shared.branches[:3], independent[:3], strict=True):
        assert branch.decay.lr_history == decay.lr_history
        assert len(decay.lr_history) == EPOCHS
    plateau, independent_plateau = shared.branches[2].decay, independent[2][0]
    assert len(independent_plateau.decay_events) >= 1
    assert plateau.decay_events == independent_plateau.decay_events


@pytest.mark.jax
def test_the_plateau_fires_and_every_decay_leaves_where_expected(runs):
    shared, _ = runs
    assert [branch.departure for branch in shared.branches] == [3, 2, 2, None]
    assert [branch.epochs_trained for branch in shared.branches] == [5, 6, 6, 0]
    # The branches really left the trunk: their rates and losses differ.
    trunk = shared.trunk_history
    step = shared.branches[0].history
    assert step[3]["learning_rate"] == pytest.approx(LR / 2)
    assert step[3]["val_loss"] != trunk[3]["val_loss"]
    # The control never leaves: its run is the trunk's, 8 epochs.
    assert shared.branches[3].history == trunk
    assert shared.epochs_trained == len(trunk) + 5 + 6 + 6 == 25
    assert shared.epochs_independent == 4 * EPOCHS == 32


def test_decays_that_depart_at_once_run_whole_and_need_no_trunk(digits):
    x, y, x_val, y_val = digits
    x, y = x[:256], y[:256]
    decay = ExponentialDecay(initial_lr=0.2, k=0.5)
    fit_args = {"validation_data": (x_val, y_val), "epochs": 2, "seed": 1}
    shared = train_shared_prefix(build_model, [decay], x, y, **fit_args)
    assert shared.trunk_history == []
    assert shared.branches[0].departure == 0
    assert shared.epochs_trained == shared.epochs_independent == 2
    alone = train_independent(build_model, copy.deepcopy(decay), x, y, **fit_args)
    for mine, theirs in zip(shared.branches[0].history, alone, strict=True):
        assert mine == pytest.approx(theirs, rel=1e-5)
    assert math.isclose(decay.lr_at(1), 0.2 * math.exp(-0.5))

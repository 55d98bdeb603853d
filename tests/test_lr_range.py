"""The LR range test on the digits with real Keras: restored state, suggestion, stop."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from lrdecay import find_lr
from lrdecay.tuning.lr_finder.lr_range import LRFinderResult


def state(model):
    """Every value the range test must give back: model and optimizer variables."""
    variables = [*model.variables, *model.optimizer.variables]
    return [keras.ops.convert_to_numpy(variable).copy() for variable in variables]


def test_weights_and_optimizer_state_are_restored_exactly(make_model, digits):
    x, y, _, _ = digits
    model = make_model(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), seed=3
    )
    # A model mid-training: momentum slots and the iteration count are set.
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    history = model.history
    before = state(model)

    result = find_lr(model, x, y)

    after = state(model)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == (
        pytest.approx(0.05, rel=1e-7)
    )
    assert model.history is history
    assert isinstance(result, LRFinderResult)


def test_a_fit_after_the_test_equals_a_fit_without_it(make_model, digits):
    x, y, x_val, y_val = digits
    histories = []
    for run_range_test in (False, True):
        model = make_model(optimizer=keras.optimizers.Adam(learning_rate=1e-3), seed=5)
        if run_range_test:
            find_lr(model, x, y, num_steps=30)
        keras.utils.set_random_seed(11)
        # Unshuffled: on JAX a model's first fit draws one more NumPy
        # permutation than later fits (for its symbolic build), a difference
        # of Keras' RNG use, not of the model's state.
        history = model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=2,
            batch_size=64,
            shuffle=False,
            verbose=0,
        )
        histories.append(history.history)
    assert histories[1] == histories[0]


def test_the_suggestion_is_in_range_and_well_below_a_too_high_rate(make_model, digits):
    x, y, _, _ = digits
    model = make_model(
        optimizer=keras.optimizers.SGD(learning_rate=0.5, momentum=0.9), seed=0
    )
    result = find_lr(model, x, y)
    assert 1e-7 <= result.suggested_lr <= 10.0
    assert result.suggested_lr < 0.5 / 2
    assert result.suggested_lr == pytest.approx(result.min_loss_lr / 10)
    assert result.min_loss_lr in result.lrs
    assert result.steepest_lr is None or result.steepest_lr in result.lrs
    # One point per batch, increasing exponentially from start_lr.
    assert result.lrs[0] == pytest.approx(1e-7)
    ratios = np.diff(np.log(result.lrs))
    np.testing.assert_allclose(ratios, math.log(1e8) / 99, rtol=1e-9)
    assert len(result.losses) == len(result.raw_losses) == len(result.lrs)
    # The smoothed curve is fastai's bias-corrected moving average.
    average = 0.0
    for step, loss in enumerate(result.raw_losses[:5]):
        average = 0.98 * average + 0.02 * loss
        assert result.losses[step] == pytest.approx(average / (1 - 0.98 ** (step + 1)))


def test_the_test_stops_early_when_the_loss_explodes(make_model, digits):
    x, y, _, _ = digits
    model = make_model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    result = find_lr(model, x, y, start_lr=1e-3, end_lr=1e4, num_steps=80)
    assert result.stopped_early
    assert len(result.lrs) < 80
    assert result.lrs[-1] < 1e4
    # It stopped at the first smoothed loss above 4x the minimum so far.
    assert result.losses[-1] > 4.0 * min(result.losses)
    assert all(
        loss <= 4.0 * min(result.losses[: step + 1])
        for step, loss in enumerate(result.losses[:-1])
    )
    assert 1e-3 <= result.suggested_lr < result.lrs[-1]


def test_a_full_range_without_explosion_runs_every_step(make_model, digits):
    x, y, _, _ = digits
    model = make_model()
    result = find_lr(model, x, y, start_lr=1e-5, end_lr=1e-3, num_steps=60)
    assert not result.stopped_early
    assert len(result.lrs) == 60
    assert result.lrs[-1] == 1e-3


def test_plot_writes_a_png(make_model, digits, tmp_path):
    x, y, _, _ = digits
    result = find_lr(make_model(), x, y, num_steps=40)
    path = result.plot(tmp_path / "plots" / "lr_range.png")
    assert path == tmp_path / "plots" / "lr_range.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_schedule_optimizer_gets_a_clear_error(make_model, digits):
    x, y, _, _ = digits
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=schedule))
    with pytest.raises(TypeError, match="find_lr"):
        find_lr(model, x, y)


def test_an_uncompiled_model_is_rejected(digits):
    x, y, _, _ = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="compile"):
        find_lr(model, x, y)


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"start_lr": 0}, ValueError, "start_lr=0"),
        ({"start_lr": -1e-3}, ValueError, "start_lr=-0.001"),
        ({"end_lr": math.inf}, ValueError, "end_lr=inf"),
        ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr=0.1"),
        ({"num_steps": 1}, ValueError, "num_steps=1"),
        ({"num_steps": 0}, ValueError, "num_steps=0"),
        ({"num_steps": 10.5}, TypeError, "num_steps=10.5"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"smoothing": 1.0}, ValueError, "smoothing=1.0"),
        ({"smoothing": -0.1}, ValueError, "smoothing=-0.1"),
        ({"stop_factor": 1.0}, ValueError, "stop_factor=1.0"),
        ({"stop_factor": "4"}, TypeError, "stop_factor='4'"),
        ({"start_lr": "1e-7"}, TypeError, "start_lr='1e-7'"),
    ],
)
def test_bad_arguments_raise_naming_the_value(
    make_model, digits, arguments, error, match
):
    x, y, _, _ = digits
    model = make_model()
    before = state(model)
    with pytest.raises(error, match=match):
        find_lr(model, x, y, **arguments)
    for old, new in zip(before, state(model), strict=True):
        np.testing.assert_array_equal(new, old)


# -- what model.fit takes ---------------------------------------------------------


def batches(x, y, size=64):
    """A generator of `(x, y)` batches, read once."""
    for start in range(0, len(x), size):
        yield x[start : start + size], y[start : start + size]


def test_a_generator_is_read_once_and_the_model_restored(make_model, digits):
    x, y, _, _ = digits
    model = make_model(seed=4)
    before = state(model)
    # 1400 samples in batches of 64: 22 batches, all of them read.
    with pytest.warns(UserWarning, match=r"ended after 22 of num_steps=30 batches"):
        result = find_lr(model, batches(x, y), num_steps=30, end_lr=1.0)
    assert len(result.lrs) == 22
    assert result.lrs[0] == 1e-7
    for old, new in zip(before, state(model), strict=True):
        np.testing.assert_array_equal(new, old)
    long_enough = find_lr(make_model(seed=4), batches(x, y), num_steps=20)
    assert len(long_enough.lrs) == 20 or long_enough.stopped_early


def test_a_dataset_cycles_until_num_steps(make_model, digits):
    import tensorflow as tf

    x, y, _, _ = digits
    # 5 batches of 64, read 4 times over for 20 steps.
    dataset = tf.data.Dataset.from_tensor_slices((x[:320], y[:320])).batch(64)
    result = find_lr(make_model(), dataset, start_lr=1e-4, end_lr=1.0, num_steps=20)
    assert len(result.lrs) == 20 or result.stopped_early
    assert len(result.lrs) > 5


def test_a_py_dataset_and_dict_inputs(digits):
    x, y, _, _ = digits
    inputs = {"pixels": keras.Input((64,), name="pixels")}
    outputs = keras.layers.Dense(10, activation="softmax")(
        keras.layers.Dense(16, activation="relu")(inputs["pixels"])
    )
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    result = find_lr(model, {"pixels": x}, y, num_steps=20)
    assert len(result.lrs) == 20 or result.stopped_early

    class Pixels(keras.utils.PyDataset):
        def __len__(self):
            return 7

        def __getitem__(self, index):
            part = slice(index * 100, (index + 1) * 100)
            return {"pixels": x[part]}, y[part]

    result = find_lr(model, Pixels(), num_steps=20)
    assert len(result.lrs) == 20 or result.stopped_early


def test_labels_that_do_not_match_the_outputs_are_named(digits):
    x, y, _, _ = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels \(32,\), model outputs \(32, 10\)"):
        find_lr(model, x, y)


def test_a_schedule_compiled_model_is_told_to_compile_with_a_float(make_model, digits):
    x, y, _, _ = digits
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model = make_model(optimizer=keras.optimizers.Adam(learning_rate=schedule))
    with pytest.raises(TypeError, match=r"every batch.*ExponentialDecay.*Adam\("):
        find_lr(model, x, y)


def test_a_minimum_at_the_end_of_the_range_warns(make_model, digits):
    x, y, _, _ = digits
    # SGD up to 1.0 on the digits: the loss still falls at the last rate.
    with pytest.warns(UserWarning, match=r"lowest at the end.*end_lr=100\.") as caught:
        result = find_lr(make_model(), x, y, start_lr=1e-2, end_lr=1.0, num_steps=40)
    assert result.min_loss_lr == 1.0
    ours = [w for w in caught if str(w.message).startswith("find_lr()")]
    assert [str(w.message) for w in ours] == [result.warning]
    assert not result.stopped_early
    quiet = find_lr(make_model(), x, y)  # the default range brackets the minimum
    assert quiet.warning is None

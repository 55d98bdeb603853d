"""The kinds added through the kind table: linear decay and warmup-stable-decay.

`LinearDecay` is compared with Keras' `PolynomialDecay` epoch by epoch;
`WSDDecay` with the values of Hugging Face transformers' `get_wsd_schedule`.
Both train a real fit, and search with shared prefixes exactly as
independent trials do.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lrdecay.callbacks import DECAYS, LinearDecay
from lrdecay.schedules import SEARCHABLE_KINDS, LinearSchedule


@pytest.mark.parametrize(
    ("initial_lr", "decay_epochs", "end_lr", "power"),
    [(0.1, 10, 0.0, 1.0), (0.5, 7, 0.01, 2.0), (0.02, 4, 0.001, 0.5)],
)
def test_linear_is_keras_polynomial_decay_per_epoch(
    initial_lr: float, decay_epochs: int, end_lr: float, power: float
) -> None:
    import keras

    keras_schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_lr, decay_steps=decay_epochs, end_learning_rate=end_lr, power=power
    )
    decay = LinearDecay(initial_lr, decay_epochs, end_lr=end_lr, power=power)
    epochs = decay_epochs + 3  # past the end: clamped at end_lr (cycle=False)
    expected = [float(keras_schedule(epoch)) for epoch in range(epochs)]
    assert decay.curve(epochs) == pytest.approx(expected, rel=1e-6)
    assert decay.lr_at(epochs) == pytest.approx(end_lr)


def test_linear_values() -> None:
    assert LinearDecay(0.1, 4).curve(6) == pytest.approx(
        [0.1, 0.075, 0.05, 0.025, 0.0, 0.0]
    )
    # Warm-up as the other decays: the decay counts from its end.
    assert LinearSchedule(0.1, warmup_epochs=1, decay_epochs=2).curve(4) == (
        pytest.approx([0.05, 0.1, 0.05, 0.0])
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"decay_epochs": 0}, ValueError, "decay_epochs=0"),
        ({"decay_epochs": None}, TypeError, "decay_epochs=None"),
        ({"decay_epochs": 5, "end_lr": 0.2}, ValueError, "end_lr=0.2"),
        ({"decay_epochs": 5, "end_lr": -1.0}, ValueError, "end_lr=-1.0"),
        ({"decay_epochs": 5, "power": 0.0}, ValueError, "power=0.0"),
        ({"decay_epochs": 5, "power": "2"}, TypeError, "power='2'"),
    ],
)
def test_linear_argument_errors_name_the_value(
    kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        LinearDecay(initial_lr=0.1, **kwargs)


def test_linear_round_trips() -> None:
    decay = LinearDecay(0.1, 6, end_lr=0.01, power=2.0, warmup_epochs=1)
    config = decay.get_config()
    assert config["decay_epochs"] == 6 and config["end_lr"] == 0.01
    assert config["power"] == 2.0
    for other in (LinearDecay.from_config(config), copy.deepcopy(decay)):
        assert type(other) is LinearDecay
        assert other.curve(9) == decay.curve(9)
    # Without initial_lr it starts from the optimizer's rate.
    assert LinearDecay(decay_epochs=2).curve(3, optimizer_lr=0.2) == pytest.approx(
        [0.2, 0.1, 0.0]
    )


def test_linear_is_a_searchable_kind() -> None:
    assert "linear" in SEARCHABLE_KINDS
    assert DECAYS["linear"] is LinearDecay


def test_linear_drives_a_real_fit(digits: Any, make_model: Any, lr_probe: Any) -> None:
    x, y, x_val, y_val = digits
    model = make_model(learning_rate=0.4)
    decay = LinearDecay(decay_epochs=4, end_lr=0.04)
    model.fit(
        x[:256], y[:256], epochs=5, batch_size=128, verbose=0,
        validation_data=(x_val, y_val), callbacks=[decay, lr_probe],
    )  # fmt: skip
    expected = [0.4, 0.31, 0.22, 0.13, 0.04]
    assert lr_probe.rates == pytest.approx(expected, rel=1e-6)
    assert [rate for _, rate in decay.lr_history] == pytest.approx(expected, rel=1e-6)

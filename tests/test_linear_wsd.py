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

from lrdecay.callbacks import DECAYS, LinearDecay, WSDDecay
from lrdecay.schedules import SEARCHABLE_KINDS, LinearSchedule, WSDSchedule


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


# Hugging Face transformers' `get_wsd_schedule` (src/transformers/optimization.py,
# `_get_wsd_scheduler_lambda`, main at commit ad1fc963, December 2025) per step,
# initial rate 1.0, min_lr_ratio=0, warmup_type="linear": the multipliers of
# steps 0, 1, ... for (num_warmup_steps, num_stable_steps, num_decay_steps,
# decay_type). Literal numbers: transformers needs torch, which the test
# environment has not.
WSD_REFERENCE = [
    # WSDDecay(decay_epochs=10): cooldown 0.2 -> 2 epochs; (0, 8, 2, linear).
    (
        {"decay_epochs": 10},
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0],
    ),
    # 3 warm-up epochs, cooldown 0.3 -> 3 epochs; (3, 7, 3, 1-sqrt).
    (
        {"decay_epochs": 10, "cooldown": 0.3, "shape": "1-sqrt", "warmup_epochs": 3},
        [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
         0.42264973081037427, 0.18350341907227397, 0.0, 0.0],
    ),
    # All cooldown; (0, 0, 5, linear).
    (
        {"decay_epochs": 5, "cooldown": 1.0},
        [1.0, 0.8, 0.6, 0.4, 0.19999999999999996, 0.0, 0.0],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "reference"), WSD_REFERENCE)
def test_wsd_is_transformers_get_wsd_schedule_per_epoch(
    kwargs: dict[str, Any], reference: list[float]
) -> None:
    assert WSDDecay(1.0, **kwargs).curve(len(reference)) == pytest.approx(
        reference, rel=1e-12, abs=1e-15
    )
    scaled = WSDDecay(0.05, **kwargs).curve(len(reference))
    assert scaled == pytest.approx([0.05 * rate for rate in reference])


def test_wsd_departs_where_its_stable_phase_ends() -> None:
    from lrdecay.tuning.prefixes.prefix import departure_epoch

    for decay_epochs, cooldown, departure in [
        (10, 0.2, 9), (20, 0.2, 17), (30, 0.2, 25), (40, 0.2, 33),
        (5, 0.2, 5), (8, 0.5, 5), (4, 1.0, 1),
    ]:  # fmt: skip
        decay = WSDDecay(decay_epochs=decay_epochs, cooldown=cooldown)
        assert decay.departure_epoch() == departure
        # The trunk's own reading of the schedule agrees.
        assert departure_epoch(decay, 40, 0.1) == departure
    assert WSDDecay(decay_epochs=10, warmup_epochs=2).departure_epoch() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"decay_epochs": 0}, ValueError, "decay_epochs=0"),
        ({"decay_epochs": 2.5}, TypeError, "decay_epochs=2.5"),
        ({"decay_epochs": 10, "cooldown": 0.0}, ValueError, "cooldown=0.0"),
        ({"decay_epochs": 10, "cooldown": 1.5}, ValueError, "cooldown=1.5"),
        ({"decay_epochs": 10, "shape": "cosine"}, ValueError, "shape='cosine'"),
        ({"decay_epochs": 10, "shape": 1}, TypeError, "shape=1"),
        ({"decay_epochs": 10, "warmup_epochs": -1}, ValueError, "warmup_epochs=-1"),
    ],
)
def test_wsd_argument_errors_name_the_value(
    kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        WSDDecay(initial_lr=0.1, **kwargs)


def test_wsd_round_trips() -> None:
    decay = WSDDecay(0.1, 12, cooldown=0.25, shape="1-sqrt", warmup_epochs=2)
    config = decay.get_config()
    assert (config["cooldown"], config["shape"], config["decay_epochs"]) == (
        0.25, "1-sqrt", 12,
    )  # fmt: skip
    for other in (WSDDecay.from_config(config), copy.deepcopy(decay)):
        assert type(other) is WSDDecay
        assert other.curve(16) == decay.curve(16)
    assert WSDSchedule.from_config(decay.decay_schedule.get_config()) == (
        decay.decay_schedule
    )
    assert "wsd" in SEARCHABLE_KINDS and DECAYS["wsd"] is WSDDecay


def test_wsd_drives_a_real_fit(digits: Any, make_model: Any, lr_probe: Any) -> None:
    x, y, x_val, y_val = digits
    model = make_model(learning_rate=0.4)
    decay = WSDDecay(decay_epochs=5, cooldown=0.4)  # 2 cooldown epochs
    model.fit(
        x[:256], y[:256], epochs=6, batch_size=128, verbose=0,
        validation_data=(x_val, y_val), callbacks=[decay, lr_probe],
    )  # fmt: skip
    expected = [0.4, 0.4, 0.4, 0.4, 0.2, 0.0]
    assert lr_probe.rates == pytest.approx(expected, rel=1e-6)


# Control 6 epochs (the trunk); linear D=3 departs at 1, wsd D=3 (1 cooldown
# epoch) at 3, wsd D=5 at 5: 6 + 5 + 3 + 1 epochs of 4 x 6.
SEARCH_DEPARTURES = {"0000": None, "0001": "1", "0002": "3", "0003": "5"}


def _search_curves(digits: Any, folder: Any, share_prefix: bool) -> Any:
    from lrdecay import search
    from search_store import client, runs, unseeded_digits_model

    x, y, x_val, y_val = digits
    result = search(
        unseeded_digits_model(16), x[:512], y[:512],
        validation_data=(x_val, y_val), algorithm="grid", epochs=6,
        batch_size=128, seed=3, share_prefix=share_prefix, project_dir=folder,
        tracking={"tracking_uri": f"sqlite:///{folder}/mlflow.db"},
        kinds=("linear", "wsd"),
        decay_epochs={"linear": [3], "wsd": [3, 5]},
    )  # fmt: skip
    store = client(folder)
    curves, departures = {}, {}
    for run in runs(store, "trial"):
        trial_id = run.data.tags["lrdecay.trial_id"]
        departures[trial_id] = run.data.tags.get("lrdecay.departure_epoch")
        curves[trial_id] = {
            name: [
                (point.step, point.value)
                for point in sorted(
                    store.get_metric_history(run.info.run_id, name),
                    key=lambda point: point.step,
                )
            ]
            for name in ("loss", "val_loss", "learning_rate")
        }
    return result, curves, departures


@pytest.mark.slow
def test_linear_and_wsd_search_with_shared_prefixes_exactly(
    digits: Any, tmp_path: Any
) -> None:
    shared, mine, departures = _search_curves(digits, tmp_path / "shared", True)
    alone, theirs, _ = _search_curves(digits, tmp_path / "alone", False)
    assert departures == SEARCH_DEPARTURES
    assert sorted(mine) == sorted(theirs) == sorted(SEARCH_DEPARTURES)
    for trial_id, curves in mine.items():
        for name, points in curves.items():
            other = theirs[trial_id][name]
            assert [step for step, _ in points] == list(range(6))
            # Bit for bit: the branch carries weights, optimizer state and
            # random state, so it computes what the independent trial does.
            assert points == other, (trial_id, name)
    assert [rate for _, rate in mine["0003"]["learning_rate"]] == pytest.approx(
        [0.1] * 5 + [0.0]
    )
    assert [rate for _, rate in mine["0001"]["learning_rate"]] == pytest.approx(
        [0.1, 2 / 30, 1 / 30, 0.0, 0.0, 0.0]
    )
    assert (shared.cost.epochs_trained, shared.cost.epochs_independent) == (15, 24)
    assert (alone.cost.epochs_trained, alone.cost.epochs_independent) == (24, 24)
    assert [t.score for t in shared.trials] == [t.score for t in alone.trials]

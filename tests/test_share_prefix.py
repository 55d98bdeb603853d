"""`search(share_prefix=True)` gives the numbers of independent trials, for less.

One seeded grid (the control, step decays at 2 and 4 epochs, a plateau decay
with patience 1; 6 epochs of SGD with momentum on the digits, tracked to
SQLite) runs with shared prefixes and without; every trial's MLflow curves,
the ranking and the best model must be the same. A search interrupted while
the control trains the trunk resumes from the stored trunk. A smaller
grid runs on JAX (`test_a_small_shared_grid_is_exact_on_jax`, from
tests/test_jax.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.slow

EPOCHS = 6
SEED = 7
GRID = {"kinds": ("step", "plateau"), "decay_epochs": {"step": [2, 4], "plateau": [1]}}
# Control 6 (it writes the trunk), step 2 and 4 from their drops, plateau from
# the epoch after val_loss first rose (epoch 2): 6 + 4 + 2 + 3 of 4 x 6.
DEPARTURES = {"0000": None, "0001": "2", "0002": "4", "0003": "3"}
SHARED_EPOCHS = 15
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def build_model() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    # Momentum: the branches must carry the optimizer's state.
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.5, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _search(
    digits: Any,
    folder: Path,
    share_prefix: bool,
    callbacks: Any = None,
    epochs: int = EPOCHS,
    grid: Any = None,
) -> Any:
    from lrdecay import search

    x, y, x_val, y_val = digits
    return search(
        build_model, x, y, validation_data=(x_val, y_val), algorithm="grid",
        epochs=epochs, batch_size=128, seed=SEED, share_prefix=share_prefix,
        project_dir=folder, tracking=f"sqlite:///{folder}/mlflow.db",
        callbacks=callbacks, **(grid or GRID),
    )  # fmt: skip


def _trial_runs(result: Any) -> list[Any]:
    import mlflow

    client = mlflow.MlflowClient(result.tracking_uri)
    return client.search_runs(
        [result.experiment_id],
        filter_string="tags.`lrdecay.role` = 'trial'",
        order_by=["attributes.start_time ASC"],
    )


def _curves(result: Any) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Every finished trial run's metric curves, by trial id."""
    import mlflow

    client = mlflow.MlflowClient(result.tracking_uri)
    curves = {}
    for run in _trial_runs(result):
        if run.info.status != "FINISHED":
            continue
        trial_id = run.data.tags["lrdecay.trial_id"]
        assert trial_id not in curves, f"two finished runs of trial {trial_id}"
        curves[trial_id] = {
            name: sorted(
                (point.step, point.value)
                for point in client.get_metric_history(run.info.run_id, name)
            )
            for name in [*METRICS, "plateau_reduction"]
        }
    return curves


def _assert_same_curves(
    mine: dict[str, Any], theirs: dict[str, Any], trials: Any = DEPARTURES
) -> None:
    assert sorted(mine) == sorted(theirs) == sorted(trials)
    for trial_id, curves in mine.items():
        for name, points in curves.items():
            other = theirs[trial_id][name]
            assert [step for step, _ in points] == [step for step, _ in other]
            assert [value for _, value in points] == pytest.approx(
                [value for _, value in other], rel=1e-5
            ), (trial_id, name)


@pytest.fixture(scope="module")
def searches(digits: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    shared = _search(digits, tmp_path_factory.mktemp("shared"), True)
    independent = _search(digits, tmp_path_factory.mktemp("independent"), False)
    return shared, independent


def test_shared_prefixes_give_the_independent_numbers(searches: Any) -> None:
    shared, independent = searches
    mine, theirs = _curves(shared), _curves(independent)
    _assert_same_curves(mine, theirs)
    for curves in mine.values():
        assert [step for step, _ in curves["val_loss"]] == list(range(EPOCHS))
    # The plateau trial really departs: its rate halves after epoch 2.
    assert [rate for _, rate in mine["0003"]["learning_rate"]] == pytest.approx(
        [0.5, 0.5, 0.5, 0.25, 0.25, 0.125]
    )
    assert mine["0003"]["plateau_reduction"][0] == (2, pytest.approx(0.25))
    assert [t.trial_id for t in shared.ranking] == [
        t.trial_id for t in independent.ranking
    ]
    assert [t.score for t in shared.trials] == pytest.approx(
        [t.score for t in independent.trials], rel=1e-5
    )
    assert shared.best_trial_id == independent.best_trial_id
    for mine_w, theirs_w in zip(
        shared.best_model.get_weights(),
        independent.best_model.get_weights(),
        strict=True,
    ):
        np.testing.assert_allclose(mine_w, theirs_w, rtol=1e-5, atol=1e-7)


def test_shared_prefixes_are_counted_and_tagged(searches: Any) -> None:
    import mlflow

    shared, independent = searches
    assert (shared.epochs_trained, shared.epochs_independent) == (SHARED_EPOCHS, 24)
    assert (independent.epochs_trained, independent.epochs_independent) == (24, 24)
    for result, share in ((shared, "True"), (independent, "False")):
        parent = mlflow.MlflowClient(result.tracking_uri).get_run(result.parent_run_id)
        assert parent.data.params["share_prefix"] == share
        assert parent.data.metrics["epochs_trained"] == result.epochs_trained
        assert parent.data.metrics["epochs_independent"] == 24
    tags = {
        run.data.tags["lrdecay.trial_id"]: run.data.tags for run in _trial_runs(shared)
    }
    assert {
        trial_id: tag.get("lrdecay.departure_epoch") for trial_id, tag in tags.items()
    } == DEPARTURES
    # The control trained the trunk; the decays branched from it.
    assert {tag.get("lrdecay.branch_of") for tag in tags.values()} == {None, "0000"}
    for run in _trial_runs(independent):
        assert "lrdecay.departure_epoch" not in run.data.tags


def test_array_data_are_ordered_and_split_as_keras_splits_them() -> None:
    from keras.src.trainers.data_adapters.array_slicing import (
        train_validation_split,
    )

    from lrdecay.tuning.prefixes.branch import ordered_data

    x = np.arange(50, dtype="float32").reshape(25, 2)
    y = np.arange(25)
    data = ordered_data((x, y), {"validation_split": 0.2, "batch_size": 8}, 3)
    assert data is not None
    (x_train, y_train), (x_val, y_val) = train_validation_split(
        (x, y), validation_split=0.2
    )
    np.testing.assert_array_equal(data.x, x_train)
    np.testing.assert_array_equal(data.y, y_train)
    np.testing.assert_array_equal(data.validation_data[0], x_val)
    np.testing.assert_array_equal(data.validation_data[1], y_val)
    fit = data.fit_arguments({"epochs": 4, "validation_split": 0.2}, 2)
    assert (fit["initial_epoch"], fit["steps_per_epoch"], fit["epochs"]) == (2, 3, 4)
    assert "validation_split" not in fit and "batch_size" not in fit
    # Other values of the same shapes are other data: another trunk.
    same = ordered_data((x.copy(), y), {"validation_split": 0.2}, 3)
    other = ordered_data((x + 1, y), {"validation_split": 0.2}, 3)
    assert same is not None and other is not None
    assert same.shapes() == data.shapes() != other.shapes()
    # Several inputs and sample or class weights are ordered too; both
    # weights and anything but arrays run as given.
    assert ordered_data(([x, x], y), {}, 3) is not None
    assert ordered_data((x, y), {"sample_weight": np.ones(25)}, 3) is not None
    assert ordered_data(({"a": x}, y), {}, 3) is not None
    assert ordered_data((x, y), {"class_weight": {0: 2.0}}, 3) is not None
    weights = {"class_weight": {0: 2.0}, "sample_weight": np.ones(25)}
    assert ordered_data((x, y), weights, 3) is None
    assert ordered_data((iter([(x, y)]),), {}, 3) is None


class _InterruptAt:
    """Raises KeyboardInterrupt as epoch `epoch` of the first fit begins."""

    armed = True

    def __new__(cls, epoch: int) -> Any:
        from lrdecay.tuning.data.user_callbacks import StatelessCallback

        # Stateless (it looks at the epoch alone): the trials share prefixes.
        class Interrupt(StatelessCallback):
            def on_epoch_begin(self, current: int, logs: Any = None) -> None:
                if current == epoch and _InterruptAt.armed:
                    _InterruptAt.armed = False
                    raise KeyboardInterrupt

        return Interrupt()


def test_a_search_interrupted_in_the_trunk_resumes_it(
    digits: Any, tmp_path: Path, searches: Any
) -> None:
    # The control stops after 3 epochs, with the trunk stored up to epoch 3.
    interrupt = [_InterruptAt(3)]
    with pytest.raises(KeyboardInterrupt):
        _search(digits, tmp_path, True, callbacks=interrupt)
    result = _search(digits, tmp_path, True)
    # The resumed control trains epochs 3-5 only: 3 + 4 + 2 + 3.
    assert (result.epochs_trained, result.epochs_independent) == (
        SHARED_EPOCHS - 3,
        24,
    )
    statuses = sorted(
        (run.data.tags["lrdecay.trial_id"], run.info.status)
        for run in _trial_runs(result)
    )
    assert statuses == [
        ("0000", "FINISHED"),
        ("0000", "KILLED"),
        ("0001", "FINISHED"),
        ("0002", "FINISHED"),
        ("0003", "FINISHED"),
    ]
    # The same numbers as the uninterrupted search's, curves from epoch 0.
    _assert_same_curves(_curves(result), _curves(searches[0]))


@pytest.mark.jax
@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "jax",
    reason="the JAX case: tests/test_jax.py runs it on JAX",
)
def test_a_small_shared_grid_is_exact_on_jax(digits: Any, tmp_path: Path) -> None:
    # The plateau branch: the one whose departure is read off the trunk.
    grid = {"kinds": ("plateau",), "decay_epochs": [1]}
    shared = _search(digits, tmp_path / "shared", True, epochs=4, grid=grid)
    alone = _search(digits, tmp_path / "alone", False, epochs=4, grid=grid)
    curves = _curves(shared)
    _assert_same_curves(curves, _curves(alone), ["0000", "0001"])
    assert min(rate for _, rate in curves["0001"]["learning_rate"]) == 0.25
    assert shared.epochs_trained < alone.epochs_trained == 8
    assert shared.best_trial_id == alone.best_trial_id

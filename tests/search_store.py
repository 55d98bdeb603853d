"""Shared by the search tests: an unseeded digits model, and a search's runs.

`search()` must seed each execution itself, so the model function here
seeds nothing; its runs are read back from the SQLite store a test gave the
search (`sqlite:///<folder>/mlflow.db`, experiment `lrdecay`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def unseeded_digits_model(
    units: int = 32, learning_rate: float = 0.1, momentum: float = 0.0
) -> Callable[[], Any]:
    """`build_model()` of a dense digits classifier (SGD) that does not seed."""

    def build_model() -> Any:
        import keras

        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(
                learning_rate=learning_rate, momentum=momentum
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return build_model


def client(folder: Path | str) -> Any:
    """An `MlflowClient` of the store `sqlite:///<folder>/mlflow.db`."""
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")


def runs(store: Any, role: str) -> list[Any]:
    """The runs of `role` (`search`, `trial`) in experiment `lrdecay`, oldest first."""
    experiment = store.get_experiment_by_name("lrdecay")
    return store.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`lrdecay.role` = '{role}'",
        order_by=["attributes.start_time ASC"],
    )

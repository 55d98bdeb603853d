"""The digits data and a small model, shared by the examples (offline, seconds)."""

from __future__ import annotations

import argparse

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits(seed: int = 0):
    """scikit-learn's 8x8 digits, scaled: (x_train, y_train), (x_val, y_val)."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        (x / 16.0).astype("float32"), y, test_size=0.25, random_state=seed
    )
    return (x_train, y_train), (x_val, y_val)


def small_model(learning_rate: float = 0.1, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def epochs_argument(default: int) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=default)
    return parser.parse_args().epochs

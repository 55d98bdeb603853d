"""Shared fixtures and helpers: the digits data, a tiny seeded model, a fit,
the `lrdecay` command in a subprocess; a quiet environment.

The helpers are plain functions: `from conftest import fit, run_lrdecay`.
"""

from __future__ import annotations

import os

from lrdecay.tuning.distributed.jobs import THREAD_VARIABLES

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# One thread per pool (the variables `--jobs` sets for its workers, and XLA's)
# in every test process and every process a test starts (they inherit it):
# two pytest workers (pyproject's addopts) on two cores, each test's
# subprocesses on top, fought over the cores with TensorFlow's and XLA's
# default pools of one thread per core. A variable already set is kept. Same
# machine, same tree: the suite took 1197 s with the default pools, 968 s and
# 858 s with these.
os.environ.update({name: os.environ.get(name, "1") for name in THREAD_VARIABLES})
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import signal

# A background job of a non-interactive shell (`pytest ... &`) starts with
# SIGINT ignored, and so would every process a test starts: Ctrl-C tests
# would then test the shell, not lrdecay. Python's own handler, as a
# foreground run has it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Never let a test write to the repository's working directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits, scaled to [0, 1]: (x_train, y_train, x_val, y_val)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    y = y.astype("int32")
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture
def make_model() -> Callable[..., Any]:
    """A small seeded dense classifier for the digits, compiled with SGD."""

    def make(learning_rate: float = 0.1, seed: int = 0, optimizer: Any = None) -> Any:
        import keras

        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=optimizer or keras.optimizers.SGD(learning_rate=learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return make


class LearningRateProbe:
    """Records the rate the optimizer holds at the first batch of each epoch.

    Uses a batch hook on purpose: it reads the rate the training steps really
    use, after every epoch-begin callback has run, whatever the list order.
    """

    def __new__(cls) -> Any:
        import keras

        class _Probe(keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                self.rates: list[float] = []
                self._epoch_started = False

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._epoch_started = True

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                if self._epoch_started:
                    self._epoch_started = False
                    self.rates.append(
                        float(
                            keras.ops.convert_to_numpy(
                                self.model.optimizer.learning_rate
                            )
                        )
                    )

        return _Probe()


@pytest.fixture
def lr_probe() -> Any:
    """A callback whose `.rates` are the optimizer's rate in every epoch."""
    return LearningRateProbe()


# -- helpers -----------------------------------------------------------------

LRDECAY = [sys.executable, "-m", "lrdecay"]


def lrdecay_environment(**changes: str | None) -> dict[str, str]:
    """This process's environment for a fresh `lrdecay`, TensorFlow unsilenced.

    No MLflow store or experiment from the environment; `changes` set (or,
    with `None`, remove) variables.
    """
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    # The command silences TensorFlow itself: the test must not do it for it.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("MLFLOW_LOGGING_LEVEL", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_lrdecay(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """`lrdecay *args` in a subprocess, in `cwd`, its output captured."""
    return subprocess.run(
        [*LRDECAY, *args],
        cwd=cwd,
        env=lrdecay_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fit(
    model: Any,
    digits: Any,
    callbacks: list[Any],
    epochs: int = 5,
    *,
    batch_size: int = 64,
    **kwargs: Any,
) -> Any:
    """`model.fit` on the digits with `callbacks`, quietly; returns the history."""
    x, y, x_val, y_val = digits
    return model.fit(
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=callbacks,
        **kwargs,
    )

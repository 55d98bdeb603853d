"""KerasTuner module globals lrdecay swaps for the length of a search.

Each item says what it relies on and the versions it was verified with; each
imports KerasTuner only when called and restores what it swapped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class _NoSecondCollection:
    """`gc` as KerasTuner's `tuner` module sees it: `collect()` does nothing."""

    def __getattr__(self, name: str) -> Any:
        import gc

        return getattr(gc, name)

    @staticmethod
    def collect(generation: int = 2) -> int:
        return 0


@contextlib.contextmanager
def one_collection_per_build() -> Iterator[None]:
    """Skip KerasTuner's `gc.collect()` right after Keras' own, for the block.

    `keras_tuner.src.engine.tuner.Tuner._try_build` calls
    `keras.backend.clear_session()` and then `gc.collect()`; Keras 3's
    `clear_session(free_memory=True)` (its default) has just collected, so
    the second full collection finds nothing new (0.05-0.3 s a trial). For
    the block, that module's global `gc` is a shim whose `collect` returns
    0 at once; its other attributes are `gc`'s. A no-op when Keras'
    `clear_session` has no `free_memory` (it may not collect). Restored
    afterwards.

    Relies on: the `gc.collect()` in `Tuner._try_build` through the module
    global `gc` of `keras_tuner.src.engine.tuner` (its only use of `gc`).
    Verified with keras-tuner 1.4.8 and Keras 3.13.
    """
    import inspect

    import keras
    from keras_tuner.src.engine import tuner

    collects = (
        "free_memory" in inspect.signature(keras.backend.clear_session).parameters
    )
    before = vars(tuner).get("gc")
    if collects and before is not None:
        tuner.gc = _NoSecondCollection()
    try:
        yield
    finally:
        if before is not None:
            tuner.gc = before


class _PromptSleep:
    """`time` as KerasTuner's `oracle_chief` sees it: sleeps of at most 0.5 s."""

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        import time

        time.sleep(min(seconds, 0.5))


@contextlib.contextmanager
def prompt_chief_exit() -> Iterator[None]:
    """Let KerasTuner's chief end within a second of its last worker, not 20 s.

    `keras_tuner.src.distribute.oracle_chief.start_server` checks every 20 s
    whether the workers have left once one of them was told the search is
    over: a local search whose last trial ends on another worker waited up
    to 20 s for nothing. For the block, the module's global `time` is a shim
    whose `sleep` waits at most 0.5 s (the server's own 1 s poll becomes
    0.5 s too); its other attributes are `time`'s. Restored afterwards.

    Relies on: `start_server`'s `time.sleep(1)` / `time.sleep(20)` through
    the module global `time` of `keras_tuner.src.distribute.oracle_chief`,
    and nothing else there using `time`. Verified with keras-tuner 1.4.7,
    1.4.8.
    """
    from keras_tuner.src.distribute import oracle_chief

    before = vars(oracle_chief).get("time")
    oracle_chief.time = _PromptSleep()
    try:
        yield
    finally:
        oracle_chief.time = before

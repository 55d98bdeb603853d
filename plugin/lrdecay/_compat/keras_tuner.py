"""Internals of keras_tuner that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# ---------------------------------------------------------------------------
# Used by lrdecay.tuning (oracles, hypermodel, search).


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.distributed.


# ---------------------------------------------------------------------------
# Used by lrdecay.cli.


@contextlib.contextmanager
def debug_tracebacks(enabled: bool) -> Iterator[None]:
    """Set KerasTuner's debug flag for the `with` block; restore it on any exit.

    In debug mode (KerasTuner's default) every failed trial prints its whole
    traceback; the `lrdecay` command shows it only with `--verbose`.

    Relies on: the module global `keras_tuner.src.config.DEBUG`, read by
    `BaseTuner._try_run_and_update_trial` when a trial raises. Verified with
    keras-tuner 1.4.8.
    """
    from keras_tuner.src import config

    before = config.DEBUG
    config.DEBUG = enabled
    try:
        yield
    finally:
        config.DEBUG = before

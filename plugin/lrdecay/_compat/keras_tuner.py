"""Internals of keras_tuner that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning (oracles, hypermodel, search).


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.distributed.


# ---------------------------------------------------------------------------
# Used by lrdecay.cli.

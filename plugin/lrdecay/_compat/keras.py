"""Internals of keras that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations


# ---------------------------------------------------------------------------
# Used by lrdecay.callbacks and lrdecay.tracking.

"""Warnings a wrapper of `search()` caught, issued again where they belong.

`search()` warns at the line that called it (`EvidenceWarning`, the rate
warning). Called by a wrapper (`search_outline`, `budget`, the chief of
`jobs=N`), that line is the wrapper's own: `warn_again` re-points those
warnings at the wrapper's caller and issues every other one as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

__all__ = ["warn_again"]


def warn_again(
    caught: Iterable[warnings.WarningMessage], wrapper_file: str, stacklevel: int
) -> None:
    """Issue `caught` again; those at a line of `wrapper_file` at its caller.

    Args:
        caught: The warnings `warnings.catch_warnings(record=True)` recorded.
        wrapper_file: String. The wrapper's `__file__`.
        stacklevel: Int. The wrapper's caller, as `warnings.warn` called in
            the wrapper would count it (2: the wrapper's direct caller).
    """
    for warning in caught:
        if warning.filename == wrapper_file:
            # Meant for the line that called `search()`: the caller's.
            warnings.warn(warning.message, warning.category, stacklevel=stacklevel + 1)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )

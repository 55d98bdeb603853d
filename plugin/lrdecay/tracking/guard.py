"""Nothing the logger does may raise into the user's fit: failures become warnings."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from typing import Any

from lrdecay._compat.mlflow import MAX_TAG_VAL_LENGTH


def guard(function: Callable[..., Any], *args: Any, what: str) -> Any:
    """Call `function`; a failure is a warning, never an error in the fit."""
    try:
        return function(*args)
    except Exception as error:
        warnings.warn(
            f"lrdecay.MlflowLogger: {what} failed; training goes on. "
            f"{type(error).__name__}: {error}",
            stacklevel=3,
        )
        return None


def error_text(error: BaseException | str | None) -> str | None:
    """The end of `error`'s traceback (or the message), as a tag value."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = "".join(lines[-12:])
    else:
        text = str(error)
    return tag_value(text)


def tag_value(text: str) -> str:
    """`text` cut to MLflow's tag length: its first line and its end, kept.

    MLflow truncates a longer value itself, with a warning that quotes the
    value (a traceback, for a failed search) on the user's terminal.
    """
    if len(text) <= MAX_TAG_VAL_LENGTH:
        return text
    head = text.partition("\n")[0][:1000]
    marker = "\n[...]\n"
    return head + marker + text[-(MAX_TAG_VAL_LENGTH - len(head) - len(marker)) :]

"""One name per setting: `search()`'s fit settings, its old names, a space alone.

`search()` names 20 arguments: the search's own. What `model.fit` already
names (`epochs`, `batch_size`, `validation_data`, `validation_split`,
`callbacks`, `verbose`) it takes as keywords, as KerasTuner's
`Tuner.search(x, y, **fit_kwargs)` does; `fit_settings()` reads them with
lrdecay's defaults. The names a setting had before (`executions_per_trial`
for `repeats`, `tracking_uri=` / `experiment_name=` for the keys of
`tracking=`, `overwrite=` for the tuner option `tuner_options={"overwrite":
...}`) still work for one release, with a `DeprecationWarning` (`renamed()`;
`overwrite()` settles the two ways of saying it). A `DecaySpace` holds the
decay kinds and their settings: given with any of its own arguments,
`space_alone()` says which to drop.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, MutableMapping
from typing import Any

from lrdecay import defaults
from lrdecay._validation import check_bool

# `model.fit` arguments a search reads itself, and their defaults.
FIT_SETTINGS: Mapping[str, Any] = {
    "epochs": defaults.EPOCHS,
    "batch_size": defaults.BATCH_SIZE,
    "validation_data": None,
    "validation_split": None,
    "callbacks": None,
    "verbose": 0,
}


@dataclasses.dataclass(frozen=True)
class Renamed:
    """The values given under a setting's old name (`None`: not given)."""

    repeats: int | None = None
    tracking_uri: str | None = None
    experiment_name: str | None = None
    overwrite: Any = None


def fit_settings(keywords: MutableMapping[str, Any]) -> dict[str, Any]:
    """Pop the `model.fit` arguments a search reads itself, with defaults."""
    return {name: keywords.pop(name, default) for name, default in FIT_SETTINGS.items()}


def renamed(keywords: MutableMapping[str, Any], *, stacklevel: int = 3) -> Renamed:
    """Pop the old names of `search()`'s settings, warning for each one given.

    Args:
        keywords: Dict. `search()`'s extra keywords; the old names leave it.
        stacklevel: Int. Where the warning points: `search()`'s caller.

    Returns:
        A `Renamed`.
    """
    found: dict[str, Any] = {}
    for old, new, where in (
        ("executions_per_trial", "repeats", "repeats="),
        ("tracking_uri", "tracking_uri", 'tracking={"tracking_uri": ...}'),
        ("experiment_name", "experiment_name", 'tracking={"experiment_name": ...}'),
        ("overwrite", "overwrite", 'tuner_options={"overwrite": ...}'),
    ):
        if old not in keywords:
            continue
        found[new] = keywords.pop(old)
        warnings.warn(
            f"`search({old}=...)` is deprecated and will be removed in the "
            f"next release; use `search({where})`.",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
    return Renamed(**found)


def overwrite(options: MutableMapping[str, Any], old: Any = None) -> bool:
    """Pop the tuner option `overwrite`; else the deprecated keyword's; else False.

    Args:
        options: Dict. The tuner's options (`tuner_options=`); `overwrite`
            leaves it, for the plan to hold (`SearchPlan.overwrite`).
        old: The value of the deprecated `search(overwrite=...)`, or `None`
            (not given: `Renamed.overwrite`).

    Returns:
        Bool. Whether the search starts its project afresh.

    Raises:
        TypeError: For an `overwrite` that is not a bool, named as given.
        ValueError: When both are given, with different values.
    """
    given = "overwrite" in options
    option = options.pop("overwrite", False)
    if given and not isinstance(option, bool):
        raise TypeError(
            "The tuner option `overwrite` must be a bool. "
            f"Received: tuner_options={{'overwrite': {option!r}}}"
        )
    if old is not None:
        check_bool("overwrite", old)
    if given and old is not None and option != old:
        raise ValueError(
            "`overwrite` is given twice: `tuner_options={'overwrite': ...}` and "
            "the deprecated `search(overwrite=...)` disagree; give only "
            f"`tuner_options`. Received: overwrite={old!r}, "
            f"tuner_options={{'overwrite': {option!r}}}"
        )
    return bool(option) if given else bool(old)


def space_alone(space: Any, arguments: Mapping[str, Any]) -> None:
    """Raise if `space` is given with any of its own arguments (not `None`).

    Raises:
        ValueError: Naming `space` and the first argument given with it.
    """
    if space is None:
        return
    for name, value in arguments.items():
        if value is not None:
            raise ValueError(
                f"Arguments `space` and `{name}` both set what is searched: "
                f"give `{name}` to the `DecaySpace`, or leave `space` unset. "
                f"Received: space={space!r}, {name}={value!r}"
            )

"""A search variant: `search()` with another hypermodel, told apart by its settings.

A budget search (`lrdecay.tuning.budgets`) is a grid search whose trials
each train their own number of epochs: the same pipeline (data read once,
preflight, project, MLflow run layout, shared trunks), with a
`DecayHyperModel` subclass and settings that name its project apart from a
plain search of the same grid. `searching_as(variant)` makes every
`search()` called inside it that variant; `search()` reads it with
`current()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# How a `search()` user starts a project afresh (the error that stops a
# project holding another search names it).
OVERWRITE_ARGUMENT = 'tuner_options={"overwrite": True}'


@dataclasses.dataclass(frozen=True)
class SearchVariant:
    """What a variant changes in `search()`.

    Attributes:
        make_hypermodel: Callable taking `DecayHyperModel`'s arguments and
            returning the search's hypermodel (a `DecayHyperModel`).
        identity: Mapping. Settings added to the search's identity (its
            default project name and digest), e.g. `{"cooldown": 0.2}`.
        data_identity: Mapping or `None`. What identifies the data beyond
            its content, as `lrdecay.defaults.project_name` takes it (the
            command line's data file, target and model): its `"name"` names
            the default project. Defaults to `None` (the bundled digits).
        overwrite_argument: String. How the variant's user starts a project
            afresh, e.g. `"overwrite=True"`. Defaults to `search()`'s.
    """

    make_hypermodel: Callable[..., Any]
    identity: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data_identity: Mapping[str, Any] | None = None
    overwrite_argument: str = OVERWRITE_ARGUMENT


_CURRENT: contextvars.ContextVar[SearchVariant | None] = contextvars.ContextVar(
    "lrdecay_search_variant", default=None
)


def current() -> SearchVariant | None:
    """The variant of the `search()` running now, or `None` (a plain search)."""
    return _CURRENT.get()


@contextlib.contextmanager
def searching_as(variant: SearchVariant) -> Iterator[None]:
    """Make every `search()` called inside the block `variant`."""
    token = _CURRENT.set(variant)
    try:
        yield
    finally:
        _CURRENT.reset(token)

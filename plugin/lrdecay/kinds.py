"""The kind table: what the search, the CLI and the run names know of a decay kind.

Each decay kind describes itself once, beside its schedule class in
`lrdecay.schedules` (`Schedule.spec`; the plateau rule, which has no
schedule, as `lrdecay.schedules.PLATEAU`), with a `KindSpec`. Declaring a
spec registers it in `KIND_TABLE`; every other table is derived from it: the
searchable kinds, the search's hyperparameters and their decoding
(`lrdecay.tuning.searchspace.space`), the decay callbacks by kind
(`lrdecay.callbacks.DECAYS`), the settings a run name always shows
(`lrdecay.tuning.evidence.labels`) and the kinds `lrdecay preview` draws.

Pure data: nothing here imports Keras, MLflow or the rest of the package.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

__all__ = ["KIND_TABLE", "Extra", "KindSpec", "decay_args_text", "register_kind"]


@dataclasses.dataclass(frozen=True)
class Extra:
    """A searchable setting of a kind besides its decay epochs, and its bounds.

    The search names it `<kind>/<name>` and passes it to the kind's decay as
    the argument `name`; `lrdecay.tuning.DecaySpace` takes its values as the
    keyword argument `name` and checks them against `low`/`high`.

    Args:
        name: String. The argument of the decay (and of `DecaySpace`).
        low: Float. The lower bound.
        high: Float. The upper bound (`math.inf`: none).
        low_open: Bool. `low` itself is excluded. Defaults to `True`.
        high_open: Bool. `high` itself is excluded. Defaults to `True`.
    """

    name: str
    low: float
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True


@dataclasses.dataclass(frozen=True)
class KindSpec:
    """One decay kind as the search, the CLI and run names see it.

    Args:
        name: String. The kind's name (`decay_kind`, `--kinds`).
        decay_arg: String or `None`. The argument of the decay that the
            search's decay epochs set (`epochs_drop`, `patience`, ...); the
            hyperparameter is `<name>/<decay_arg>`. `None`: the kind is not
            searchable (its decay has no single "when").
        extras: Tuple of `Extra`. Further settings the search declares for
            this kind. Defaults to none.
        rate_arg: `Extra` or `None`. A setting that, when the search is
            given it, is searched instead of the decay epochs (exponential
            decay's `k`); when it is not, the decay epochs are converted to
            it by `rate_of_epochs`. Defaults to `None`.
        rate_of_epochs: Callable or `None`. Decay epochs -> `rate_arg`'s
            value (`k = ln 2 / half_life`). Defaults to `None`.
        plateau: Bool. The decay reacts to a monitored metric (a plateau
            rule): it is given the search's `monitor` and starts from the
            optimizer's rate. Defaults to `False` (a scheduled decay).
        preview: Bool. `lrdecay preview` draws it. Defaults to `True`.
        piecewise: Bool. Its rate is constant between decays (drawn as
            steps). Defaults to `False`.
        default: Bool. A search without `kinds` (`lrdecay search` without
            `--kinds`) tries it. Defaults to `False`.
    """

    name: str
    decay_arg: str | None = None
    extras: tuple[Extra, ...] = ()
    rate_arg: Extra | None = None
    rate_of_epochs: Callable[[int], float] | None = None
    plateau: bool = False
    preview: bool = True
    piecewise: bool = False
    default: bool = False

    @property
    def searchable(self) -> bool:
        """Whether `search(kinds=)` may name this kind."""
        return self.decay_arg is not None

    def decay_epochs_hp(self, relative: bool) -> str:
        """The hyperparameter of the decay epochs: `step/epochs_drop[_fraction]`."""
        suffix = "_fraction" if relative else ""
        return f"{self.name}/{self.decay_arg}{suffix}"

    def extra_hp(self, extra: Extra) -> str:
        """The hyperparameter of an extra setting: `step/drop`."""
        return f"{self.name}/{extra.name}"


KIND_TABLE: dict[str, KindSpec] = {}
"""Every decay kind by name, in the order they were declared."""


def register_kind(spec: KindSpec) -> KindSpec:
    """Add `spec` to `KIND_TABLE` (the schedule classes call it); return it."""
    if not isinstance(spec, KindSpec):
        raise TypeError(f"Expected a KindSpec. Received: spec={spec!r}")
    known = KIND_TABLE.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"Decay kind {spec.name!r} is declared twice.")
    KIND_TABLE[spec.name] = spec
    return spec


def decay_args_text() -> str:
    """What the decay epochs set, per searchable kind, for help texts.

    E.g. `"epochs_drop (step), half_life (exponential), decay_epochs (cosine,
    linear, wsd), first_decay_epochs (cosine_restarts), patience (plateau)"`:
    each `KindSpec.decay_arg` once, with the kinds that have it, in table
    order.
    """
    kinds_by_arg: dict[str, list[str]] = {}
    for spec in KIND_TABLE.values():
        if spec.decay_arg is not None:
            kinds_by_arg.setdefault(spec.decay_arg, []).append(spec.name)
    return ", ".join(
        f"{arg} ({', '.join(names)})" for arg, names in kinds_by_arg.items()
    )


def extra_named(name: str) -> Extra:
    """The `Extra` (or rate argument) called `name`, from any kind."""
    for spec in KIND_TABLE.values():
        for extra in (*spec.extras, spec.rate_arg):
            if extra is not None and extra.name == name:
                return extra
    raise KeyError(name)

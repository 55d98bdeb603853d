"""The decay search space: which kind, and when it decays.

A `DecaySpace` turns the user's grids, ranges and fixed values into KerasTuner
hyperparameters (`declare`) and turns one trial's hyperparameter values back
into the arguments of an `lrdecay.callbacks` decay (`resolve`). Nothing here
imports Keras or KerasTuner: `declare` works on the `HyperParameters` object it
is given, so the space can be checked before anything heavy loads.

Hyperparameter names (what trials and MLflow runs show):

| name                             | active when          | meaning                    |
|----------------------------------|----------------------|----------------------------|
| `decay_kind`                     | always               | "step", "exponential", ... |
|                                  |                      | or "constant" (the control)|
| `initial_lr`                     | `initial_lr` given   | the rate of epoch 0        |
| `step/epochs_drop`               | kind == "step"       | epochs between two drops   |
| `step/drop`                      | kind == "step"       | factor applied at a drop   |
| `exponential/half_life`          | kind == "exponential"| epochs to halve the rate   |
| `exponential/k`                  | `k` given            | the rate `k` itself        |
| `plateau/patience`               | kind == "plateau"    | epochs without improvement |
| `plateau/factor`                 | kind == "plateau"    | factor applied at a drop   |
| `cosine/decay_epochs`            | kind == "cosine"     | the cosine's period        |
| `cosine_restarts/`               | kind ==              | the first period (SGDR's   |
| `first_decay_epochs`             | "cosine_restarts"    | T_0)                       |

Relative decay points: a decay-epochs value given as a float in (0, 1] is a
fraction of the trial's epoch budget, and the hyperparameter is named with a
`_fraction` suffix (`step/epochs_drop_fraction`, ...). The decay epochs of a
trial with budget `B` epochs are `max(1, floor(fraction * B + 0.5))` (round
half up, at least one epoch). `B` is the `epochs` the trial's `fit` runs to:
Hyperband's `tuner/epochs` for Hyperband trials, else the search's `epochs`
(`relative_to="trial"`, the default); with `relative_to="search"` it is always
the search's `epochs`, so a short Hyperband trial sees the first part of the
same schedule a full one runs.

The constant-rate control (`control=True`): `decay_kind` takes one more value,
`"constant"` (`CONTROL_KIND`), listed first, with no setting of its own: the
model trains at its initial rate without decay. It is the kind's default value,
so a grid search runs it first and `control_values` (what the other algorithms
start with) is the space's defaults with that kind.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from lrdecay import defaults, schedules
from lrdecay._validation import check_bool, check_choice, check_epoch_count
from lrdecay.kinds import Extra, KindSpec, extra_named
from lrdecay.schedules import KIND_TABLE
from lrdecay.tuning.searchspace.budget import (
    DecayEpochs,
    parse_decay_epochs,
    relative_epochs,
)
from lrdecay.tuning.searchspace.ranges import (
    Range,
    Setting,
    check_between,
    parse_setting,
)

__all__ = [
    "CONTROL_KIND",
    "DEFAULT_KINDS",
    "SEARCHABLE_KINDS",
    "DecayEpochs",
    "DecaySpace",
    "Range",
    "ResolvedDecay",
    "Setting",
    "parse_decay_epochs",
    "parse_setting",
    "relative_epochs",
]

# Every kind `kinds` may name, and the ones searched when it is not given.
SEARCHABLE_KINDS: tuple[str, ...] = schedules.SEARCHABLE_KINDS
DEFAULT_KINDS: tuple[str, ...] = schedules.DEFAULT_KINDS

# The constant-rate control's `decay_kind`: the initial rate, no decay.
CONTROL_KIND = schedules.ConstantSchedule.kind

KIND_HP = "decay_kind"
INITIAL_LR_HP = "initial_lr"


@dataclasses.dataclass(frozen=True)
class ResolvedDecay:
    """One trial's decay: the kind and the arguments of its callback."""

    kind: str
    settings: dict[str, Any]
    initial_lr: float | None
    # The exponential decay's half-life in epochs, when `k` derives from it.
    half_life: int | None = None

    @property
    def decay_epochs(self) -> int | None:
        """The decay epochs as the trial runs them, whatever the kind calls them.

        `None` for the control and for an exponential decay of a given `k`.
        """
        spec = KIND_TABLE.get(self.kind)
        if spec is None or spec.decay_arg is None:
            return None
        if spec.rate_of_epochs is not None:
            # Its decay takes a rate (`k`) derived from the decay epochs.
            return self.half_life
        return self.settings.get(spec.decay_arg)


class DecaySpace:
    """The search space of a decay: its kind and, per kind, its settings.

    Every setting takes a fixed value, a grid (a list or tuple), a Python
    `range` or a `Range`. The decay epochs (`decay_epochs`) mean, per kind,
    the epochs between two drops of a step decay (`epochs_drop`), the
    half-life of an exponential decay (`k = ln 2 / half_life`, unless `k`
    is given), the patience of a plateau decay, the period of a cosine
    decay and the first period of a cosine decay with warm restarts (SGDR's
    T_0; each next period twice as long, Keras' `t_mul=2.0`; both decay to
    0, Keras' `alpha=0.0`). Ints are epochs; floats
    in (0, 1] are fractions of the trial's epoch budget (see the module
    docstring for the exact rule). By default each kind halves the rate per
    decay (`drop=0.5`, `factor=0.5`, half-lives), so the kinds compare on
    *when* they decay, not on how much.

    Example:

    ```python
    space = DecaySpace(
        kinds=("step", "exponential", "plateau"),
        decay_epochs=[5, 10, 20, 30],
    )
    space.check_budget(epochs=50)  # raises before any training if too short
    ```

    Args:
        kinds: Sequence of str. Decay kinds to try, from
            `SEARCHABLE_KINDS` (`"step"`, `"exponential"`, `"plateau"`,
            `"cosine"`, `"cosine_restarts"`). Defaults to
            `DEFAULT_KINDS`, `("step", "exponential", "plateau")`.
        decay_epochs: Setting, or a dict kind -> setting for different
            epochs per kind. Defaults to `lrdecay.defaults.DECAY_EPOCHS`,
            `(5, 10, 20, 30)`.
        drop: Setting in (0, 1]. Step decay's factor per drop. Defaults to
            `0.5`.
        k: Setting >= 0, or `None`. Exponential decay's `k`; `None` derives
            it from the decay epochs as a half-life. Defaults to `None`.
        factor: Setting in (0, 1). Plateau decay's factor per reduction.
            Defaults to `0.5`.
        initial_lr: Setting > 0, or `None` to keep the rate the model was
            compiled with. Defaults to `None`.
        monitor: String. The metric the plateau decay watches. Defaults to
            `"val_loss"`.
        relative_to: `"trial"` or `"search"`: the epoch budget that fractions
            are taken of. Defaults to `"trial"`.
        control: Bool. Add the constant-rate control, `decay_kind="constant"`
            (the initial rate, no decay), as one more setting. Defaults to
            `False`; `search()` turns it on.

    Raises:
        TypeError: For an argument of the wrong type (a kind that is not a
            string, a grid holding something other than numbers).
        ValueError: For an unknown kind, an empty grid or range, or a value
            out of range; the message names the argument and the value.
    """

    def __init__(
        self,
        kinds: Sequence[str] = DEFAULT_KINDS,
        decay_epochs: Any = defaults.DECAY_EPOCHS,
        *,
        drop: Any = 0.5,
        k: Any = None,
        factor: Any = 0.5,
        initial_lr: Any = None,
        monitor: str = "val_loss",
        relative_to: str = "trial",
        control: bool = False,
    ) -> None:
        if isinstance(kinds, str):
            kinds = (kinds,)
        if not isinstance(kinds, Sequence):
            raise TypeError(
                "Argument `kinds` must be a sequence of decay kinds of "
                f"{list(SEARCHABLE_KINDS)}. Received: kinds={kinds!r}"
            )
        if len(kinds) == 0:
            raise ValueError(
                "Argument `kinds` must name at least one decay kind of "
                f"{list(SEARCHABLE_KINDS)}. Received: kinds={kinds!r}"
            )
        for kind in kinds:
            if not isinstance(kind, str):
                raise TypeError(
                    f"Argument `kinds` must hold decay kind names. "
                    f"Received: kinds={kinds!r} (holding {kind!r})"
                )
            if kind not in SEARCHABLE_KINDS:
                raise ValueError(
                    f"Unknown decay kind {kind!r} in argument `kinds`; "
                    f"searchable kinds are {list(SEARCHABLE_KINDS)}. "
                    f"Received: kinds={kinds!r}"
                )
        if len(set(kinds)) != len(kinds):
            raise ValueError(
                f"Argument `kinds` repeats a kind. Received: kinds={kinds!r}"
            )
        self.kinds: tuple[str, ...] = tuple(kinds)

        if isinstance(decay_epochs, Mapping):
            unknown = set(decay_epochs) - set(self.kinds)
            missing = set(self.kinds) - set(decay_epochs)
            if unknown or missing:
                raise ValueError(
                    "Argument `decay_epochs` as a dict must have one entry per "
                    f"searched kind {list(self.kinds)}. Received: "
                    f"decay_epochs={dict(decay_epochs)!r}"
                )
            self.decay_epochs = {
                kind: parse_decay_epochs(f"decay_epochs[{kind!r}]", spec)
                for kind, spec in decay_epochs.items()
            }
        else:
            parsed = parse_decay_epochs("decay_epochs", decay_epochs)
            self.decay_epochs = dict.fromkeys(self.kinds, parsed)

        self.drop = _parse_extra("drop", drop)
        self.k = None if k is None else _parse_extra("k", k)
        self.factor = _parse_extra("factor", factor)
        self.initial_lr = (
            None if initial_lr is None else parse_setting("initial_lr", initial_lr)
        )
        if self.initial_lr is not None:
            check_between(
                "initial_lr",
                initial_lr,
                self.initial_lr,
                0,
                math.inf,
                low_open=True,
                high_open=True,
            )
        if not isinstance(monitor, str):
            raise TypeError(
                "Argument `monitor` must be a metric name such as 'val_loss'. "
                f"Received: monitor={monitor!r}"
            )
        if not monitor:
            raise ValueError(
                "Argument `monitor` must be a metric name such as 'val_loss'. "
                f"Received: monitor={monitor!r}"
            )
        self.monitor = monitor
        check_choice("relative_to", relative_to, ("trial", "search"))
        self.relative_to = relative_to
        check_bool("control", control)
        self.control = control

    @property
    def kind_values(self) -> tuple[str, ...]:
        """The values of `decay_kind`: the control first (if any), then `kinds`."""
        return ((CONTROL_KIND,) if self.control else ()) + self.kinds

    def with_control(self, control: bool) -> DecaySpace:
        """A copy of this space with the constant-rate control on or off."""
        check_bool("control", control)
        space = copy.copy(self)
        space.control = control
        return space

    def control_values(self, hp: Any) -> dict[str, Any]:
        """The control's hyperparameter values in `hp`'s space.

        `decay_kind="constant"` and every other active hyperparameter at its
        default (the first value of a grid, the low end of a range): the
        values the first trial of a random, Bayesian or Hyperband search takes.

        Args:
            hp: `keras_tuner.HyperParameters`. The search's whole space (the
                decay's hyperparameters and the model's own).
        """
        values: dict[str, Any] = {}
        for parameter in hp.space:
            values[parameter.name] = (
                CONTROL_KIND if parameter.name == KIND_HP else parameter.default
            )
        # Only the active ones: the conditions read `values` as they stand.
        scratch = hp.copy()
        scratch.values = dict(values)
        return {
            name: value for name, value in values.items() if scratch.is_active(name)
        }

    def with_initial_lr(self, initial_lr: Any) -> DecaySpace:
        """A copy of this space searching `initial_lr` (a setting, as `__init__`'s).

        `search(initial_lr="auto")` uses it to search the rates the LR range
        test suggested.
        """
        space = copy.copy(self)
        space.initial_lr = parse_setting("initial_lr", initial_lr)
        check_between(
            "initial_lr",
            initial_lr,
            space.initial_lr,
            0,
            math.inf,
            low_open=True,
            high_open=True,
        )
        return space

    def check_budget(self, epochs: int) -> None:
        """Raise `ValueError` if a decay-epochs value exceeds `epochs`.

        Args:
            epochs: Int. The search's epoch budget (Hyperband's `max_epochs`).
        """
        check_epoch_count("epochs", epochs, allow_zero=False)
        for kind in self.kinds:
            decay_epochs = self.decay_epochs[kind]
            if not decay_epochs.relative and decay_epochs.setting.high > epochs:
                raise ValueError(
                    f"Decay epochs {decay_epochs.setting.high!r} of the {kind!r} "
                    f"decay lie beyond the epoch budget epochs={epochs}: that "
                    "decay would never happen. Lower `decay_epochs`, raise "
                    "`epochs`, or give fractions of the budget as floats in "
                    "(0, 1]. Received: decay_epochs="
                    f"{decay_epochs.setting.describe()!r}"
                )

    def declare(self, hp: Any) -> None:
        """Register the space's hyperparameters in KerasTuner's `hp`."""
        kind_setting = Setting(values=self.kind_values)
        kind_setting.declare(hp, KIND_HP)
        if self.initial_lr is not None:
            self.initial_lr.declare(hp, INITIAL_LR_HP)
        for kind in self.kinds:
            with hp.conditional_scope(KIND_HP, [kind]):
                for name, setting in self.kind_settings(kind).items():
                    setting.declare(hp, name)

    def kind_settings(self, kind: str) -> dict[str, Setting]:
        """The hyperparameters `kind` declares, by name, with their settings.

        The decay epochs (or the kind's rate argument when the search was
        given it, e.g. exponential decay's `k`), then the kind's extras
        (`lrdecay.kinds.KindSpec`).
        """
        spec = KIND_TABLE[kind]
        rate = self._searched_rate(spec)
        settings: dict[str, Setting] = {}
        if rate is None:
            decay_epochs = self.decay_epochs[kind]
            settings[decay_epochs.hp_name(kind)] = decay_epochs.setting
        else:
            settings[spec.extra_hp(rate)] = getattr(self, rate.name)
        for extra in spec.extras:
            settings[spec.extra_hp(extra)] = getattr(self, extra.name)
        return settings

    def _searched_rate(self, spec: KindSpec) -> Extra | None:
        """The kind's rate argument, when the search was given its values."""
        rate = spec.rate_arg
        if rate is None or getattr(self, rate.name, None) is None:
            return None
        return rate

    def resolve(self, values: Mapping[str, Any], budget: int) -> ResolvedDecay:
        """The decay of a trial, from its hyperparameter values.

        Args:
            values: Mapping. The trial's `hp.values`.
            budget: Int. The epoch budget that fractions are taken of.

        Returns:
            A `ResolvedDecay` whose `settings` are keyword arguments of the
            kind's class in `lrdecay.callbacks.DECAYS` (without
            `initial_lr`, which the caller resolves).
        """
        kind = values.get(KIND_HP, self.kind_values[0])
        if kind not in self.kind_values:
            raise ValueError(
                f"Trial value {KIND_HP}={kind!r} is not a searched kind "
                f"{list(self.kind_values)}."
            )
        initial_lr = values.get(INITIAL_LR_HP) if self.initial_lr else None
        if kind == CONTROL_KIND:
            return ResolvedDecay(
                kind, {}, None if initial_lr is None else float(initial_lr)
            )
        spec = KIND_TABLE[kind]
        rate = self._searched_rate(spec)
        settings: dict[str, Any] = {}
        epochs: int | None = None
        if rate is not None:
            settings[rate.name] = float(values[spec.extra_hp(rate)])
        else:
            decay_epochs_spec = self.decay_epochs[kind]
            value = values[decay_epochs_spec.hp_name(kind)]
            epochs = (
                relative_epochs(value, budget)
                if decay_epochs_spec.relative
                else int(value)
            )
            if spec.rate_arg is not None and spec.rate_of_epochs is not None:
                settings[spec.rate_arg.name] = spec.rate_of_epochs(epochs)
            else:
                settings[cast(str, spec.decay_arg)] = epochs
        for extra in spec.extras:
            settings[extra.name] = float(values[spec.extra_hp(extra)])
        if spec.plateau:
            settings["monitor"] = self.monitor
        converted = rate is None and spec.rate_arg is not None
        return ResolvedDecay(
            kind,
            settings,
            None if initial_lr is None else float(initial_lr),
            half_life=epochs if converted else None,
        )

    def get_config(self) -> dict[str, Any]:
        """A JSON-friendly description of the space."""
        return {
            "kinds": list(self.kinds),
            "decay_epochs": {
                kind: {
                    "relative": spec.relative,
                    "values": spec.setting.describe(),
                }
                for kind, spec in self.decay_epochs.items()
            },
            "drop": self.drop.describe(),
            "k": None if self.k is None else self.k.describe(),
            "factor": self.factor.describe(),
            "initial_lr": (
                None if self.initial_lr is None else self.initial_lr.describe()
            ),
            "monitor": self.monitor,
            "relative_to": self.relative_to,
            "control": self.control,
        }

    def __repr__(self) -> str:
        return f"DecaySpace({self.get_config()!r})"


def _parse_extra(name: str, spec: Any) -> Setting:
    """A kind's extra setting (`drop`, `k`, `factor`), checked against its bounds."""
    extra = extra_named(name)
    setting = parse_setting(name, spec)
    check_between(
        name,
        spec,
        setting,
        extra.low,
        extra.high,
        low_open=extra.low_open,
        high_open=extra.high_open,
    )
    return setting

"""What a trial is called: its decay kind and settings, in one short line.

`trial_label` names a trial's MLflow run (`step epochs_drop=30 seed=1`) and
labels its curves in the search's comparison plots, so a run says what it
holds wherever it shows; what all trials share (a fixed `drop=0.5`) is left
out. `settings_text` is the settings part, written as the search's table and
progress lines write a trial.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from lrdecay.schedules import KIND_TABLE

__all__ = ["setting_of", "settings_text", "trial_label"]

# When each kind decays: what a decay is named by, searched or not (every
# kind's decay-epochs argument and rate argument, from the kind table).
_DECAY_EPOCHS_SETTINGS = frozenset(
    name
    for spec in KIND_TABLE.values()
    for name in (
        spec.decay_arg,
        None if spec.rate_arg is None else spec.rate_arg.name,
    )
    if name is not None
)
# Shown first, in this order (the decay epochs, then the kinds' extras); the
# rest follow by name.
SETTINGS_ORDER = (
    *sorted(_DECAY_EPOCHS_SETTINGS),
    *(extra.name for spec in KIND_TABLE.values() for extra in spec.extras),
)
# Not a property of the decay a trial tries (the search's objective).
HIDDEN_SETTINGS = frozenset({"monitor"})

# Hyperparameters a label says otherwise: the kind, and every
# `<kind>/<setting>` (in the settings) and `tuner/...` (KerasTuner's
# Hyperband bookkeeping; its epoch budget is added as `epochs=`).
_DECAY_HPS = frozenset({"decay_kind"})


def value_text(value: Any) -> str:
    """A setting's value as names show it: `20`, `0.5`, `0.1234`."""
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.4g}"
    return str(value)


def settings_text(settings: Mapping[str, Any]) -> str:
    """`epochs_drop=20 drop=0.5`: a decay's settings, compactly.

    An exponential decay is shown by its half-life (`ln 2 / k`), the number
    of epochs the search's decay epochs set; the order is fixed, so every
    place that names a trial names it alike.

    Args:
        settings: Mapping. The keyword arguments of the decay (a
            `ResolvedDecay`'s `settings`).
    """
    shown = dict(settings)
    k = shown.get("k")
    if isinstance(k, (int, float)) and k > 0 and "half_life" not in shown:
        del shown["k"]
        shown["half_life"] = round(math.log(2) / k, 4)
    names = sorted(
        (name for name in shown if name not in HIDDEN_SETTINGS),
        key=lambda name: (
            SETTINGS_ORDER.index(name) if name in SETTINGS_ORDER else 99,
            name,
        ),
    )
    return " ".join(f"{name}={value_text(shown[name])}" for name in names)


def trial_label(
    kind: str,
    settings: Mapping[str, Any],
    *,
    hyperparameters: Mapping[str, Any] | None = None,
    fixed: Collection[str] = (),
    seed: int | None = None,
    execution: int = 0,
) -> str:
    """`step epochs_drop=30 seed=1`: what one trial execution holds.

    The decay kind and its settings, then what else tells the trial apart:
    the searched initial rate, the model's own hyperparameters, Hyperband's
    epoch budget (`epochs=`), and the execution's seed (or, unseeded, which
    execution of the trial it is: `#2`).

    Args:
        kind: String. The decay kind (`"step"`, `"constant"`, ...).
        settings: Mapping. The decay's settings (see `settings_text`).
        hyperparameters: Mapping or `None`. The trial's `hp.values`; the
            ones the settings don't say (`initial_lr`, the model's own,
            `tuner/epochs`) are added. Defaults to `None`.
        fixed: Collection of str. The search's hyperparameters that take
            one value: no trial differs there, so they are left out (but
            for the decay epochs, which a decay is named by). Defaults to
            none.
        seed: Int or `None`. The execution's seed. Defaults to `None`.
        execution: Int. The execution of the trial, from 0; shown when
            there is no seed to tell executions apart. Defaults to `0`.
    """
    words = [kind]
    decay = settings_text(
        {
            name: value
            for name, value in settings.items()
            if name in _DECAY_EPOCHS_SETTINGS or f"{kind}/{name}" not in fixed
        }
    )
    if decay:
        words.append(decay)
    values = {
        name: value
        for name, value in (hyperparameters or {}).items()
        if name not in fixed
    }
    for name in sorted(values, key=lambda name: (name != "initial_lr", name)):
        if name in _DECAY_HPS or "/" in name:
            continue
        words.append(f"{name}={value_text(values[name])}")
    if "tuner/epochs" in values:
        words.append(f"epochs={value_text(values['tuner/epochs'])}")
    if seed is not None:
        words.append(f"seed={seed}")
    elif execution:
        words.append(f"#{execution + 1}")
    return " ".join(words)


def setting_of(label: str) -> str:
    """The setting a `trial_label` names, without its seed and execution.

    The repeats of one setting (`step epochs_drop=30 seed=1`, `... seed=2`)
    share it: `step epochs_drop=30`.
    """
    words = label.split(" ")
    kept = [
        word
        for word in words
        if not word.startswith("seed=")
        and not (word.startswith("#") and word[1:].isdigit())
    ]
    return " ".join(kept) or label

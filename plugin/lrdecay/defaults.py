"""The defaults of a search, defined once for `lrdecay.search()` and `lrdecay search`.

The Python API and the command line read these names and nothing else, so the
same search started from either one resumes from the other. Pure constants
and pure functions: no Keras, no MLflow, no KerasTuner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

ALGORITHMS: tuple[str, ...] = ("grid", "random", "hyperband", "bayesian")
ALGORITHM = "grid"
# The kinds searched by default are the kind table's rows marked `default`:
# `lrdecay.schedules.DEFAULT_KINDS` (every searchable kind: `SEARCHABLE_KINDS`).

# The default search: 3 kinds x 4 decay-epoch values = 12 trials of EPOCHS
# epochs on the digits. 40 x (5, 10, 20, 30) rather than 50 x (10, 20, 30, 50):
# ~25% faster, and a 50-epoch period never fires in a 50-epoch run.
EPOCHS = 40
# At another budget the default decay epochs are the same fractions of it:
# `decay_epochs_for(epochs)`.
DECAY_EPOCHS: tuple[int, ...] = (5, 10, 20, 30)
BATCH_SIZE = 32

# Hyperband (`algorithm="hyperband"`, `lrdecay.tuning.pipeline.hyperband`). Without
# `decay_epochs` it searches fractions of each trial's budget, so a short
# trial is a scaled copy of a full one and its decay acts; 0.25, 0.5 and 0.75
# stay distinct from a budget of 4 epochs up (`relative_epochs`). Brackets
# start at no fewer than HYPERBAND_MIN_EPOCHS epochs (more if the decay
# epochs need them: `hyperband.minimum_budget`), and an iteration runs only
# the most aggressive bracket: successive halving over every setting, at
# budgets 5, 14 and 40 of the default 40 epochs. `tuner_options=` overrides
# each (`{"factor": ..., "min_epochs": ..., "brackets": None}` for all of
# KerasTuner's brackets).
HYPERBAND_DECAY_EPOCHS: tuple[float, ...] = (0.25, 0.5, 0.75)
HYPERBAND_FACTOR = 3
HYPERBAND_MIN_EPOCHS = 4
HYPERBAND_BRACKETS: int | None = 1

# `initial_lr="auto"` / `--initial-lr auto`: run the LR range test on the
# training data first, then search the initial rates its suggestion times
# these factors (half a decade either side: see `lrdecay.tuning.lr_finder.auto_lr`).
AUTO_INITIAL_LR = "auto"
AUTO_LR_FACTORS: tuple[float, ...] = (0.3, 1.0, 3.0)
OBJECTIVE = "val_loss"


# `None`: no seed (issue: the search will pick and record one).
SEED: int | None = None

PROJECT_DIR = "lrdecay_project"
EXPERIMENT = "lrdecay"

# What changes the meaning of a trial: a different value is a different
# search, in a project of its own. `max_trials` is not among them, so raising
# it continues the same search.
_IDENTITY = (
    "algorithm",
    "kinds",
    "decay_epochs",
    "initial_lr",
    "epochs",
    "batch_size",
    "objective",
    "seed",
)
# Also in the identity, but only when they differ from these defaults (so the
# default search keeps its name): the constant-rate control and the repeats
# (KerasTuner's executions per trial) change what a trial is and its score.
CONTROL = True
REPEATS = 1
_IDENTITY_UNLESS_DEFAULT = {"control": CONTROL, "repeats": REPEATS}
# Train the constant-rate prefix trials share once and branch each trial
# from it (`search(share_prefix=)`, `lrdecay search --no-share-prefix`):
# the same numbers, fewer epochs. Not in the identity: it changes no result.
SHARE_PREFIX = True

# A budget search (`lrdecay.budget`, `lrdecay budget`): WSD cooldowns off one
# constant-rate trunk, at the budgets (epochs) given; Hägele et al. 2024's
# 20% cooldown of 1-sqrt shape.
BUDGETS: tuple[int, ...] = (10, 20, 40)
BUDGET_COOLDOWN = 0.2
BUDGET_SHAPE = "1-sqrt"


def project_name(
    settings: Mapping[str, Any],
    data_identity: Mapping[str, Any] | None = None,
    *,
    content: Mapping[str, str] | None = None,
) -> str:
    """The KerasTuner project name of a search: `<algorithm>-<data>-<hash>`.

    The hash covers the settings that change what a trial means, the
    digests of the data and the model (`content`, from
    `lrdecay.tuning.pipeline.identity`), and `data_identity` (the command line's data
    file, target and model; `None` for the bundled digits with the default
    model, or data passed from Python), so the same search gets the same
    name from Python and from the command line (the bundled digits and the
    command's model, passed from Python, are the same data and model), and
    a different one never mixes its trials into it.

    Args:
        settings: Mapping. The search's settings; must hold every key of
            the identity (`algorithm`, `kinds`, `decay_epochs`,
            `initial_lr`, `epochs`, `batch_size`, `objective`, `seed`), and
            may hold `control` and `repeats` (counted only when not
            `CONTROL` / `REPEATS`).
        data_identity: Mapping or `None`. What identifies data and model
            beyond the defaults; its `"name"` entry, if any, names the data
            in the project name. Defaults to `None`.
        content: Mapping or `None`. The digests of the data and the model
            (`{"data": ..., "model": ...}`). Defaults to `None`.

    Returns:
        The project name, e.g. `"grid-digits-3f2a9c1e"`.
    """
    data_name = "digits"
    if data_identity:
        data_name = str(data_identity.get("name") or "data")
    digest = identity_digest(settings, data_identity, content=content)[:8]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in data_name)
    return f"{settings['algorithm']}-{safe}-{digest}"


def identity_digest(
    settings: Mapping[str, Any],
    data_identity: Mapping[str, Any] | None = None,
    *,
    content: Mapping[str, str] | None = None,
) -> str:
    """The hex digest `project_name` shortens: settings, data and model."""
    identity = {key: _canonical(settings[key]) for key in _IDENTITY}
    for key, default in _IDENTITY_UNLESS_DEFAULT.items():
        if settings.get(key, default) != default:
            identity[key] = _canonical(settings[key])
    if data_identity:
        identity["data"] = {k: _canonical(v) for k, v in data_identity.items()}
    if content:
        identity["content"] = {k: str(v) for k, v in content.items()}
    return hashlib.sha1(
        json.dumps(identity, sort_keys=True).encode("utf-8")
    ).hexdigest()


def _canonical(value: Any) -> Any:
    """A JSON-able form in which a list and a tuple of the same values agree."""
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def decay_epochs_for(epochs: int, algorithm: str = ALGORITHM) -> tuple[float, ...]:
    """The default decay epochs of a search of `epochs` epochs per trial.

    `DECAY_EPOCHS` are the default at `EPOCHS` epochs; another budget gets
    the same fractions of it (1/8, 1/4, 1/2 and 3/4), rounded half up, at
    least 1 epoch, without repeats. So `lrdecay search --epochs 10` searches
    1, 3, 5 and 8 instead of failing on decay epochs beyond its budget, and
    the default search (40 epochs) keeps (5, 10, 20, 30), its name and its
    stored trials. Decay epochs the user gives are never changed. Hyperband
    searches `HYPERBAND_DECAY_EPOCHS`, fractions of each trial's budget, at
    any `epochs`.

    Example:

    ```python
    decay_epochs_for(40)   # (5, 10, 20, 30)
    decay_epochs_for(10)   # (1, 3, 5, 8)
    decay_epochs_for(2)    # (1, 2)
    decay_epochs_for(40, "hyperband")   # (0.25, 0.5, 0.75)
    ```

    Args:
        epochs: Int. The epochs per trial (a positive whole number).
        algorithm: String. The search algorithm. Defaults to `ALGORITHM`.

    Returns:
        A tuple of increasing whole numbers of epochs, each in [1, epochs]
        (Hyperband's: fractions of the budget).
    """
    if algorithm == "hyperband":
        return HYPERBAND_DECAY_EPOCHS
    if epochs == EPOCHS:
        return DECAY_EPOCHS
    scaled = (
        max(1, min(epochs, int(value * epochs / EPOCHS + 0.5)))
        for value in DECAY_EPOCHS
    )
    return tuple(sorted(set(scaled)))

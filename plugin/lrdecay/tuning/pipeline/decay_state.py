"""A trial's decay state, kept beside its checkpoint for a continued trial.

A Hyperband trial continuing another starts a plateau decay from the rate it
had reached: `save_decay_state` writes the decay (`DECAY_STATE_FILE`) into
the trial's directory when its fit ends, `continued_lr` reads it back.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from lrdecay import callbacks as decay_callbacks
from lrdecay.tuning.pipeline.trial_context import TrialContext
from lrdecay.tuning.searchspace.space import ResolvedDecay

# A trial's decay, written next to its checkpoint, so that a Hyperband trial
# continuing it can start a plateau decay from the rate it had reached.
DECAY_STATE_FILE = "lrdecay_decay.json"


def decay_state_path(tuner: Any, trial_id: str) -> str | None:
    get_trial_dir = getattr(tuner, "get_trial_dir", None)
    if get_trial_dir is None:
        return None
    return os.path.join(get_trial_dir(trial_id), DECAY_STATE_FILE)


def continued_lr(context: TrialContext) -> float | None:
    """The rate a continued Hyperband trial's plateau decay had reached."""
    if context.continued_from is None or context.tuner is None:
        return None
    path = decay_state_path(context.tuner, context.continued_from)
    try:
        with open(path) as file:  # type: ignore[arg-type]
            return float(json.load(file)["final_lr"])
    except (OSError, TypeError, KeyError, ValueError):
        return None


def save_decay_state(
    context: TrialContext, model: Any, decay: Any, resolved: ResolvedDecay
) -> None:
    if context.tuner is None or context.trial_id is None:
        return
    path = decay_state_path(context.tuner, context.trial_id)
    if path is None:
        return
    state = {
        "kind": resolved.kind,
        "settings": resolved.settings,
        "initial_lr": resolved.initial_lr,
        "lr_history": [list(point) for point in decay.lr_history],
        "final_lr": decay_callbacks.current_learning_rate(model.optimizer),
    }
    try:
        with open(path, "w") as file:
            json.dump(state, file)
    except OSError as error:
        warnings.warn(
            f"Could not save the decay state of trial {context.trial_id} "
            f"to {path}: {error}",
            stacklevel=2,
        )

"""Trials that FAILED for a cause not the model's run again on a resume.

KerasTuner keeps a FAILED trial FAILED for good: a trial that failed on a
damaged file, a lost connection to the tracking server or the chief, or a
killed worker would never be trained, however often the same search is run
again. When a search resumes, `queue_failed` hands every FAILED trial back
to the oracle's retry queue, except those that diverged (their loss became
NaN or inf, `lrdecay.tuning.evidence.verdict.diverged`): that is the
model's answer and stays FAILED as evidence. A trial that fails for a bug
in the model fails again at once, with the same message.

`lrdecay.tuning.evidence.failures` lists those that remain at the end, so
that the search says so and the command exits 1.
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.tuning.evidence.failures import failed_not_diverged


def queue_failed(oracle: Any) -> list[str]:
    """Queue a resumed search's FAILED, not diverged trials to run again.

    Only an oracle of this process (a single search or the chief); a
    worker's oracle is the chief's, over gRPC. Returns the trial ids.
    """
    if not isinstance(oracle, keras_tuner.Oracle):
        return []
    trial_ids = [str(t.trial_id) for t in failed_not_diverged(oracle.trials.values())]
    for trial_id in reversed(trial_ids):
        keras_tuner_compat.queue_again(oracle, trial_id)
    return trial_ids

"""Trials that FAILED for a cause not the model's run again on a resume.

KerasTuner keeps a FAILED trial FAILED for good: a trial that failed on a
damaged file, a lost connection to the tracking server or the chief, or a
killed worker would never be trained, however often the same search is run
again. When a search resumes, `queue_failed` hands every FAILED trial back
to the oracle's retry queue, except those that diverged (their loss became
NaN or inf, `lrdecay.tuning.evidence.verdict.diverged`): that is the
model's answer and stays FAILED as evidence. A trial that fails for a bug
in the model fails again at once, with the same message.

`interrupted(trials)` lists the FAILED trials of a search that did not
diverge, so that the search can say so and the command exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras_tuner

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.tuning.evidence.verdict import diverged


def failed_not_diverged(trials: Iterable[Any]) -> list[Any]:
    """The FAILED trials among `trials` that did not diverge, by trial id."""
    found = [
        trial
        for trial in trials
        if str(getattr(trial, "status", "")) == "FAILED" and not diverged(trial)
    ]
    return sorted(found, key=lambda trial: str(trial.trial_id))


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


def failures_note(trials: Iterable[Any]) -> str | None:
    """One line on a search's FAILED trials that did not diverge; `None`: none.

    Names them and their last error line, and says that running the same
    search again re-runs them.
    """
    failed = failed_not_diverged(trials)
    if not failed:
        return None
    first = failed[0]
    lines = [line.strip() for line in str(first.message or "").splitlines()]
    cause = next((line for line in reversed(lines) if line), "no message")
    names = ", ".join(str(trial.trial_id) for trial in failed)
    return (
        f"{len(failed)} trial(s) FAILED for a cause that is not the model's "
        f"(trial {names}; {cause}); run the same command again to re-run them."
    )

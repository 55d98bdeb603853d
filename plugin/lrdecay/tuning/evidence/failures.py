"""A search's trials that FAILED for a cause that is not the model's.

A trial whose loss became NaN or inf (`verdict.diverged`) FAILED because of
the model and its rate: that is evidence, and stays. Any other FAILED trial
(a damaged file, a lost connection to the tracking server or the chief, a
killed worker, a bug that fails again at once) is not an answer:
`lrdecay.tuning.pipeline.rerun` runs it again when the search resumes, and
the search says so at its end (`failures_note`: an `EvidenceWarning` from
`search()`, exit code 1 from `lrdecay search`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lrdecay.tuning.evidence.verdict import diverged


def failed_not_diverged(trials: Iterable[Any]) -> list[Any]:
    """The KerasTuner trials that FAILED and did not diverge, by trial id."""
    found = [
        trial
        for trial in trials
        if str(getattr(trial, "status", "")) == "FAILED" and not diverged(trial)
    ]
    return sorted(found, key=lambda trial: str(trial.trial_id))


def failures_note(trials: Iterable[Any]) -> str | None:
    """One line on the FAILED trials that did not diverge; `None`: none.

    Names them and the first one's last error line, and says that running
    the same search again re-runs them.
    """
    failed = failed_not_diverged(trials)
    if not failed:
        return None
    lines = [line.strip() for line in str(failed[0].message or "").splitlines()]
    cause = next((line for line in reversed(lines) if line), "no message")
    names = ", ".join(str(trial.trial_id) for trial in failed)
    return (
        f"{len(failed)} trial(s) FAILED for a cause that is not the model's "
        f"(trial {names}; {cause}); run the same search again to re-run them."
    )

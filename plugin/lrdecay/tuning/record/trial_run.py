"""The child run of one trial execution, and how it ends."""

from __future__ import annotations

import warnings
from typing import Any

from lrdecay.tuning.record import runs as layout


def warn_and_go_on(what: str, error: BaseException) -> None:
    warnings.warn(
        f"lrdecay: {what} failed ({type(error).__name__}: {error}); the search "
        "goes on.",
        stacklevel=3,
    )


class TrialRun:
    """The child run of one trial execution, and how it ends.

    `owner` is the `SearchRuns` that opened it (`tracker.SearchRuns.trial_run`).
    """

    def __init__(self, owner: Any, logger: Any, trial_id: str | None) -> None:
        self.owner = owner
        self.logger = logger
        self.trial_id = trial_id

    def end(
        self,
        status: str,
        error: BaseException | str | None,
        trial_status: str | None = None,
    ) -> None:
        self.logger.finish(status, error)
        self.owner.sending(self.logger)
        run_id = self.logger.run_id
        if run_id is None or trial_status is None:
            return
        try:
            # The trial's word replaces the fit's (FINISHED -> COMPLETED).
            self.owner.client.set_tag(run_id, layout.STATUS_TAG, trial_status)
        except Exception as failure:
            warn_and_go_on("tagging the trial's run", failure)

    def kill(self, reason: str) -> None:
        """End the run KILLED, its status tag KILLED, whatever it got to.

        For a trial the search stopped in: its fit may have ended the run,
        or been interrupted while ending it. The trial re-runs on resume.
        """
        self.logger.wait_for_artifacts()
        self.end("KILLED", reason, trial_status="KILLED")  # a no-op if ended
        run_id = self.logger.run_id
        if run_id is None:
            return
        client = self.owner.client
        client.set_tag(run_id, layout.STATUS_TAG, "KILLED")
        if client.get_run(run_id).info.status != "KILLED":
            client.set_terminated(run_id, "KILLED")


class RecordingTrialRun(TrialRun):
    """Records the run id once the logger has opened it."""

    def end(
        self,
        status: str,
        error: BaseException | str | None,
        trial_status: str | None = None,
    ) -> None:
        run_id = self.logger.run_id
        if self.trial_id is not None and run_id is not None:
            self.owner.trial_run_ids.setdefault(self.trial_id, []).append(run_id)
        super().end(status, error, trial_status)

"""The child run of one trial execution, and how it ends."""

from __future__ import annotations

import time
import warnings
from typing import Any

from mlflow.entities import RunTag

from lrdecay.tracking.guard import tag_value
from lrdecay.tuning.record import runs as layout


def warn_and_go_on(what: str, error: BaseException) -> None:
    warnings.warn(
        f"lrdecay: {what} failed ({type(error).__name__}: {error}); the search "
        "goes on.",
        stacklevel=3,
    )


def end_search_run(client: Any, run_id: str, error: BaseException) -> None:
    """End a search's parent run KILLED (an interrupt) or FAILED, with the error.

    A store busy for a moment is tried again (three times, a second apart)
    before the run is given up, with a warning: the search goes on ending.
    """
    status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
    for attempt in range(3):
        try:
            client.set_tag(
                run_id, layout.ERROR_TAG, tag_value(f"{type(error).__name__}: {error}")
            )
            client.set_tag(run_id, layout.STATUS_TAG, status)
            client.set_terminated(run_id, status)
            return
        except Exception as failure:
            if attempt == 2:
                warn_and_go_on("ending the search's run", failure)
            else:
                time.sleep(1.0)


def tag_trial_end(client: Any, run_id: str, trial: Any) -> None:
    """Write KerasTuner's final status of `trial` (and its score) on a run of it.

    One write for both (each is a store transaction, ~10 ms with SQLite). A
    trial KerasTuner failed after its fit finished (a NaN objective, an
    objective the logs lack) ends its run FAILED, with the trial's message.
    """
    status = str(trial.status)
    tags = [RunTag(layout.STATUS_TAG, status)]
    score = trial.score
    if score is not None and status == "COMPLETED":
        tags.append(RunTag(layout.SCORE_TAG, repr(float(score))))
    client.log_batch(run_id, tags=tags)
    if status == "FAILED" and client.get_run(run_id).info.status == "FINISHED":
        message = tag_value(trial.message or "trial FAILED")
        client.set_tag(run_id, layout.ERROR_TAG, message)
        client.set_terminated(run_id, "FAILED")


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
        if self.logger.end_status_tags.get(status) == trial_status:
            return  # the fit's end wrote it (`trial_logger.TrialLogger`)
        # A fit stopped while its end was being sent (a Ctrl-C inside the
        # logger's `finish`) still sends it, its COMPLETED among it: the
        # trial's word goes after, not beside it (the later write wins).
        self.logger.wait_for_artifacts()
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
        # `end` ends the fit's run if the stop left it open, and waits for its
        # sends before the KILLED goes in.
        self.end("KILLED", reason, trial_status="KILLED")
        client = self.owner.client
        known = self.logger.run_id
        for run_id in [known] if known is not None else self._opened_unseen():
            client.set_tag(run_id, layout.STATUS_TAG, "KILLED")
            if client.get_run(run_id).info.status != "KILLED":
                client.set_terminated(run_id, "KILLED")

    def _opened_unseen(self) -> list[str]:
        """The run the fit created before the logger held its id.

        A signal can land while the fit's run is being created (inside the
        store's `create_run`, or before its id reaches the logger): the run
        exists, RUNNING, and nothing here knows its id. It is found by its
        trial's tags: one process runs a trial execution at a time.
        """
        owner, tags = self.owner, self.logger.tags
        trial_id, execution = tags.get(layout.TRIAL_TAG), tags.get(layout.EXECUTION_TAG)
        if owner.parent_run_id is None or trial_id is None:
            return []
        runs = layout.trial_runs(
            owner.client,
            owner.experiment_id,
            owner.parent_run_id,
            status="RUNNING",
            trial_id=trial_id,
        )
        return [
            run.info.run_id
            for run in runs
            if run.data.tags.get(layout.EXECUTION_TAG) == execution
        ]


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

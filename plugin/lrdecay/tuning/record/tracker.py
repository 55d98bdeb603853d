"""The MLflow runs of a search: one parent run, one child run per trial execution.

`SearchRuns` finds (on a resume) or creates the search's parent run, opens an
`lrdecay.MlflowLogger` child run for each trial execution, writes KerasTuner's
final status onto it, and at the end tags the best trial, logs the comparison
plots and closes the parent. Every tag name and lookup comes from
`lrdecay.tuning.record.runs`, which documents the layout.

A Hyperband trial continuing another is tagged `lrdecay.bracket`,
`lrdecay.round`, `lrdecay.continued_from` (trial id) and
`lrdecay.continued_from_run` (that trial's run). A resumed search re-uses
the parent, ends KILLED the runs a killed search left RUNNING, and re-runs
the interrupted trial in a new run.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay.tracking import store, store_setup
from lrdecay.tracking import uri as tracking_uri_module
from lrdecay.tracking.guard import tag_value
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.evidence.result import objective_name
from lrdecay.tuning.record import comparison, project_files, search_summary
from lrdecay.tuning.record import runs as layout
from lrdecay.tuning.record.range_test_run import log_range_test, now_ms
from lrdecay.tuning.record.trial_run import (
    RecordingTrialRun,
    TrialRun,
    end_search_run,
    tag_trial_end,
    warn_and_go_on,
)
from lrdecay.tuning.searchspace.space import DecaySpace, ResolvedDecay


def _is_distributed() -> bool:
    return "KERASTUNER_ORACLE_IP" in os.environ


class SearchRuns:
    """The parent run of a search and the child runs of its trials."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        parent_run_id: str | None,
        project_name: str | None,
        logger_options: Mapping[str, Any] | None = None,
        new_parent: bool = False,
        parent_experiment_id: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri)
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.project_name = project_name
        # A parent this search created has no stale runs; the parent's
        # experiment, when known, is where the trials' runs go.
        self.new_parent = new_parent
        self.parent_experiment_id = parent_experiment_id
        self.logger_options = {
            key: value
            for key, value in (logger_options or {}).items()
            if key in layout.LOGGER_OPTIONS
        }
        # trial id -> run ids of its current attempt (one per execution)
        self.trial_run_ids: dict[str, list[str]] = {}
        # Loggers whose artifacts may still be on their way.
        self._sending: list[Any] = []
        # This process's runs of the trials KerasTuner has not ended yet:
        # when the search stops, they end KILLED.
        self._trial_runs: list[TrialRun] = []
        # Whether this process ended the parent run (a second end is a no-op).
        self._parent_ended = False
        # The comparison plots being drawn; whether the summary was logged.
        self._drawing: comparison.Drawing | None = None
        self._summarized = False

    # -- finding the parent -----------------------------------------------------

    @staticmethod
    def _resolve(
        tracking_uri: str | None, experiment_name: str | None
    ) -> tuple[str, Any, str]:
        uri = store.absolute_uri(tracking_uri or mlflow.get_tracking_uri())
        client = store_setup.client(uri)  # created or upgraded once, under a lock
        experiment_id = layout.experiment_id(client, experiment_name)
        assert experiment_id is not None  # created when missing
        return uri, client, experiment_id

    @classmethod
    def for_search(
        cls,
        *,
        options: Mapping[str, Any],
        project_name: str,
        project_path: str,
        resuming: bool,
        settings: Mapping[str, Any],
        space: DecaySpace,
    ) -> SearchRuns:
        """The runs of a `search()`: find (resume) or create the parent run.

        Args:
            options: Dict. `search()`'s `tracking` options: `tracking_uri`,
                `experiment_name`, `parent_run_id` (an existing run to log
                under) and `MlflowLogger` options.
            project_name, project_path: The search's KerasTuner project.
            resuming: Bool. Whether KerasTuner reloads the project; else
                a new parent run is created (unless `parent_run_id`).
            settings: The search's settings, logged as the parent's params.
            space: The `DecaySpace`, logged as a param and an artifact.
        """
        uri, client, experiment_id = cls._resolve(
            options.get("tracking_uri"), options.get("experiment_name")
        )
        if options.get("parent_run_id") is not None:
            parent = layout.live_run(client, str(options["parent_run_id"]))
            if parent is None:
                raise ValueError(
                    "No MLflow run to log the search under: "
                    f"parent_run_id={options['parent_run_id']!r} at "
                    f"{tracking_uri_module.redact(uri)}."
                )
            parent_run_id = str(parent.info.run_id)
        else:
            # Under a lock: two processes starting it at once make one parent.
            parent_run_id, parent = layout.claim_parent_run(
                client,
                experiment_id,
                project_name,
                project_path,
                uri,
                reuse=resuming,
                since=project_files.process_started(),
            )
        if parent is not None:
            experiment_id = parent.info.experiment_id
            client.update_run(parent_run_id, status="RUNNING")
            if layout.STATUS_TAG in parent.data.tags:  # how it ended before
                client.delete_tag(parent_run_id, layout.STATUS_TAG)
            resumes = int(parent.data.tags.get(layout.RESUMES_TAG, "0")) + 1
            client.set_tag(parent_run_id, layout.RESUMES_TAG, str(resumes))
        project_files.write_marker(project_path, parent_run_id, uri)
        runs = cls(
            uri, experiment_id, parent_run_id, project_name, options,
            new_parent=parent is None, parent_experiment_id=experiment_id,
        )  # fmt: skip
        runs._log_search_settings(parent, settings, space)
        return runs

    @classmethod
    def for_hypermodel(cls, options: Mapping[str, Any], tuner: Any) -> SearchRuns:
        """The runs of a `DecayHyperModel` under a stock tuner (lazily)."""
        uri, client, experiment_id = cls._resolve(
            options.get("tracking_uri"), options.get("experiment_name")
        )
        parent_run_id = options.get("parent_run_id")
        project_name = getattr(tuner, "project_name", None)
        known = None  # the user's parent may be in another experiment
        if parent_run_id is None and tuner is not None:
            project_path = os.path.join(str(tuner.directory), str(project_name))
            parent_run_id, parent = layout.claim_parent_run(
                client, experiment_id, str(project_name), project_path, uri, reuse=True
            )
            if parent is not None:
                experiment_id = parent.info.experiment_id
            known = experiment_id  # the parent's, found or made here
        return cls(
            uri, experiment_id, parent_run_id, project_name, options,
            parent_experiment_id=known,
        )  # fmt: skip

    def _log_search_settings(
        self, parent: Any | None, settings: Mapping[str, Any], space: DecaySpace
    ) -> None:
        assert self.parent_run_id is not None
        params = {
            key: str(value)
            for key, value in {
                **settings,
                "space": json.dumps(space.get_config()),
            }.items()
        }
        logged = dict(parent.data.params) if parent is not None else {}
        changed = {k: v for k, v in params.items() if k in logged and logged[k] != v}
        if changed:
            warnings.warn(
                "lrdecay: resuming the search with settings that differ from its "
                f"MLflow run; the run keeps the first ones. Changed: {changed}",
                stacklevel=3,
            )
        new = [Param(k, v[:6000]) for k, v in params.items() if k not in logged]
        if new:
            self.client.log_batch(self.parent_run_id, params=new)
        self.client.log_dict(
            self.parent_run_id, space.get_config(), "lrdecay/search_space.json"
        )

    def tag_search(self, tags: Mapping[str, str]) -> None:
        """Set `tags` on the parent run (e.g. why prefixes are not shared)."""
        if self.parent_run_id is None:
            return
        try:
            for key, value in tags.items():
                self.client.set_tag(self.parent_run_id, key, tag_value(value))
        except Exception as error:
            warn_and_go_on("tagging the search's run", error)

    def log_range_test(self, result: Any) -> None:
        """Record `initial_lr="auto"`'s LR range test in the parent run."""
        if self.parent_run_id is None:
            return
        try:
            log_range_test(self.client, self.parent_run_id, result)
        except Exception as error:
            warn_and_go_on("recording the LR range test", error)

    # -- trials -----------------------------------------------------------------

    def _children(self) -> list[Any]:
        if self.parent_run_id is None:
            return []
        return layout.trial_runs(self.client, self.experiment_id, self.parent_run_id)

    def close_stale_runs(self, tuner: Any) -> int:
        """Close the runs a killed search left open; returns how many.

        Runs still RUNNING under the parent are from a process that died (a
        `kill -9`, a crash): they become KILLED. A FINISHED run of a trial
        KerasTuner had not ended when the process died (it re-runs) is
        superseded by the re-run, so it becomes KILLED too.
        """
        if self.parent_run_id is None or self.new_parent or _is_distributed():
            return 0
        oracle = tuner.oracle
        rerun = {
            trial_id
            for trial_id in map(str, keras_tuner_compat.retry_queue(oracle))
            if oracle.trials[trial_id].status != "INVALID"
        } | {
            trial_id
            for trial_id, trial in oracle.trials.items()
            if trial.status == "RUNNING"
        }
        ended = layout.end_stale_runs(
            self.client,
            self.experiment_id,
            self.parent_run_id,
            reason=(
                "The search process ended without closing this run (killed); "
                "the trial re-runs when the search resumes."
            ),
            superseded=rerun,
        )
        return len(ended)

    def _run_id_of(self, trial_id: str) -> str | None:
        run_ids = self.trial_run_ids.get(trial_id)
        if run_ids:
            return run_ids[0]
        runs = [
            run
            for run in self._children()
            if run.data.tags.get(layout.TRIAL_TAG) == trial_id
            and run.info.status != "KILLED"
        ]
        runs.sort(key=lambda run: run.info.start_time, reverse=True)
        return runs[0].info.run_id if runs else None

    def trial_run(
        self,
        context: Any,
        resolved: ResolvedDecay,
        epochs: int,
        extra_tags: Mapping[str, str] | None = None,
    ) -> TrialRun:
        """A new `TrialRun` (an `MlflowLogger` child run) for one execution."""
        from lrdecay.tuning.record.trial_logger import TrialLogger

        trial_id = context.trial_id
        values = context.hyperparameters
        # No status tag while it runs: MLflow's run status says RUNNING.
        tags = {layout.ROLE_TAG: layout.TRIAL_ROLE}
        tags.update(extra_tags or {})
        if self.project_name is not None:
            tags[layout.SEARCH_TAG] = str(self.project_name)
        seed = context.seed
        run_name = labels.trial_label(
            resolved.kind,
            resolved.settings,
            hyperparameters=values,
            fixed=search_summary.fixed_hyperparameters(context.tuner),
            seed=seed,
            execution=context.execution or 0,
        )
        if trial_id is not None:
            tags[layout.TRIAL_TAG] = trial_id
            tags[layout.EXECUTION_TAG] = str(context.execution)
        for key in layout.HYPERBAND_KEYS:
            if f"tuner/{key}" in values:
                tags[f"lrdecay.{key}"] = str(values[f"tuner/{key}"])
        if context.continued_from is not None:
            tags[layout.CONTINUED_FROM_TAG] = context.continued_from
            try:
                continued_run = self._run_id_of(context.continued_from)
            except Exception as error:
                warn_and_go_on("finding the continued trial's run", error)
                continued_run = None
            if continued_run is not None:
                tags[layout.CONTINUED_FROM_RUN_TAG] = continued_run
        params: dict[str, Any] = dict(values)
        if resolved.decay_epochs is not None:  # the control never decays
            params[layout.DECAY_EPOCHS_PARAM] = resolved.decay_epochs
        params["epoch_budget"] = epochs
        if seed is not None:
            # The execution's own seed: `keras.utils.set_random_seed(seed)`
            # before building the model, and array data read through
            # `EpochOrderedData(x, y, batch_size, seed)`, repeat this run.
            params["seed"] = seed
        logger = TrialLogger(
            experiment_id=self.parent_experiment_id,
            tracking_uri=self.tracking_uri,
            run_name=run_name,
            parent_run_id=self.parent_run_id,
            tags=tags,
            params=params,
            # The plot is drawn while the next trial trains.
            artifacts_in_background=True,
            **self.logger_options,
        )
        if trial_id is not None:
            attempt = self.trial_run_ids.setdefault(trial_id, [])
            if context.execution == 0:
                attempt.clear()
        trial_run = RecordingTrialRun(self, logger, trial_id)
        if trial_id is not None:
            self._trial_runs.append(trial_run)
        return trial_run

    def trial_ended(self, trial: Any) -> None:
        """Write KerasTuner's final status (and score) onto the trial's runs."""
        trial_id = str(trial.trial_id)
        self._trial_runs = [run for run in self._trial_runs if run.trial_id != trial_id]
        for run_id in self.trial_run_ids.get(trial_id, []):
            try:
                tag_trial_end(self.client, run_id, trial)
            except Exception as error:
                warn_and_go_on("updating the trial's run", error)

    # -- the end ----------------------------------------------------------------

    def sending(self, logger: Any) -> None:
        """Keep `logger` until its artifacts are sent (`wait_for_artifacts`).

        A trial's artifacts are drawn while the next trial trains; the
        previous trial's are sent by the time this one ended (else this
        waits for them), so one logger (and its model) is kept at most.
        """
        self.wait_for_artifacts()
        self._sending = [logger]

    def wait_for_artifacts(self) -> None:
        """Wait until every trial's artifacts (and the comparison plots) are in."""
        sending, self._sending = self._sending, []
        for logger in sending:
            logger.wait_for_artifacts()
        drawing, self._drawing = self._drawing, None
        if drawing is not None:
            drawing.join()

    def log_epoch_counts(self, trained: int, independent: int) -> None:
        """The parent's `epochs_trained` and `epochs_independent` metrics."""
        if self.parent_run_id is None:
            return
        try:
            now = now_ms()
            self.client.log_batch(
                self.parent_run_id,
                metrics=[
                    Metric(layout.EPOCHS_TRAINED_METRIC, trained, now, 0),
                    Metric(layout.EPOCHS_INDEPENDENT_METRIC, independent, now, 0),
                ],
            )
        except Exception as error:
            warn_and_go_on("logging the epoch counts", error)

    def tag_data(self, exact: bool, reason: str | None) -> None:
        """Tag the parent with whether the data are exact, and why not."""
        if self.parent_run_id is None:
            return
        tags = [RunTag(layout.DATA_EXACT_TAG, str(bool(exact)).lower())]
        if reason is not None:
            tags.append(RunTag(layout.DATA_REASON_TAG, tag_value(reason)))
        try:
            self.client.log_batch(self.parent_run_id, tags=tags)
        except Exception as error:
            warn_and_go_on("tagging the search's data", error)

    def search_interrupted(self, error: BaseException) -> None:
        """End the runs of the trials the search stopped in, then the parent.

        After an interrupt, each run this process opened for a trial
        KerasTuner did not end becomes KILLED (`lrdecay.status=KILLED`): the
        trial re-runs on resume. The parent ends KILLED after an interrupt,
        FAILED after an error. Once only: a second call (an outer handler of
        the same error) or one after `search_ended` does nothing; a call that
        was itself stopped half-way is done again whole by the next. A write
        the stop cut short lets go of its lock first; a busy store is retried.
        """
        if self._parent_ended:
            return
        store.release_stopped_calls(error)
        try:
            self.wait_for_artifacts()
        except Exception as failure:
            warn_and_go_on("uploading the trials' plots", failure)
        reason = f"{type(error).__name__}: {error}" if str(error) else ""
        if not isinstance(error, KeyboardInterrupt):
            self._trial_runs = []
        while self._trial_runs:
            try:
                self._trial_runs[0].kill(
                    f"interrupted ({reason or type(error).__name__})"
                )
            except Exception as failure:
                warn_and_go_on("ending the stopped trial's run", failure)
            self._trial_runs.pop(0)
        if self.parent_run_id is not None:
            end_search_run(self.client, self.parent_run_id, error)
        self._parent_ended = True

    def end_parent(self) -> None:
        """After `search_ended`: end the parent FINISHED once its plots are in.

        Once only; not when the summary could not be logged (the store failed).
        """
        drawing, self._drawing = self._drawing, None
        if self.parent_run_id is None or self._parent_ended:
            return
        try:
            if drawing is not None:
                drawing.join()
            if self._summarized:
                self.client.set_tag(self.parent_run_id, layout.STATUS_TAG, "FINISHED")
                self.client.set_terminated(self.parent_run_id, "FINISHED")
                self._parent_ended = True
        except Exception as error:
            warn_and_go_on("summarizing the search in MLflow", error)

    def search_ended(
        self, tuner: Any, trials: Sequence[Any], best: Any | None, end: bool = True
    ) -> list[Any]:
        """Tag the best trial, plot every trial, end the parent run.

        The plots are drawn in a thread while the runs are tagged; with
        `end=False` the parent stays open, the plots drawn beside what the
        caller does next, until `end_parent()`.

        Returns `trials` (`TrialSummary`s) with their `run_id` filled in.
        """
        self.wait_for_artifacts()
        if self.parent_run_id is None:
            return list(trials)
        try:
            children = self._children()
        except Exception as error:
            warn_and_go_on("reading the trials' runs", error)
            return list(trials)
        by_trial = search_summary.runs_by_trial(children)
        best_id = None if best is None else str(best.trial_id)
        objective = objective_name(tuner)
        try:
            self._drawing = comparison.Drawing(
                self.client, self.parent_run_id, by_trial, objective
            )
            search_summary.tag_trial_runs(self.client, tuner, by_trial, best_id)
            search_summary.save_view(
                self.client, self.experiment_id, self.parent_run_id, tuner, objective
            )
            search_summary.log_summary(
                self.client, self.parent_run_id, trials, best, by_trial
            )
            self._summarized = True
        except Exception as error:
            warn_and_go_on("summarizing the search in MLflow", error)
        if end:
            self.end_parent()
        return search_summary.with_run_ids(trials, by_trial)

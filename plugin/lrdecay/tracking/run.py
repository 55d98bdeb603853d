"""How a fit's MLflow run starts and ends.

`TrackedRun.open` finds or creates the run (resumed, the active one, a child,
or a new one) and starts its sender; `finish` sends what is left, uploads the
artifacts and sets FINISHED / FAILED / KILLED on a run the logger created. If
the server does not take the data, it goes to a local file for
`lrdecay replay FILE`. Open runs are known to `lrdecay.tracking.backstop`,
which ends them at process exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, RunStatus, RunTag

from lrdecay._compat.mlflow import active_experiment_id, resolve_tags
from lrdecay._compat.python import Thread
from lrdecay.tracking import backstop, plots, sender, store, uri
from lrdecay.tracking import tags as tags_module
from lrdecay.tracking.guard import error_text, guard
from lrdecay.tracking.recorder import FitRecorder, now_ms


class TrackedRun:
    """One fit's run: its store, sender, recorder, and how it ends.

    Args:
        logger: The `MlflowLogger` whose settings (and model) it follows;
            typed `Any` since `lrdecay.tracking.logger` imports this module.
    """

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.tracking_uri = store.absolute_uri(
            logger.tracking_uri or mlflow.get_tracking_uri()
        )
        self.store: Any = None
        self.sink: sender.Sink | None = None
        self.offline = sender.Pending()  # the data, when there is no run to send to
        self.run_id: str | None = None
        self.owns_run = False
        self.header: dict[str, Any] = {}
        self.finished = False
        self.offline_file: Path | None = None
        self.recorder = FitRecorder(logger.model, self)
        self._finish_lock = threading.Lock()
        # With `logger.artifacts_in_background`: the thread sending them.
        self.artifacts_thread: Thread | None = None

    # -- start ------------------------------------------------------------------
    @classmethod
    def open(cls, logger: Any) -> TrackedRun:
        """Start the run of the fit now beginning (or buffer for the file)."""
        run = cls(logger)
        try:
            run._start()
        except Exception as error:
            # No run to log into (server down, bad URI): keep everything in
            # memory; `finish` writes it to the local file for `replay`.
            warnings.warn(
                f"lrdecay.MlflowLogger could not start an MLflow run at "
                f"{uri.redact(run.tracking_uri)} ({type(error).__name__}: "
                f"{uri.redact_text(str(error))}); training "
                "goes on and the run's data will be written to a local file.",
                stacklevel=4,
            )
            run.run_id = None
            run.sink = None
        # From here on nothing raises: the run is open and must be ended.
        backstop.register(run)
        guard(run._log_fit_params, what="logging the fit's params")
        return run

    def _log_fit_params(self) -> None:
        recorder, logger = self.recorder, self.logger
        recorder.add_params(recorder.fit_params(logger.params, logger.extra_params))

    def _start(self) -> None:
        logger = self.logger
        self.store = store.open_store(
            self.tracking_uri, timeout=logger.request_timeout, max_retries=1
        )
        active = mlflow.active_run()
        if active is not None and logger.tracking_uri not in (
            None, mlflow.get_tracking_uri(),
        ):  # fmt: skip
            active = None  # the user's run lives in another store
        tags = dict(logger.tags)
        if logger.resume_run_id is not None:
            run_id = logger.resume_run_id
            experiment_id = self.store.get_run(run_id).info.experiment_id
        elif active is not None and not logger.nested and logger.parent_run_id is None:
            run_id = active.info.run_id
            experiment_id = active.info.experiment_id
        else:
            parent_id = logger.parent_run_id
            if parent_id is None and active is not None:
                parent_id = active.info.run_id
            run_id, experiment_id = self._create(parent_id)
            tags = {}  # created with the run
        self.run_id = run_id
        self.header.setdefault("experiment_id", experiment_id)
        self.header["start_time"] = now_ms()
        self.sink = sender.Sink(self.store, run_id, logger.flush_interval)
        if logger.log_plots:
            # Import matplotlib while training runs, not in the end-of-run path.
            self.sink.before_first_send = plots.warm_up
        if tags:
            self.sink.add_tags(tags)
        self.sink.start()

    def _create(self, parent_id: str | None) -> tuple[str, str]:
        """Create the logger's own run (a child of `parent_id` if given)."""
        logger = self.logger
        tags = dict(logger.tags)
        experiment_id: str | None = logger.run_experiment_id
        if parent_id is not None:
            tags["mlflow.parentRunId"] = parent_id
            if experiment_id is None and logger.experiment_name is None:
                experiment_id = self.store.get_run(parent_id).info.experiment_id
        if experiment_id is None:
            experiment_id = self._experiment_id()
        if logger.run_name is not None:
            tags["mlflow.runName"] = logger.run_name
        tags = resolve_tags(tags)
        self.header = {"experiment_id": experiment_id, "run_tags": tags}
        created = self.store.create_run(
            experiment_id=experiment_id,
            user_id=tags.get("mlflow.user", "unknown"),
            start_time=now_ms(),
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
            run_name=logger.run_name,
        )
        self.owns_run = True
        return created.info.run_id, experiment_id

    def _experiment_id(self) -> str:
        name = self.logger.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        self.header["experiment_name"] = name
        if name:
            return store.experiment_by_name(self.store, name)
        env_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        if env_id:
            return env_id
        if self.logger.tracking_uri in (None, mlflow.get_tracking_uri()):
            active_id = active_experiment_id()
            if active_id:
                return active_id
        return "0"  # MLflow's default experiment

    # -- data (the recorder's output) -------------------------------------------
    def add_params(self, params: dict[str, str]) -> None:
        if self.sink is not None:
            self.sink.add_params(params)
        else:
            self.offline.params.update(params)

    def add_tags(self, tags: dict[str, str]) -> None:
        if self.sink is not None:
            self.sink.add_tags(tags)
        else:
            self.offline.tags.update(tags)

    def add_metrics(self, metrics: list[Metric]) -> None:
        if self.sink is not None:
            self.sink.add_metrics(metrics)
        else:
            self.offline.metrics.extend(metrics)

    # -- end ----------------------------------------------------------------------
    def finish(self, status: str, error: BaseException | str | None) -> None:
        """Send everything, upload the artifacts, end the run if it is ours."""
        with self._finish_lock:
            if self.finished:
                return
            self.finished = True
        try:
            self._finish(status, error)
        finally:
            backstop.unregister(self)

    def _finish(self, status: str, error: BaseException | str | None) -> None:
        recorder = self.recorder
        if recorder.history:
            # Reductions made by a plateau rule listed after us, at the last epoch.
            self.add_metrics(recorder.new_reductions(now_ms()))
        # How the logger ended its run, beside MLflow's own status, in the
        # logger's words (a search's trial: KerasTuner's COMPLETED).
        tags = {tags_module.STATUS_TAG: self.logger.end_status_tags.get(status, status)}
        text = error_text(error)
        if text:
            tags[tags_module.ERROR_TAG] = text
        recorder.add_tags(tags)
        if self.sink is None:
            self._send_artifacts(self.offline, status, now_ms(), ended=False)
            return
        if not (self.logger.artifacts_in_background and self.run_id is not None):
            self.sink.flush(0.0, final=True)  # start sending while drawing
            self._send_artifacts(None, status, 0, ended=False)
            return
        # The metrics and the end status now; the artifacts (a plot: tenths
        # of a second) in a thread, while the caller goes on. A process
        # killed meanwhile loses only the artifacts.
        left = self.sink.close(self.logger.give_up_after)
        end_time = now_ms()
        if left or not self._end_run(status, end_time):
            self._send_artifacts(left, status, end_time, ended=False)
            return
        thread = Thread(
            target=self._send_artifacts,
            args=(sender.Pending(), status, end_time, True),
            name="lrdecay-artifacts",
        )
        thread.start()
        self.artifacts_thread = thread  # once started: a stop between is joinable

    def wait_for_artifacts(self, timeout: float | None = None) -> None:
        """Wait until the artifacts drawn in the background are sent.

        And, for a run whose `finish` was stopped half-way (a Ctrl-C while
        it closed the sender), until the sender has sent what it held (its
        end status among it): what is written to the run after this call
        is not overwritten by a late send.
        """
        thread = self.artifacts_thread
        if thread is not None:
            thread.join(timeout)
        if self.finished and thread is None and self.sink is not None:
            self.sink.close(self.logger.give_up_after)

    def _send_artifacts(
        self, left: sender.Pending | None, status: str, end_time: int, ended: bool
    ) -> None:
        """Draw the artifacts and upload them (and end the run unless `ended`).

        `left`: what the store did not take, or `None` to close the sink
        here (while the artifacts are drawn). What cannot be sent goes to
        the local file.
        """
        recorder = self.recorder
        artifact_dir = Path(tempfile.mkdtemp(prefix="lrdecay-artifacts-"))
        try:
            # The run's name says what it holds (a search's trial: its
            # setting and seed, `step epochs_drop=10 seed=3`).
            title = self.logger.run_name or f"{recorder.decay_kind} decay" + (
                f" - run {self.run_id[:8]}" if self.run_id else ""
            )
            guard(
                recorder.write_artifacts, artifact_dir, title, self.logger.log_plots,
                what="drawing the artifacts",
            )  # fmt: skip
            if left is None:
                assert self.sink is not None
                left = self.sink.close(self.logger.give_up_after)
                end_time = now_ms()
            sent = not left and self.run_id is not None
            if sent:
                sent = self._upload(artifact_dir) and (
                    ended or self._end_run(status, end_time)
                )
            if not sent:
                self._spill(left, artifact_dir, status, end_time)
        finally:
            shutil.rmtree(artifact_dir, ignore_errors=True)

    def _upload(self, artifact_dir: Path) -> bool:
        """The artifacts. False if the server failed meanwhile."""
        assert self.run_id is not None
        try:
            if any(artifact_dir.iterdir()):
                client = mlflow.MlflowClient(self.tracking_uri)
                bounded = (
                    store.bounded_http_env(self.logger.request_timeout, max_retries=1)
                    if store.is_http(self.tracking_uri)
                    else contextlib.nullcontext()
                )
                with bounded:
                    client.log_artifacts(self.run_id, str(artifact_dir))
        except Exception as error:
            self.header["upload_error"] = (
                f"{type(error).__name__}: {uri.redact_text(str(error))}"
            )
            return False
        return True

    def _end_run(self, status: str, end_time: int) -> bool:
        """Set the run's end status if the logger created it; False if it failed."""
        assert self.run_id is not None
        try:
            if self.owns_run:
                self.store.update_run_info(
                    self.run_id, RunStatus.from_string(status), end_time, None
                )
        except Exception as error:
            self.header["upload_error"] = (
                f"{type(error).__name__}: {uri.redact_text(str(error))}"
            )
            return False
        return True

    def _spill(
        self, left: sender.Pending, artifact_dir: Path, status: str, end_time: int
    ) -> None:
        """Write what MLflow did not take to a file, and say how to replay it."""
        path = self._spill_path()
        artifacts = path.with_name(path.stem + "-artifacts")
        if any(artifact_dir.iterdir()):
            shutil.copytree(artifact_dir, artifacts)
        header = self._spill_header(status, end_time)
        header["artifacts"] = artifacts.name if artifacts.exists() else None
        reason = (
            self.sink.last_error if self.sink is not None and self.sink.last_error
            else header.get("upload_error") or "no run could be created"
        )  # fmt: skip
        sender.write_spill(path, header, left)
        self.offline_file = path
        default = store.absolute_uri(mlflow.get_tracking_uri())
        option = "" if self.tracking_uri == default else (
            f" --tracking-uri {uri.without_credentials(self.tracking_uri)}"
        )  # fmt: skip
        warnings.warn(
            f"lrdecay.MlflowLogger: MLflow at {uri.redact(self.tracking_uri)} did "
            f"not take the data of run {self.run_id or '(not created)'} "
            f"({uri.redact_text(str(reason))}). Nothing is "
            f"lost: {len(left.metrics)} metric points, {len(left.params)} params "
            f"and {len(left.tags)} tags are saved in {path}. Re-import them with:\n"
            f"    lrdecay replay {path}{option}",
            stacklevel=2,
        )

    def _spill_path(self) -> Path:
        directory = self.logger.offline_dir or Path.cwd() / "lrdecay-offline"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = f"run-{(self.run_id or 'new')[:12]}-{stamp}"
        path = directory / f"{stem}.json"
        suffix = 1
        while path.exists():
            path = directory / f"{stem}-{suffix}.json"
            suffix += 1
        return path

    def _spill_header(self, status: str, end_time: int) -> dict[str, Any]:
        logger = self.logger
        ours = self.owns_run or (self.run_id is None and logger.resume_run_id is None)
        header = {
            **self.header,
            # Without credentials: they stay in MLflow's variables.
            "tracking_uri": uri.without_credentials(self.tracking_uri),
            # A run we could not reach at the start but were asked to resume
            # is still the run to replay into (and not ours to end).
            "run_id": self.run_id or logger.resume_run_id,
            "run_name": logger.run_name,
            "end": {"status": status, "end_time": end_time} if ours else None,
        }
        if self.run_id is None:
            tags = dict(logger.tags)
            if logger.run_name:
                tags["mlflow.runName"] = logger.run_name
            if logger.parent_run_id:
                tags["mlflow.parentRunId"] = logger.parent_run_id
            header.setdefault("run_tags", resolve_tags(tags))
            header.setdefault("experiment_name", logger.experiment_name)
        return header

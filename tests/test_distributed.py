"""Distributed search on KerasTuner's chief/worker mode, logging to one MLflow server.

The slow tests run real processes on 127.0.0.1: a `mlflow server`, a chief
serving the oracle over gRPC and two workers running a small grid
(`tests/distributed_search.py`), then the same with a worker killed with
SIGKILL mid-trial and restarted under the same `KERASTUNER_TUNER_ID`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrdecay.tuning import distributed
from mlflow_server import MlflowServer, free_port

SCRIPT = Path(__file__).with_name("distributed_search.py")
EXPERIMENT = "distributed"
GRID = {("step", 1), ("step", 2), ("exponential", 1), ("exponential", 2)}
PROCESS_TIMEOUT = 240


# -- roles (fast) ----------------------------------------------------------------


def test_role_from_environment() -> None:
    environ = {
        "KERASTUNER_TUNER_ID": "worker-1",
        "KERASTUNER_ORACLE_IP": "10.0.0.5",
        "KERASTUNER_ORACLE_PORT": "8000",
    }
    role = distributed.resolve_role(environ=environ)
    assert role == distributed.Role("worker-1", "10.0.0.5", 8000)
    assert (role.is_worker, role.is_chief, role.name) == (True, False, "worker")
    assert role.address == "10.0.0.5:8000"


def test_options_override_environment_and_export() -> None:
    environ = {"KERASTUNER_TUNER_ID": "worker-1", "KERASTUNER_ORACLE_IP": "10.0.0.5"}
    role = distributed.resolve_role("chief", oracle_port=9000, environ=environ)
    assert role == distributed.Role("chief", "10.0.0.5", 9000)
    assert role.is_chief and not role.is_worker
    exported: dict[str, str] = {"KERASTUNER_TUNER_ID": "old"}
    role.export(exported)
    assert exported == {
        "KERASTUNER_TUNER_ID": "chief",
        "KERASTUNER_ORACLE_IP": "10.0.0.5",
        "KERASTUNER_ORACLE_PORT": "9000",
    }


def test_exported_role_restores_the_environment_also_on_error() -> None:
    environ = {"KERASTUNER_TUNER_ID": "old", "KERASTUNER_ORACLE_PORT": "7000"}
    role = distributed.Role("worker-1", "10.0.0.5", 8000)
    with role.exported(environ) as exported:
        assert exported is role
        assert environ == {
            "KERASTUNER_TUNER_ID": "worker-1",
            "KERASTUNER_ORACLE_IP": "10.0.0.5",
            "KERASTUNER_ORACLE_PORT": "8000",
        }
    assert environ == {"KERASTUNER_TUNER_ID": "old", "KERASTUNER_ORACLE_PORT": "7000"}
    with pytest.raises(KeyError, match="inside"), distributed.Role().exported(environ):
        assert environ == {}
        raise KeyError("inside")
    assert environ == {"KERASTUNER_TUNER_ID": "old", "KERASTUNER_ORACLE_PORT": "7000"}


def test_a_gone_chief_stops_the_main_thread_without_a_signal() -> None:
    from lrdecay.tuning import termination

    role = distributed.Role("worker-1", "127.0.0.1", free_port())  # nobody there
    seen: list[distributed.ChiefGone] = []
    started = time.monotonic()
    with (
        pytest.raises(distributed.ChiefUnreachableError, match=r"answered for 0\.4 s"),
        termination.stop_on_signals(),
        distributed.on_chief_gone(seen.append),
        distributed.watch_for_chief(role, timeout=0.4, grace=1.0),
    ):
        # The library thread only asks; the main thread stops at a safe point.
        while time.monotonic() - started < 20:
            time.sleep(0.05)
            termination.raise_if_stopped()
    assert len(seen) == 1 and "worker-1" in seen[0].message
    assert seen[0].unwound.is_set()  # the block ended: no signal would be sent
    termination.raise_if_stopped()  # nothing left pending


def test_single_process_role() -> None:
    role = distributed.resolve_role(environ={})
    assert role == distributed.Role()
    assert role.name == "single"
    assert not role.is_distributed
    # A tuner id alone only names the tuner (KerasTuner's default "tuner0").
    assert distributed.resolve_role("tuner7", environ={}).name == "single"


@pytest.mark.parametrize(
    ("kwargs", "environ", "match"),
    [
        ({"oracle_ip": "10.0.0.5"}, {}, "oracle_port=None"),
        ({}, {"KERASTUNER_ORACLE_PORT": "8000"}, "KERASTUNER_ORACLE_IP"),
        ({"oracle_ip": "h", "oracle_port": 8000}, {}, "tuner_id=None"),
        ({"tuner_id": "w", "oracle_ip": "h", "oracle_port": 0}, {}, "oracle_port='0'"),
        (
            {},
            {
                "KERASTUNER_TUNER_ID": "w",
                "KERASTUNER_ORACLE_IP": "h",
                "KERASTUNER_ORACLE_PORT": "http",
            },
            "KERASTUNER_ORACLE_PORT='http'",
        ),
        ({"tuner_id": " ", "oracle_ip": "h", "oracle_port": 1}, {}, "tuner_id=' '"),
    ],
)
def test_bad_role_names_the_value(
    kwargs: dict[str, Any], environ: dict[str, str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        distributed.resolve_role(environ=environ, **kwargs)


def test_join_search_is_for_workers() -> None:
    with pytest.raises(ValueError, match="chief"):
        distributed.join_search(distributed.Role("chief", "127.0.0.1", 1), "p")


# -- the grid oracle (no training) ------------------------------------------------


def test_parallel_grid_oracle_hands_out_points_side_by_side() -> None:
    import keras_tuner

    from lrdecay.tuning.pipeline.oracles import ParallelGridSearchOracle

    hps = keras_tuner.HyperParameters()
    hps.Choice("x", [1, 2, 3])
    oracle = ParallelGridSearchOracle(
        objective=keras_tuner.Objective("score", "min"), hyperparameters=hps
    )
    oracle._set_project_dir(os.getcwd(), "grid")
    first = oracle.create_trial("a")
    second = oracle.create_trial("b")
    third = oracle.create_trial("c")
    # The stock oracle answers IDLE to "b" until trial "a" ends.
    assert [t.status for t in (first, second, third)] == ["RUNNING"] * 3
    assert [t.hyperparameters.values["x"] for t in (first, second, third)] == [
        1,
        2,
        3,
    ]
    # The same tuner id gets its ongoing trial back (a restarted worker).
    assert oracle.create_trial("b").trial_id == second.trial_id
    # Every point handed out: a fourth worker stops instead of spinning on IDLE.
    assert oracle.create_trial("d").status == "STOPPED"


def test_oracle_progress_reads_the_chiefs_oracle(tmp_path: Path) -> None:
    import keras_tuner

    from lrdecay._compat import keras_tuner as keras_tuner_compat
    from lrdecay.tuning.pipeline.oracles import ParallelGridSearchOracle

    hps = keras_tuner.HyperParameters()
    hps.Choice("x", [1, 2])
    oracle = ParallelGridSearchOracle(
        objective=keras_tuner.Objective("score", "min"), hyperparameters=hps
    )
    oracle._set_project_dir(str(tmp_path), "progress")
    first = oracle.create_trial("a")
    second = oracle.create_trial("b")
    oracle.update_trial(first.trial_id, {"score": 0.5})
    first.status = "COMPLETED"  # as the tuner sets it before `end_trial`
    oracle.end_trial(first)
    progress = keras_tuner_compat.oracle_progress(oracle, lock_timeout=1)
    assert progress is not None
    assert progress.ongoing == {"b": second.trial_id}
    assert progress.tuner_ids == {"a", "b"}
    assert progress.end_order == [first.trial_id]
    assert progress.trials == {first.trial_id: first, second.trial_id: second}
    assert progress.trials[first.trial_id].status == "COMPLETED"


def test_watch_chief_hands_on_ended_trials_and_stops_its_thread_on_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import keras_tuner

    from lrdecay.tuning.pipeline.oracles import ParallelGridSearchOracle

    hps = keras_tuner.HyperParameters()
    hps.Choice("x", [1, 2])
    oracle = ParallelGridSearchOracle(
        objective=keras_tuner.Objective("score", "min"), hyperparameters=hps
    )
    oracle._set_project_dir(str(tmp_path), "watch")
    first = oracle.create_trial("worker-1")
    oracle.create_trial("worker-2")
    ended: list[Any] = []
    role = distributed.Role("chief", "127.0.0.1", free_port())
    caplog.set_level(logging.INFO, logger="lrdecay.tuning.distributed")
    with (
        pytest.raises(KeyError, match="inside"),
        distributed.watch_chief(oracle, role, on_trial_end=ended.append),
    ):
        oracle.update_trial(first.trial_id, {"score": 0.5})
        first.status = "COMPLETED"
        oracle.end_trial(first)
        raise KeyError("inside")
    assert ended == [first]
    assert f"chief: trial {first.trial_id} ended COMPLETED (1 of 2 ended)" in (
        caplog.text
    )
    assert "lrdecay-chief-watch" not in [t.name for t in threading.enumerate()]


# -- real processes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


class Search:
    """The processes of one distributed search, started from `tmp_path`."""

    def __init__(self, root: Path, server: MlflowServer, project_name: str) -> None:
        self.root = root
        self.server = server
        self.project_name = project_name
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def env(self, tuner_id: str) -> dict[str, str]:
        return {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.server.uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "OMP_NUM_THREADS": "1",
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(self.port),
            distributed.REPORT_EVERY_ENV: "2",
        }

    def start(
        self,
        tuner_id: str,
        *extra: str,
        log_name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        log_name = log_name or tuner_id
        log = self.root / f"{log_name}.log"
        self.logs[log_name] = log
        command = [
            sys.executable,
            str(SCRIPT),
            "--project-name",
            self.project_name,
            "--project-dir",
            str(self.root / "project"),
            "--experiment",
            EXPERIMENT,
            *extra,
        ]
        with open(log, "wb") as file:
            self.processes[log_name] = subprocess.Popen(
                command,
                cwd=self.root,
                env={**self.env(tuner_id), **(env or {})},
                stdout=file,
                stderr=subprocess.STDOUT,
            )

    def wait(self, name: str, timeout: float = PROCESS_TIMEOUT) -> int:
        try:
            return self.processes[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{name} did not finish:\n{self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def make_search(tmp_path: Path, mlflow_server: MlflowServer) -> Iterator[Any]:
    searches: list[Search] = []

    def make(project_name: str) -> Search:
        search = Search(tmp_path, mlflow_server, project_name)
        searches.append(search)
        return search

    yield make
    for search in searches:
        search.stop()


def _runs(server: MlflowServer, project_name: str) -> tuple[Any, list[Any]]:
    import mlflow

    client = mlflow.MlflowClient(server.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parents = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.`lrdecay.role` = 'search' and "
            f"tags.`lrdecay.search` = '{project_name}'"
        ),
    )
    assert len(parents) == 1
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'",
    )
    return parents[0], list(children)


def _result(log: str) -> dict[str, Any]:
    import json

    lines = [line for line in log.splitlines() if line.startswith("LRDECAY_RESULT ")]
    assert len(lines) == 1, log[-3000:]
    return dict(json.loads(lines[0][len("LRDECAY_RESULT ") :]))


def _check_trial_runs(finished: list[Any], chief_trials: dict[str, Any]) -> None:
    """One FINISHED run per trial, holding that trial's hyperparameters."""
    trial_ids = [run.data.tags["lrdecay.trial_id"] for run in finished]
    assert sorted(trial_ids) == sorted(chief_trials)
    grid = set()
    for run in finished:
        values = chief_trials[run.data.tags["lrdecay.trial_id"]]["values"]
        for name, value in values.items():
            assert run.data.params[name] == str(value), (name, run.data.params)
        kind = values["decay_kind"]
        epochs = values[
            "step/epochs_drop" if kind == "step" else "exponential/half_life"
        ]
        grid.add((kind, epochs))
        assert run.data.params["decay_kind"] == kind
        assert run.data.tags["lrdecay.status"] == "COMPLETED"
        assert not {"lrdecay.kind", "lrdecay.trial_status"} & set(run.data.tags)
    assert grid == GRID


@pytest.mark.slow
def test_chief_and_two_workers_run_each_trial_once(
    make_search: Any, mlflow_server: MlflowServer
) -> None:
    search = make_search("two-workers")
    search.start("chief")
    search.start("tuner1")
    search.start("tuner2")
    for name in ("tuner1", "tuner2", "chief"):
        assert search.wait(name) == 0, search.log(name)[-3000:]

    chief = _result(search.log("chief"))
    assert len(chief["trials"]) == 4
    assert {t["status"] for t in chief["trials"].values()} == {"COMPLETED"}
    parent, children = _runs(mlflow_server, "two-workers")
    assert parent.info.status == "FINISHED"
    assert chief["parent_run_id"] == parent.info.run_id
    for worker in ("tuner1", "tuner2"):
        # Workers found the chief's parent run by its tag, with no id given.
        assert _result(search.log(worker))["parent_run_id"] == parent.info.run_id
        # Both took part: the grid ran side by side.
        assert f"FIT {worker} " in search.log(worker)
    assert [run.info.status for run in children] == ["FINISHED"] * 4
    _check_trial_runs(children, chief["trials"])
    assert parent.data.tags["lrdecay.best_trial_id"] == chief["best_trial_id"]
    # The workers share the trunks through the project directory: the
    # exponential decays (departing at epoch 1) continue the steps' epoch 0.
    assert parent.data.metrics["epochs_independent"] == 4 * 3
    assert parent.data.metrics["epochs_trained"] < 4 * 3
    assert any("lrdecay.departure_epoch" in run.data.tags for run in children)
    # The chief said what it was waiting for.
    assert "waiting for trial" in search.log("chief")


def _wait_for(path: Path, search: Search, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if search.processes[name].poll() is not None or time.monotonic() > deadline:
            search.stop()
            pytest.fail(f"{name} never reached its first epoch:\n{search.log(name)}")
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_worker_resumes_its_trial_and_late_worker_exits(
    make_search: Any, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    search = make_search("killed-worker")
    marker = tmp_path / "tuner2-stalled"
    search.start("chief")
    # tuner2 takes the first trial and hangs in it; tuner1 (started at the
    # same time, to share the import time) waits for that before searching.
    search.start("tuner2", "--stall-marker", str(marker))
    search.start("tuner1", "--wait-for", str(marker))
    # tuner2's second incarnation imports TensorFlow now, then waits for `go`.
    go = tmp_path / "restart-tuner2"
    search.start("tuner2", "--wait-for", str(go), log_name="tuner2-restarted")
    _wait_for(marker, search, "tuner2", PROCESS_TIMEOUT)
    os.kill(search.processes["tuner2"].pid, signal.SIGKILL)
    assert search.wait("tuner2") == -signal.SIGKILL

    # tuner1 runs every other grid point, then the oracle has none left for it.
    assert search.wait("tuner1") == 0, search.log("tuner1")[-3000:]
    assert search.processes["chief"].poll() is None  # it waits for tuner2
    _, children = _runs(mlflow_server, "killed-worker")
    running = [run for run in children if run.info.status == "RUNNING"]
    assert len(running) == 1
    killed_trial = running[0].data.tags["lrdecay.trial_id"]
    assert len([run for run in children if run.info.status == "FINISHED"]) == 3

    # A worker arriving now finds no trial left and says so at once.
    role = distributed.Role("latecomer", "127.0.0.1", search.port)
    with pytest.raises(distributed.SearchEndedError, match="no trial left"):
        distributed.join_search(
            role,
            "killed-worker",
            tracking_uri=mlflow_server.uri,
            experiment_name=EXPERIMENT,
            wait_timeout=120,
        )

    # Restarted with the same id, tuner2 gets its trial back from the oracle.
    go.touch()
    assert search.wait("tuner2-restarted") == 0, search.log("tuner2-restarted")[-3000:]
    assert search.wait("chief") == 0, search.log("chief")[-3000:]
    restarted = search.log("tuner2-restarted")
    assert f"resuming trial {killed_trial}" in restarted
    assert restarted.count("FIT tuner2 ") == 1
    chief_log = search.log("chief")
    assert f"trial {killed_trial} on tuner2" in chief_log

    chief = _result(chief_log)
    parent, children = _runs(mlflow_server, "killed-worker")
    assert parent.info.status == "FINISHED"
    statuses = sorted(run.info.status for run in children)
    assert statuses == ["FINISHED"] * 4 + ["KILLED"]
    killed = next(run for run in children if run.info.status == "KILLED")
    assert killed.info.run_id == running[0].info.run_id
    assert killed.data.tags["lrdecay.stale"] == "true"
    assert killed.data.tags["lrdecay.status"] == "KILLED"
    _check_trial_runs(
        [run for run in children if run.info.status == "FINISHED"], chief["trials"]
    )

    # After the chief has gone: the parent run is closed and the port too.
    with pytest.raises(distributed.SearchEndedError, match="has ended"):
        distributed.join_search(
            role,
            "killed-worker",
            tracking_uri=mlflow_server.uri,
            experiment_name=EXPERIMENT,
            wait_timeout=120,
        )


@pytest.mark.slow
def test_worker_stops_soon_after_its_chief_is_killed(
    make_search: Any, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    search = make_search("dead-chief")
    marker = tmp_path / "tuner1-stalled"
    search.start("chief")
    search.start(
        "tuner1",
        "--stall-marker",
        str(marker),
        env={distributed.CHIEF_TIMEOUT_ENV: "4"},
    )
    _wait_for(marker, search, "tuner1", PROCESS_TIMEOUT)
    os.kill(search.processes["chief"].pid, signal.SIGKILL)
    assert search.wait("chief") == -signal.SIGKILL
    # The worker (LRDECAY_CHIEF_TIMEOUT=4, probing every 1 s) stops after
    # that bound (its line below says 4 s), not after KerasTuner's hour.
    assert search.wait("tuner1", timeout=60) == 4
    log = search.log("tuner1")
    gone = [line for line in log.splitlines() if line.startswith("CHIEF GONE: ")]
    assert gone == [
        f"CHIEF GONE: Worker 'tuner1': the chief at 127.0.0.1:{search.port} has "
        "not answered for 4 s (stopped, or its machine is unreachable); this "
        "worker stops. Start the chief again (the same command resumes the "
        "search), then the workers."
    ]
    assert "Traceback" not in log


@pytest.mark.slow
def test_cli_chief_prints_one_line_per_trial_and_nothing_of_the_frameworks(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "lrdecay", "search", "--epochs", "3",
        "--decay-epochs", "1,2", "--kinds", "step,plateau",
        "--experiment", "distributed-cli", "--tracking-uri", mlflow_server.uri,
        "--oracle-ip", "127.0.0.1", "--oracle-port", str(port),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    processes = {
        tuner_id: subprocess.Popen(
            [*command, "--tuner-id", tuner_id],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tuner_id in ("chief", "worker1")
    }
    try:
        outputs = {
            name: process.communicate(timeout=PROCESS_TIMEOUT)
            for name, process in processes.items()
        }
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for name, process in processes.items():
        assert process.returncode == 0, outputs[name][1][-3000:]
    for stdout, stderr in outputs.values():
        assert "View run" not in stdout + stderr
        assert "View experiment" not in stdout
        lines = stdout.splitlines()
        assert not [line for line in lines if line.strip() in ("step", "plateau")]
        assert "UserWarning" not in stderr and "warnings.warn" not in stderr
        assert "absl" not in stderr and "cudart" not in stderr
    chief_lines = outputs["chief"][0].splitlines()
    # The control and four decays: one line each, numbered once each.
    progress = [line for line in chief_lines if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [
        f"[{index}/5" for index in range(1, 6)
    ], progress
    assert sorted(line.split()[2] for line in progress) == [
        "0000", "0001", "0002", "0003", "0004",
    ]  # fmt: skip
    # Nothing else between the banner and the ranked table.
    start = chief_lines.index(progress[0])
    assert chief_lines[start : start + 5] == progress
    assert chief_lines[start - 1].startswith("  search ")
    assert chief_lines[start + 5] == ""
    assert chief_lines[start + 6].startswith("Trials ranked by")

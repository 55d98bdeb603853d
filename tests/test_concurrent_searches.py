"""Several processes on one store and one project; damaged files (issue 23).

Real processes started together on a fresh SQLite store (and on one written
by the oldest MLflow lrdecay supports), two identical `lrdecay search`
commands at once, trunk files truncated and garbled between a `kill -9`
and a rerun, KerasTuner's `oracle.json` and a `trial.json` truncated. Each
test reads the store back with `MlflowClient`: readable, every run present
once, none RUNNING.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import LRDECAY, lrdecay_environment, run_lrdecay
from lrdecay.tracking import store_setup
from lrdecay.tuning.prefixes import trunk_check

# The Python of an environment holding .ci/minimum-versions.txt (.ci/run sets it).
MIN_VERSIONS_PYTHON_ENV = "LRDECAY_MIN_VERSIONS_PYTHON"

# One process: open the store the way lrdecay does, log one finished run.
OPENER = textwrap.dedent(
    """
    import os, sys, time
    from lrdecay.tracking import store, store_setup
    from lrdecay.tuning.pipeline import prepare

    uri, gate, name = sys.argv[1:4]
    open(f"{gate}.{name}", "w").close()  # imported, ready
    while not os.path.exists(gate):
        time.sleep(0.001)
    prepare.open_store(uri)  # a search's early opening, on its thread
    client = store_setup.client(uri)
    experiment_id = store.experiment_by_name(client, "race")
    run = client.create_run(experiment_id, run_name=name)
    client.log_metric(run.info.run_id, "loss", 0.5, step=0)
    client.set_terminated(run.info.run_id)
    print("ok", name, flush=True)
    """
)


def _start_together(python: str, uri: str, names: list[str], gate: Path) -> list[Any]:
    """Start one `OPENER` per name; they open the store at the same instant."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    processes = [
        subprocess.Popen(
            [python, "-c", OPENER, uri, str(gate), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 120
    while not all(Path(f"{gate}.{name}").exists() for name in names):
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(process.poll() is None for process in processes)
        time.sleep(0.01)
    gate.touch()  # all at once
    return processes


def _finished(processes: list[Any]) -> list[tuple[int, str, str]]:
    done = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        done.append((process.returncode, out, err))
    return done


def _runs_by_name(uri: str, experiment: str) -> dict[str, Any]:
    import mlflow

    client = mlflow.MlflowClient(uri)
    found = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id]
    )
    names = [run.info.run_name for run in found]
    assert len(names) == len(set(names)), names  # every run once
    assert [run.info.status for run in found] == ["FINISHED"] * len(found)
    return {run.info.run_name: run for run in found}


@pytest.mark.slow
def test_four_processes_create_a_fresh_store_at_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    names = ["a", "b", "c", "d"]
    gate = tmp_path / "go"
    done = _finished(_start_together(sys.executable, uri, names, gate))
    assert [(code, out.split()) for code, out, _ in done] == [
        (0, ["ok", name]) for name in names
    ], [err[-2000:] for _, _, err in done]
    runs = _runs_by_name(uri, "race")
    assert sorted(runs) == names
    assert {run.data.metrics["loss"] for run in runs.values()} == {0.5}
    # The lock beside the file; no leftover of a migration in the file.
    assert (tmp_path / "mlflow.db.lock").exists()
    store_setup.check_not_half_migrated(str(tmp_path / "mlflow.db"), uri)


@pytest.mark.slow
def test_a_store_of_the_oldest_mlflow_is_upgraded_once(tmp_path: Path) -> None:
    old_python = os.environ.get(MIN_VERSIONS_PYTHON_ENV)
    if not old_python:
        pytest.skip(
            f"{MIN_VERSIONS_PYTHON_ENV} names no Python of the minimum versions "
            "(.ci/minimum-versions.txt)"
        )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    create = (
        "import sys, mlflow\n"
        "client = mlflow.MlflowClient(sys.argv[1])\n"
        "run = client.create_run(client.create_experiment('race'), run_name='old')\n"
        "client.log_metric(run.info.run_id, 'loss', 0.25, step=0)\n"
        "client.set_terminated(run.info.run_id)\n"
        "print(mlflow.__version__)\n"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("PYTHONPATH", None)
    old = subprocess.run(
        [old_python, "-c", create, uri],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert old.returncode == 0, old.stderr[-2000:]
    import mlflow

    assert old.stdout.split()[-1] != mlflow.__version__  # really two versions
    names = ["a", "b", "c", "d"]
    done = _finished(_start_together(sys.executable, uri, names, tmp_path / "go"))
    assert [code for code, _, _ in done] == [0, 0, 0, 0], [e[-2000:] for *_, e in done]
    runs = _runs_by_name(uri, "race")
    assert sorted(runs) == ["a", "b", "c", "d", "old"]
    assert runs["old"].data.metrics == {"loss": 0.25}
    store_setup.check_not_half_migrated(str(tmp_path / "mlflow.db"), uri)


# -- lrdecay search ----------------------------------------------------------------

SEARCH = ["search", "--kinds", "step", "--decay-epochs", "2,3", "--epochs", "4"]
SEARCH += ["--seed", "1", "--tracking-uri", "sqlite:///mlflow.db"]


def _start_search(folder: Path) -> Any:
    return subprocess.Popen(
        [*LRDECAY, *SEARCH],
        cwd=folder,
        env=lrdecay_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_first_trial(search: Any) -> list[str]:
    """Read the search's output until its first trial has ended."""
    lines = []
    for line in search.stdout:
        lines.append(line)
        if line.startswith("[1/3]"):
            return lines
    raise AssertionError("".join(lines) + search.stderr.read()[-3000:])


def _search_runs(folder: Path) -> dict[str, Any]:
    """The finished trial runs of the search in `folder`, by trial id.

    Checks the store: one parent, one FINISHED run per trial, none RUNNING;
    any other run is one a killed process left, ended KILLED as stale.
    """
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment_id = client.get_experiment_by_name("lrdecay").experiment_id
    found = client.search_runs([experiment_id])
    parents = [run for run in found if run.data.tags["lrdecay.role"] == "search"]
    assert [run.info.status for run in parents] == ["FINISHED"]
    trial_runs = [run for run in found if run.data.tags["lrdecay.role"] == "trial"]
    finished = [run for run in trial_runs if run.info.status == "FINISHED"]
    others = [run for run in trial_runs if run.info.status != "FINISHED"]
    assert [(r.info.status, r.data.tags.get("lrdecay.stale")) for r in others] == [
        ("KILLED", "true")
    ] * len(others)
    trials = {run.data.tags["lrdecay.trial_id"]: run for run in finished}
    assert sorted(run.data.tags["lrdecay.trial_id"] for run in finished) == [
        "0000",
        "0001",
        "0002",
    ]  # every trial once
    return trials


@pytest.mark.slow
def test_the_same_search_twice_at_once_runs_once(tmp_path: Path) -> None:
    first = _start_search(tmp_path)
    try:
        _wait_for_first_trial(first)
        # The first holds its search, stopped mid-search: the second must stop.
        first.send_signal(signal.SIGSTOP)
        second = run_lrdecay(*SEARCH, cwd=tmp_path, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 2, second.stderr[-3000:]
    assert "[" not in second.stdout  # it trained nothing
    refusal = second.stderr.strip().splitlines()[-1]
    assert refusal.startswith("lrdecay: error: This search is already running: ")
    assert f"pid {first.pid} on " in refusal
    _search_runs(tmp_path)


@pytest.mark.slow
def test_damaged_trunk_files_after_a_kill_are_trained_again(tmp_path: Path) -> None:
    killed = _start_search(tmp_path)
    _wait_for_first_trial(killed)
    killed.kill()  # SIGKILL: no cleanup
    killed.communicate(timeout=60)
    (trunk,) = (tmp_path / "lrdecay_project").glob("*/trunks/*")
    files = sorted(path.name for path in trunk.glob("epoch-*.npz"))
    assert files == [f"epoch-000{epoch}.npz" for epoch in (1, 2, 3, 4)]
    second, third = trunk / "epoch-0002.npz", trunk / "epoch-0003.npz"
    os.truncate(second, second.stat().st_size // 2)
    garbled = bytearray(third.read_bytes())
    middle = len(garbled) // 2
    garbled[middle : middle + 64] = bytes(
        b ^ 0x5A for b in garbled[middle : middle + 64]
    )
    third.write_bytes(bytes(garbled))

    rerun = run_lrdecay(*SEARCH, cwd=tmp_path, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    warned = [line for line in rerun.stderr.splitlines() if "is damaged" in line]
    assert [re.search(r"trunk epoch (\d+) in ", line)[1] for line in warned] == [
        "2",
        "3",
    ]
    assert "epochs: 9 trained of 12 (75%)" in rerun.stdout  # 4 + 3 + 2
    assert [
        trunk_check.damage(str(path)) for path in sorted(trunk.glob("epoch-*.npz"))
    ] == [None] * 4
    trials = _search_runs(tmp_path)
    assert {tid: run.data.tags["lrdecay.status"] for tid, run in trials.items()} == {
        "0000": "COMPLETED",
        "0001": "COMPLETED",
        "0002": "COMPLETED",
    }


def _cut_short(path: Path) -> None:
    """A write cut short: the file's first half."""
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.slow
def test_a_damaged_kerastuner_file_is_named_in_one_line(tmp_path: Path) -> None:
    first = run_lrdecay(*SEARCH, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    (project,) = (tmp_path / "lrdecay_project").glob("grid-*")
    trials = {tid: run.info.run_id for tid, run in _search_runs(tmp_path).items()}

    cut_short = "empty or not JSON, e.g. left by a process killed while writing it"
    for name, damage, why in (
        ("oracle.json", _cut_short, cut_short),
        ("trial_0001/trial.json", _cut_short, cut_short),
        # A trial's folder without its file, as a kill while KerasTuner
        # created the trial leaves it: oracle.json names a trial it cannot load.
        (
            "trial_0001/trial.json",
            Path.unlink,
            "missing though oracle.json names the trial, e.g. left by a process "
            "killed while creating it",
        ),
    ):
        damaged = project / name
        whole = damaged.read_bytes()
        damage(damaged)
        rerun = run_lrdecay(*SEARCH, cwd=tmp_path, timeout=300)
        assert rerun.returncode == 2, rerun.stderr[-3000:]
        assert rerun.stderr.strip().splitlines() == [
            "lrdecay: error: KerasTuner's state in "
            f"'lrdecay_project/{project.name}' is damaged ({name}: {why}), so the "
            "search cannot resume from it. Restore the file(s), or start the search "
            "again with tuner_options={'overwrite': True} (`lrdecay.budget`: "
            "overwrite=True; `--overwrite`); the MLflow runs of its finished "
            "trials are kept."
        ]
        assert "[" not in rerun.stdout  # it trained nothing
        assert {t: r.info.run_id for t, r in _search_runs(tmp_path).items()} == trials
        damaged.write_bytes(whole)  # restored, as the line says

    resumed = run_lrdecay(*SEARCH, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming: finished trials are kept, not re-run" in resumed.stdout
    assert "[1/3]" not in resumed.stdout
    assert {t: r.info.run_id for t, r in _search_runs(tmp_path).items()} == trials

    os.truncate(project / "oracle.json", 0)  # damaged again; start afresh
    restarted = run_lrdecay(*SEARCH, "--overwrite", cwd=tmp_path, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "[3/3] trial 0002  step epochs_drop=3" in restarted.stdout
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    found = client.search_runs(
        [client.get_experiment_by_name("lrdecay").experiment_id],
        order_by=["attributes.start_time ASC"],
    )
    assert {run.info.status for run in found} == {"FINISHED"}
    old, new = [
        run.info.run_id for run in found if run.data.tags["lrdecay.role"] == "search"
    ]
    by_parent = {
        parent: sorted(
            (run.data.tags["lrdecay.trial_id"], run.info.run_id)
            for run in found
            if run.data.tags.get("mlflow.parentRunId") == parent
        )
        for parent in (old, new)
    }
    assert by_parent[old] == sorted(trials.items())  # kept, as the line says
    assert [tid for tid, _ in by_parent[new]] == ["0000", "0001", "0002"]


# -- trials FAILED for a cause not the model's -------------------------------------


class _Trouble:
    """A callback that fails the step decay trials of a 4-epoch grid.

    The trial with `epochs_drop=1` (rate 0.05 in epoch 1) hits an `OSError`
    while `flag` exists (a disk that went away); the one with `epochs_drop=2`
    (0.05 in epoch 2) gets NaN weights at its end, and diverges in epoch 3.
    """

    @staticmethod
    def callbacks(flag: Path) -> list[Any]:
        import keras

        class Trouble(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                rate = float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                )
                if epoch == 1 and rate < 0.09 and flag.exists():
                    raise OSError(f"[Errno 5] Input/output error: {flag}")
                if epoch == 2 and abs(rate - 0.05) < 1e-6:
                    for variable in self.model.trainable_variables:
                        variable.assign(variable * float("nan"))

        return [Trouble()]


@pytest.mark.slow
def test_trials_failed_not_by_the_model_run_again(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    import warnings

    from lrdecay import search
    from lrdecay.errors import EvidenceWarning
    from lrdecay.tuning.evidence import failures

    flag = tmp_path / "disk-gone"
    flag.touch()
    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"

    said: list[list[str]] = []

    def run() -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = search(
                lambda: make_model(learning_rate=0.1), x, y,
                validation_data=(x_val, y_val), algorithm="grid", kinds=("step",),
                decay_epochs=[1, 2], epochs=4, batch_size=64, seed=1,
                project_dir=str(tmp_path / "project"), tracking=uri,
                callbacks=_Trouble.callbacks(flag),
            )  # fmt: skip
        said.append(
            [str(w.message) for w in caught if issubclass(w.category, EvidenceWarning)]
        )
        return result

    first = run()
    assert [t.status for t in first.trials] == ["COMPLETED", "FAILED", "FAILED"]
    note = failures.failures_note(first.tuner.oracle.trials.values())
    assert note is not None
    assert note.startswith("1 trial(s) FAILED for a cause that is not the model's ")
    assert f"(trial 0001; OSError: [Errno 5] Input/output error: {flag})" in note
    assert said[0][-1] == note  # `search()` says it too

    flag.unlink()  # the disk is back
    second = run()
    assert second.parent_run_id == first.parent_run_id
    assert [t.status for t in second.trials] == ["COMPLETED", "COMPLETED", "FAILED"]
    assert failures.failures_note(second.tuner.oracle.trials.values()) is None
    assert not any("not the model's" in message for message in said[1])

    import mlflow

    client = mlflow.MlflowClient(uri)
    trial_runs = client.search_runs(
        [second.experiment_id],
        filter_string="tags.`lrdecay.role` = 'trial'",
        order_by=["attributes.start_time ASC"],
    )
    assert [(r.data.tags["lrdecay.trial_id"], r.info.status) for r in trial_runs] == [
        ("0000", "FINISHED"),
        ("0001", "FAILED"),  # the disk error, kept
        ("0002", "FAILED"),  # diverged: not run again
        ("0001", "FINISHED"),  # the re-run
    ]


# -- a half-migrated store -----------------------------------------------------------


def _store_with_leftover(folder: Path, version: str | None) -> str:
    """A real store holding `_alembic_tmp_params`, at schema `version` (or head)."""
    import sqlite3

    import mlflow

    uri = f"sqlite:///{folder}/mlflow.db"
    mlflow.MlflowClient(uri).search_experiments()  # created by MLflow
    with sqlite3.connect(folder / "mlflow.db") as connection:
        connection.execute("CREATE TABLE _alembic_tmp_params (key VARCHAR(250))")
        if version is not None:
            connection.execute("UPDATE alembic_version SET version_num = ?", (version,))
    return uri


def test_a_leftover_of_a_finished_upgrade_is_dropped(tmp_path: Path) -> None:
    import sqlite3

    uri = _store_with_leftover(tmp_path, None)
    with pytest.warns(UserWarning, match="held _alembic_tmp_params, left by an"):
        store_setup.ready_store(uri)
    with sqlite3.connect(tmp_path / "mlflow.db") as connection:
        tables = {
            row[0] for row in connection.execute("SELECT name FROM sqlite_master")
        }
    assert "_alembic_tmp_params" not in tables
    assert "experiments" in tables


def test_a_half_migrated_store_is_named_with_what_to_do(tmp_path: Path) -> None:
    from lrdecay.errors import TrackingUnreachable

    uri = _store_with_leftover(tmp_path, "0584bdc529eb")  # an older revision
    path = tmp_path / "mlflow.db"
    with pytest.raises(TrackingUnreachable) as raised:
        store_setup.ready_store(uri)
    assert str(raised.value) == (
        f"The MLflow store '{path}' was left half-migrated by an interrupted "
        "schema upgrade (leftover _alembic_tmp_params, schema version "
        f"0584bdc529eb): back the file up, then run `sqlite3 {path} 'DROP TABLE "
        f"_alembic_tmp_params'` and `mlflow db upgrade sqlite:///{path}`, or "
        "restore it from a backup."
    )
    report = run_lrdecay("report", "--tracking-uri", uri, cwd=tmp_path, timeout=300)
    assert report.returncode == 2
    assert report.stderr.strip().splitlines() == [f"lrdecay: error: {raised.value}"]


FLAKY_MODEL = """
import os

import keras


class Flaky(keras.Sequential):
    # Fails its fit (not its build: KerasTuner builds every condition first).
    def fit(self, *args, **kwargs):
        if self.flaky and os.path.exists("disk-gone"):
            raise OSError("[Errno 5] Input/output error: 'disk-gone'")
        return super().fit(*args, **kwargs)


def build(hp, input_shape, num_outputs):
    output = keras.layers.Dense(num_outputs, activation="softmax")
    model = Flaky([keras.Input(input_shape), output])
    values = hp.values
    model.flaky = values.get("decay_kind") == "step" and values.get(
        "step/epochs_drop"
    ) == 2
    loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    return model
"""


@pytest.mark.slow
def test_the_command_exits_1_until_such_trials_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    from lrdecay.cli import main as cli

    (tmp_path / "flaky_model.py").write_text(FLAKY_MODEL)
    (tmp_path / "disk-gone").touch()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    command = ["search", "--kinds", "step", "--decay-epochs", "1,2", "--epochs", "2"]
    command += ["--batch-size", "128", "--model", "flaky_model:build"]
    command += ["--tracking-uri", uri]
    assert cli.main(command) == 1
    first = capsys.readouterr()
    assert first.err.strip().splitlines()[-1] == (
        "lrdecay: 1 trial(s) FAILED for a cause that is not the model's (trial "
        "0002; OSError: [Errno 5] Input/output error: 'disk-gone'); run the same "
        "search again to re-run them."
    )
    (tmp_path / "disk-gone").unlink()
    assert cli.main(command) == 0
    second = capsys.readouterr()
    assert "[3/3] trial 0002  step epochs_drop=2" in second.out
    client = mlflow.MlflowClient(uri)
    trial_runs = client.search_runs(
        [client.get_experiment_by_name("lrdecay").experiment_id],
        filter_string="tags.`lrdecay.role` = 'trial'",
    )
    assert sorted(
        (r.data.tags["lrdecay.trial_id"], r.info.status) for r in trial_runs
    ) == [("0000", "FINISHED"), ("0001", "FINISHED"), ("0002", "FINISHED")]

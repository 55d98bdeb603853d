"""SIGTERM during a search: handled like Ctrl-C, with a real signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lrdecay.tuning.termination import (
    Terminated,
    raise_if_stopped,
    signals_deferred,
    stop_on_signals,
)

# The first trial's first training step marks `ready` and waits there while
# `hold` exists: the signal lands mid-trial, after its run was created
# (KerasTuner writes the trial's folder when it creates the trial).
_HOLD_MODEL = """
import glob, os, time
import keras

HERE = os.path.dirname(os.path.abspath(__file__))


class Hold(keras.layers.Layer):
    def call(self, inputs, training=None):
        if training and os.path.exists(os.path.join(HERE, "hold")) and glob.glob(
            os.path.join(HERE, "lrdecay_project", "*", "trial_0000")
        ):
            open(os.path.join(HERE, "ready"), "w").close()
            time.sleep(600)
        return inputs


def build(input_shape, num_outputs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(input_shape), Hold(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(num_outputs, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  run_eagerly=True)  # so that Hold.call runs at every step
    return model
"""

SEARCH = [
    sys.executable, "-m", "lrdecay", "search",
    "--decay-epochs", "1", "--epochs", "2", "--batch-size", "128",
    "--model", "hold_model:build",
]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    return env


def _runs(tmp_path: Path) -> tuple[list[Any], list[Any]]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("lrdecay")
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"]
    )
    parents = [r for r in runs if r.data.tags.get("lrdecay.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("lrdecay.role") == "trial"]
    assert len(parents) + len(trials) == len(runs)
    return parents, trials


@pytest.mark.slow
def test_sigterm_kills_the_runs_exits_143_and_the_same_command_resumes(
    tmp_path: Path,
) -> None:
    (tmp_path / "hold_model.py").write_text(_HOLD_MODEL)
    (tmp_path / "hold").touch()
    started = time.monotonic()
    process = subprocess.Popen(
        SEARCH, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "ready").exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first trial never started"
            time.sleep(0.2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    print(f"search start to ready {signalled - started:.1f} s, "
          f"SIGTERM to exit {time.monotonic() - signalled:.1f} s")  # fmt: skip
    assert process.returncode == 143, stderr[-3000:]
    assert stderr.splitlines()[-1] == (
        "lrdecay: terminated (SIGTERM); run the same command again to resume "
        "the search."
    )
    assert "Traceback" not in stderr

    (parent,), trials = _runs(tmp_path)
    assert parent.info.status == "KILLED"
    assert "Terminated: terminated by SIGTERM" in parent.data.tags["lrdecay.error"]
    assert [(r.data.tags["lrdecay.trial_id"], r.info.status) for r in trials] == [
        ("0000", "KILLED")
    ]
    assert "Terminated: terminated by SIGTERM" in trials[0].data.tags["lrdecay.error"]
    assert (tmp_path / "lrdecay_project").is_dir()

    (tmp_path / "hold").unlink()
    again = subprocess.run(
        SEARCH, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (parent_after,), after = _runs(tmp_path)
    assert parent_after.info.run_id == parent.info.run_id
    assert parent_after.info.status == "FINISHED"
    assert [(r.data.tags["lrdecay.trial_id"], r.info.status) for r in after] == [
        ("0000", "KILLED"),  # the run SIGTERM ended
        ("0000", "FINISHED"),  # its re-run
        ("0001", "FINISHED"),
        ("0002", "FINISHED"),
        ("0003", "FINISHED"),  # three decays and the constant-rate control
    ]
    assert after[0].info.run_id == trials[0].info.run_id


def test_sigterm_raises_terminated_inside_the_block_only() -> None:
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated) as raised, stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs here and raises
    assert isinstance(raised.value, KeyboardInterrupt)
    assert raised.value.exit_code == 143
    assert str(raised.value) == "terminated by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_handler_of_the_program_is_left_alone() -> None:
    received: list[int] = []

    def own(signal_number: int, frame: Any) -> None:
        received.append(signal_number)

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_outside_the_main_thread_installs_nothing() -> None:
    seen: list[Any] = []

    def search_in_a_thread() -> None:
        with stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=search_in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL]


class _SignalInDel:
    """Sends SIGINT to the process while Python runs its `__del__`, where an
    exception is printed ("Exception ignored in ...") and swallowed."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the handler runs here; its exception goes nowhere


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_safe_point(
    capfd: pytest.CaptureFixture[str],
) -> None:
    hook = sys.unraisablehook
    reached = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals():
        _SignalInDel()  # collected at once: the signal lands in __del__
        reached.append("after __del__")
        raise_if_stopped()
        reached.append("after the safe point")
    assert reached == ["after __del__"]
    # Not printed: it was raised again.
    assert "Exception ignored" not in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert sys.unraisablehook is hook
    raise_if_stopped()  # outside the block: nothing pending


def test_a_block_ending_normally_after_a_swallowed_signal_raises_it() -> None:
    with pytest.raises(Terminated), stop_on_signals():

        class SigtermInDel:
            def __del__(self) -> None:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)

        SigtermInDel()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_swallowed_signal_replaces_the_error_it_became() -> None:
    with pytest.raises(KeyboardInterrupt) as raised, stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except BaseException as error:  # a library turning it into an error
            raise RuntimeError("wrapped") from error
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_nested_blocks_raise_once_and_the_outer_one_ends_cleanly() -> None:
    caught = []
    with stop_on_signals():
        try:
            with stop_on_signals():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
        except KeyboardInterrupt:
            caught.append("inner")
        raise_if_stopped()  # delivered: nothing pending any more
    assert caught == ["inner"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_does_not_wait_for_a_deferred_block() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals(), signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        steps.append("first one recorded")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        steps.append("not reached")
    assert steps == ["first one recorded"]


def test_a_signal_in_a_deferred_block_stops_when_it_ends() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals():
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            steps.append("bookkeeping finished")
        steps.append("after the block")
    assert steps == ["bookkeeping finished"]


def _locked(database: Path) -> bool:
    """Whether another connection holds a lock on the file (read or write)."""
    import sqlite3

    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def test_a_ctrl_c_inside_a_sqlite_write_lets_go_of_its_lock_once_released(
    tmp_path: Path,
) -> None:
    """A real Ctrl-C lands inside MLflow's SQLite writes while a thread writes too.

    Sometimes the stopped write keeps its connection inside an open write
    transaction, held by the traceback: every other write waits 20 s and
    fails ("database is locked", a search's parent left RUNNING).
    `release_stopped_calls` lets go of it, the error still held.
    """
    import mlflow
    from mlflow.entities import Metric

    from lrdecay.tracking.store import release_stopped_calls

    database = tmp_path / "mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{database}")
    experiment_id = client.create_experiment("locks")
    held = 0
    for attempt in range(200):
        run_id = client.create_run(experiment_id).info.run_id
        stop = threading.Event()

        def metrics(run_id: str = run_id, stop: threading.Event = stop) -> None:
            step = 0
            while not stop.is_set():
                client.log_batch(run_id, metrics=[Metric("m", 1.0, 0, step)])
                step += 1

        writer = threading.Thread(target=metrics, daemon=True)
        writer.start()
        timer = threading.Timer(
            0.002 * (attempt % 25), os.kill, (os.getpid(), signal.SIGINT)
        )
        try:
            with stop_on_signals():
                timer.start()
                while True:
                    client.set_tag(run_id, "main", "write")
        except KeyboardInterrupt as error:
            stop.set()
            timer.join()
            writer.join(2.0)  # its last write waits while the lock is held
            if writer.is_alive() or _locked(database):
                held += 1
                release_stopped_calls(error)
                writer.join(5.0)
                assert not writer.is_alive()
                assert not _locked(database)
        finally:
            stop.set()
        writer.join()
        client.set_terminated(run_id, "KILLED")
        if held == 2:
            break
    assert held == 2, f"{attempt + 1} Ctrl-Cs, {held} inside a write"


def test_a_ctrl_c_inside_a_sqlite_read_lets_go_of_its_lock_once_released(
    tmp_path: Path,
) -> None:
    """A real Ctrl-C lands where SQLAlchemy turns a read's rows into objects.

    SQLAlchemy closes the query's cursor there on an `Exception` only: after
    a KeyboardInterrupt its SELECT stays active and holds the file's read
    lock, its connection back in the pool, so every write waits 20 s and
    fails. On Python 3.11 the list comprehension's frame in the traceback
    keeps the cursor even with its locals cleared (the loop test above
    failed this way, about once in a thousand Ctrl-Cs under load).
    """
    import traceback

    import mlflow
    import sqlalchemy.orm.context

    from lrdecay.tracking.store import release_stopped_calls

    database = tmp_path / "mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{database}")
    run_id = client.create_run(client.create_experiment("reads")).info.run_id
    landed: list[str] = []

    def ctrl_c_at_rows(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == "row_processor" and not landed:
            landed.append(frame.f_code.co_filename)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt) as stopped, stop_on_signals():
        sys.settrace(ctrl_c_at_rows)
        try:
            client.get_run(run_id)
        finally:
            sys.settrace(None)
    assert landed == [str(Path(sqlalchemy.orm.context.__file__))]
    assert _locked(database)  # the stopped read's SELECT
    release_stopped_calls(stopped.value)
    assert not _locked(database)
    client.set_tag(run_id, "after", "the stop")
    printed = "".join(traceback.format_exception(stopped.value))
    assert "Stopped inside (a store call, let go of):" in printed
    assert "in row_processor" in printed  # where it landed, still told


def test_a_ctrl_c_while_the_last_send_waits_does_not_end_the_wait_for_it(
    tmp_path: Path,
) -> None:
    """The 20-moments test's KILLED run tagged COMPLETED, step by step.

    A Ctrl-C lands while the fit's end waits for its sender's last send (its
    COMPLETED tag), blocked here by a real SQLite lock. On CPython < 3.13 the
    stopped `Thread.join` marked the sender ended while it still sent
    (python/cpython#90882): the next wait returned at once, the trial's
    KILLED went in, and then the late send wrote COMPLETED over it. The
    next `close` must wait for that send to land.
    """
    import sqlite3

    import mlflow

    from lrdecay.tracking.sender import Sink
    from lrdecay.tracking.store import open_store

    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("ends")).info.run_id
    sink = Sink(open_store(uri, timeout=5.0, max_retries=1), run_id, 60.0)
    sink.start()
    sink.add_tags({"lrdecay.status": "COMPLETED"})
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the send waits; reads go on
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt), stop_on_signals():
            ctrl_c.start()
            sink.close(30.0)
        assert "lrdecay.status" not in client.get_run(run_id).data.tags  # waiting
        threading.Timer(0.5, holder.execute, ("ROLLBACK",)).start()
        left = sink.close(30.0)
    finally:
        ctrl_c.cancel()
        holder.close()
    assert not left
    assert client.get_run(run_id).data.tags["lrdecay.status"] == "COMPLETED"


# -- a real search, stopped at 20 moments -------------------------------------

DRIVER = Path(__file__).with_name("interrupt_search.py")
# Fractions of the timed search's duration at which SIGINT comes: from its
# start (data, model, the parent run) through every trial to its end.
FRACTIONS = [round(0.02 + index * 0.045, 3) for index in range(20)]


def _moments(stdout: str) -> list[dict[str, Any]]:
    import json

    prefix = "LRDECAY_MOMENT "
    return [
        json.loads(line[len(prefix) :])
        for line in stdout.splitlines()
        if line.startswith(prefix)
    ]


def _check_store(store: str) -> dict[str, Any]:
    """No run left RUNNING; every trial run FINISHED/COMPLETED or KILLED/KILLED."""
    import mlflow

    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("lrdecay")
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    assert [run.info.run_name for run in runs if run.info.status == "RUNNING"] == []
    parents = {}
    killed = 0
    for run in runs:
        tags = run.data.tags
        # What a failure shows: which run, under which search, and how it ended.
        seen = (
            run.info.run_name, run.info.status,
            {key: value[:200] for key, value in tags.items() if "lrdecay" in key},
        )  # fmt: skip
        if tags["lrdecay.role"] == "search":
            parents[tags["lrdecay.search"]] = run
            # An ended parent's status tag says what MLflow's status says.
            assert tags.get("lrdecay.status") == run.info.status, seen
            continue
        if run.info.status == "KILLED":
            killed += 1
            assert tags["lrdecay.status"] == "KILLED", seen
        else:
            assert run.info.status == "FINISHED", seen
            assert tags["lrdecay.status"] == "COMPLETED", seen
        assert "lrdecay.trial_status" not in tags, seen
    return {"parents": parents, "killed": killed, "runs": runs}


@pytest.mark.slow
def test_sigint_at_20_moments_always_stops_the_search_and_it_resumes(
    tmp_path: Path,
) -> None:
    processes = []
    for index, fractions in enumerate((FRACTIONS[0::2], FRACTIONS[1::2])):
        folder = tmp_path / f"driver{index}"
        folder.mkdir()
        command = [
            sys.executable, str(DRIVER), "--store", f"sqlite:///{folder}/mlflow.db",
            "--project-dir", str(folder / "projects"),
            "--fractions", ",".join(map(str, fractions)),
        ]  # fmt: skip
        if index == 0:
            command += ["--sigterm-at", "0.5", "--resume", "m05"]
        processes.append(
            subprocess.Popen(
                command,
                cwd=folder,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    # And a fresh `lrdecay search` interrupted while it starts up.
    early = subprocess.Popen(
        [sys.executable, "-m", "lrdecay", "search", "--epochs", "3",
         "--decay-epochs", "1,2", "--kinds", "step",
         "--tracking-uri", f"sqlite:///{tmp_path}/early.db"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        early.send_signal(signal.SIGINT)
        _, early_err = early.communicate(timeout=120)
        outputs = [process.communicate(timeout=400) for process in processes]
    finally:
        for process in [early, *processes]:
            if process.poll() is None:
                process.kill()
                process.wait()
    # 130 from the handler; rarely (2 of 34 runs under load, a Ctrl-C landing
    # inside TensorFlow's import) the interpreter then ends itself by SIGINT at
    # exit, after the same line: a shell reports both as interrupted. Not
    # reproduced on demand; no run or file is involved that early.
    assert early.returncode in (130, -signal.SIGINT), early_err[-3000:]
    assert early_err.splitlines()[-1].startswith("lrdecay: interrupted")

    moments = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
        assert "Exception ignored" not in stderr, stderr[-3000:]
        moments += _moments(stdout)
        print(stderr[-4000:])  # shown if a check below fails: the warnings
    print(*moments, sep="\n")
    assert len(moments) == 21
    assert all(moment["sent"] for moment in moments)
    assert sorted(moment["code"] for moment in moments) == [130] * 20 + [143]

    killed = 0
    stopped_parents = 0
    for index in range(2):
        store = _check_store(f"sqlite:///{tmp_path}/driver{index}/mlflow.db")
        killed += store["killed"]
        for name, parent in store["parents"].items():
            # The first driver resumed m05 to its end.
            finished = name in ("warmup", "timed") or (index, name) == (0, "m05")
            if finished:
                assert parent.info.status == "FINISHED", name
                continue
            # On a loaded machine a late moment can land after the search
            # ended (the command still exits 130): its parent is FINISHED.
            assert parent.info.status in ("KILLED", "FINISHED"), name
            stopped_parents += parent.info.status == "KILLED"
    # Most of the 21 moments stop a parent run. The others land before it
    # exists (data, model and store: the command's first ~20%; no parent
    # then) or after it ended (the command's report; FINISHED): 14 in a
    # full-suite run once the end of a search got quicker (issue 21).
    assert stopped_parents >= 12
    # The moments land in trials, not only before or after them (8 or more
    # on an idle machine; a loaded one stretches the trials the moments were
    # timed on, and fewer land inside one).
    assert killed >= 5

    # The search stopped at m05 resumes in the same parent run and ends.
    resumed = [line for line in outputs[0][0].splitlines() if "RESUMED" in line]
    assert resumed == ["LRDECAY_RESUMED 0"]


def test_ctrl_c_while_the_parent_run_is_set_up_ends_it_killed_and_resumes(
    tmp_path: Path,
    digits: tuple[Any, ...],
    make_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal between the parent run's creation and the first trial.

    The 20-moments test once left a parent RUNNING: its SIGINT landed while
    the run was being set up, before any handler could end it. Here the
    signal comes there on purpose (from the real set-up step that closes
    stale runs, right after the parent is created).
    """
    import mlflow

    from lrdecay import search
    from lrdecay.tuning.record import tracker

    x_train, y_train, x_val, y_val = digits
    close_stale_runs = tracker.SearchRuns.close_stale_runs
    signalled = []

    def close_then_ctrl_c(self: Any, tuner: Any) -> int:
        if not signalled:
            signalled.append(True)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the signal is handled here, in the set-up
        return close_stale_runs(self, tuner)

    monkeypatch.setattr(tracker.SearchRuns, "close_stale_runs", close_then_ctrl_c)
    store = f"sqlite:///{tmp_path}/mlflow.db"
    arguments = dict(
        x=x_train[:256], y=y_train[:256], validation_data=(x_val, y_val),
        epochs=2, kinds=["step"], decay_epochs=[1], control=False, seed=0,
        batch_size=64, project_dir=str(tmp_path / "projects"), project_name="p",
        tracking={"tracking_uri": store}, verbose=0,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        search(lambda hp: make_model(), **arguments)
    assert signalled == [True]
    client = mlflow.MlflowClient(store)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("lrdecay").experiment_id]
    )
    assert (parent.info.status, parent.data.tags["lrdecay.role"]) == (
        "KILLED",
        "search",
    )
    assert parent.data.tags["lrdecay.status"] == "KILLED"

    result = search(lambda hp: make_model(), **arguments)
    runs = client.search_runs([parent.info.experiment_id])
    assert sorted((run.data.tags["lrdecay.role"], run.info.status) for run in runs) == [
        ("search", "FINISHED"),
        ("trial", "FINISHED"),
    ]
    assert result.parent_run_id == parent.info.run_id
    # Resumed, the parent's status tag says how it ended this time.
    assert client.get_run(parent.info.run_id).data.tags["lrdecay.status"] == (
        "FINISHED"
    )


def test_ctrl_c_while_a_trial_s_run_is_created_ends_it_killed(
    tmp_path: Path,
    digits: tuple[Any, ...],
    make_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal right after the store created a trial's run, before its id is known.

    The 20-moments test once left a trial's run RUNNING: the SIGINT landed
    while the fit's run was being created, so neither the logger nor the
    search held its id. Here it comes there on purpose (after the real
    `create_run` has returned, before the id reaches the logger).
    """
    import mlflow

    from lrdecay import search
    from lrdecay.tracking.run import TrackedRun

    x_train, y_train, x_val, y_val = digits
    create = TrackedRun._create
    signalled = []

    def create_then_ctrl_c(self: Any, parent_id: str | None) -> tuple[str, str]:
        created = create(self, parent_id)
        if not signalled and self.logger.tags.get("lrdecay.role") == "trial":
            signalled.append(created[0])
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the signal is handled here, the id not returned
        return created

    monkeypatch.setattr(TrackedRun, "_create", create_then_ctrl_c)
    store = f"sqlite:///{tmp_path}/mlflow.db"
    arguments = dict(
        x=x_train[:256], y=y_train[:256], validation_data=(x_val, y_val),
        epochs=2, kinds=["step"], decay_epochs=[1], control=False, seed=0,
        batch_size=64, project_dir=str(tmp_path / "projects"), project_name="p",
        tracking={"tracking_uri": store}, verbose=0,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        search(lambda hp: make_model(), **arguments)
    assert len(signalled) == 1
    client = mlflow.MlflowClient(store)
    experiment_id = client.get_experiment_by_name("lrdecay").experiment_id
    statuses = {
        run.data.tags["lrdecay.role"]: run.info.status
        for run in client.search_runs([experiment_id])
    }
    assert statuses == {"search": "KILLED", "trial": "KILLED"}
    assert client.get_run(signalled[0]).info.status == "KILLED"

    search(lambda hp: make_model(), **arguments)
    runs = client.search_runs([experiment_id])
    assert sorted((run.data.tags["lrdecay.role"], run.info.status) for run in runs) == [
        ("search", "FINISHED"),
        ("trial", "FINISHED"),
        ("trial", "KILLED"),
    ]

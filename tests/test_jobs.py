"""`search(jobs=N)` / `lrdecay search --jobs N`: trials side by side on one machine.

The slow test runs a real search as KerasTuner's chief with two real worker
processes of lrdecay's own on 127.0.0.1, logging to one SQLite store, and
compares every trial's per-epoch metrics with the same search in one process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import lrdecay_environment, run_lrdecay
from lrdecay.tuning import distributed
from search_store import client, runs, unseeded_digits_model

GIB = 1 << 30


def test_jobs_resolve_to_a_count_and_threads_per_process() -> None:
    assert distributed.resolve_jobs(1, cores=2) == distributed.Jobs(
        1, 2, "jobs=1, 2 thread(s) each"
    )
    two = distributed.resolve_jobs(2, cores=2)
    assert (two.count, two.threads) == (2, 1)
    assert two.environment() == {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    assert distributed.resolve_jobs(3, cores=8).threads == 2
    assert distributed.resolve_jobs(4, cores=2).threads == 1


def test_auto_jobs_are_the_cores_the_memory_allows() -> None:
    auto = distributed.resolve_jobs("auto", cores=8, memory=3 * GIB)
    assert (auto.count, auto.threads) == (3, 2)
    assert auto.reason == (
        "jobs=auto: 3 (8 cores, 3.0 GiB available at ~1.0 GiB a process), "
        "2 thread(s) each"
    )
    assert distributed.resolve_jobs("AUTO", cores=2, memory=64 * GIB).count == 2
    assert distributed.resolve_jobs("auto", cores=4, memory=GIB // 2).count == 1


@pytest.mark.parametrize(
    ("jobs", "error", "match"),
    [
        (0, ValueError, "jobs=0"),
        (-2, ValueError, "jobs=-2"),
        ("all", ValueError, "jobs='all'"),
        (2.0, TypeError, "jobs=2.0 of type float"),
        (True, TypeError, "jobs=True of type bool"),
    ],
)
def test_bad_jobs_name_the_value(jobs: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        distributed.resolve_jobs(jobs)


@pytest.mark.parametrize("value", ["0", "two", "1.5"])
def test_bad_jobs_flag_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    result = run_lrdecay("search", "--jobs", value, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "argument --jobs: expected a number of trials at a time >= 1 or " in (
        result.stderr
    )
    assert repr(value) in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def _trial_curves(folder: Path) -> tuple[list[Any], dict[tuple[str, str], Any]]:
    """The parent runs, and each trial run's per-epoch metrics by its settings."""
    store = client(folder)
    curves = {}
    for run in runs(store, "trial"):
        assert run.info.status == "FINISHED"
        key = (run.data.params["decay_kind"], run.data.params.get("decay_epochs", ""))
        assert key not in curves
        curves[key] = {
            name: [m.value for m in sorted(store.get_metric_history(
                run.info.run_id, name), key=lambda m: m.step)]
            for name in ("loss", "val_loss", "accuracy", "learning_rate")
        }  # fmt: skip
        assert (
            run.data.tags["mlflow.parentRunId"] == runs(store, "search")[0].info.run_id
        )
    return runs(store, "search"), curves


@pytest.mark.slow
def test_two_jobs_give_the_numbers_of_one(tmp_path: Path, digits: Any) -> None:
    import lrdecay

    x, y, x_val, y_val = digits

    def searched(folder: Path, jobs: int) -> Any:
        return lrdecay.search(
            unseeded_digits_model(16),
            x[:300],
            y[:300],
            validation_data=(x_val[:100], y_val[:100]),
            kinds=("step", "exponential"),
            decay_epochs=[1, 2],
            epochs=3,
            seed=0,
            project_dir=folder / "project",
            tracking=f"sqlite:///{folder}/mlflow.db",
            jobs=jobs,
        )

    one = searched(tmp_path / "one", 1)
    two = searched(tmp_path / "two", 2)
    _, curves_one = _trial_curves(tmp_path / "one")
    parents_two, curves_two = _trial_curves(tmp_path / "two")
    assert len(parents_two) == 1 and parents_two[0].info.status == "FINISHED"
    assert sorted(curves_two) == [
        ("constant", ""), ("exponential", "1"), ("exponential", "2"),
        ("step", "1"), ("step", "2"),
    ]  # fmt: skip
    assert curves_two == curves_one
    assert all(len(curve["val_loss"]) == 3 for curve in curves_two.values())
    assert two.winner.trial_id == one.winner.trial_id
    assert two.winner.score == one.winner.score
    # Branches started beside the trunk waited for its epochs: none twice.
    assert two.cost.epochs_trained == one.cost.epochs_trained


def _hold_trunk_lock(trunk: Path) -> subprocess.Popen[str]:
    """A second process holding `TrunkWriter`'s lock on `trunk` (until killed)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from lrdecay.tuning.prefixes.trunk_lock import WriterLock\n"
         f"assert WriterLock({str(trunk)!r}).acquire()\n"
         "print('held', flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    return holder


def test_grid_oracle_hands_out_branches_once_the_trunk_is_being_written(
    tmp_path: Path,
) -> None:
    import keras_tuner

    from lrdecay.tuning.pipeline.oracles import ParallelGridSearchOracle

    hps = keras_tuner.HyperParameters()
    hps.Choice("decay_kind", ["constant", "step", "exponential"])
    oracle = ParallelGridSearchOracle(
        objective=keras_tuner.Objective("score", "min"),
        hyperparameters=hps,
        trunk_trial=lambda values: values.get("decay_kind") == "constant",
    )
    oracle._set_project_dir(str(tmp_path), "grid")
    trunk = oracle.create_trial("worker-1")
    assert (trunk.status, trunk.hyperparameters.values) == (
        "RUNNING",
        {"decay_kind": "constant"},
    )
    # Until the trunk's writer holds its lock, the other worker waits.
    assert oracle.create_trial("worker-2").status == "IDLE"
    assert oracle.create_trial("worker-1").trial_id == trunk.trial_id
    holder = _hold_trunk_lock(tmp_path / "grid" / "trunks" / "a-trunk-key")
    try:
        branch = oracle.create_trial("worker-2")
    finally:
        holder.kill()
        holder.wait()
    assert (branch.status, branch.hyperparameters.values) == (
        "RUNNING",
        {"decay_kind": "step"},
    )
    # The writer gone (its trial not ended): the next one waits again.
    assert oracle.create_trial("worker-3").status == "IDLE"
    trunk.status = "COMPLETED"
    oracle.update_trial(trunk.trial_id, {"score": 1.0})
    oracle.end_trial(trunk)
    last = oracle.create_trial("worker-3")
    assert last.hyperparameters.values == {"decay_kind": "exponential"}
    assert oracle.create_trial("worker-1").status == "STOPPED"


def test_a_branch_waits_while_another_process_writes_its_trunk(
    tmp_path: Path,
) -> None:
    """The lock of `TrunkWriter`, held by a real second process."""
    from lrdecay.tuning.prefixes import trunk_lock

    trunk = tmp_path / "trunk"
    holder = _hold_trunk_lock(trunk)
    try:
        assert trunk_lock.being_written(str(trunk))
        # This process cannot take it; one of its own never makes it wait.
        assert not trunk_lock.WriterLock(str(trunk)).acquire()
        looks = []

        def enough() -> bool:
            looks.append(time.monotonic())
            return len(looks) == 3

        waited = trunk_lock.wait_for_trunk(str(trunk), enough)
        assert len(looks) == 3 and waited >= 2 * trunk_lock.POLL_S * 0.9
        # A writer that stores nothing new (hung) is waited for no longer.
        waited = trunk_lock.wait_for_trunk(str(trunk), lambda: False, stall_s=0.5)
        assert 0.5 <= waited < trunk_lock.STALL_S  # not the default 120 s
    finally:
        holder.kill()
        holder.wait()
    # The writer died: nobody waits on it, and its lock is free to take.
    assert not trunk_lock.being_written(str(trunk))
    assert trunk_lock.wait_for_trunk(str(trunk), lambda: False) < trunk_lock.POLL_S
    mine = trunk_lock.WriterLock(str(trunk))
    assert mine.acquire()
    assert not trunk_lock.being_written(str(trunk))  # held by this process
    mine.release()
    mine.release()  # idempotent


def _processes_under(folder: Path) -> list[str]:
    """The command lines of running processes that name `folder`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = status.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in line:
            found.append(line)
    return found


@pytest.mark.slow
def test_jobs_command_starts_its_workers_early_and_stops_them_on_bad_input(
    tmp_path: Path,
) -> None:
    """`--jobs 2` from the command line: the workers it starts ahead end."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = lrdecay_environment(TMPDIR=str(temporary))  # the workers' folder
    bad = run_lrdecay(
        "search", "--jobs", "2", "--data", "missing.csv", "--target", "y",
        cwd=tmp_path, timeout=120, env=environment,
    )  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.count("\n") == 1 and "missing.csv" in bad.stderr
    assert _processes_under(temporary) == []

    good = run_lrdecay(
        "search", "--jobs", "2", "--epochs", "3", "--decay-epochs", "1,2",
        "--kinds", "step", "--seed", "0",
        "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
        cwd=tmp_path, timeout=300, env=environment,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr[-3000:]
    assert "epochs: 6 trained of 9 (67%)" in good.stdout, good.stdout
    assert _processes_under(temporary) == []
    store = client(tmp_path)
    assert sorted(
        (run.data.params["decay_kind"], run.info.status) for run in runs(store, "trial")
    ) == [("constant", "FINISHED"), ("step", "FINISHED"), ("step", "FINISHED")]

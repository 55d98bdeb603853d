"""`lrdecay budget`: the table, the verdict, the epochs line; bad input exit 2.

A config file's `[budget]` and `[find-lr]` tables are read as `[search]` is:
real commands, real SQLite stores read back with `MlflowClient`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_lrdecay


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--budgets", "4,x"], "--budgets: expected a whole number, got 'x'"),
        (["--budgets", "4,4"], "must not repeat a budget. Received: budgets=[4, 4]"),
        (["--cooldown", "1.5"], "Received: cooldown=1.5"),
        (["--shape", "cos"], "invalid choice: 'cos'"),
        (["--objective", "loss"], "--objective 'loss'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    from lrdecay.cli.main import main

    code = main(["budget", *flags, "--project-dir", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lrdecay: error: "), err
    assert message in err
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_lrdecay_budget_prints_the_table_the_verdict_and_the_epochs(
    tmp_path: Path,
) -> None:
    done = run_lrdecay(
        "budget", "--budgets", "2,4", "--cooldown", "0.5", "--repeats", "2",
        "--seed", "3", "--batch-size", "128", "--tracking-uri",
        f"sqlite:///{tmp_path}/mlflow.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = lines.index("budget  cooldown from          val_loss (WSD)  constant rate")
    assert [line.split()[0] for line in lines[header + 1 : header + 3]] == ["2", "4"]
    # Per seed: the trunk to budget 4's departure (3), then budget 4's last
    # epoch (budget 2's one-epoch cooldown runs at the constant rate: all
    # trunk); independent runs: 2 + 4.
    assert "epochs: 8 trained of 12 (67%)" in lines, lines
    code = "WSDDecay(initial_lr=0.1, decay_epochs="
    assert any(line.startswith(code) for line in lines), lines
    assert lines[header + 3] == (
        "(constant rate -: past the constant-rate trunk, which ends where the "
        "longest cooldown starts, epoch 3)"
    )
    verdict = lines[header + 4]
    assert "spread" in verdict, verdict
    assert "lrdecay/budget_curve.png" in done.stdout


def test_dry_run_prints_the_plan_and_trains_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.cli.main import main

    code = main(
        [
            "budget", "--budgets", "80,20,60,40", "--dry-run",
            "--project-dir", str(tmp_path / "p"),
            "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[1:] == [
        "budget 20: constant rate to epoch 16, cooldown epochs 17-19",
        "budget 40: constant rate to epoch 32, cooldown epochs 33-39",
        "budget 60: constant rate to epoch 48, cooldown epochs 49-59",
        "budget 80: constant rate to epoch 64, cooldown epochs 65-79",
        "trunk     65 epochs per seed, shared by every budget",
        "epochs: 101 to train of 200 (50%)",
        f"tracking  sqlite:///{tmp_path}/mlflow.db, experiment 'lrdecay'",
        "seed      picked when it runs",
        "Dry run: nothing trained, no project file or MLflow run created.",
    ]
    # The model was built and checked; nothing was written.
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_budget_on_a_csv_is_named_after_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    from mlflow import MlflowClient

    from lrdecay.cli.main import main

    rows = np.random.default_rng(0).normal(size=(80, 3)).round(3)
    lines = [f"{a},{b},{c},{int(a + b > 0)}" for a, b, c in rows]
    (tmp_path / "houses.csv").write_text("a,b,c,y\n" + "\n".join(lines) + "\n")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    flags = [
        "budget", "--data", str(tmp_path / "houses.csv"), "--target", "y",
        "--budgets", "1,2", "--cooldown", "0.5", "--seed", "1",
        "--project-dir", str(tmp_path / "p"), "--tracking-uri", uri,
    ]  # fmt: skip
    code = main(flags)
    assert code == 0, capsys.readouterr().err
    (project,) = [p.name for p in (tmp_path / "p").iterdir() if p.name[0] != "."]
    assert project.startswith("budget-houses-") and len(project) == 22, project
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("lrdecay")
    (parent,) = client.search_runs(
        [experiment.experiment_id], "tags.`lrdecay.role` = 'search'"
    )
    assert parent.info.run_name == project


# One file for every command: a top-level setting is read by each, a table
# only by its own command.
CONFIG = """
tracking-uri = "sqlite:///mlflow.db"

[search]
kinds = ["step"]
epochs = 3

[budget]
budgets = [2, 4]
cooldown = 0.5
seed = 9
batch-size = 128
experiment = "budgets"

[find-lr]
num-steps = 20
end-lr = 1.0
seed = 1
out = "range.png"
experiment = "ranges"
"""


def test_dry_run_reads_the_budget_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.cli.main import main

    (tmp_path / "lrdecay.toml").write_text(CONFIG)
    code = main(["budget", "--config", "lrdecay.toml", "--dry-run", "--seed", "3"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[1:] == [
        "budget 2: constant rate to epoch 1, no epoch off the constant rate",
        "budget 4: constant rate to epoch 2, cooldown epochs 3-3",
        "trunk     3 epochs per seed, shared by every budget",
        "epochs: 4 to train of 6 (67%)",
        "tracking  sqlite:///mlflow.db, experiment 'budgets'",
        "seed      3",  # the flag wins over the file's 9
        "Dry run: nothing trained, no project file or MLflow run created.",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lrdecay.toml"]


def test_a_setting_in_another_commands_table_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.cli.main import main

    (tmp_path / "lrdecay.toml").write_text("[budget]\nepochs = 3\n")
    assert main(["budget", "--config", "lrdecay.toml", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(
        "lrdecay: error: Unknown setting 'epochs' in config file 'lrdecay.toml'; "
        "known: batch-size, budgets, "
    ), err


@pytest.mark.slow
def test_budget_and_find_lr_run_from_their_tables(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    (tmp_path / "lrdecay.toml").write_text(CONFIG)
    budget = run_lrdecay(
        "budget", "--config", "lrdecay.toml", "--seed", "3", cwd=tmp_path
    )
    assert budget.returncode == 0, budget.stdout + budget.stderr
    assert "epochs: 4 trained of 6 (67%)" in budget.stdout.splitlines()
    find_lr = run_lrdecay("find-lr", "--config", "lrdecay.toml", cwd=tmp_path)
    assert find_lr.returncode == 0, find_lr.stdout + find_lr.stderr
    assert "Plot written to range.png" in find_lr.stdout.splitlines()
    assert (tmp_path / "range.png").is_file()

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    budgets = client.search_runs(
        [client.get_experiment_by_name("budgets").experiment_id]
    )
    assert {run.info.status for run in budgets} == {"FINISHED"}
    (parent,) = [r for r in budgets if r.data.tags["lrdecay.role"] == "search"]
    assert parent.data.params["budgets"] == "2,4"
    assert sorted(
        (run.info.run_name, run.data.params["cooldown"])
        for run in budgets
        if run is not parent
    ) == [("budget 2 seed=3", "0.5"), ("budget 4 seed=3", "0.5")]
    (range_test,) = client.search_runs(
        [client.get_experiment_by_name("ranges").experiment_id]
    )
    assert range_test.info.run_name == "lr-range-test"
    assert range_test.info.status == "FINISHED"
    rates = client.get_metric_history(range_test.info.run_id, "lr_range/lr")
    assert len(rates) == 20  # num-steps
    assert max(point.value for point in rates) == pytest.approx(1.0)  # end-lr

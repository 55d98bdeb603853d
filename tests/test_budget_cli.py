"""`lrdecay budget`: the table, the verdict, the epochs line; bad input exit 2."""

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

"""The `lrdecay` command: parser, config files, preview, bad input, search, report.

Most tests call `lrdecay.cli.main.main(argv)` in-process; a few run the command
(`python -m lrdecay`) in a subprocess to check what a user sees: exit codes,
one-line errors, no TensorFlow import where none is needed.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import run_lrdecay
from lrdecay.cli import main as cli
from lrdecay.errors import ConfigError
from lrdecay.schedules import ExponentialSchedule, MultiStepSchedule, StepSchedule


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_table(text: str) -> tuple[list[str], dict[int, list[float]]]:
    """The preview table: column headers and epoch -> rates."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("epoch"))
    headers = lines[start].split("  ")
    rows: dict[int, list[float]] = {}
    for line in lines[start + 2 :]:
        cells = line.split()
        if not cells or not cells[0].isdigit():
            break
        rows[int(cells[0])] = [float(cell) for cell in cells[1:]]
    return [header.strip() for header in headers if header.strip()], rows


# --------------------------------------------------------------------------
# preview


def test_preview_table_and_png_match_the_formula(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "curves.png"
    code = cli.main(
        [
            "preview",
            "--kind", "step",
            "--initial-lr", "0.1",
            "--drop", "0.5",
            "--epochs-drop", "30",
            "--epochs", "100",
            "--decay", "exponential:k=0.05",
            "--decay", "multistep:milestones=20,70,drop=0.2",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    headers, rows = parse_table(capsys.readouterr().out)
    assert headers[0] == "epoch"
    assert headers[1].startswith("step(")
    # Every 5th epoch, the last one, and each step change.
    assert sorted(rows) == sorted({*range(0, 100, 5), 99, 30, 60, 90, 20, 70})
    for epoch, (step, exponential, multistep) in rows.items():
        assert step == pytest.approx(0.1 * 0.5 ** (epoch // 30), rel=1e-5)
        assert exponential == pytest.approx(0.1 * math.exp(-0.05 * epoch), rel=1e-5)
        drops = (epoch >= 20) + (epoch >= 70)
        assert multistep == pytest.approx(0.1 * 0.2**drops, rel=1e-5)


def test_preview_half_life_and_every(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["preview", "--decay", "exponential:half_life=10", "--epochs", "31",
         "--every", "10", "--initial-lr", "0.2"]
    )  # fmt: skip
    assert code == 0
    headers, rows = parse_table(capsys.readouterr().out)
    assert headers[1] == "exponential(initial_lr=0.2, half_life=10)"
    assert {epoch: rates[0] for epoch, rates in rows.items()} == pytest.approx(
        {0: 0.2, 10: 0.1, 20: 0.05, 30: 0.025}, rel=1e-5
    )
    assert Path("lrdecay_preview.png").is_file()


def test_preview_curves_equal_the_schedules() -> None:
    from lrdecay.cli.preview import parse_decay

    curve = parse_decay("step:epochs_drop=7,drop=0.3", {"initial_lr": 0.5})
    assert curve.schedule == StepSchedule(initial_lr=0.5, drop=0.3, epochs_drop=7)
    # Without an initial rate, a preview starts from 0.1 (the decays
    # themselves start from the optimizer's rate, unknown to a preview).
    curve = parse_decay("multistep:milestones=3,9")
    assert curve.schedule == MultiStepSchedule(initial_lr=0.1, milestones=(3, 9))
    curve = parse_decay("exponential:k=0.2,warmup_epochs=2")
    assert curve.schedule == ExponentialSchedule(initial_lr=0.1, k=0.2, warmup_epochs=2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["preview"], "Nothing to preview"),
        (["preview", "--decay", "plateau:patience=3"], "no curve before training"),
        (["preview", "--decay", "triangular"], "Unknown decay kind 'triangular'"),
        (
            ["preview", "--decay", "cosine"],
            "cosine decay needs decay_epochs: e.g. --decay cosine:decay_epochs=50",
        ),
        (["preview", "--decay", "step:foo=3"], "no setting 'foo'"),
        (["preview", "--decay", "step:drop=3"], "drop=3.0"),
        (["preview", "--decay", "step:epochs_drop=x"], "epochs_drop=x"),
        (["preview", "--drop", "0.5"], "--drop need --kind"),
        (["preview", "--kind", "step", "--out", "a.jpg"], "'a.jpg'"),
        (["preview", "--kind", "step", "--epochs", "0"], "'0'"),
        (["search", "--algorithm", "annealing"], "'annealing'"),
        (["search", "--kinds", "step,triangular"], "'triangular'"),
        (["search", "--decay-epochs", ","], "empty decay-epoch grid"),
        (["search", "--decay-epochs", "50:10"], "'50:10'"),
        (["search", "--decay-epochs", "10,-5"], "-5"),
        (["search", "--epochs", "ten"], "'ten'"),
        (["search", "--config", "missing.toml"], "'missing.toml'"),
        (["search", "--unknown-flag"], "--unknown-flag"),
        (["search", "--objective", "accuracy"], "validation metric"),
        (["search", "--target", "y"], "needs --data"),
        (["search", "--task", "regression"], "classification problem"),
        (["frobnicate"], "'frobnicate'"),
        (["replay", "lrdecay-offline/missing.json"], "'lrdecay-offline/missing.json'"),
        (["report"], "mlflow.db not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lrdecay: error: ")
    assert message in lines[0]
    assert "Traceback" not in captured.err


def test_unreachable_server_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", unreachable)
    assert cli.main(["search"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"Cannot reach the MLflow tracking server at {unreachable}" in err


# --------------------------------------------------------------------------
# parser and config files


def test_search_flags_parse() -> None:
    from lrdecay.tuning.searchspace.space import Range

    parser = cli.build_parser()
    args = cli.parse_args(
        parser,
        ["search", "--algorithm", "Random", "--kinds", "step,plateau",
         "--decay-epochs", "10:50", "--epochs", "60", "--max-trials", "5",
         "--data", "d.csv", "--target", "y", "--experiment", "e",
         "--tracking-uri", "http://h:5000", "--project-dir", "p", "--quiet",
         "--initial-lr", "0.1,0.01", "--model", "m:f", "--batch-size", "64",
         "--no-share-prefix"],
    )  # fmt: skip
    assert args.algorithm == "random"
    assert args.no_share_prefix is True
    assert args.kinds == ("step", "plateau")
    assert args.decay_epochs == Range(10, 50)
    assert (args.epochs, args.max_trials, args.batch_size) == (60, 5, 64)
    assert (args.data, args.target, args.model) == ("d.csv", "y", "m:f")
    assert (args.experiment, args.tracking_uri) == ("e", "http://h:5000")
    assert (args.project_dir, args.verbosity) == ("p", 0)
    assert args.initial_lr == [0.1, 0.01]
    grid = cli.parse_args(parser, ["search", "--decay-epochs", "10,20,30,50"])
    assert grid.decay_epochs == [10, 20, 30, 50]
    fractions = cli.parse_args(parser, ["search", "--decay-epochs", "0.25,0.5"])
    assert fractions.decay_epochs == [0.25, 0.5]
    stepped = cli.parse_args(parser, ["search", "--decay-epochs", "10:50:10"])
    assert stepped.decay_epochs == Range(10, 50, 10)


def test_overwrite_flag_is_the_tuner_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--overwrite` reaches `search(tuner_options={"overwrite": True})`."""
    project = tmp_path / "project" / "mine"
    project.mkdir(parents=True)
    (project / "oracle.json").write_text("{}")
    argv = [
        "search", "--dry-run", "--project-dir", str(tmp_path / "project"),
        "--project-name", "mine", "--epochs", "2", "--kinds", "step",
        "--decay-epochs", "1", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    assert "exists: the search would resume it" in capsys.readouterr().out
    assert cli.main([*argv, "--overwrite"]) == 0
    captured = capsys.readouterr()
    assert "exists: the search would start it afresh (overwrite)" in captured.out
    assert "Deprecat" not in captured.err


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_config_file_holds_the_flags_and_flags_win(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"lrdecay{suffix}"
    if suffix == ".toml":
        path.write_text(
            'experiment = "shared"\n'
            "[search]\n"
            'algorithm = "random"\n'
            'kinds = ["step", "exponential"]\n'
            'decay-epochs = "10:50"\n'
            "epochs = 60\n"
            "max_trials = 8\n"
            "quiet = true\n"
            "[preview]\n"
            "epochs = 7\n"
        )
    else:
        path.write_text(
            "experiment: shared\n"
            "search:\n"
            "  algorithm: random\n"
            "  kinds: [step, exponential]\n"
            "  decay-epochs: '10:50'\n"
            "  epochs: 60\n"
            "  max_trials: 8\n"
            "  quiet: true\n"
            "preview:\n"
            "  epochs: 7\n"
        )
    parser = cli.build_parser()
    args = cli.parse_args(parser, ["search", "--config", str(path), "--epochs", "70"])
    assert args.algorithm == "random"
    assert args.kinds == ("step", "exponential")
    assert (args.epochs, args.max_trials) == (70, 8)
    assert args.experiment == "shared"
    assert args.verbosity == 0
    verbose = cli.parse_args(parser, ["search", "--config", str(path), "--verbose"])
    assert verbose.verbosity == 2


def test_config_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = tmp_path / "a.toml"
    unknown.write_text("[search]\nepochz = 3\n")
    bad_value = tmp_path / "b.yaml"
    bad_value.write_text("search:\n  epochs: -3\n")
    broken = tmp_path / "c.toml"
    broken.write_text("[search\n")
    wrong_format = tmp_path / "d.json"
    wrong_format.write_text("{}")
    for path, message in [
        (unknown, "Unknown setting 'epochz'"),
        (bad_value, "argument --epochs: expected a number > 0, got '-3'"),
        (broken, "Invalid TOML"),
        (wrong_format, "'.json'"),
    ]:
        assert cli.main(["search", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_help_and_parser_do_not_import_heavy_modules(tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from lrdecay.cli import main as cli\n"
        "heavy = {'tensorflow', 'keras', 'mlflow', 'keras_tuner', 'matplotlib'}\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['search', '--help'], ['report', '--help']):\n"
        "        try:\n"
        "            cli.main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    print(sorted(heavy & set(sys.modules)), file=sys.stderr)\n"
        "    cli.main(['preview', '--kind', 'step', '--epochs', '5'])\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"  # --help: not even matplotlib
    assert result.stdout.strip() == "['matplotlib']"  # preview draws, no Keras


def test_python_m_lrdecay_runs_the_command(tmp_path: Path) -> None:
    from lrdecay import __version__

    result = run_lrdecay("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"lrdecay {__version__}"
    result = run_lrdecay("replay", "missing.json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "lrdecay: error: offline run file not found: 'missing.json'"
    )


def test_search_defaults_are_lrdecay_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lrdecay import defaults, schedules
    from lrdecay.cli.search import data_identity, search_settings

    parser = cli.build_parser()
    args = cli.parse_args(parser, ["search"])
    settings = search_settings(args)
    assert settings == {
        "algorithm": defaults.ALGORITHM,
        "kinds": schedules.DEFAULT_KINDS,
        "decay_epochs": list(defaults.DECAY_EPOCHS),
        "initial_lr": None,
        "epochs": defaults.EPOCHS,
        "max_trials": None,
        "batch_size": defaults.BATCH_SIZE,
        "objective": defaults.OBJECTIVE,
        "seed": defaults.SEED,
        "control": defaults.CONTROL,
        "share_prefix": defaults.SHARE_PREFIX,
        "repeats": defaults.REPEATS,
        "project_dir": defaults.PROJECT_DIR,
        "experiment_name": defaults.EXPERIMENT,
        "tracking_uri": None,
    }
    # The bundled digits and the default model: the project `lrdecay.search()`
    # names for the same settings.
    assert data_identity(args) is None
    for flags in (["--val-split", "0.2"], ["--model", "m:f"]):
        assert data_identity(cli.parse_args(parser, ["search", *flags])) is not None
    own = cli.parse_args(
        parser, ["search", "--data", "sub/houses.csv", "--target", "y"]
    )
    identity = data_identity(own)
    assert identity is not None
    assert (identity["name"], identity["target"]) == ("houses", "y")
    assert defaults.project_name(search_settings(own), identity).startswith(
        "grid-houses-"
    )
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    assert search_settings(args)["experiment_name"] == "from-env"


def test_keras_tuner_debug_flag_is_restored_on_error() -> None:
    from keras_tuner.src import config

    from lrdecay._compat.keras_tuner import debug_tracebacks

    before = config.DEBUG
    with pytest.raises(KeyboardInterrupt), debug_tracebacks(not before):
        assert config.DEBUG is (not before)
        raise KeyboardInterrupt
    assert config.DEBUG is before


# --------------------------------------------------------------------------
# the installed command, in a subprocess


@pytest.mark.slow
def test_bad_inputs_in_a_subprocess(tmp_path: Path) -> None:
    (tmp_path / "no_target.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "words.csv").write_text("a,b,y\n1,x,0\n3,4,1\n")
    unreachable = f"http://127.0.0.1:{free_port()}"
    cases = [
        (["search", "--data", "missing.csv", "--target", "y"], "'missing.csv'"),
        (["search", "--data", "no_target.csv", "--target", "y"], "'y' not found"),
        (["search", "--data", "words.csv", "--target", "y"], "'b'"),
        (["search", "--algorithm", "annealing"], "'annealing'"),
        (["search", "--kinds", "triangular"], "'triangular'"),
        (["search", "--decay-epochs", ","], "empty decay-epoch grid"),
        (["search", "--decay-epochs", "10,60"], "beyond the epoch budget"),
        (["search", "--tracking-uri", unreachable], "Cannot reach"),
        (["report", "--tracking-uri", unreachable], "Cannot reach"),
    ]
    for argv, message in cases:
        result = run_lrdecay(*argv, cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stderr)
        assert result.stderr.count("\n") == 1, (argv, result.stderr)
        assert message in result.stderr
        assert result.stdout == ""
    # Nothing was created: no store, no tuner project.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "no_target.csv",
        "words.csv",
    ]


# --------------------------------------------------------------------------
# search and report, end to end

TINY_SEARCH = [
    "search",
    "--no-control",
    "--decay-epochs", "1",
    "--epochs", "2",
    "--batch-size", "128",
]  # fmt: skip


def table_rows(text: str, header_start: str = "rank") -> list[list[str]]:
    """The rows of the ranked trials table in `text` (split on 2+ spaces)."""
    import re

    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def store_runs(tmp_path: Path) -> tuple[Any, list[Any], list[Any]]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("lrdecay")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("lrdecay.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("lrdecay.role") == "trial"]
    assert len(parents) + len(trials) == len(runs)
    return client, parents, trials


@pytest.mark.slow
def test_search_logs_ranks_resumes_and_reports(tmp_path: Path) -> None:
    first = run_lrdecay(*TINY_SEARCH, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "[3/3] trial" in first.stdout
    rows = table_rows(first.stdout)
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert sorted((row[2], row[3]) for row in rows) == [
        ("exponential", "half_life=1"),
        ("plateau", "patience=1 factor=0.5"),
        ("step", "epochs_drop=1 drop=0.5"),
    ]
    scores = [float(row[4]) for row in rows]
    assert scores == sorted(scores)
    assert "mlflow ui --backend-store-uri sqlite:///" in first.stdout
    # Every trial shares epoch 0 (the step and exponential decays depart
    # at 1, the plateau never within 2 epochs): 2 + 1 + 1 of 3 x 2.
    assert "epochs: 4 trained of 6 (67%)" in first.stdout

    client, parents, trials = store_runs(tmp_path)
    assert len(parents) == 1 and len(trials) == 3
    parent_id = parents[0].info.run_id
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent_id}
    assert {t.info.status for t in [*parents, *trials]} == {"FINISHED"}
    # The table's score of each trial is its run's best val_loss.
    best_by_trial = {
        t.data.tags["lrdecay.trial_id"]: min(
            m.value for m in client.get_metric_history(t.info.run_id, "val_loss")
        )
        for t in trials
    }
    assert {row[1]: float(row[4]) for row in rows} == pytest.approx(
        best_by_trial, abs=6e-5
    )

    # The same command again resumes: nothing re-runs, nothing is duplicated.
    again = run_lrdecay(*TINY_SEARCH, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stdout
    assert "] trial" not in again.stdout
    assert table_rows(again.stdout) == rows
    _, parents_again, trials_again = store_runs(tmp_path)
    assert [p.info.run_id for p in parents_again] == [parent_id]
    assert len(trials_again) == 3

    report = run_lrdecay("report", "--out", "compare.png", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert table_rows(report.stdout) == rows
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_failed_search_exits_1_and_leaves_no_run_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A model whose training step fails: every trial fails. (One whose loss
    # cannot take the labels is found before any trial: tests/test_checks.py.)
    (tmp_path / "broken_model.py").write_text(
        "import keras\n"
        "class Broken(keras.Sequential):\n"
        "    def train_step(self, *args, **kwargs):\n"
        "        raise ValueError('Incompatible shapes: [128,10] vs. [128]')\n"
        "def build(input_shape, num_outputs):\n"
        "    model = Broken([keras.Input(input_shape),\n"
        "                    keras.layers.Dense(num_outputs, activation='softmax')])\n"
        "    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')\n"
        "    return model\n"
    )
    from keras_tuner.src import config

    debug = config.DEBUG
    code = cli.main(
        [*TINY_SEARCH, "--model", "broken_model:build",
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert config.DEBUG is debug  # KerasTuner's flag, as the search found it
    last_line = captured.err.strip().splitlines()[-1]
    assert last_line.startswith("lrdecay: search failed: ")
    assert "Incompatible shapes" in last_line
    assert "Traceback" not in captured.err + captured.out
    assert "FAILED" in captured.out
    _, parents, trials = store_runs(tmp_path)
    assert len(trials) == 3 and {t.info.status for t in trials} == {"FAILED"}
    assert "RUNNING" not in {p.info.status for p in parents}


@pytest.mark.slow
def test_search_on_a_regression_csv_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((80, 3))
    price = x @ [1.0, 2.0, -1.0] + 0.5
    lines = ["rooms,age,noise,price"] + [
        f"{a:.4f},{b:.4f},{c:.4f},{p:.4f}"
        for (a, b, c), p in zip(x, price, strict=True)
    ]
    (tmp_path / "houses.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "search.yaml").write_text(
        "search:\n  algorithm: random\n  max-trials: 2\n  kinds: [plateau]\n"
        "  decay-epochs: '1:2'\n  epochs: 2\n  quiet: true\n"
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    code = cli.main(
        ["search", "--config", "search.yaml", "--data", "houses.csv",
         "--target", "price", "--tracking-uri", uri, "--no-control",
         "--no-share-prefix"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    # --quiet: no banner, no table, just the decay to paste and its test score.
    code_line, score_line = out.splitlines()
    assert code_line.startswith("PlateauDecay(")
    assert score_line.startswith("test R² ")
    assert score_line.endswith(" in price (16 held-out samples)")
    assert cli.main(["report", "--tracking-uri", uri, "-q"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 2
    assert {row[2] for row in rows} == {"plateau"}
    _, parents, trials = store_runs(tmp_path)
    assert len(parents) == 1 and len(trials) == 2
    assert trials[0].data.params["decay_kind"] == "plateau"
    assert parents[0].data.params["share_prefix"] == "False"


@pytest.mark.parametrize("written_by", ["this version", "earlier versions"])
def test_report_ranks_runs_read_from_mlflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written_by: str
) -> None:
    """Runs written straight through MlflowClient, tagged as a search writes them.

    Earlier versions tagged a trial run with its kind (`lrdecay.kind`) and
    KerasTuner's status (`lrdecay.trial_status`, beside the fit's end in
    `lrdecay.status`); this one has the param `decay_kind` and one status tag.
    """
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("lrdecay")

    def search_run(name: str) -> str:
        run = client.create_run(
            experiment_id,
            run_name=name,
            tags={"lrdecay.role": "search", "lrdecay.search": name},
        )
        client.log_param(run.info.run_id, "objective", "val_loss")
        client.set_terminated(run.info.run_id, "FINISHED")
        return str(run.info.run_id)

    def trial_run(
        parent: str, trial_id: str, kind: str, params: dict[str, Any],
        val_loss: list[float], status: str = "FINISHED", score: str | None = None,
    ) -> None:  # fmt: skip
        tags = {
            "mlflow.parentRunId": parent,
            "lrdecay.role": "trial",
            "lrdecay.trial_id": trial_id,
        }
        if written_by == "earlier versions":
            tags["lrdecay.kind"] = kind
            tags["lrdecay.trial_status"] = "COMPLETED"
            tags["lrdecay.status"] = "FINISHED"
        else:
            params = {"decay_kind": kind, **params}
            tags["lrdecay.status"] = "COMPLETED"
        if score is not None:
            tags["lrdecay.score"] = score
        run_id = client.create_run(experiment_id, tags=tags).info.run_id
        client.log_batch(
            run_id,
            params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()],
            metrics=[
                mlflow.entities.Metric(key, value, 0, epoch)
                for epoch, loss in enumerate(val_loss)
                for key, value in (("val_loss", loss), ("learning_rate", 0.1))
            ],
        )
        client.set_terminated(run_id, status)

    older = search_run("older")
    trial_run(older, "0000", "step", {"step/epochs_drop": 5}, [0.01])
    latest = search_run("latest")
    trial_run(
        latest, "0000", "step",
        {"step/epochs_drop": 10, "step/drop": 0.5, "step/initial_lr": 0.1,
         "step/min_lr": 0.0, "decay_kind": "step"},
        [0.9, 0.5, 0.6], score="0.5",
    )  # fmt: skip
    trial_run(
        latest, "0001", "exponential", {"exponential/k": math.log(2) / 20},
        [0.8, 0.3, 0.4],
    )  # fmt: skip
    trial_run(
        latest, "0002", "plateau",
        {"plateau/patience": 3, "plateau/factor": 0.1, "plateau/monitor": "val_loss"},
        [0.7, 0.2], status="KILLED",
    )  # fmt: skip
    trial_run(
        latest, "0002", "plateau", {"plateau/patience": 3, "plateau/factor": 0.1},
        [0.7, 0.4],
    )  # fmt: skip
    trial_run(latest, "0003", "plateau", {"plateau/patience": 9}, [], status="FAILED")

    assert cli.main(["report", "--tracking-uri", uri, "-q"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows == [
        ["1", "0001", "exponential", "half_life=20", "0.3000", "COMPLETED"],
        ["2", "0002", "plateau", "patience=3 factor=0.1", "0.4000", "COMPLETED"],
        ["3", "0000", "step", "epochs_drop=10 drop=0.5", "0.5000", "COMPLETED"],
        ["-", "0003", "plateau", "patience=9", "-", "FAILED"],
    ]
    assert Path("lrdecay_report.png").read_bytes()[:4] == b"\x89PNG"

    assert cli.main(["report", "--tracking-uri", uri, "--search", "older", "-q"]) == 0
    assert [row[:2] for row in table_rows(capsys.readouterr().out)] == [["1", "0000"]]
    assert cli.main(["report", "--tracking-uri", uri, "--search", "nope"]) == 2
    assert "No search 'nope'" in capsys.readouterr().err
    assert cli.main(["report", "--tracking-uri", uri, "--experiment", "x"]) == 2
    assert "No MLflow experiment 'x'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("started_from", ["python", "command line"])
def test_python_and_command_line_searches_resume_each_other(
    tmp_path: Path, started_from: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same search, all defaults but a small space, from either side."""
    from keras_tuner.src import config

    import lrdecay
    from lrdecay import defaults
    from lrdecay.cli import data, models

    ended: list[Any] = []

    def from_python() -> None:
        dataset = data.load_dataset()  # the command's digits and split
        lrdecay.search(
            models.default_model_builder(dataset),  # the command's model
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val),
            kinds=("step",),
            decay_epochs=[2],
            epochs=4,
            progress=ended.append,
        )

    def from_command_line() -> str:
        code = cli.main(["search", "--epochs", "4", "--decay-epochs", "2",
                         "--kinds", "step"])  # fmt: skip
        assert code == 0
        return capsys.readouterr().out

    def trial_dirs() -> list[str]:
        project_dir = tmp_path / defaults.PROJECT_DIR
        return sorted(str(p.relative_to(project_dir)) for p in
                      project_dir.glob("*/trial_*"))  # fmt: skip

    debug = config.DEBUG
    if started_from == "python":
        from_python()
    else:
        from_command_line()
    trials = trial_dirs()
    _, parents, runs = store_runs(tmp_path)
    assert len(trials) >= 1 and len(runs) == len(trials) and len(parents) == 1

    if started_from == "python":
        out = from_command_line()
        assert "resuming" in out
        assert "] trial" not in out  # no trial ran
    else:
        ended.clear()
        from_python()
        assert ended == []  # no trial ran
    assert trial_dirs() == trials  # one KerasTuner project, no new trial
    _, parents_again, runs_again = store_runs(tmp_path)
    assert [p.info.run_id for p in parents_again] == [parents[0].info.run_id]
    assert sorted(r.info.run_id for r in runs_again) == sorted(
        r.info.run_id for r in runs
    )
    assert config.DEBUG is debug


def test_find_lr_says_in_one_line_when_the_minimum_is_at_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.cli import main as cli

    # 30 steps up to 10: the lowest loss at 2.81, the next-to-last rate.
    argv = ["find-lr", "--seed", "0", "--num-steps", "30", "--out", "lr.png"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(
        "lrdecay: warning: find_lr(): the smoothed loss is lowest at the end"
    )
    assert "end_lr=1000." in err


def test_each_command_reads_its_own_config_table(tmp_path: Path) -> None:
    """`[budget]` and `[find-lr]` (or `[find_lr]`) are read like `[search]`.

    Another command's table is never a setting of this one; a setting at the
    top level is every command's.
    """
    path = tmp_path / "lrdecay.toml"
    path.write_text(
        'experiment = "shared"\n'
        "[search]\n"
        "epochs = 60\n"
        "[budget]\n"
        "budgets = [20, 40]\n"
        "repeats = 3\n"
        "[find_lr]\n"
        "num-steps = 50\n"
    )
    parser = cli.build_parser()
    budget = cli.parse_args(parser, ["budget", "--config", str(path)])
    assert (budget.budgets, budget.repeats) == ([20, 40], 3)
    assert budget.experiment == "shared"
    find_lr = cli.parse_args(parser, ["find-lr", "--config", str(path)])
    assert find_lr.num_steps == 50
    search = cli.parse_args(parser, ["search", "--config", str(path)])
    assert (search.epochs, search.experiment) == (60, "shared")

    both = tmp_path / "both.toml"
    both.write_text("[find-lr]\nnum-steps = 50\n[find_lr]\nnum-steps = 60\n")
    with pytest.raises(ConfigError, match="two tables for 'find-lr'"):
        cli.parse_args(parser, ["find-lr", "--config", str(both)])

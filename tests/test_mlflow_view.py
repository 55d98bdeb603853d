"""What a user sees in the MLflow UI: the link a search prints, in a real browser.

A small search logs to a real `mlflow server`; the link the command prints is
opened in headless Chromium (Debian's `chromium`) and must show the search's
child runs, by the names that say what they hold; a budget search's parent
run must show its score-against-epochs plot in the artifact view, decoded
by the browser (`chromium_page.ChromiumPage`, the DevTools protocol on a
pipe). Skipped where `chromium` is not installed (`apt-get install -y
chromium`).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import tempfile
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from chromium_page import ChromiumPage
from conftest import lrdecay_environment, run_lrdecay
from lrdecay.tracking import plots, settings_plot
from lrdecay.tracking import uri as tracking_uri
from lrdecay.tuning.evidence import labels
from mlflow_server import MlflowServer

CHROMIUM = shutil.which("chromium")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no `chromium` on PATH: the MLflow UI test needs a real browser "
    "(Debian: apt-get install -y chromium)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


def test_trial_label_says_what_the_trial_holds_and_omits_what_all_share() -> None:
    fixed = {"step/drop", "initial_lr", "units"}
    step = labels.trial_label(
        "step",
        {"epochs_drop": 30, "drop": 0.5},
        hyperparameters={
            "decay_kind": "step", "step/epochs_drop": 30, "step/drop": 0.5,
            "initial_lr": 0.1, "units": 32, "dropout": 0.25,
        },
        fixed=fixed,
        seed=1,
        execution=1,
    )  # fmt: skip
    assert step == "step epochs_drop=30 dropout=0.25 seed=1"
    assert labels.trial_label("constant", {}, seed=1) == "constant seed=1"
    exponential = labels.trial_label(
        "exponential",
        {"k": math.log(2) / 10},
        hyperparameters={
            "initial_lr": 0.05,
            "exponential/half_life": 10,
            "tuner/epochs": 12,
            "tuner/bracket": 1,
        },
        execution=1,
    )
    assert exponential == "exponential half_life=10 initial_lr=0.05 epochs=12 #2"
    plateau = labels.trial_label(
        "plateau", {"patience": 5, "factor": 0.5, "monitor": "val_loss"}
    )
    assert plateau == "plateau patience=5 factor=0.5"
    assert labels.setting_of("step epochs_drop=30 seed=1") == "step epochs_drop=30"
    assert labels.setting_of("exponential half_life=10 #2") == (
        "exponential half_life=10"
    )


def test_comparison_plot_colours_are_never_repeated(tmp_path: Path) -> None:
    for count in (1, 10, 11, 20, 21, 45):
        colors = plots.distinct_colors(count)
        assert len(colors) == count
        assert len(set(colors)) == count
    curves = {
        f"step epochs_drop={drop} seed={seed}": ([0, 1, 2], [2.0, 1.0 / drop, 0.5])
        for drop in (1, 2, 3)
        for seed in (1, 2)
    }
    groups = {label: labels.setting_of(label) for label in curves}
    path = plots.comparison_plot(
        curves, tmp_path / "val_loss.png", ylabel="val_loss", log_scale=True,
        groups=groups,
    )  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A diverged trial on the log axis: drawn, with no warning from matplotlib.
    curves["step epochs_drop=1 seed=3"] = ([0, 1, 2], [2.0, 1.7e308, math.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.comparison_plot(
            curves, tmp_path / "diverged.png", ylabel="val_loss", log_scale=True
        )
        plots.lr_curve_plot(
            [0, 1, 2], [0.1, 0.1, 0.1], tmp_path / "run.png",
            metric_name="val_loss", metric_values=[2.0, 1.7e308, math.nan],
        )  # fmt: skip


def rendered_page(url: str) -> str:
    """The DOM of `url` after the MLflow UI has loaded its runs."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="lrdecay-chromium-") as profile:
        completed = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1400,900",
                # Virtual time runs on while the page fetches: the runs are
                # in the DOM when the budget is spent.
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_runs_url_opens_the_search_children_ranked_in_the_chart_view() -> None:
    url = tracking_uri.runs_url(
        "http://127.0.0.1:5000/", "7", "abc123", objective="val_loss"
    )
    assert url == (
        "http://127.0.0.1:5000/#/experiments/7/runs"
        "?searchFilter=tags.mlflow.parentRunId%20%3D%20%27abc123%27"
        "&orderByKey=metrics.%60val_loss%60&orderByAsc=true"
        "&compareRunsMode=CHART"
    )
    assert tracking_uri.runs_url(
        "https://mlflow.example/team/", "7", "abc123", "val_accuracy", False
    ) == (
        "https://mlflow.example/team/#/experiments/7/runs"
        "?searchFilter=tags.mlflow.parentRunId%20%3D%20%27abc123%27"
        "&orderByKey=metrics.%60val_accuracy%60&orderByAsc=false"
        "&compareRunsMode=CHART"
    )


def test_ui_hint_for_a_local_store_names_the_command_and_the_page() -> None:
    hint = tracking_uri.ui_hint("sqlite:///runs/mlflow.db", "3", "p1", "val_loss")
    assert hint == (
        "Open the MLflow UI:  mlflow ui --backend-store-uri "
        "sqlite:///runs/mlflow.db\n"
        "  then browse to http://127.0.0.1:5000/#/experiments/3/runs"
        "?searchFilter=tags.mlflow.parentRunId%20%3D%20%27p1%27"
        "&orderByKey=metrics.%60val_loss%60&orderByAsc=true"
        "&compareRunsMode=CHART"
        '  (to draw every run: the eye above the run list, "Show all runs")'
    )
    saved = tracking_uri.ui_hint("http://host:5000", "3", "p1", "val_loss", saved=True)
    assert saved == (
        "Open the MLflow UI at http://host:5000/#/experiments/3/runs"
        "?viewStateShareKey=lrdecay-p1&compareRunsMode=CHART"
    )
    tag, value = tracking_uri.saved_view("p1", "val_accuracy", lower_is_better=False)
    assert tag == "mlflow.sharedViewState.lrdecay-p1"
    assert json.loads(value) == {
        "searchFilter": "tags.mlflow.parentRunId = 'p1'",
        "orderByKey": "metrics.`val_accuracy`",
        "orderByAsc": False,
        "runsHiddenMode": "SHOW_ALL",
    }


def test_settings_plot_one_line_per_setting_control_on_top(tmp_path: Path) -> None:
    control = [([0, 1, 2], [2.0, 1.5, 1.0]), ([0, 1, 2], [2.2, 1.7, 1.2])]
    settings = {
        "constant": control,
        "step epochs_drop=1": [
            ([0, 1, 2], [2.0, 1.8, 1.6]), ([0, 1, 2], [2.0, 2.0, 1.8]),
        ],
        "plateau patience=4": [(list(e), list(v)) for e, v in control],
    }  # fmt: skip
    figure = settings_plot.settings_figure(
        settings, control="constant", ylabel="val_loss", log_scale=True, steps=False
    )
    (axis,) = figure.axes
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert list(lines) == [
        "step epochs_drop=1",
        "plateau patience=4 = control",
        "constant (control)",
    ]
    assert [line.get_zorder() for line in lines.values()][-1] == (
        settings_plot.CONTROL_ZORDER
    )
    assert max(line.get_zorder() for line in lines.values()) == (
        settings_plot.CONTROL_ZORDER
    )
    assert lines["step epochs_drop=1"].get_ydata().tolist() == pytest.approx(
        [2.0, 1.9, 1.7]
    )  # the mean of the repeats
    styles = [line.get_linestyle() for line in lines.values()]
    assert len(set(styles[:2])) == 2  # two settings, two line styles
    # The legend holds every line, outside the axis (right of it).
    legend = axis.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == list(lines)
    path = settings_plot.settings_plot(
        settings, tmp_path / "val_loss.png", control="constant", steps=False
    )
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    assert width >= 1200 and height >= 500, (width, height)


@pytest.mark.slow
@needs_chromium
def test_printed_link_shows_the_search_runs_by_name(
    server: MlflowServer, tmp_path: Path
) -> None:
    completed = run_lrdecay(
        "search",
        "--kinds", "step,exponential,plateau",
        "--decay-epochs", "0.5,1.0",
        "--epochs", "2",
        "--repeats", "2",
        "--batch-size", "256",
        "--seed", "1",
        "--project-dir", str(tmp_path / "searches"),
        "--tracking-uri", server.uri,
        cwd=tmp_path, env=lrdecay_environment(TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    links = re.findall(r"Open the MLflow UI at (\S+)", completed.stdout)
    assert len(links) == 1, completed.stdout

    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("lrdecay")
    parent = client.search_runs(
        [experiment.experiment_id], "tags.`lrdecay.role` = 'search'"
    )[0]
    children = client.search_runs(
        [experiment.experiment_id],
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    names = sorted(run.info.run_name for run in children)
    # 14 runs: more than the 10 MLflow's charts draw by default.
    assert names == sorted(
        f"{setting} seed={seed}"
        for setting in (
            "constant", "step epochs_drop=1", "step epochs_drop=2",
            "exponential half_life=1", "exponential half_life=2",
            "plateau patience=1", "plateau patience=2",
        )
        for seed in (1, 2)
    )  # fmt: skip
    # The search's saved view: its trials, every one drawn in the charts.
    assert links[0] == tracking_uri.runs_url(
        server.uri, experiment.experiment_id, parent.info.run_id, "val_loss",
        saved=True,
    )  # fmt: skip

    page = rendered_page(links[0])
    # Each run's name in the run list; the charts' legends add `(metric)`.
    listed = re.findall(r">((?:step|exponential|plateau|constant)(?: [^<]*)?)<", page)
    assert {name for name in listed if not name.endswith(")")} == set(names)
    # The parent is not listed among its trials: the page is the trials'.
    assert f">{parent.info.run_name}<" not in page
    assert CHROMIUM is not None
    with ChromiumPage(CHROMIUM, links[0]) as browser:
        loaded = browser.wait_for(
            "document.body.innerText.includes('14 matching runs')"
        )
        assert loaded, browser.evaluate("document.body.innerText")[-2000:]
        # Every row's eye says "Hide run": drawn (a hidden run's says otherwise;
        # the unsaved address draws 10 of these 14).
        drawn = browser.wait_for(_DRAWN_RUNS + " === 14", timeout=30)
        assert drawn, browser.evaluate(_DRAWN_RUNS)

    # The compare page of the trials: one `decay_epochs` row for every kind,
    # first among the params that differ (its parallel-coordinates plot
    # opens on the first three by name).
    ids = json.dumps([run.info.run_id for run in children])
    query = urllib.parse.urlencode(
        {"runs": ids, "experiments": json.dumps([experiment.experiment_id])},
        quote_via=urllib.parse.quote,
    )
    compare = rendered_page(f"{server.uri}/#/compare-runs?{query}")
    assert ">decay_epochs<" in compare and ">decay_kind<" in compare
    assert "constant/" not in compare
    # MLflow picks the axes: the first three differing params by name, then
    # the first metric every run has.
    with ChromiumPage(CHROMIUM, f"{server.uri}/#/compare-runs?{query}") as browser:
        titles = browser.wait_for(
            "[...document.querySelectorAll('text.axis-title')].map(t => t.textContent)"
            ".join(',')"
        )
    # (Decay epochs given as fractions of the budget: the exponential's
    # hyperparameter is `half_life_fraction`.)
    assert titles == "decay_epochs,decay_kind,exponential/half_life_fraction,accuracy"
    # The parent's plots: wide enough for a browser.
    for name in ("lr_curves.png", "val_loss_curves.png"):
        local = client.download_artifacts(
            parent.info.run_id, f"lrdecay/{name}", str(tmp_path)
        )
        width, _ = struct.unpack(">II", Path(local).read_bytes()[16:24])
        assert width >= 1200, (name, width)


# How many runs of the list the charts draw: each drawn row's eye is labelled
# "Hide run".
_DRAWN_RUNS = "(document.body.innerText.split('Hide run').length - 1)"

# The image the artifact view shows, once the browser has decoded it: its
# natural width (0 while loading or if it failed).
_SHOWN_IMAGE_WIDTH = (
    "(() => {{ const image = [...document.images].find("
    "i => i.alt === {path!r}); "
    "return image && image.complete ? image.naturalWidth : 0; }})()"
)


@pytest.mark.slow
@needs_chromium
def test_budget_parent_run_shows_the_score_against_budget_plot(
    server: MlflowServer, tmp_path: Path
) -> None:
    from lrdecay.tuning.budgets import record

    completed = run_lrdecay(
        "budget",
        "--budgets", "2,4",
        "--cooldown", "0.5",
        "--batch-size", "256",
        "--seed", "1",
        "--experiment", "lrdecay-budget",
        "--project-dir", str(tmp_path / "searches"),
        "--tracking-uri", server.uri,
        cwd=tmp_path, env=lrdecay_environment(TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "epochs: 4 trained of 6 (67%)" in completed.stdout, completed.stdout

    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("lrdecay-budget")
    parent = client.search_runs(
        [experiment.experiment_id], "tags.`lrdecay.role` = 'search'"
    )[0]
    assert parent.data.params["budgets"] == "2,4"
    names = ["budget 2 seed=1", "budget 4 seed=1"]
    runs = tracking_uri.runs_url(
        server.uri, experiment.experiment_id, parent.info.run_id, "val_loss"
    )
    listed = " && ".join(f"document.body.innerText.includes({n!r})" for n in names)
    artifacts = (
        f"{server.uri}/#/experiments/{experiment.experiment_id}/runs/"
        f"{parent.info.run_id}/artifacts/{record.PLOT_PATH}"
    )
    assert CHROMIUM is not None
    with ChromiumPage(CHROMIUM, runs) as page:
        # The runs list: one child run per budget, named by it.
        assert page.wait_for(listed), page.evaluate("document.body.innerText")
        # The parent's artifact view: the plot listed, and decoded by the
        # browser at the width it was drawn.
        page.goto(artifacts)
        width = page.wait_for(_SHOWN_IMAGE_WIDTH.format(path=record.PLOT_PATH))
        assert width >= 1200, page.evaluate("document.body.innerText")[-2000:]
        assert Path(record.PLOT_PATH).name in page.evaluate("document.body.innerText")

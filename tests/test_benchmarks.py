"""benchmarks/run.py renders what the benchmarks measured.

The benchmarks themselves run in CI through `.ci/run`
(`benchmarks/run.py --quick` after the tests), so no test runs them again;
these tests check the part that only reads JSON and writes markdown.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def _run_module() -> Any:
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_render_only_writes_tables_and_links(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "tracking.json").write_text(
        json.dumps(
            {
                "title": "Tracking",
                "machine": {"date": "2026-01-01 00:00 UTC", "cpus": 2},
                "rows": [{"variant": "lrdecay", "ratio": 1.25}],
            }
        )
    )
    (out / "study.json").write_text(
        json.dumps({"markdown": "### Study\n\n![plot](@@OUT@@/study.png)\n"})
    )
    (out / "run.json").write_text(
        json.dumps(
            {"runs": [{"script": "study.py", "status": "ok", "wall_time_s": 12.0}]}
        )
    )

    completed = subprocess.run(
        [sys.executable, str(RUN_PY), "--render-only", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    results = (out / "RESULTS.md").read_text()
    assert "| variant | ratio |" in results
    assert "| lrdecay | 1.25 |" in results
    assert "Measured 2026-01-01 00:00 UTC" in results
    assert "![plot](study.png)" in results
    assert "| study.py | ok | 12.00 |" in results
    assert (out / "README_section.md").read_text() == results


def test_full_run_links_point_plots_at_docs() -> None:
    run = _run_module()
    text = "![plot](@@OUT@@/study.png) and [data](@@OUT@@/study.json)"

    linked = run._with_links(text, "benchmarks/results/", "docs/")

    assert linked == (
        "![plot](docs/benchmark-study.png) and [data](benchmarks/results/study.json)"
    )


def test_update_readme_replaces_only_the_marked_block(tmp_path: Path) -> None:
    run = _run_module()
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\n{run.START_MARKER}\nold table\n{run.END_MARKER}\n\n## After\n"
    )

    assert run.update_readme("## Benchmarks\n\nnew table\n", readme=readme)

    assert readme.read_text() == (
        f"# Title\n\n{run.START_MARKER}\n## Benchmarks\n\nnew table\n"
        f"{run.END_MARKER}\n\n## After\n"
    )


def test_update_readme_without_markers_leaves_it_alone(tmp_path: Path) -> None:
    run = _run_module()
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")

    assert not run.update_readme("## Benchmarks\n", readme=readme)

    assert readme.read_text() == "# Title\n"


def _report_module() -> Any:
    path = RUN_PY.with_name("study_budget_report.py")
    spec = importlib.util.spec_from_file_location("study_budget_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_study_compares_with_cosine_by_seed_and_says_so() -> None:
    report = _report_module()
    plan = {
        "datasets": ["digits"], "regimes": ["gentle"], "seeds": 2,
        "budgets": [10, 20], "cooldowns": [0.2], "shapes": ["1-sqrt"],
        "batch_size": 64,
    }  # fmt: skip
    accuracy = {  # (method, budget) -> per seed
        ("cosine", 10): [0.90, 0.92],
        ("WSD 1-sqrt 20%", 10): [0.91, 0.93],  # +0.01 on both seeds
        ("cosine", 20): [0.95, 0.95],
        ("WSD 1-sqrt 20%", 20): [0.96, 0.94],  # +0.01 and -0.01
    }
    cells = [
        {
            "dataset": "digits", "regime": "gentle", "seed": seed,
            "methods": {
                method: {
                    "points": {
                        str(budget): {
                            "test_accuracy": accuracy[method, budget][seed],
                            "test_loss": 1 - accuracy[method, budget][seed],
                            "val_loss": 0.5,
                        }
                        for budget in (10, 20)
                    },
                    "epochs": 22 if method != "cosine" else 30,
                    "epochs_independent": 30,
                    "wall_s": 1.0,
                }
                for method in ("cosine", "WSD 1-sqrt 20%")
            },
        }
        for seed in (0, 1)
    ]  # fmt: skip
    summary = report.summarize(cells, plan)
    (at_10,) = [r for r in summary if r["method"] != "cosine" and r["budget"] == 10]
    versus = at_10["test_accuracy_vs_cosine"]
    assert versus["difference"] == pytest.approx(0.01)
    assert versus["spread"] == pytest.approx(0.0) and versus["beyond_spread"]
    (at_20,) = [r for r in summary if r["method"] != "cosine" and r["budget"] == 20]
    assert at_20["test_accuracy_vs_cosine"]["beyond_spread"] is False
    payload = {
        "plan": plan, "summary": summary, "cells": cells, "backend": "jax",
        "costs": report.costs(cells, plan),
        "regimes": {"gentle": {"optimizer": "adam", "learning_rate": 1e-3}},
    }  # fmt: skip
    text = report.markdown(payload)
    assert "| 10 | 0.9100 ± 0.0141 | 0.9200 ± 0.0141 ↑ |" in text
    assert "| 20 | 0.9500 ± 0.0000 | 0.9500 ± 0.0141 |" in text
    assert (
        "Test accuracy: WSD better beyond the seed-to-seed spread in 1, worse "
        "in 0, within the spread in 1." in text
    )
    assert "| WSD 1-sqrt 20% | 22 | 30 | 1.0 |" in text

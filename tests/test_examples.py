"""Every script in examples/ runs, offline, with a small budget."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

# Small-budget flags per example; an example missing here runs with none.
FLAGS: dict[str, list[str]] = {
    "step_decay.py": ["--epochs", "3"],
    "cosine_decay.py": ["--epochs", "3"],
    "exponential_decay.py": ["--epochs", "5"],
    "plateau_decay.py": ["--epochs", "3"],
    "schedule_plus_plateau.py": ["--epochs", "3"],
    "search_grid.py": ["--epochs", "4", "--decay-epochs", "1,2", "--kinds", "step"],
    "search_random.py": [
        "--epochs",
        "3",
        "--low",
        "1",
        "--high",
        "3",
        "--max-trials",
        "2",
    ],
    "plateau_validation.py": ["--epochs", "3", "--patience", "1,2"],
    "track_fit.py": ["--epochs", "3"],
}

SCRIPTS = sorted(
    path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")
)


def test_every_example_has_a_small_budget():
    assert set(FLAGS) == set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [script, *FLAGS.get(script, [])])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script} printed nothing"

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
    # Long enough for val_loss to stall: the plateau examples show a reduction.
    "plateau_decay.py": ["--epochs", "9"],
    "schedule_plus_plateau.py": ["--epochs", "9"],
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

# What an example is about, in what it prints with its flags above.
SHOWS: dict[str, str] = {
    "plateau_decay.py": "lr 0.200000 -> 0.100000",
    "schedule_plus_plateau.py": "<- plateau reduction",
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
    printed = capsys.readouterr().out
    assert printed.strip(), f"{script} printed nothing"
    assert SHOWS.get(script, "") in printed, printed

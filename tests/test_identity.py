"""A search is its settings, its data and its model; ties have one rule.

- The identity: digests of the data and the model, stable across builds and
  processes; other data or another model is a new project and a new parent
  run, the same call resumes without training; an explicit project that
  holds another search stops before anything trains.
- Ties: a decay that scores exactly the control's score is no evidence (the
  control wins); other ties go to the earlier trial. A rerun changes neither
  the winner nor the parent's tags, and `lrdecay report` agrees.
- Said where users look: `EvidenceWarning` (a `UserWarning`) at the caller,
  `str(result)` with the ranking and the verdict, no "Reloading Tuner" line
  at `verbose=0`.

Real searches on the digits with a tiny dense model, 4 epochs, a plateau
decay whose patience never runs out (an exact tie with the control).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import search_store as store
from lrdecay.cli import main as cli
from search_store import unseeded_digits_model

EPOCHS = 4


def _search(
    digits: Any, folder: Path, build: Callable[[], Any] | None = None, **kw: Any
) -> Any:
    from lrdecay import search

    x, y, x_val, y_val = kw.pop("data", digits)
    settings: dict[str, Any] = {
        "kinds": ("plateau",), "decay_epochs": [EPOCHS], "epochs": EPOCHS,
        "seed": 3, "batch_size": 128, "project_dir": str(folder / "project"),
        "tracking_uri": f"sqlite:///{folder}/mlflow.db",
    }  # fmt: skip
    settings.update(kw)
    return search(
        build or unseeded_digits_model(8),
        x,
        y,
        validation_data=(x_val, y_val),
        **settings,
    )


# --------------------------------------------------------------------------
# The rule for ties, and the digests, on their own


def test_exact_ties_go_to_the_control_then_to_the_earlier_trial() -> None:
    from lrdecay.tuning.evidence.verdict import ranking_key

    rows = [
        ("0003", 0.5, False),
        ("0010", 0.4, False),
        ("0009", 0.4, False),
        ("0001", 0.4, True),  # the control
        ("0000", 0.3, False),
    ]
    best_first = sorted(rows, key=lambda r: ranking_key(r[1], "min", r[2], r[0]))
    assert [r[0] for r in best_first] == ["0000", "0001", "0009", "0010", "0003"]
    # Higher is better: the scores flip, the tie rule does not.
    best_first = sorted(rows, key=lambda r: ranking_key(r[1], "max", r[2], r[0]))
    assert [r[0] for r in best_first] == ["0003", "0001", "0009", "0010", "0000"]


def test_the_model_digest_ignores_layer_names_and_optimizer_name() -> None:
    import keras

    from lrdecay.tuning.pipeline.identity import digest_model

    build = unseeded_digits_model(8)
    first, second = build(), build()  # dense_1, dense_2, ... in one process
    assert first.layers[0].name != second.layers[0].name
    assert digest_model(first) == digest_model(second)
    assert digest_model(unseeded_digits_model(units=4)()) != digest_model(first)
    adam = build()
    adam.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    assert digest_model(adam) != digest_model(first)
    # A functional model: its nodes name the layers they connect.
    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(10)(keras.layers.Dense(8)(inputs))
    functional = [keras.Model(inputs, outputs)]
    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(10)(keras.layers.Dense(8)(inputs))
    functional.append(keras.Model(inputs, outputs))
    assert digest_model(functional[0]) == digest_model(functional[1])


def test_the_data_digest_reads_values_structure_and_pipelines(digits: Any) -> None:
    import numpy as np
    import tensorflow as tf

    from lrdecay.tuning.pipeline.identity import digest_data

    x, y, x_val, y_val = digits
    base = digest_data(x, y, (x_val, y_val))
    assert digest_data(x.copy(), y.copy(), (x_val, y_val)) == base
    assert digest_data(x[::-1], y[::-1], (x_val, y_val)) != base
    assert digest_data(x, y, validation_split=0.2) != digest_data(x, y)
    both = {"a": x, "b": x * 2}
    assert digest_data(both, y) == digest_data({"b": x * 2, "a": x}, y)
    assert digest_data(both, y) != digest_data({"a": x * 2, "b": x}, y)

    def pipeline(batch_size: int = 32) -> Any:
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    # A pipeline by what it holds; an unbatched one runs as given.
    assert digest_data(pipeline()) == digest_data(pipeline())
    assert digest_data(pipeline()) != digest_data(pipeline().unbatch())
    assert digest_data(x.astype(np.float64), y) != digest_data(x, y)


# --------------------------------------------------------------------------
# Real searches


@pytest.mark.slow
def test_a_rerun_keeps_the_winner_and_an_exact_tie_goes_to_the_control(
    digits: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from lrdecay.tuning.evidence.result import EvidenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _search(digits, tmp_path)
    assert [(t.trial_id, t.kind) for t in first.trials] == [
        ("0000", "constant"),
        ("0001", "plateau"),
    ]
    # The plateau decay never reduced the rate: the control's score exactly.
    assert first.trials[0].score == first.trials[1].score
    assert first.best_decay == {"kind": "constant"}
    assert first.best_trial_id == "0000"
    assert first.winner.control_won
    assert [entry.trial_id for entry in first.ranking] == ["0000", "0001"]
    assert first.verdict == (
        "The best decay, plateau patience=4 factor=0.5, scored the same as the "
        f"constant rate (val_loss {first.best_score:.4g}): decaying did not "
        "change the result."
    )
    # Said once, at the caller's line, as a UserWarning.
    evidence = [w for w in caught if issubclass(w.category, EvidenceWarning)]
    assert len(evidence) == 1
    assert issubclass(evidence[0].category, UserWarning)
    assert str(evidence[0].message) == (
        f"No decay beat the constant-rate control: {first.verdict}"
    )
    assert evidence[0].filename == __file__
    # print(result): the ranking, the winner, the verdict.
    text = str(first)
    lines = text.splitlines()
    assert lines[0] == "Trials ranked by val_loss (lower is better):"
    assert lines[1].split() == [
        "rank", "trial", "kind", "settings", "best", "val_loss", "status"
    ]  # fmt: skip
    assert [line.split() for line in lines[3:5]] == [
        ["1", "0000", "constant", "control", f"{first.best_score:.4f}", "COMPLETED"],
        ["2", "0001", "plateau", "patience=4", "factor=0.5",
         f"{first.best_score:.4f}", "COMPLETED"],
    ]  # fmt: skip
    assert "no decay: the constant rate scored best; keep the rate" in text
    assert text.endswith(first.verdict)

    client = store.client(tmp_path)
    (parent,) = store.runs(client, "search")
    tags = dict(parent.data.tags)
    assert tags["lrdecay.best_trial_id"] == "0000"
    assert tags["lrdecay.best.decay_kind"] == "constant"
    capfd.readouterr()

    events: list[Any] = []
    with pytest.warns(EvidenceWarning, match="No decay beat"):
        again = _search(digits, tmp_path, progress=events.append)
    assert events == []  # nothing trained
    assert "Reloading Tuner" not in capfd.readouterr().out
    assert again.parent_run_id == first.parent_run_id
    assert again.best_decay == {"kind": "constant"}
    assert again.winner.control_won
    assert again.verdict == first.verdict
    assert [e.trial_id for e in again.ranking] == ["0000", "0001"]
    (parent,) = store.runs(client, "search")
    resumed = dict(parent.data.tags)
    assert resumed.pop("lrdecay.resumes") == "1"
    assert resumed == tags

    # `lrdecay report` reads the runs back and ranks them alike.
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert cli.main(["report", "--tracking-uri", uri, "-q"]) == 0
    rows = [line.split() for line in capfd.readouterr().out.splitlines()[2:]]
    assert [row[:3] for row in rows] == [
        ["1", "0000", "constant"],
        ["2", "0001", "plateau"],
    ]


@pytest.mark.slow
def test_other_data_and_another_model_are_new_searches(
    digits: Any, tmp_path: Path
) -> None:
    x, y, x_val, y_val = digits
    original = _search(digits, tmp_path)
    other_data = _search(digits, tmp_path, data=(x[::-1], y[::-1], x_val, y_val))
    other_model = _search(digits, tmp_path, build=unseeded_digits_model(units=4))
    names = {
        result.tuner.project_name for result in (original, other_data, other_model)
    }
    assert len(names) == 3
    assert all(name.startswith("grid-digits-") for name in names)
    client = store.client(tmp_path)
    parents = store.runs(client, "search")
    assert [p.info.run_id for p in parents] == [
        original.parent_run_id,
        other_data.parent_run_id,
        other_model.parent_run_id,
    ]
    # The parent runs say why: the digests of their data and model.
    digests = [
        (p.data.params["data_digest"], p.data.params["model_digest"]) for p in parents
    ]
    assert digests[0][0] != digests[1][0] and digests[0][1] == digests[1][1]
    assert digests[0][0] == digests[2][0] and digests[0][1] != digests[2][1]
    trials = store.runs(client, "trial")
    by_parent: dict[str, list[str]] = {}
    for run in trials:
        by_parent.setdefault(run.data.tags["mlflow.parentRunId"], []).append(
            run.data.tags["lrdecay.trial_id"]
        )
    assert by_parent == {p.info.run_id: ["0000", "0001"] for p in parents}
    # Each trained on its own: other data give other scores.
    assert other_data.trials[0].score != original.trials[0].score
    assert other_model.trials[0].score != original.trials[0].score


@pytest.mark.slow
def test_an_explicit_project_holding_another_search_stops(
    digits: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _search(digits, tmp_path, project_name="mine")
    with pytest.raises(
        ValueError, match=r'holds another search.*tuner_options=\{"overwrite": True\}'
    ):
        _search(
            digits, tmp_path, project_name="mine", build=unseeded_digits_model(units=4)
        )
    client = store.client(tmp_path)
    assert len(store.runs(client, "search")) == 1
    assert len(store.runs(client, "trial")) == 2
    # The same search resumes under its name.
    assert _search(digits, tmp_path, project_name="mine").parent_run_id == (
        first.parent_run_id
    )
    # The command line: one line, exit 2, naming its own flag.
    code = cli.main(
        ["search", "--project-name", "mine", "--project-dir",
         str(tmp_path / "project"), "--tracking-uri",
         f"sqlite:///{tmp_path}/mlflow.db", "--epochs", "2", "--kinds", "step",
         "--decay-epochs", "1"]
    )  # fmt: skip
    assert code == 2
    (error,) = [
        line for line in capsys.readouterr().err.splitlines() if "lrdecay" in line
    ]
    assert error.startswith("lrdecay: error: The project 'mine' in ")
    assert "holds another search" in error and "Pass --overwrite" in error
    # The tuner option `overwrite` starts it afresh: a new parent run, its own trials.
    other = _search(
        digits, tmp_path, project_name="mine", build=unseeded_digits_model(units=4),
        tuner_options={"overwrite": True},
    )  # fmt: skip
    assert other.parent_run_id != first.parent_run_id
    assert [t.status for t in other.trials] == ["COMPLETED", "COMPLETED"]
    assert len(store.runs(client, "trial")) == 4


@pytest.mark.slow
def test_the_command_line_says_the_verdict_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.tuning.evidence.result import EvidenceWarning

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(
            ["search", "--epochs", "2", "--kinds", "plateau", "--decay-epochs",
             "2", "--seed", "3", "--tracking-uri", uri]
        )  # fmt: skip
    assert code == 0
    assert [w for w in caught if issubclass(w.category, EvidenceWarning)] == []
    captured = capsys.readouterr()
    assert "EvidenceWarning" not in captured.err
    # The exact tie: the control wins, the verdict is printed once.
    assert "Best: trial 0000, constant" in captured.out
    assert captured.out.count("scored the same as the constant rate") == 1

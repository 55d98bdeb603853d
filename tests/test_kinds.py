"""The kind table: one home for what a decay kind is (issue 19).

Every decay kind describes itself once, beside its schedule class
(`lrdecay.schedules`, `KindSpec`); the other tables derive from it. The grep
below keeps it so: no kind name as a string in the package outside the kind
table, the callback modules and the user-facing text listed.
"""

from __future__ import annotations

import ast
import pathlib

import lrdecay
from lrdecay import callbacks, schedules
from lrdecay.kinds import KIND_TABLE
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.searchspace.space import SEARCHABLE_KINDS, DecaySpace

PACKAGE = pathlib.Path(lrdecay.__file__).parent
# Where a kind may be named: its table row (`kinds.py`, the schedule modules),
# its callback.
HOMES = {"kinds.py"}
SCHEDULES = "schedules"
CALLBACKS = "callbacks"
# Strings equal to a kind name that are something else, or user-facing text.
ALLOWED = {
    # `Range(step=...)`: a grid's step, not the kind.
    ("tuning/searchspace/ranges.py", "step"),
    # `Range(sampling="linear")`: how a range is sampled, not the kind.
    ("tuning/searchspace/ranges.py", "linear"),
    # KerasTuner's `Int.step` / `Float.step`: a range's step, not the kind.
    ("tuning/pipeline/hyperband.py", "step"),
    # Batch metrics `step/<key>`: the global step.
    ("tracking/recorder.py", "step/"),
    # `lrdecay preview --drop`'s help text.
    ("cli/preview.py", "step/multistep factor (default: 0.5)"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            found.add(id(body[0].value))
    return found


def _kind_strings() -> list[tuple[str, int, str]]:
    names = set(KIND_TABLE) | {schedules.ConstantSchedule.kind}
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in HOMES or relative.startswith((SCHEDULES + "/", CALLBACKS + "/")):
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and (
                    node.value in names
                    or any(node.value.startswith(f"{name}/") for name in names)
                )
                and (relative, node.value) not in ALLOWED
            ):
                hits.append((relative, node.lineno, node.value))
    return hits


def test_no_kind_name_outside_the_kind_table():
    assert _kind_strings() == []


def test_the_tables_derive_from_the_kind_table():
    searchable = [name for name, spec in KIND_TABLE.items() if spec.searchable]
    assert set(SEARCHABLE_KINDS) == set(searchable)
    default = schedules.DEFAULT_KINDS
    assert default == tuple(n for n, s in KIND_TABLE.items() if s.default)
    assert SEARCHABLE_KINDS[: len(default)] == default
    assert set(callbacks.DECAYS) == set(KIND_TABLE)
    for name, schedule in schedules.SCHEDULES.items():
        assert schedule.spec is KIND_TABLE[name]
        assert schedule.kind == name
        assert issubclass(callbacks.DECAYS[name], callbacks.ScheduledDecay)
    assert callbacks.DECAYS[schedules.PLATEAU.name] is callbacks.PlateauDecay


def test_every_searchable_kind_declares_and_resolves():
    """Each kind's decay epochs reach its own argument, named in run labels."""
    for kind in SEARCHABLE_KINDS:
        spec = KIND_TABLE[kind]
        space = DecaySpace(kinds=(kind,), decay_epochs=[7])
        names = list(space.kind_settings(kind))
        assert names[0] == f"{kind}/{spec.decay_arg}"
        values = {"decay_kind": kind} | {
            name: setting.values[0]
            for name, setting in space.kind_settings(kind).items()
        }
        resolved = space.resolve(values, budget=20)
        decay = callbacks.DECAYS[kind](**resolved.settings)
        assert decay.kind == kind
        label = labels.trial_label(
            kind, resolved.settings, fixed=names, hyperparameters=values
        )
        shown = "half_life" if spec.rate_arg is not None else spec.decay_arg
        assert f"{shown}=7" in label, label


def test_a_cosine_period_is_in_the_run_name():
    """The cosine kinds' periods were missing from run names (issue 19)."""
    label = labels.trial_label(
        "cosine", {"decay_epochs": 20}, fixed=("cosine/decay_epochs",)
    )
    assert label == "cosine decay_epochs=20"
    label = labels.trial_label(
        "cosine_restarts",
        {"first_decay_epochs": 5},
        fixed=("cosine_restarts/first_decay_epochs",),
    )
    assert label == "cosine_restarts first_decay_epochs=5"


def test_constant_schedule_lives_with_the_schedules():
    from lrdecay.tuning.pipeline import hypermodel

    assert hypermodel.ConstantSchedule is schedules.ConstantSchedule
    assert schedules.ConstantSchedule(0.05).curve(3) == [0.05, 0.05, 0.05]


def test_preview_draws_several_kinds(tmp_path, capsys):
    from lrdecay.cli import main as cli

    out = tmp_path / "kinds.png"
    argv = ["preview", "--kinds", "linear,wsd", "--epochs", "10", "--out", str(out)]
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[1:] == [
        "linear(initial_lr=0.1,",
        "decay_epochs=10)",
        "wsd(initial_lr=0.1,",
        "decay_epochs=10)",
    ]
    rows = {int(line.split()[0]): line.split()[1:] for line in lines[2:12]}
    assert [float(rate) for rate in rows[8]] == [0.02, 0.1]
    assert [float(rate) for rate in rows[9]] == [0.01, 0.05]
    # A kind without a curve, or an unknown one: one line, exit 2.
    assert cli.main(["preview", "--kinds", "linear,plateau", "--out", str(out)]) == 2
    assert cli.main(["preview", "--kinds", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "no curve before training" in err[0]
    assert "Unknown decay kind 'nope'" in err[1]

"""The kind table: one home for what a decay kind is (issue 19).

Every decay kind describes itself once, beside its schedule class
(`lrdecay.schedules`, `KindSpec`); the other tables derive from it. The grep
below keeps it so: no kind name as a word in a string of the package outside
the modules that hold that kind (its table row, its schedule, its callback),
except the strings listed in `ALLOWED`, each with its reason; docstrings are
documentation and may name any kind.
"""

from __future__ import annotations

import ast
import pathlib
import re

import lrdecay
from lrdecay import callbacks, schedules
from lrdecay.kinds import KIND_TABLE
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.searchspace.space import SEARCHABLE_KINDS, DecaySpace

PACKAGE = pathlib.Path(lrdecay.__file__).parent
NAMES = sorted(
    set(KIND_TABLE) | {schedules.ConstantSchedule.kind}, key=len, reverse=True
)
# A kind name as a word: `step` in "step/drop" or "a step decay", not in
# "steps_per_epoch" nor `cosine` in "cosine_restarts".
NAME_AS_A_WORD = re.compile(r"(?<![\w-])(" + "|".join(NAMES) + r")(?!\w)")
# "constant rate" / "constant-rate" is English for the control's rate, not
# the control's kind name (`decay_kind="constant"`).
CONSTANT_RATE = re.compile(rf"{schedules.ConstantSchedule.kind}[- ]rate")
# Strings that name a kind, or a word spelled like one, allowed outside the
# kind's own modules: (module, a part of the string) -> why.
ALLOWED = {
    ("tuning/searchspace/ranges.py", "step"): "`Range(step=...)`: a grid's step",
    ("tuning/searchspace/ranges.py", "linear"): "`Range(sampling='linear')`",
    ("tuning/pipeline/hyperband.py", "step"): "KerasTuner's `Int.step`",
    ("tuning/pipeline/dry_run.py", " step "): "a range's step in the outline",
    ("schedules/wsd.py", "linear"): "WSD's cooldown shape (`WSDSchedule.SHAPES`)",
    ("callbacks/wsd.py", "linear"): "WSD's cooldown shape (`WSDSchedule.SHAPES`)",
    ("tracking/recorder.py", "step/"): "logged MLflow keys: batch metrics "
    "`step/<key>`, by the global step (MLflow's word), not the kind",
    ("tracking/plots.py", "plateau reduction"): "the plot legend of a "
    "`PlateauDecay`'s reductions (user-facing text)",
    ("cli/search.py", "one step on all"): "a training step (user-facing text)",
    # `lrdecay preview`'s help: each flag says which kinds take it, and the
    # examples are commands to type (user-facing text).
    ("cli/preview.py", "Examples:  lrdecay preview --kind step"): "help",
    ("cli/preview.py", "e.g. step,cosine"): "help",
    ("cli/preview.py", "e.g. step:epochs_drop=30"): "help",
    ("cli/preview.py", "step/multistep factor"): "help",
    ("cli/preview.py", "step period"): "help",
    ("cli/preview.py", "exponential rate per epoch"): "help",
    ("cli/preview.py", "exponential: epochs to halve"): "help",
    ("cli/preview.py", "multistep decay epochs"): "help",
    ("cli/preview.py", "cosine: the period"): "help",
    ("cli/preview.py", "cosine kinds: the floor"): "help",
    ("cli/preview.py", "linear warm-up epochs"): "help: a linear warm-up",
    ("cli/preview.py", "plus every step change"): "help: a change of rate",
}


def _own_kinds() -> dict[str, set[str]]:
    """The kinds each module may name: those whose row or classes it holds."""
    owners: dict[str, set[str]] = {}

    def own(module: str, kind: str) -> None:
        relative = module.removeprefix("lrdecay.").replace(".", "/") + ".py"
        owners.setdefault(relative, set()).add(kind)

    for kind, schedule in schedules.SCHEDULES.items():
        own(schedule.__module__, kind)
    for kind, decay in callbacks.DECAYS.items():
        own(decay.__module__, kind)
    own(schedules.ConstantSchedule.__module__, schedules.ConstantSchedule.kind)
    # A row without a schedule class (the plateau rule): where it is declared.
    for path in sorted((PACKAGE / "schedules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "KindSpec"
            ):
                for keyword in node.keywords:
                    if keyword.arg == "name":
                        own(f"schedules.{path.stem}", keyword.value.value)
    return owners


def _docstrings(tree: ast.AST) -> set[int]:
    """Docstrings and attribute docstrings: every string statement."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _named(text: str) -> set[str]:
    return {
        found.group(1)
        for found in NAME_AS_A_WORD.finditer(text)
        if not CONSTANT_RATE.match(text, found.start())
    }


def _kind_strings() -> list[tuple[str, int, str, str]]:
    owners = _own_kinds()
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in docs:
                continue
            foreign = _named(node.value) - owners.get(relative, set())
            allowed = any(
                module == relative and part in node.value for module, part in ALLOWED
            )
            for kind in sorted(foreign) if not allowed else ():
                hits.append((relative, node.lineno, kind, node.value))
    return hits


def test_the_grep_finds_a_kind_name_as_a_word():
    assert _named("epochs between drops (step)") == {"step"}
    assert _named("step/epochs_drop") == {"step"}
    assert _named("cosine_restarts steps_per_epoch") == {"cosine_restarts"}
    assert _named("the constant rate; constant-rate trunk") == set()
    assert _named("constant (control)") == {"constant"}
    owners = _own_kinds()
    assert owners["schedules/step.py"] == {"step", "multistep"}
    assert owners["schedules/plateau.py"] == {"plateau"}
    assert owners["callbacks/wsd.py"] == {"wsd"}
    assert "kinds.py" not in owners


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

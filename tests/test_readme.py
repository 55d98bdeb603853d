"""Every `lrdecay ...` command and every Python block of README.md runs as printed.

The README is read, not copied: every fenced line that starts with `lrdecay `
(or `$ lrdecay `, in an output block), every inline `lrdecay ...` span of
the prose (but those with `...`, which stand for the rest of a command) and
every ```python block is checked, so a command added to the README is
checked too (or this test fails until `how_to_check` knows it).

- Quick commands run whole (`preview`, `report`, `find-lr`, `--help`, and
  the searches the README shows with their output, which must be what
  they print: a `...` line stands for lines left out).
- Searches get `--dry-run`: every check a search makes before its first
  trial (arguments, data, model, project, tracking store), and its plan.
- Each runs in its own folder with its own tracking store (the README's
  default, `./mlflow.db` there), beside the files the README names:
  `lrdecay.toml` is the README's own block (and the same settings as YAML,
  which the README says works the same way); `houses.csv`, `pets.csv`,
  `heart.csv` (and its Parquet copy, and `heart_gaps.csv` with a blank cell),
  `arrays.npz`, `my_models.py`, `my.py` and `big.csv` are not shown, so
  `_files` writes small ones of the shape the README describes.
- A tracking server the README names (`http://mlflow.internal:5000`,
  `http://10.0.0.5:5000`) is a real `mlflow server` on 127.0.0.1.
- Python blocks run with the names they use and do not define (`model`,
  `x`, `y`, `x_val`, `y_val`, `x_train`, `y_train`, `build_model`): the
  digits and a small dense model (`_PRELUDE`). A block too long for CI
  carries its substitutions in the README, in the HTML comment right
  above it (`<!-- readme-test: epochs=40 -> epochs=3; ... -->`, invisible
  on the rendered page); each must match the block, so they cannot drift.

Not run (`SKIPPED`, with the reason): the install lines at the top (they
are `.ci/run`'s own first steps), `lrdecay replay` (its argument is a
placeholder for a file a failed upload leaves; `tests/test_tracking.py`
replays real ones) and `mlflow ui` (a server that runs until stopped).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

SKIPPED = {  # what is not run, and why
    "lrdecay replay lrdecay-offline/run-....json [--tracking-uri URI]": (
        "a placeholder for the file a failed upload leaves; "
        "tests/test_tracking.py replays real ones"
    ),
    "lrdecay search --seed S": "S stands for each seed of the table beside it",
    "lrdecay search --algorithm hyperband --seed S": (
        "S stands for each seed of the table beside it"
    ),
    "lrdecay preview --kinds": "names the option, not a command",
}

# Run whole: quick, or the README shows what they print.
RUN_WHOLE = ("lrdecay preview", "lrdecay report", "lrdecay find-lr")
RUN_WHOLE_SEARCHES = {
    "lrdecay search --data houses.csv --target price --kinds step "
    "--decay-epochs 5 --epochs 10 --seed 7",
    "lrdecay search -q --kinds step --decay-epochs 10,20 --seed 7",
    "lrdecay search --help",
}
# The tracking servers the README names.
SERVERS = ("http://mlflow.internal:5000", "http://10.0.0.5:5000")

_PRELUDE = """
import keras
from sklearn.datasets import load_digits

_x, _y = load_digits(return_X_y=True)
_x = (_x / 16.0).astype("float32")
x = x_train = _x[:1400]
y = y_train = _y[:1400]
x_val, y_val = _x[1400:], _y[1400:]


def build_model():
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


model = build_model()
"""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    language: str
    text: str
    substitutions: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Command:
    """One `lrdecay ...` line of the README, with what it sets in the environment."""

    line: int
    text: str
    environment: tuple[tuple[str, str], ...] = ()
    shown: tuple[str, ...] = ()  # after a `$ ` prompt: the output printed below it

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.text[8:40]}"


_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)
_MARKER = re.compile(r"<!-- readme-test: (.*?) -->\n\Z")


def readme_blocks(text: str | None = None) -> list[Block]:
    """The README's fenced blocks, with the substitutions marked above them."""
    text = README.read_text() if text is None else text
    blocks = []
    for match in _FENCE.finditer(text):
        marker = _MARKER.search(text[: match.start()])
        substitutions: tuple[tuple[str, str], ...] = ()
        if marker is not None:
            substitutions = tuple(
                tuple(part.split(" -> ", 1))  # type: ignore[misc]
                for part in marker.group(1).split("; ")
            )
        blocks.append(
            Block(
                line=text[: match.start()].count("\n") + 1,
                language=match.group(2),
                text=textwrap.dedent(match.group(3)),
                substitutions=substitutions,
            )
        )
    return blocks


def readme_commands(blocks: list[Block] | None = None) -> list[Command]:
    """Every `lrdecay ...` line of the README's blocks, continuations joined.

    A trailing `# comment` is dropped, a `$ ` prompt too (in a block with
    prompts only prompted lines are commands; the lines below one, up to the
    next prompt, are the output it shows); `export NAME=value` lines and
    `NAME=value` prefixes become the command's environment.
    """
    commands = []
    for block in readme_blocks() if blocks is None else blocks:
        environment: dict[str, str] = {}
        lines = block.text.replace("\\\n", " ").splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        for offset, raw in enumerate(lines):
            if prompted and not raw.startswith("$ "):
                continue
            shown: tuple[str, ...] = ()
            if raw.startswith("$ "):
                after = lines[offset + 1 :]
                ends = [i for i, later in enumerate(after) if later.startswith("$ ")]
                shown = tuple(after[: ends[0] if ends else len(after)])
            line = re.sub(r"\s+#.*$", "", raw.strip()).removeprefix("$ ")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                environment[name] = value
                continue
            words = line.split()
            prefix = {}
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                name, _, value = words.pop(0).partition("=")
                prefix[name] = value
            if words[:1] != ["lrdecay"]:
                continue
            commands.append(
                Command(
                    line=block.line + 1 + offset,
                    text=" ".join(words),
                    environment=tuple({**environment, **prefix}.items()),
                    shown=shown,
                )
            )
    return commands


_FENCED = re.compile(r"^( *)```\w*\n.*?^\1```", re.M | re.S)
_INLINE = re.compile(r"`(lrdecay [^`\n]*)`")


def readme_inline_commands(text: str | None = None) -> list[Command]:
    """Every inline `lrdecay ...` span of the README's prose.

    A span holding `...` stands for a command's rest (`lrdecay search ...`)
    and is not one.
    """
    text = README.read_text() if text is None else text
    prose = _FENCED.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return [
        Command(line=prose[: match.start()].count("\n") + 1, text=match.group(1))
        for match in _INLINE.finditer(prose)
        if "..." not in match.group(1)
    ]


def all_readme_commands() -> list[Command]:
    """The README's fenced commands, then its inline ones not fenced too."""
    commands: dict[str, Command] = {}
    for command in readme_commands() + readme_inline_commands():
        commands.setdefault(command.text, command)
    return list(commands.values())


def how_to_check(command: Command) -> str:
    """`"run"`, `"dry-run"` or `"skip"` (`SKIPPED` says why)."""
    if command.text in SKIPPED:
        return "skip"
    if command.text.startswith(RUN_WHOLE) or command.text in RUN_WHOLE_SEARCHES:
        return "run"
    if command.text.startswith(("lrdecay search", "lrdecay budget")):
        return "dry-run"
    raise AssertionError(
        f"README line {command.line}: {command.text!r} is a command this test "
        "does not know how to check: add it to RUN_WHOLE or SKIPPED."
    )


# --------------------------------------------------------------------------
# The extractor itself (quick)


def test_the_readme_has_the_commands_and_blocks_this_test_checks() -> None:
    commands = all_readme_commands()
    texts = [command.text for command in commands]
    inline = {command.text for command in readme_inline_commands()}
    assert {"lrdecay search --epochs 10", "lrdecay search --help"} <= inline
    assert not any("..." in text for text in inline)
    assert "lrdecay search" in texts
    assert "lrdecay search --config lrdecay.toml" not in texts  # a comment
    assert sum(text.startswith("lrdecay search") for text in texts) >= 15
    assert all(how_to_check(command) for command in commands)
    assert set(SKIPPED) <= set(texts)
    assert set(texts) >= RUN_WHOLE_SEARCHES
    python = [block for block in readme_blocks() if block.language == "python"]
    assert len(python) >= 4
    # The distributed block: its `export` reaches both commands.
    chief = next(c for c in commands if "--tuner-id chief" in c.text)
    assert dict(chief.environment) == {"MLFLOW_TRACKING_URI": SERVERS[1]}


def test_the_extractor_joins_lines_and_reads_markers() -> None:
    text = (
        "<!-- readme-test: a=1 -> a=2; b -> c -->\n```python\nprint(a=1)\n```\n"
        "```bash\n$ X=1 lrdecay preview --kind step \\\n"
        "    --epochs 3   # three\n```\n"
    )
    blocks = readme_blocks(text)
    assert blocks[0].substitutions == (("a=1", "a=2"), ("b", "c"))
    assert blocks[1].substitutions == ()
    (command,) = readme_commands(blocks)
    assert command.text == "lrdecay preview --kind step --epochs 3"
    assert command.environment == (("X", "1"),)
    assert command.line == 6
    assert command.shown == ()
    text = (
        "Run `lrdecay search -q` or `lrdecay search ...`;\n```\n"
        "$ lrdecay budget -q\nline 1\n...\n$ lrdecay report\nlrdecay: 2\n```\n"
        "and `lrdecay report`.\n"
    )
    budget, report = readme_commands(readme_blocks(text))
    assert (budget.text, budget.shown) == ("lrdecay budget -q", ("line 1", "..."))
    assert report.shown == ("lrdecay: 2",)  # output, not a command
    inline = readme_inline_commands(text)
    assert [(c.line, c.text) for c in inline] == [
        (1, "lrdecay search -q"),
        (9, "lrdecay report"),
    ]


def _shown_in(shown: tuple[str, ...], printed: str) -> bool:
    """Whether `printed` reads as `shown`: its lines in order, `...` for any."""
    pattern = "\n".join(
        "(?:.*\n)*?.*" if line.strip() == "..." else re.escape(line) for line in shown
    )
    return re.fullmatch(pattern + "\n?", printed) is not None


def test_shown_output_matches_what_is_printed_with_gaps() -> None:
    printed = "a\nb\nc\nd\n"
    assert _shown_in(("a", "b", "c", "d"), printed)
    assert _shown_in(("a", "...", "d"), printed)
    assert _shown_in(("...", "c", "..."), printed)
    assert not _shown_in(("a", "c", "d"), printed)
    assert not _shown_in(("a", "b"), printed)
    assert not _shown_in(("a", "b", "c", "e"), printed)


# --------------------------------------------------------------------------
# The commands


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `mlflow server` for the README's server addresses."""
    from mlflow_server import MlflowServer

    with MlflowServer(tmp_path_factory.mktemp("server")) as running:
        yield running.uri


def _files(folder: Path) -> None:
    """The files the README's commands name, in its folder."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["rooms,area,age,price"]
    for _ in range(600):
        rooms, area, age = rng.integers(1, 6), rng.uniform(40, 200), rng.integers(0, 80)
        price = 50_000 * rooms + 1_200 * area - 500 * age + rng.normal(0, 10_000)
        rows.append(f"{rooms},{area:.1f},{age},{price:.0f}")
    (folder / "houses.csv").write_text("\n".join(rows) + "\n")
    rows = ["weight,height,animal"]
    for _ in range(300):
        animal = rng.choice(["cat", "dog", "rabbit"])
        size = {"cat": 4.0, "dog": 20.0, "rabbit": 2.0}[animal]
        rows.append(f"{rng.normal(size, 1):.2f},{rng.normal(size * 3, 2):.2f},{animal}")
    (folder / "pets.csv").write_text("\n".join(rows) + "\n")
    np.savez(
        folder / "arrays.npz",
        x=rng.normal(size=(300, 8)).astype("float32"),
        y=rng.integers(0, 3, 300),
    )
    model = textwrap.dedent(
        """
        import keras


        def build(hp, input_shape, num_outputs, task):
            units = hp.Choice("units", [16, 32])
            activation = "softmax" if task == "classification" else None
            model = keras.Sequential([
                keras.Input(input_shape),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(num_outputs, activation=activation),
            ])
            loss = ("sparse_categorical_crossentropy" if task == "classification"
                    else "mse")
            model.compile(keras.optimizers.SGD(0.01), loss)
            return model
        """
    )
    (folder / "my_models.py").write_text(model)
    (folder / "my.py").write_text(model)
    from heart_table import write_heart

    heart = write_heart(folder / "heart.csv", rows=300)
    import pandas as pd

    table = pd.read_csv(heart)
    table.to_parquet(folder / "heart.parquet")
    table["cp"] = table["cp"].astype("float64")
    table.loc[4, "cp"] = None  # one gap, for --impute
    table.to_csv(folder / "heart_gaps.csv", index=False)
    rows = ["a,b,label"] + [f"{i % 7},{i % 5},{i % 2}" for i in range(200)]
    (folder / "big.csv").write_text("\n".join(rows) + "\n")  # a small stand-in
    toml = next(b.text for b in readme_blocks() if b.language == "toml")
    (folder / "lrdecay.toml").write_text(toml)
    yaml = [line for line in toml.splitlines() if " = " in line]
    (folder / "lrdecay.yaml").write_text(
        "search:\n" + "".join(f"  {line.replace(' = ', ': ', 1)}\n" for line in yaml)
    )


def _environment(command: Command, server: str | None) -> dict[str, str]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    for name, value in command.environment:
        env[name] = server if value in SERVERS and server else value
    return env


def _commands(kind: str) -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(command, id=command.id)
        for command in all_readme_commands()
        if how_to_check(command) == kind
    ]


CONFIGS = ("lrdecay.toml", "lrdecay.yaml")


@pytest.fixture(scope="module")
def dry_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every README command checked by `--dry-run`, and the two config files.

    Each in its own folder with the README's files and its own environment,
    run by `lrdecay`'s `main` one after another in one process
    (tests/cli_batch.py): one TensorFlow import for all of them, not one
    per command. Keyed by the command's id (a config by its file name);
    each result holds the exit code, what was printed and the folder's files
    before and after.
    """
    commands = [param.values[0] for param in _commands("dry-run")]
    server = None
    if any(
        value in SERVERS for command in commands for _, value in command.environment
    ):
        server = request.getfixturevalue("server")
    jobs: list[tuple[str, list[str], Command]] = [
        (command.id, [*shlex.split(command.text)[1:], "--dry-run"], command)
        for command in commands
    ]
    jobs += [
        (config, ["search", "--config", config, "--dry-run"], Command(0, "lrdecay"))
        for config in CONFIGS
    ]
    batch, folders = [], {}
    configs = tmp_path_factory.mktemp("configs")  # one folder: the same data path
    _files(configs)
    for key, argv, command in jobs:
        folder = configs if key in CONFIGS else tmp_path_factory.mktemp("dry-run")
        if folder != configs:
            _files(folder)
        folders[key] = sorted(os.listdir(folder))
        env = _environment(command, server)
        batch.append({"argv": argv, "cwd": str(folder), "env": env})
    results = _batch(batch, tmp_path_factory.mktemp("dry-run-batch"), timeout=900)
    return {
        key: {**result, "before": folders[key]}
        for (key, _, _), result in zip(jobs, results, strict=True)
    }


@pytest.mark.slow
@pytest.mark.parametrize("command", _commands("dry-run"))
def test_a_readme_search_checks_out(
    command: Command, dry_runs: dict[str, dict[str, Any]]
) -> None:
    done = dry_runs[command.id]
    assert done["code"] == 0, f"README line {command.line}: {done['stderr'][-3000:]}"
    assert "Dry run: nothing trained" in done["stdout"]
    # Nothing created: no project, no store.
    assert done["files"] == done["before"]
    if command.text == "lrdecay search":
        # The default search's name, as the README prints it for `report`.
        assert "search    grid-digits-e66414b1 in lrdecay_project" in done["stdout"]
        assert "291 to 382 trained of 520" in done["stdout"]


@pytest.mark.slow
def test_the_yaml_config_checks_out_as_the_toml_one(
    dry_runs: dict[str, dict[str, Any]],
) -> None:
    outputs = []
    for config in CONFIGS:
        done = dry_runs[config]
        assert done["code"] == 0, done["stderr"][-3000:]
        outputs.append(done["stdout"])
    assert outputs[0] == outputs[1]
    assert "8 at most, random" in outputs[0]
    assert "step epochs_drop 5 to 30; exponential half_life 5 to 30" in outputs[0]


def _batch(
    jobs: list[dict[str, Any]], work: Path, timeout: float
) -> list[dict[str, Any]]:
    """`jobs` run by tests/cli_batch.py in one process; their results, in order."""
    (work / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("cli_batch.py")),
         str(work / "jobs.json"), str(work / "results.json")],
        capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads((work / "results.json").read_text())
    return results


@pytest.fixture(scope="module")
def quick_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """Every README command quick enough to run whole, each in its own folder.

    Run one after another in one process (tests/cli_batch.py). A `report`
    runs after a small search under the name it reads (the README's report
    reads the default search). Keyed by the command's id: its folder and
    the results of its jobs, the command's last.
    """
    jobs, owners = [], []
    for param in _commands("run"):
        command = param.values[0]
        folder = tmp_path_factory.mktemp("run")
        _files(folder)
        env = _environment(command, None)
        argvs = [shlex.split(command.text)[1:]]
        if command.text.startswith("lrdecay report"):
            name = shlex.split(command.text)[3] if "--search" in command.text else None
            search = [
                "search",
                "--kinds",
                "step",
                "--decay-epochs",
                "1",
                "--epochs",
                "2",
            ]
            argvs.insert(0, search + (["--project-name", name] if name else []))
        for argv in argvs:
            jobs.append({"argv": argv, "cwd": str(folder), "env": env})
            owners.append((command.id, folder))
    results = _batch(jobs, tmp_path_factory.mktemp("run-batch"), timeout=1200)
    by_command: dict[str, tuple[Path, list[dict[str, Any]]]] = {}
    for (key, folder), result in zip(owners, results, strict=True):
        by_command.setdefault(key, (folder, []))[1].append(result)
    return by_command


@pytest.mark.slow
@pytest.mark.parametrize("command", _commands("run"))
def test_a_quick_readme_command_runs(
    command: Command, quick_runs: dict[str, tuple[Path, list[dict[str, Any]]]]
) -> None:
    folder, results = quick_runs[command.id]
    for done in results:
        assert done["code"] == 0, (
            f"README line {command.line}: {done['stderr'][-3000:]}"
        )
    done = results[-1]
    if command.shown:
        assert _shown_in(command.shown, done["stdout"]), (
            f"README line {command.line} shows what it does not print:\n"
            + done["stdout"]
        )
    for word in shlex.split(command.text):
        if word.endswith(".png"):
            assert (folder / word).stat().st_size > 0
    if command.text == "lrdecay find-lr":
        assert (folder / "lrdecay_lr_range.png").stat().st_size > 0


# --------------------------------------------------------------------------
# The Python blocks


def _python_blocks() -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(block, id=f"line{block.line}")
        for block in readme_blocks()
        if block.language == "python"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("block", _python_blocks())
def test_a_readme_python_block_runs(block: Block, tmp_path: Path) -> None:
    source = block.text
    for old, new in block.substitutions:
        assert old in source, f"README line {block.line}: {old!r} is not in the block"
        source = source.replace(old, new)
    script = tmp_path / "block.py"
    script.write_text(_PRELUDE + "\n" + source)
    env = _environment(Command(0, "lrdecay"), None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"README line {block.line}: {done.stderr[-3000:]}"

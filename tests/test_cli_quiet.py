"""`lrdecay find-lr` as quiet as `search`; a bad `--model` fails before TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the command in a fresh interpreter and fails if TensorFlow was
# imported by the time it returned.
_WITHOUT_TENSORFLOW = (
    "import sys\n"
    "from lrdecay.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    "sys.exit(code)\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    # The command sets it itself.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


@pytest.mark.slow
def test_find_lr_writes_nothing_to_stderr(tmp_path: Path) -> None:
    out = tmp_path / "range.png"
    done = subprocess.run(
        [sys.executable, "-m", "lrdecay", "find-lr",
         "--out", str(out)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert "Suggested initial rate:" in done.stdout
    assert out.stat().st_size > 0


@pytest.mark.parametrize("command", ["search", "find-lr"])
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.py:build", "--model 'missing.py:build': file 'missing.py' "
         "not found."),
        ("mine.py:nothing", "--model 'mine.py:nothing': module 'mine.py' has no "
         "attribute 'nothing'."),
        ("mine:nothing", "--model 'mine:nothing': module 'mine' has no attribute "
         "'nothing'."),
    ],
)  # fmt: skip
def test_a_bad_model_spec_fails_in_one_line_before_tensorflow_loads(
    tmp_path: Path, command: str, spec: str, message: str
) -> None:
    # Importing this file would load TensorFlow: it is read, not run.
    (tmp_path / "mine.py").write_text(
        "import keras\n\n\ndef build_model():\n    return keras.Sequential()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW, command, "--model", spec],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Exit 2, not the 1 of the failed check: TensorFlow and Keras never loaded.
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr == f"lrdecay: error: {message}\n"

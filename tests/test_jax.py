"""The backend-dependent tests again, on JAX, in one process.

Setting the optimizer's rate, seeding, the data order and restoring a
model's and optimizer's state go through the backend: the tests of each run
once more with `KERAS_BACKEND=jax`, in one pytest subprocess (one JAX start-up
and compilation warm-up for all of them). The rest of the suite (argument
checks, configs, MLflow layout) does not depend on the backend and runs once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

# The tests marked `@pytest.mark.jax`: the ways a decay sets the optimizer's
# rate during a fit (a schedule and Keras' own cosine beside it, a plateau
# reduction by Keras' rule, one composed with a schedule, `initial_epoch`, a
# decay reading the optimizer's rate), shared prefixes equal to independent
# runs, a seeded search repeating exactly, repeats, a reshuffling tf.data
# pipeline and a generator read once, a keras-io shape (a dict-input model on
# a shuffled tf.data pipeline) through a search and the range test, the best
# epoch's checkpoint. Their number, so a marker lost in an edit shows here.
# (The CNN, the Conv1D and the WSD budget runs train through the same paths,
# three times the time on JAX: they run on TensorFlow only.)
MARKED = 16


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="runs tests of the other modules on JAX from the TensorFlow run",
)
@pytest.mark.slow
def test_the_backend_dependent_tests_pass_on_jax() -> None:
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
            "-m", "jax", str(TESTS),
        ],
        capture_output=True, text=True, env=env,
        cwd=TESTS.parent, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    # Each one ran, and only those.
    assert re.search(rf"\b{MARKED} passed\b", summary), summary
    assert "skipped" not in summary, summary

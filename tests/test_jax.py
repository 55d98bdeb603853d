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

ON_JAX = [
    # The ways a decay sets the optimizer's rate during a fit, once each: a
    # schedule (and Keras' own cosine beside it), a plateau reduction by
    # Keras' rule, a reduction composed with a schedule, `initial_epoch`.
    "test_callbacks.py::test_step_decay_sets_the_formula_rate_every_epoch",
    "test_callbacks.py::test_cosine_decay_equals_keras_cosine_decay_every_epoch",
    "test_callbacks.py::"
    "test_plateau_decay_reduces_with_keras_semantics_and_records_events",
    "test_callbacks.py::"
    "test_plateau_reductions_multiply_the_schedule_in_any_order[True]",
    "test_callbacks.py::test_initial_epoch_continues_the_schedule",
    # A decay without `initial_lr` reads the optimizer's rate, once per optimizer.
    "test_callbacks.py::"
    "test_a_continued_fit_starts_the_schedule_from_the_first_fits_rate",
    # Shared prefixes: every branch equals its independent run.
    "test_prefix.py::test_every_branch_has_its_independent_run_s_metrics",
    "test_prefix.py::test_branches_record_the_whole_rate_curve_and_the_plateau_event",
    "test_prefix.py::test_the_plateau_fires_and_every_decay_leaves_where_expected",
    # A seeded search repeats exactly; repeats give one run per seed.
    "test_evidence.py::"
    "test_a_seeded_search_repeats_exactly_in_fresh_folders_and_the_same_one",
    "test_evidence.py::test_repeats_give_one_child_run_per_seed_and_a_spread",
    # A search's trials continue the stored trunk with the independent numbers.
    "test_share_prefix.py::test_a_small_shared_grid_is_exact_on_jax",
    # A reshuffling tf.data pipeline and a generator, read once: exact.
    "test_inputs.py::test_a_reshuffling_pipeline_gives_every_trial_the_controls_data",
    "test_inputs.py::test_a_generator_with_steps_per_epoch_is_searched",
    # keras-io shapes on exact data: a CNN on arrays, dict inputs on a
    # shuffled tf.data pipeline, a Conv1D model with the user's EarlyStopping,
    # each through a tracked fit, a search and the range test.
    "test_scenarios.py::test_a_cnn_on_image_arrays",
    "test_scenarios.py::test_a_dict_input_model_on_a_shuffled_tf_data_pipeline",
    "test_scenarios.py::"
    "test_a_conv1d_model_with_the_users_early_stopping_and_checkpoint",
    # The best epoch's weights, kept in memory and written once.
    "test_overhead.py::test_the_checkpoint_is_the_best_epoch_written_once_at_the_end",
]


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
            *(str(TESTS / test) for test in ON_JAX),
        ],
        capture_output=True, text=True, env=env,
        cwd=TESTS.parent, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    # Each one ran (a renamed test would be "not found", an error).
    assert re.search(rf"\b{len(ON_JAX)} passed", summary), summary
    assert "skipped" not in summary, summary

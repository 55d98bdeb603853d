"""An LR range test as MLflow holds it: params, the curve, the plot.

Logged to the parent run of `search(initial_lr="auto")` and to the run of
`lrdecay find-lr`.
"""

from __future__ import annotations

import os
from typing import Any

from mlflow.entities import Metric, Param

# Where an LR range test goes in a run: params under this prefix, the curve
# as the metrics `lr_range/lr` and `lr_range/loss` (step = batch), the plot.
RANGE_TEST_PREFIX = "lr_range/"
RANGE_TEST_PLOT = "lr_range.png"


def log_range_test(client: Any, run_id: str, result: Any) -> None:
    """Log an `LRFinderResult` to a run: params, the curve, the plot.

    Params `lr_range/suggested_lr`, `lr_range/min_loss_lr`,
    `lr_range/steepest_lr`, `lr_range/stopped_early`; per recorded batch
    (step) the metrics `lr_range/lr`, `lr_range/loss` (smoothed) and
    `lr_range/raw_loss`; the plot as the artifact `lr_range.png`. Used by
    `search(initial_lr="auto")` (the parent run) and `lrdecay find-lr`.
    """
    import tempfile

    now = now_ms()
    params = [
        Param(f"{RANGE_TEST_PREFIX}suggested_lr", repr(result.suggested_lr)),
        Param(f"{RANGE_TEST_PREFIX}min_loss_lr", repr(result.min_loss_lr)),
        Param(f"{RANGE_TEST_PREFIX}steepest_lr", repr(result.steepest_lr)),
        Param(f"{RANGE_TEST_PREFIX}stopped_early", str(result.stopped_early)),
    ]
    metrics = [
        Metric(f"{RANGE_TEST_PREFIX}{name}", float(value), now, step)
        for step, point in enumerate(
            zip(result.lrs, result.losses, result.raw_losses, strict=True)
        )
        for name, value in zip(("lr", "loss", "raw_loss"), point, strict=True)
    ]
    client.log_batch(run_id, params=params)
    # MLflow takes at most 1000 metrics per batch.
    for start in range(0, len(metrics), 999):
        client.log_batch(run_id, metrics=metrics[start : start + 999])
    with tempfile.TemporaryDirectory() as folder:
        client.log_artifact(
            run_id, str(result.plot(os.path.join(folder, RANGE_TEST_PLOT)))
        )


def now_ms() -> int:
    """Now, in milliseconds since the epoch: MLflow's timestamps."""
    import time

    return int(time.time() * 1000)

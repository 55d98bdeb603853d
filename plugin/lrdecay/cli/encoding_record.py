"""What a search on a table keeps of its encoding: files and run params.

At the end of `lrdecay search --data TABLE`, the fitted
`lrdecay.cli.encoding.TableEncoding` is saved beside the search's KerasTuner
project, and with it the best model behind its feature space (one Keras model
that takes the table's columns by name, as keras-io's structured-data
examples build their inference model), so a later prediction sees the
features the held-out score saw. The search's MLflow parent run gets one
`encoding.<column>` param per column and both files as artifacts.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lrdecay.cli.errors import one_line

__all__ = ["FEATURE_SPACE_FILE", "MODEL_FILE", "record_encoding"]

# The files written into the search's project directory (and the parent
# run's `lrdecay/` artifacts).
FEATURE_SPACE_FILE = "feature_space.keras"
MODEL_FILE = "best_model_with_features.keras"


def record_encoding(dataset: Any, result: Any, project_path: str) -> list[str]:
    """Save the encoding (and the best model behind it); list it in MLflow.

    A no-op for data that are not a table. A failure to write to MLflow is
    one warning line: the search's results are recorded already.

    Args:
        dataset: `lrdecay.cli.dataset.Dataset`. Its `encoding`.
        result: `SearchResult`. Its `best_model`, `parent_run_id`,
            `tracking_uri`.
        project_path: String. The search's KerasTuner project directory.

    Returns:
        The paths of the files written.
    """
    encoding = dataset.encoding
    if encoding is None:
        return []
    os.makedirs(project_path, exist_ok=True)
    paths = [encoding.save(os.path.join(project_path, FEATURE_SPACE_FILE))]
    model = getattr(result, "best_model", None)
    if model is not None:
        try:
            paths.append(_save_model_with_features(encoding, model, project_path))
        except Exception as error:  # a --model Keras cannot save or rebuild
            _warn(f"the best model behind its features is not saved: {one_line(error)}")
    if getattr(result, "parent_run_id", None) is not None:
        try:
            _log_to_run(encoding, result, paths)
        except Exception as error:  # the search is recorded already
            _warn(f"the table's encoding is not in MLflow: {one_line(error)}")
    return paths


def _save_model_with_features(encoding: Any, model: Any, project_path: str) -> str:
    import keras

    space = encoding.feature_space
    outputs = model(space.get_encoded_features())
    end_to_end = keras.Model(inputs=space.get_inputs(), outputs=outputs)
    path = os.path.join(project_path, MODEL_FILE)
    end_to_end.save(path)
    return path


def _log_to_run(encoding: Any, result: Any, paths: list[str]) -> None:
    import mlflow
    from mlflow.entities import Param

    uri = result.tracking_uri
    client = mlflow.MlflowClient(uri) if uri else mlflow.MlflowClient()
    run_id = result.parent_run_id
    logged = client.get_run(run_id).data.params
    # A resumed search lists its encoding once: params cannot change.
    new = [
        Param(name, value[:6000])
        for name, value in encoding.describe().items()
        if name not in logged
    ]
    if new:
        client.log_batch(run_id, params=new)
    for path in paths:
        client.log_artifact(run_id, path, "lrdecay")


def _warn(message: str) -> None:
    print(f"lrdecay: warning: {message}", file=sys.stderr)

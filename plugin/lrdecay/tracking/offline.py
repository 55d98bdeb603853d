"""Re-import a run that `MlflowLogger` saved to a local file when MLflow was away.

```
lrdecay replay lrdecay-offline/run-....json [--tracking-uri URI]
```

or `lrdecay.tracking.offline.replay(path)` in Python. This module imports
MLflow only, not Keras, so the command starts quickly.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException

from lrdecay.tracking import sender, store

__all__ = ["replay"]


def replay(path: str | Path, tracking_uri: str | None = None) -> str:
    """Send a run saved by `MlflowLogger` in a local file to MLflow.

    Logs into the saved run if the tracking store holds it, skipping every
    metric point it already has (so a replay never logs a point twice, even
    when run again), else into a new run in the saved experiment, with the
    saved name, tags and start time. Then uploads the saved artifacts and
    sets the run's end status.

    Example:

    ```python
    from lrdecay.tracking.offline import replay

    run_id = replay("lrdecay-offline/run-3f2a-20250101-120000.json")
    ```

    Args:
        path: The JSON file named in the logger's warning.
        tracking_uri: String or `None`. Where to send it. Defaults to the
            URI the run was logged to.

    Returns:
        The id of the run the data went to.

    Raises:
        ValueError: If `path` is not such a file.
        FileNotFoundError: If `path` does not exist.
        mlflow.exceptions.MlflowException: If MLflow refuses the data.
    """
    path = Path(path)
    header, pending = sender.read_spill(path)
    uri = store.absolute_uri(
        tracking_uri or header.get("tracking_uri") or mlflow.get_tracking_uri()
    )
    client = mlflow.MlflowClient(uri)
    run_store = store.open_store(uri, timeout=30.0, max_retries=3)
    run_id = header.get("run_id")
    held: dict[str, str] = {}
    if run_id and _run_exists(run_store, run_id):
        held = dict(run_store.get_run(run_id).data.params)
        metrics = sender.unsent(run_store, run_id, pending.metrics)
    else:
        name = header.get("experiment_name")
        if name:
            experiment_id = store.experiment_by_name(run_store, name)
        else:
            experiment_id = str(header.get("experiment_id") or "0")
            if _experiment_missing(run_store, experiment_id):
                experiment_id = "0"
        created = client.create_run(
            experiment_id,
            start_time=header.get("start_time"),
            tags=dict(header.get("run_tags") or {}),
            run_name=header.get("run_name"),
        )
        run_id = created.info.run_id
        metrics = pending.metrics
    params = {k: v for k, v in pending.params.items() if held.get(k) != v}
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in pending.tags.items()],
    )
    artifacts = header.get("artifacts")
    if artifacts and (path.parent / artifacts).is_dir():
        client.log_artifacts(run_id, str(path.parent / artifacts))
    end = header.get("end")
    if end:
        client.set_terminated(run_id, end["status"], end_time=end.get("end_time"))
    return str(run_id)


def _run_exists(store: object, run_id: str) -> bool:
    try:
        store.get_run(run_id)  # type: ignore[attr-defined]
    except MlflowException:
        return False
    return True


def _experiment_missing(store: object, experiment_id: str) -> bool:
    try:
        return store.get_experiment(experiment_id) is None  # type: ignore[attr-defined]
    except MlflowException:
        return True

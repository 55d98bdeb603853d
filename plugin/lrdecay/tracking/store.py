"""MLflow tracking stores whose requests take a bounded time.

MLflow's REST client retries a failed request `MLFLOW_HTTP_REQUEST_MAX_RETRIES`
times (7 by default) with exponential back-off, each try waiting up to
`MLFLOW_HTTP_REQUEST_TIMEOUT` (120 s): one request to an unreachable server
can block for minutes. Those settings are process-wide environment variables,
read at every request, so changing them would change the user's own MLflow
calls too. The logger instead talks to HTTP servers through `BoundedRestStore`,
a `RestStore` that passes explicit retry and timeout arguments to MLflow's
`http_request`; the logger does its own retrying, without blocking training.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.store.tracking.rest_store import RestStore
from mlflow.tracking._tracking_service.utils import _get_store, get_default_host_creds
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.utils.rest_utils import http_request, verify_rest_response


class BoundedRestStore(RestStore):
    """A `RestStore` whose every request ends within about `timeout * (retries + 1)`.

    Args:
        tracking_uri: `http(s)://` URI of the tracking server.
        timeout: Seconds to wait for one response (connect and read).
        max_retries: Retries of a transient failure inside one call.
    """

    def __init__(self, tracking_uri: str, timeout: float, max_retries: int) -> None:
        super().__init__(lambda: get_default_host_creds(tracking_uri))
        self.timeout = timeout
        self.max_retries = max_retries

    # Same contract as RestStore._call_endpoint (mlflow 3.x), minus the
    # environment-driven retry policy.
    def _call_endpoint(
        self,
        api: Any,
        json_body: str | None = None,
        endpoint: str | None = None,
        retry_timeout_seconds: float | None = None,
        response_proto: Any = None,
    ) -> Any:
        method_to_info = (
            self._V3_METHOD_TO_INFO if api in self._V3_APIS else self._METHOD_TO_INFO
        )
        default_endpoint, method = method_to_info[api]
        endpoint = endpoint or default_endpoint
        response_proto = response_proto or api.Response()
        body = json.loads(json_body) if json_body is not None else None
        payload = {"params": body} if method == "GET" else {"json": body}
        response = http_request(
            self.get_host_creds(),
            endpoint,
            method,
            max_retries=self.max_retries,
            backoff_factor=0 if self.max_retries == 0 else 1,
            backoff_jitter=0.0,
            timeout=self.timeout,
            retry_timeout_seconds=self.timeout,
            **payload,
        )
        response = verify_rest_response(response, endpoint)
        if response.status_code == 204 or not response.text.strip():
            return response_proto
        parse_dict(js_dict=json.loads(response.text), message=response_proto)
        return response_proto


def is_http(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def open_store(tracking_uri: str, timeout: float, max_retries: int) -> Any:
    """The tracking store of `tracking_uri`; bounded when it is an HTTP server."""
    if is_http(tracking_uri):
        return BoundedRestStore(tracking_uri, timeout, max_retries)
    return _get_store(tracking_uri)


def is_permanent(error: BaseException) -> bool:
    """Whether retrying the request that raised `error` cannot succeed.

    A 4xx answer (bad value, unknown run, a param logged with another value)
    will be the same next time; connection errors, timeouts, 5xx, 429 and a
    busy database may pass.
    """
    if not isinstance(error, MlflowException):
        return False
    try:
        status = int(error.get_http_status_code())
    except (TypeError, ValueError):
        return False
    return 400 <= status < 500 and status not in (408, 429)


@contextlib.contextmanager
def bounded_http_env(timeout: float, max_retries: int) -> Iterator[None]:
    """Bound MLflow's HTTP retries for the calls made inside the block.

    Only for calls that go through MLflow's own clients (artifact uploads),
    made from the training thread while training is not running; the change
    is process-wide for the duration of the block, then undone.
    """
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(timeout))),
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def experiment_by_name(store: Any, name: str) -> str:
    """The id of experiment `name` in `store`, created if missing."""
    experiment = store.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(store.create_experiment(name))
    except MlflowException:
        # Another process may have created it first.
        experiment = store.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)

"""Internals of mlflow that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow.store.tracking.rest_store import RestStore
from mlflow.tracking import fluent
from mlflow.tracking._tracking_service.utils import _get_store
from mlflow.tracking.context.registry import resolve_tags as _resolve_tags
from mlflow.utils import validation as _validation
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.utils.rest_utils import http_request, verify_rest_response

# ---------------------------------------------------------------------------
# Used by lrdecay.tracking.

# MLflow's limits on names, values and batch sizes (`mlflow.utils.validation`
# constants; verified mlflow 3.17.2, same values since 2.0).
MAX_ENTITY_KEY_LENGTH: int = _validation.MAX_ENTITY_KEY_LENGTH
MAX_PARAM_VAL_LENGTH: int = _validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_VAL_LENGTH: int = _validation.MAX_TAG_VAL_LENGTH
MAX_METRICS_PER_BATCH: int = _validation.MAX_METRICS_PER_BATCH
MAX_PARAMS_TAGS_PER_BATCH: int = _validation.MAX_PARAMS_TAGS_PER_BATCH


def path_not_unique(name: str) -> bool:
    """Whether MLflow rejects `name` as a path ("a//b", "/a", "..")."""
    # Relies on `mlflow.utils.validation.path_not_unique`; verified mlflow 3.17.2.
    return bool(_validation.path_not_unique(name))


def resolve_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` plus the context tags `mlflow.start_run` adds (user, source, git)."""
    # Relies on `mlflow.tracking.context.registry.resolve_tags`, what
    # `fluent.start_run` calls; verified mlflow 3.17.2.
    return dict(_resolve_tags(tags))


def active_experiment_id() -> str | None:
    """The experiment chosen with `mlflow.set_experiment()`, if any."""
    # Relies on the module global `mlflow.tracking.fluent._active_experiment_id`
    # (public `mlflow.get_experiment` needs the id); verified mlflow 3.17.2.
    active_id = getattr(fluent, "_active_experiment_id", None)
    return str(active_id) if active_id else None


def latest_schema_revision() -> str:
    """The alembic revision this MLflow's database stores are migrated to."""
    # Relies on `mlflow.store.db.utils._get_latest_schema_revision` (what
    # `SqlAlchemyStore.__init__` checks a store against); imported here
    # because it loads alembic. Verified mlflow 3.9.0 and 3.17.2.
    import logging

    # Alembic's plugin set-up logs at INFO through MLflow's handler when
    # first imported (alembic 1.17+): a line before lrdecay's own error.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return str(_get_latest_schema_revision())
    finally:
        alembic_log.setLevel(level)


def tracking_store(tracking_uri: str) -> Any:
    """The tracking store (`AbstractStore`) MLflow's own client uses for a URI."""
    # Relies on `mlflow.tracking._tracking_service.utils._get_store` (what
    # `MlflowClient` wraps; the store API has no bounded retries or raw
    # `update_run_info`); verified mlflow 3.17.2.
    return _get_store(tracking_uri)


class BoundedRestStore(RestStore):
    """A `RestStore` whose every request ends within about `timeout * (retries + 1)`.

    MLflow's REST client reads its retry policy (`MLFLOW_HTTP_REQUEST_*`, up to
    minutes per request) from process-wide environment variables; this store
    passes explicit ones instead, so the user's own MLflow calls keep theirs.

    Args:
        tracking_uri: `http(s)://` URI of the tracking server.
        timeout: Seconds to wait for one response (connect and read).
        max_retries: Retries of a transient failure inside one call.
    """

    def __init__(self, tracking_uri: str, timeout: float, max_retries: int) -> None:
        # Relies on `mlflow.utils.credentials.get_default_host_creds`;
        # verified mlflow 3.17.2.
        super().__init__(lambda: get_default_host_creds(tracking_uri))
        self.timeout = timeout
        self.max_retries = max_retries

    # Relies on `RestStore._call_endpoint(api, json_body, endpoint,
    # retry_timeout_seconds, response_proto)`, `_METHOD_TO_INFO` /
    # `_V3_METHOD_TO_INFO` / `_V3_APIS`, `rest_utils.http_request` /
    # `verify_rest_response` and `proto_json_utils.parse_dict`; verified mlflow
    # 3.17.2 (mlflow 2.x has no `_V3_*`: treated as empty).
    def _call_endpoint(
        self,
        api: Any,
        json_body: str | None = None,
        endpoint: str | None = None,
        retry_timeout_seconds: float | None = None,
        response_proto: Any = None,
    ) -> Any:
        v3_apis = getattr(self, "_V3_APIS", ())
        method_to_info = (
            self._V3_METHOD_TO_INFO if api in v3_apis else self._METHOD_TO_INFO
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


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning (run layout).

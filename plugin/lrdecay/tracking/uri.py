"""Where lrdecay logs: the tracking URI, and the links to the runs in the MLflow UI.

The store's credentials live in `lrdecay.tracking.credentials` and its
preflight in `lrdecay.tracking.preflight`; both are importable from here too.
"""

from __future__ import annotations

import os
import shlex
import urllib.error
import urllib.parse
import urllib.request

from lrdecay._compat import mlflow_ui
from lrdecay.tracking.credentials import (
    credentials_in_environment,
    hand_credentials_to_mlflow,
    redact,
    redact_text,
    split_credentials,
    without_credentials,
)
from lrdecay.tracking.preflight import (
    MLFLOW_DEFAULT_URI,
    TrackingUnreachable,
    check_reachable,
)

__all__ = [
    "MLFLOW_DEFAULT_URI",
    "MLFLOW_UI_ADDRESS",
    "TrackingUnreachable",
    "check_reachable",
    "credentials_in_environment",
    "hand_credentials_to_mlflow",
    "redact",
    "redact_text",
    "resolve",
    "runs_url",
    "saved_view",
    "saved_view_key",
    "split_credentials",
    "ui_hint",
    "without_credentials",
]


def resolve(tracking_uri: str | None) -> str | None:
    """The URI given, else `MLFLOW_TRACKING_URI`, else `None` (MLflow's default)."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None


# The MLflow UI's own address when `mlflow ui` / `mlflow server` runs with
# its defaults.
MLFLOW_UI_ADDRESS = "http://127.0.0.1:5000"


# Where the UI's own control is, for a view that draws the first 10 runs.
SHOW_ALL_HINT = 'to draw every run: the eye above the run list, "Show all runs"'


def saved_view_key(parent_run_id: str) -> str:
    """The key of the MLflow UI's saved view of a search's trial runs."""
    return f"lrdecay-{parent_run_id}"


def _facets(
    parent_run_id: str | None, objective: str | None, lower_is_better: bool
) -> dict[str, str]:
    query: dict[str, str] = {}
    if parent_run_id is not None:
        query["searchFilter"] = f"tags.mlflow.parentRunId = '{parent_run_id}'"
    if objective is not None:
        query["orderByKey"] = f"metrics.`{objective}`"
        query["orderByAsc"] = "true" if lower_is_better else "false"
    return query


def saved_view(
    parent_run_id: str, objective: str | None, lower_is_better: bool = True
) -> tuple[str, str]:
    """`(experiment tag, value)` saving the UI's view of a search's trials.

    The view lists the children of `parent_run_id` sorted by `objective`,
    as `runs_url`'s address does, and draws every one of them in the
    charts (the UI's default draws the first 10). `runs_url(...,
    saved=True)` opens it once the tag is set on the experiment.
    """
    facets = _facets(parent_run_id, objective, lower_is_better)
    return (
        mlflow_ui.shared_view_tag(saved_view_key(parent_run_id)),
        mlflow_ui.shared_view_value(
            facets["searchFilter"],
            facets.get("orderByKey"),
            facets.get("orderByAsc") == "true",
        ),
    )


def runs_url(
    ui_address: str,
    experiment_id: str,
    parent_run_id: str | None = None,
    objective: str | None = None,
    lower_is_better: bool = True,
    saved: bool = False,
) -> str:
    """The MLflow UI page of a search's trial runs, with their curves.

    MLflow 3 opens an experiment on its GenAI overview and keeps training
    runs behind a toggle, collapsed under their parent. This address opens
    the experiment's training runs (`#/experiments/<id>/runs`) in the chart
    view (`compareRunsMode=CHART`: every logged metric, `learning_rate` and
    the objective among them, one curve per run beside the list of run
    names), filtered to the children of `parent_run_id` (`searchFilter`)
    and sorted by the objective (`orderByKey`), which also lists them flat:
    the UI nests child runs under their parent only when sorted by creation
    time. The charts draw the first 10 runs of the list; with `saved=True`
    the address opens the search's saved view instead (`saved_view`, set
    on the experiment by the search): the same runs, every one drawn.
    Verified against the UI of MLflow 3.17.

    Args:
        ui_address: String. Where the UI answers, e.g.
            `"http://127.0.0.1:5000"` (a path prefix is kept).
        experiment_id: String. The search's experiment.
        parent_run_id: String or `None`. The search's run; `None` lists the
            experiment's runs.
        objective: String or `None`. The metric to rank the runs by, e.g.
            `"val_loss"`. Defaults to `None` (newest first, nested).
        lower_is_better: Bool. The objective's direction. Defaults to `True`.
        saved: Bool. Open the search's saved view (needs `parent_run_id`).
            Defaults to `False`.

    Returns:
        The address, percent-encoded, so a terminal shows it as one link.
    """
    if saved and parent_run_id is not None:
        query = {mlflow_ui.SHARE_KEY_PARAM: saved_view_key(parent_run_id)}
    else:
        query = _facets(parent_run_id, objective, lower_is_better)
    query["compareRunsMode"] = "CHART"
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    page = f"#/experiments/{urllib.parse.quote(str(experiment_id))}/runs"
    return f"{ui_address.rstrip('/')}/{page}?{encoded}"


def ui_hint(
    tracking_uri: str | None,
    experiment_id: str | None,
    parent_run_id: str | None = None,
    objective: str | None = None,
    lower_is_better: bool = True,
    saved: bool = False,
) -> str:
    """The command (or address) that opens the MLflow UI on these runs.

    With an experiment, the address is `runs_url`'s: the search's runs and
    their curves (`saved`: its saved view, every run drawn; otherwise the
    line says how to draw more than the first 10). Credentials in the URI
    are redacted (the address carries none).
    """
    uri = redact(tracking_uri or MLFLOW_DEFAULT_URI) or MLFLOW_DEFAULT_URI
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    served = scheme in ("http", "https")
    address = split_credentials(uri)[0].rstrip("/") if served else MLFLOW_UI_ADDRESS
    if experiment_id is None:
        page = f"{address}/"
    else:
        page = runs_url(
            address, experiment_id, parent_run_id, objective, lower_is_better, saved
        )
        if parent_run_id is not None and not saved:
            page += f"  ({SHOW_ALL_HINT})"
    if served:
        return f"Open the MLflow UI at {page}"
    return (
        f"Open the MLflow UI:  mlflow ui --backend-store-uri {shlex.quote(uri)}\n"
        f"  then browse to {page}"
    )

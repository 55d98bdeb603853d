"""Internals of the MLflow UI (its JavaScript) that lrdecay relies on.

The UI keeps a saved view of an experiment's runs page (its filter, sort and
which runs the charts show) in an experiment tag, and opens it from the
page's address. lrdecay saves one per search, so its link opens with every
trial drawn: the UI's own default draws only the first 10 runs ("Show first
10"; the rest are hidden until the user picks "Show all runs").

Read from the UI bundle of mlflow 3.17.2
(`mlflow/server/js/build/static/js/*.js`): the share key's query parameter
`viewStateShareKey`, the tag `mlflow.sharedViewState.<key>` holding the view
as JSON (compressed or not), its search facets (`searchFilter`,
`orderByKey`, `orderByAsc`, ...) and UI state (`runsHiddenMode`:
`SHOW_ALL`, `FIRST_10_RUNS`, ...). A facet in the address itself makes the
UI ignore the share key. Importing this module imports nothing heavy.
"""

from __future__ import annotations

import json

SHARE_KEY_PARAM = "viewStateShareKey"
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHOW_ALL_RUNS = "SHOW_ALL"


def shared_view_tag(share_key: str) -> str:
    """The experiment tag that holds the saved view `share_key`."""
    return f"{SHARED_VIEW_TAG_PREFIX}{share_key}"


def shared_view_value(
    search_filter: str, order_by_key: str | None, order_by_asc: bool
) -> str:
    """The saved view, as the tag's value: these runs, this order, all drawn."""
    state: dict[str, object] = {
        "searchFilter": search_filter,
        "runsHiddenMode": SHOW_ALL_RUNS,
    }
    if order_by_key is not None:
        state["orderByKey"] = order_by_key
        state["orderByAsc"] = order_by_asc
    return json.dumps(state)

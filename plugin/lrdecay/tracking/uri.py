"""Where the `lrdecay` command logs: resolve the tracking URI, check it, open it.

Checking happens before any run is created, with a short timeout and without
importing MLflow, so an unreachable server is one clear error instead of a
half-created search.
"""

from __future__ import annotations

import os
import shlex
import urllib.error
import urllib.parse
import urllib.request

# MLflow 3's own default store when no tracking URI is set.
MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"

REACHABILITY_TIMEOUT = 5.0


class TrackingUnreachable(ValueError):
    """The tracking server does not answer; the message names the URI."""


def resolve(tracking_uri: str | None) -> str | None:
    """The URI given, else `MLFLOW_TRACKING_URI`, else `None` (MLflow's default)."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None


def check_reachable(
    tracking_uri: str | None, timeout: float = REACHABILITY_TIMEOUT
) -> None:
    """Raise `TrackingUnreachable` unless the tracking store can be used.

    An `http(s)://` server must answer at all (any HTTP status counts: a
    proxy or an auth wall answers too) within `timeout` seconds; a
    `sqlite:///` or `file:` store must live in an existing directory. Other
    schemes (databricks, postgresql, ...) are left to MLflow.
    """
    if not tracking_uri:
        return
    parsed = urllib.parse.urlparse(tracking_uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.hostname:
            raise TrackingUnreachable(f"Tracking URI {tracking_uri!r} names no host.")
        url = tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                pass
        except urllib.error.HTTPError:
            return  # the server answered
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingUnreachable(
                f"Cannot reach the MLflow tracking server at {tracking_uri} "
                f"({reason}); start it (mlflow server --host {parsed.hostname} "
                f"--port {parsed.port or 5000}) or pass another --tracking-uri."
            ) from None
        return
    if scheme == "sqlite":
        path = (
            tracking_uri[len("sqlite:///") :]
            if tracking_uri.startswith("sqlite:///")
            else ""
        )
        folder = os.path.dirname(os.path.abspath(path)) if path else ""
        if path and path != ":memory:" and not os.path.isdir(folder):
            raise TrackingUnreachable(
                f"Tracking URI {tracking_uri!r}: directory {folder!r} does not exist."
            )
        return
    if scheme in ("", "file"):
        path = parsed.path if scheme == "file" else tracking_uri
        parent = os.path.dirname(os.path.abspath(path.rstrip("/")))
        if not os.path.isdir(parent):
            raise TrackingUnreachable(
                f"Tracking URI {tracking_uri!r}: directory {parent!r} does not exist."
            )


def ui_hint(tracking_uri: str | None, experiment_id: str | None) -> str:
    """The command (or address) that opens the MLflow UI on these runs."""
    uri = tracking_uri or MLFLOW_DEFAULT_URI
    page = f"#/experiments/{experiment_id}" if experiment_id is not None else ""
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        return f"Open the MLflow UI at {uri.rstrip('/')}/{page}"
    return (
        f"Open the MLflow UI:  mlflow ui --backend-store-uri {shlex.quote(uri)}\n"
        f"  then browse to http://127.0.0.1:5000/{page}"
    )

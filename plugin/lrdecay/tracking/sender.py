"""The logger's buffered sender: batches points, retries, never sends one twice.

Training appends metrics, params and tags to in-memory lists (a lock, a list
append: microseconds); one background thread sends them with `log_batch`
every `flush_interval` seconds. A failed send keeps its points at the head of
the buffer and is retried with back-off. Because a failed request may still
have reached the server (a timeout after the database wrote the batch), the
first retry after a failure first asks the server which of those points it
already holds, by `(key, step, timestamp)`, and sends only the rest: every
point arrives exactly once. What is still unsent when the sink closes is
handed back to the caller, which writes it to a local file (`spill`).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from lrdecay._compat.mlflow import MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH
from lrdecay._compat.python import Thread
from lrdecay.tracking.store import is_permanent

SPILL_FORMAT = "lrdecay.offline-run/1"


@dataclass
class Pending:
    """Data not yet confirmed by the tracking store."""

    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.metrics or self.params or self.tags)


def logged_points(store: Any, run_id: str, key: str) -> set[tuple[int, int]]:
    """`(step, timestamp)` of every point of metric `key` the store holds."""
    points: set[tuple[int, int]] = set()
    token = None
    while True:
        page = store.get_metric_history(run_id, key, max_results=None, page_token=token)
        points.update((int(m.step), int(m.timestamp)) for m in page)
        token = getattr(page, "token", None)
        if not token:
            return points


def unsent(store: Any, run_id: str, metrics: list[Metric]) -> list[Metric]:
    """The points of `metrics` that the store does not hold yet."""
    held = {key: logged_points(store, run_id, key) for key in {m.key for m in metrics}}
    return [m for m in metrics if (m.step, m.timestamp) not in held[m.key]]


class Sink:
    """Sends a run's metrics, params and tags from a background thread.

    Args:
        store: An MLflow tracking store (see `lrdecay.tracking.store.open_store`).
        run_id: The run to log into.
        flush_interval: Seconds between two sends while training.
    """

    def __init__(self, store: Any, run_id: str, flush_interval: float) -> None:
        self.store = store
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.last_error: BaseException | None = None
        self.failures = 0  # consecutive failed sends (drives the back-off)
        self.failed_sends = 0  # in total: `MlflowLogger.failed_sends`
        # CPU time of this thread while training / while closing (benchmarks).
        self.cpu_seconds = 0.0
        self.cpu_seconds_closing = 0.0
        self.broken: BaseException | None = None
        self.rejected: list[str] = []
        self._pending = Pending()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._ending = False  # the fit is over: sends from now on are its end
        self._deadline = math.inf
        # Set after a failed send: the server may hold part of what failed.
        self._suspect = False
        self._thread = Thread(
            target=self._run, name=f"lrdecay-mlflow-{run_id[:8]}", daemon=True
        )
        self.before_first_send: Any = None

    def start(self) -> None:
        self._thread.start()

    # -- producer side (training thread) ---------------------------------
    def add_metrics(self, metrics: list[Metric]) -> None:
        with self._lock:
            self._pending.metrics.extend(metrics)
            self._idle.clear()

    def add_params(self, params: dict[str, str]) -> None:
        with self._lock:
            self._pending.params.update(params)
            self._idle.clear()

    def add_tags(self, tags: dict[str, str]) -> None:
        with self._lock:
            self._pending.tags.update(tags)
            self._idle.clear()

    def flush(self, timeout: float, final: bool = False) -> bool:
        """Send now; wait up to `timeout` s. True if nothing is left to send.

        `final`: the fit is over (the sends count as its end, not training).
        """
        self._ending = self._ending or final
        self._idle.clear()
        self._wake.set()
        self._idle.wait(timeout)
        with self._lock:
            return not self._pending

    def close(self, timeout: float) -> Pending:
        """Send what is left, for up to `timeout` s; return what was not sent."""
        self._deadline = time.monotonic() + timeout
        self._closing = True
        self._wake.set()
        if self._thread.is_alive():
            # A request in flight at the deadline takes at most its own timeout.
            self._thread.join(timeout + _request_timeout(self.store) + 1.0)
        with self._lock:
            left, self._pending = self._pending, Pending()
        return left

    # -- sender side (background thread) ----------------------------------
    def _run(self) -> None:
        started = time.thread_time()
        if self.before_first_send is not None:
            with contextlib.suppress(Exception):  # a warm-up never stops us
                self.before_first_send()
        self.cpu_seconds = time.thread_time() - started
        backoff = 0.0
        while True:
            self._wake.wait(backoff or self.flush_interval)
            self._wake.clear()
            closing, started = self._closing or self._ending, time.thread_time()
            done = self.broken is not None or self._send_pending()
            if closing:
                self.cpu_seconds_closing += time.thread_time() - started
            else:
                self.cpu_seconds += time.thread_time() - started
            if done:
                backoff = 0.0
                self._idle.set()
            else:
                backoff = min(0.25 * 2 ** min(self.failures, 5), 5.0)
            if self._closing and (
                done or time.monotonic() + min(backoff, 0.25) >= self._deadline
            ):
                return
            if self._closing and not done:
                backoff = min(backoff, max(0.05, self._deadline - time.monotonic()))

    def _take(self) -> Pending:
        with self._lock:
            params = dict(
                list(self._pending.params.items())[:MAX_PARAMS_TAGS_PER_BATCH]
            )
            tags = dict(list(self._pending.tags.items())[:MAX_PARAMS_TAGS_PER_BATCH])
            room = MAX_METRICS_PER_BATCH - len(params) - len(tags)
            metrics = self._pending.metrics[:room]
        return Pending(metrics, params, tags)

    def _drop(self, sent: Pending, metric_count: int) -> None:
        with self._lock:
            del self._pending.metrics[:metric_count]
            for name, value in sent.params.items():
                if self._pending.params.get(name) == value:
                    del self._pending.params[name]
            for name, value in sent.tags.items():
                if self._pending.tags.get(name) == value:
                    del self._pending.tags[name]

    def _send_pending(self) -> bool:
        """Send batches until the buffer is empty (True) or a send fails."""
        while True:
            batch = self._take()
            if not batch:
                return True
            count = len(batch.metrics)
            try:
                metrics = batch.metrics
                if self._suspect and metrics:
                    metrics = unsent(self.store, self.run_id, metrics)
                self._log_batch(metrics, batch.params, batch.tags)
            except Exception as error:
                self.last_error = error
                try:
                    if not is_permanent(error):
                        raise
                    self._send_one_by_one(batch, error)
                except Exception:
                    if self.broken is not None:
                        return True  # nothing more will go; all stays for the file
                    self.failures += 1
                    self.failed_sends += 1
                    self._suspect = True
                    return False
            self._drop(batch, count)
            self._suspect = False
            self.failures = 0

    def _log_batch(
        self, metrics: list[Metric], params: dict[str, str], tags: dict[str, str]
    ) -> None:
        if not (metrics or params or tags):
            return
        self.store.log_batch(
            self.run_id,
            metrics=metrics,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )

    def _send_one_by_one(self, batch: Pending, error: BaseException) -> None:
        """After a 4xx on a batch: send its items alone, dropping the rejected.

        A 4xx that is not about a value (unknown run, no permission) would
        reject every item: then stop sending and keep everything for the file.
        """
        code = getattr(error, "error_code", "")
        if code != "INVALID_PARAMETER_VALUE":
            self.broken = error
            raise error
        items: list[tuple[str, Any]] = [
            *(("param", (k, v)) for k, v in batch.params.items()),
            *(("tag", (k, v)) for k, v in batch.tags.items()),
            *(("metric", m) for m in batch.metrics),
        ]
        for kind, item in items:
            try:
                if kind == "param":
                    self._log_batch([], dict([item]), {})
                elif kind == "tag":
                    self._log_batch([], {}, dict([item]))
                else:
                    self._log_batch([item], {}, {})
            except MlflowException as item_error:
                if not is_permanent(item_error):
                    raise
                name = item.key if kind == "metric" else item[0]
                self.rejected.append(f"{kind} {name!r}: {item_error.message}")
                warnings.warn(
                    f"MLflow rejected {kind} {name!r} of run {self.run_id}; it is "
                    f"not logged: {item_error.message}",
                    stacklevel=1,
                )


def _request_timeout(store: Any) -> float:
    timeout = getattr(store, "timeout", 0.0)
    retries = getattr(store, "max_retries", 0)
    return float(timeout) * (int(retries) + 1)


# -- the offline file ------------------------------------------------------


def encode_value(value: float) -> float | str:
    """JSON has no NaN/inf: write them as the strings Python's float() reads."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def write_spill(path: Path, header: dict[str, Any], pending: Pending) -> Path:
    """Write a run's unsent data (and how to find its run) to a JSON file."""
    document = {
        "format": SPILL_FORMAT,
        **header,
        "params": pending.params,
        "tags": pending.tags,
        "metrics": [
            [m.key, encode_value(m.value), m.timestamp, m.step] for m in pending.metrics
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=1, allow_nan=False))
    temporary.replace(path)  # never leave a half-written file behind
    return path


def read_spill(path: Path) -> tuple[dict[str, Any], Pending]:
    """Read a file written by `write_spill`: (header, pending data)."""
    document = json.loads(Path(path).read_text())
    if document.get("format") != SPILL_FORMAT:
        raise ValueError(
            f"{path} is not an lrdecay offline run file (format "
            f"{document.get('format')!r}, expected {SPILL_FORMAT!r})."
        )
    pending = Pending(
        metrics=[
            Metric(key, float(value), int(timestamp), int(step))
            for key, value, timestamp, step in document.pop("metrics")
        ],
        params=dict(document.pop("params")),
        tags=dict(document.pop("tags")),
    )
    return document, pending

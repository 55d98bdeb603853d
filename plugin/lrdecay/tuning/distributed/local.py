"""N trials at a time on this machine: lrdecay's own workers of KerasTuner's chief.

`local_workers()` makes this process the chief of a KerasTuner distributed
search on 127.0.0.1 (a free port) and starts `jobs.count` worker processes
(`python -m lrdecay.tuning.distributed.local_worker`), each running the same
search call, unpickled, as `worker-<i>`, with `jobs.threads` threads. There
is no scheduler here: KerasTuner's oracle hands out the trials.

What it adds around KerasTuner's mode:

- a worker imports what it needs, then waits for `Workers.release()` (the
  chief has written the call they run); every process then opens the MLflow
  store on its own, one at a time creating or migrating a new one
  (`lrdecay.tracking.store_setup.ready_store`);
- a worker is its own process group, logged to its own file
  (`Workers.log_dir`); the chief stops them all (SIGTERM, then SIGKILL
  after `STOP_GRACE` seconds) when the block ends, however it ends, so
  Ctrl-C or SIGTERM on the chief ends every worker and the search resumes as
  a search in one process does;
- the chief waits forever for a worker that died holding a trial, until a
  worker with the same `KERASTUNER_TUNER_ID` asks again: a worker that dies
  (any exit but "no trial left") is restarted under its id, at most
  `MAX_RESTARTS` times; after that the chief stops the search with one line
  naming the worker, its exit code and its log (a `KeyboardInterrupt` in the
  main thread: the search ends KILLED and resumes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from lrdecay._compat.python import Thread
from lrdecay.tuning.distributed.jobs import Jobs
from lrdecay.tuning.distributed.roles import TUNER_ID_ENV, Role

logger = logging.getLogger("lrdecay.tuning.distributed")

MAX_RESTARTS = 2
STOP_GRACE = 15.0
# A worker's `__main__`, by name: importing it here would import it twice.
WORKER_MODULE = "lrdecay.tuning.distributed.local_worker"
# A worker's exit codes: nothing left to do, the search had ended, the chief
# stopped answering, stopped by a signal.
EXIT_DONE = 0
EXIT_SEARCH_ENDED = 3
EXIT_CHIEF_GONE = 4
EXIT_STOPPED = 130
_DONE = (EXIT_DONE, EXIT_SEARCH_ENDED)
# Beside the payload once the chief lets the workers go on (`Workers.release`).
GO_FILE = "go"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pickled_call(
    call: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> bytes:
    """`(call, args, kwargs)` as the workers load it, or a TypeError naming why.

    cloudpickle (MLflow's dependency) pickles a function defined in a script
    or a notebook by value, where `pickle` could only name it.
    """
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError as error:
        raise ImportError(
            "`jobs` > 1 sends the search to worker processes with cloudpickle: "
            "`pip install cloudpickle` (MLflow installs it)."
        ) from error
    try:
        # This process's import path first, as multiprocessing's spawn sends
        # it: what is imported here by name is found there.
        return pickle.dumps(list(sys.path)) + bytes(
            cloudpickle.dumps((call, tuple(args), dict(kwargs)))
        )
    except Exception as error:
        raise TypeError(
            "`jobs` > 1 runs trials in worker processes, which need the model "
            "function, the data and the callbacks pickled; this search's "
            f"cannot be ({type(error).__name__}: {error}). Use jobs=1, or "
            "arrays and a function defined at module level."
        ) from error


@dataclasses.dataclass
class _Worker:
    tuner_id: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    restarts: int = 0


class Workers:
    """The worker processes of one search (see the module docstring)."""

    def __init__(self, payload: bytes | None, jobs: Jobs, role: Role) -> None:
        self.jobs = jobs
        self.role = role
        self.log_dir = tempfile.mkdtemp(prefix="lrdecay-jobs-")
        self._payload_path = os.path.join(self.log_dir, "search.pkl")
        if payload is not None:
            self.set_payload(payload)
        self._workers: list[_Worker] = []
        self._stopping = threading.Event()
        self._failed: str | None = None
        self._thread = Thread(
            target=self._watch, name="lrdecay-local-workers", daemon=True
        )

    def set_payload(self, payload: bytes) -> None:
        """The call the workers run (read once they are released)."""
        temporary = f"{self._payload_path}.tmp"
        with open(temporary, "wb") as file:
            file.write(payload)
        os.replace(temporary, self._payload_path)

    def release(self) -> None:
        """Let the workers go on past their imports (the store is ready)."""
        with open(os.path.join(self.log_dir, GO_FILE), "w"):
            pass

    def start(self) -> None:
        for index in range(1, self.jobs.count + 1):
            tuner_id = f"worker-{index}"
            log = open(os.path.join(self.log_dir, f"{tuner_id}.log"), "ab")  # noqa: SIM115
            self._workers.append(_Worker(tuner_id, self._spawn(tuner_id, log), log))
        self._thread.start()

    def _spawn(self, tuner_id: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
        environ = dict(os.environ)
        self.role.export(environ)  # the chief's address; the id is the worker's
        environ.update({**self.jobs.environment(), TUNER_ID_ENV: tuner_id})
        return subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, self._payload_path],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C reaches the chief, which stops it.
            start_new_session=True,
        )

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for worker in self._workers:
                code = worker.process.poll()
                if code is None or code in _DONE or self._stopping.is_set():
                    continue
                if worker.restarts < MAX_RESTARTS:
                    worker.restarts += 1
                    logger.warning(
                        "lrdecay: %s (pid %d) ended with exit code %d; restarting "
                        "it under the same id (%d of %d), log: %s",
                        worker.tuner_id,
                        worker.process.pid,
                        code,
                        worker.restarts,
                        MAX_RESTARTS,
                        worker.log.name,
                    )
                    worker.process = self._spawn(worker.tuner_id, worker.log)
                    continue
                worker.restarts += 1  # its log stays
                self._failed = (
                    f"lrdecay: {worker.tuner_id} ended with exit code {code} "
                    f"{MAX_RESTARTS + 1} times (log: {worker.log.name}); stopping "
                    "the search (run it again to resume)."
                )
                logger.error("%s", self._failed)
                self._stopping.set()
                _interrupt_main_thread()
                return

    def stop(self, wait: float = 0.0) -> None:
        """Let the workers end by themselves for `wait` s, then stop them."""
        deadline = time.monotonic() + wait
        for worker in self._workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 5.0)):
            alive = [w for w in self._workers if w.process.poll() is None]
            for worker in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.process.pid, sig)
            deadline = time.monotonic() + grace
            for worker in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            worker.log.close()
        if not any(worker.restarts for worker in self._workers):
            # No worker died by itself: nothing in the logs to look at.
            shutil.rmtree(self.log_dir, ignore_errors=True)

    @property
    def failure(self) -> str | None:
        """The line said when a worker kept dying, else `None`."""
        return self._failed


def _interrupt_main_thread() -> None:
    """Wake the chief from KerasTuner's wait for a worker, as Ctrl-C would.

    SIGINT, else (ignored, as in a job a shell started in the background)
    SIGTERM, whichever the process handles: the search stops as on either.
    """
    main = threading.main_thread().ident
    for number in (signal.SIGINT, signal.SIGTERM):
        if main is not None and callable(signal.getsignal(number)):
            signal.pthread_kill(main, number)
            return


@contextlib.contextmanager
def local_workers(
    call: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    jobs: Jobs,
) -> Iterator[Workers]:
    """Make this process the chief; run `call(*args, **kwargs)` in `jobs` workers.

    Example:

    ```python
    with local_workers(lrdecay.search, (build_model, x, y), {"epochs": 20},
                       resolve_jobs(2)) as workers:
        workers.release()
        lrdecay.search(build_model, x, y, epochs=20)   # the chief
    ```

    In the block, KerasTuner's variables name this process the chief on
    127.0.0.1 and a free port (restored afterwards); the workers wait for
    `workers.release()` before they touch the search's store. When the block ends,
    normally the workers have a few seconds to end by themselves; then (and
    at once on an error or interrupt) every worker still running is stopped.

    Raises:
        TypeError: The call cannot be pickled (before any process starts).
    """
    payload = pickled_call(call, args, kwargs)
    workers = _take_prestarted(jobs)
    if workers is None:
        workers = Workers(payload, jobs, Role("chief", "127.0.0.1", free_port()))
        workers.start()
    else:
        workers.set_payload(payload)
    with workers.role.exported():
        ended = False
        try:
            yield workers
            ended = True
        finally:
            workers.stop(wait=STOP_GRACE if ended else 0.0)


# Workers started ahead of their search (`prestarted_workers`), not yet used.
_PRESTARTED: list[Workers] = []


@contextlib.contextmanager
def prestarted_workers(jobs: Jobs) -> Iterator[None]:
    """Start the workers of a `jobs` search now; `local_workers` takes them.

    A worker spends most of its start importing TensorFlow, Keras and MLflow:
    started before this process loads its data and model (as `lrdecay search
    --jobs N` does), it imports while the chief does. Workers the block's
    search did not take (it stopped before, or ran with other jobs) are
    stopped when the block ends; none is started for `jobs=1`.
    """
    if jobs.count > 1 and not _PRESTARTED:
        workers = Workers(None, jobs, Role("chief", "127.0.0.1", free_port()))
        workers.start()
        _PRESTARTED.append(workers)
    try:
        yield
    finally:
        while _PRESTARTED:
            _PRESTARTED.pop().stop()


def _take_prestarted(jobs: Jobs) -> Workers | None:
    """The prestarted workers, if they are `jobs`'; others are stopped."""
    if not _PRESTARTED:
        return None
    workers = _PRESTARTED.pop()
    if (workers.jobs.count, workers.jobs.threads) == (jobs.count, jobs.threads):
        return workers
    workers.stop()
    return None

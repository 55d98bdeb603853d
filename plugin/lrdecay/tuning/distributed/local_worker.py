"""One worker process of `local_workers()`: run the pickled search call, then exit.

`python -m lrdecay.tuning.distributed.local_worker PAYLOAD` loads the
chief's `sys.path` and `(call, args, kwargs)` from the file `PAYLOAD`
(written by `local_workers` with cloudpickle, so a function defined in a
script or a notebook travels too) and calls it under the KerasTuner role
its environment gives (a worker of the chief on 127.0.0.1), once its
imports are done and the chief let it go on (`Workers.release`; a worker
started ahead of its search, `prestarted_workers`, finds the file then). Its thread
settings are in its environment already, read when TensorFlow loads.

Exit codes (`lrdecay.tuning.distributed.local`): 0 when the search has no
trial left, 3 when it had ended already (`SearchEndedError`), 4 when the
chief stopped answering, 130 when stopped (SIGINT or SIGTERM), 1 on error.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import time
import traceback

from lrdecay.tuning.distributed.local import (
    EXIT_CHIEF_GONE,
    EXIT_DONE,
    EXIT_SEARCH_ENDED,
    EXIT_STOPPED,
    GO_FILE,
)


def _import_ahead() -> None:
    """Load what every trial needs while the chief sets the search up."""
    for name in ("keras", "keras_tuner", "mlflow", "lrdecay.tuning.pipeline.runner"):
        with contextlib.suppress(ImportError):
            __import__(name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chief = os.getppid()
    _import_ahead()
    # The call is there once the chief let the workers go on (a worker
    # started ahead of its search waits here for both).
    go = os.path.join(os.path.dirname(argv[0]), GO_FILE)
    while not os.path.exists(go):
        if os.getppid() != chief:
            return EXIT_CHIEF_GONE
        time.sleep(0.1)
    with open(argv[0], "rb") as file:
        # The chief's import path, then the call (our own file).
        paths = pickle.load(file)
        sys.path[:0] = [path for path in paths if path not in sys.path]
        call, args, kwargs = pickle.load(file)
    from lrdecay.tuning import distributed

    try:
        # The process is ours: a gone chief interrupts it at once.
        with distributed.on_chief_gone(distributed.interrupt_or_exit):
            call(*args, **kwargs)
    except distributed.SearchEndedError:
        return _exit_now(EXIT_SEARCH_ENDED)
    except distributed.ChiefUnreachableError as error:
        print(f"lrdecay worker: {error}", file=sys.stderr, flush=True)
        return EXIT_CHIEF_GONE
    except KeyboardInterrupt:
        return EXIT_STOPPED
    except Exception:
        traceback.print_exc()
        return 1
    return _exit_now(EXIT_DONE)


def _exit_now(code: int) -> int:
    """End the process at once: its search is over and its runs are sent.

    The chief waits for its workers to end before it answers the user;
    TensorFlow's and gRPC's teardown at a normal exit adds about a second.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

"""`lrdecay search`, stopped by a real signal at many moments, for tests.

One process (TensorFlow imports once) runs the same tiny search through
`lrdecay.cli.main.main()` first to its end, to time it, then once per
moment, each under its own project name: a thread sends the process SIGINT
(or SIGTERM) that many seconds after the command started, and the signal
lands wherever the main thread is. Moments are fractions of the timed run.

```
python tests/interrupt_search.py --store sqlite:///DIR/mlflow.db \
    --project-dir DIR/projects --fractions 0.05,0.1,... [--sigterm-at 0.5]
```

Prints one `LRDECAY_MOMENT <json>` line per moment (project name, delay,
exit code, whether the signal came before the command returned) and
`LRDECAY_TIMED <seconds>`; with `--resume NAME`, the same command for
project NAME once more, unsignalled, and `LRDECAY_RESUMED <exit code>`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
import time

SEARCH = [
    "search", "--epochs", "3", "--decay-epochs", "1,2", "--kinds", "step",
    "--seed", "3", "--batch-size", "64", "-q",
]  # fmt: skip


def _command(args: argparse.Namespace, project: str) -> list[str]:
    return [
        *SEARCH,
        "--tracking-uri",
        args.store,
        "--project-dir",
        args.project_dir,
        "--project-name",
        project,
    ]


def _signalled_run(
    args: argparse.Namespace, project: str, delay: float, signal_number: int
) -> dict[str, object]:
    from lrdecay.cli.main import main

    state = {"running": True, "sent": False}
    lock = threading.Lock()

    def send() -> None:
        time.sleep(delay)
        with lock:
            if state["running"]:
                state["sent"] = True
                os.kill(os.getpid(), signal_number)

    # A fresh process starts with a small heap; this one's garbage from the
    # last command is collected first, not inside the next one's start.
    gc.collect()
    sender = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    sender.start()
    try:
        code = main(_command(args, project))
    except KeyboardInterrupt:
        code = "late"  # the signal came after the command returned
    with lock:
        state["running"] = False
    sender.join()
    time.sleep(0.1)  # a signal sent just now is handled here, not later
    return {
        "project": project,
        "delay": round(delay, 3),
        "signal": signal.Signals(signal_number).name,
        "code": code,
        "sent": state["sent"],
        "seconds": round(time.monotonic() - started, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--project-dir", required=True)
    parser.add_argument("--fractions", required=True)
    parser.add_argument("--sigterm-at", type=float, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    import mlflow

    from lrdecay.cli.main import main as lrdecay_main

    # The store's tables first: not part of the timed search.
    mlflow.MlflowClient(args.store).search_experiments()
    # The first search in a process traces and imports what the next
    # ones reuse: the timed one is the second.
    assert lrdecay_main(_command(args, "warmup")) == 0
    started = time.monotonic()
    assert lrdecay_main(_command(args, "timed")) == 0
    timed = time.monotonic() - started
    print(f"LRDECAY_TIMED {timed:.2f}", flush=True)
    moments = [
        (f"m{index:02d}", float(fraction) * timed, signal.SIGINT)
        for index, fraction in enumerate(args.fractions.split(","))
    ]
    if args.sigterm_at is not None:
        moments.append(("term", args.sigterm_at * timed, signal.SIGTERM))
    for project, delay, signal_number in moments:
        result = _signalled_run(args, project, delay, signal_number)
        for attempt in range(1, 4):
            if result["sent"]:
                break
            # This run was quicker than the timed one: a little earlier, in a
            # project of its own (the last one finished: it would only resume).
            delay *= 0.75
            result = _signalled_run(args, f"{project}r{attempt}", delay, signal_number)
        print(f"LRDECAY_MOMENT {json.dumps(result)}", flush=True)
    if args.resume:
        code = lrdecay_main(_command(args, args.resume))
        print(f"LRDECAY_RESUMED {code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`lrdecay` commands run one after another in one process, for tests.

A fresh `python -m lrdecay` pays TensorFlow's import (about 5 s here) for a
command that then takes a fraction of a second (a `--dry-run`). This runs
each command through `lrdecay.cli.main.main(argv)`, in its own folder and
environment, and records what it printed and the folder's files after it.

```
python tests/cli_batch.py JOBS.json RESULTS.json
```

`JOBS.json`: a list of `{"argv": [...], "cwd": DIR, "env": {...}}`;
`RESULTS.json`: one `{"code", "stdout", "stderr", "files"}` per job.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback


def _run(argv: list[str]) -> int:
    from lrdecay.cli.main import main

    try:
        return int(main(argv) or 0)
    except SystemExit as error:  # argparse's exit
        return error.code if isinstance(error.code, int) else int(bool(error.code))


def main() -> None:
    with open(sys.argv[1]) as file:
        jobs = json.load(file)
    results = []
    for job in jobs:
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = _run(job["argv"])
            except Exception:
                traceback.print_exc()
                code = 1
        results.append(
            {
                "code": code,
                "stdout": stdout.getvalue(),
                "stderr": stderr.getvalue(),
                "files": sorted(os.listdir(job["cwd"])),
            }
        )
    with open(sys.argv[2], "w") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main()

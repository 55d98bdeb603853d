"""A decay search across processes and machines, on KerasTuner's distributed mode.

KerasTuner runs a search on many machines with no scheduler of its own: every
process runs the same script; the one whose `KERASTUNER_TUNER_ID` contains
`"chief"` serves the oracle over gRPC on `KERASTUNER_ORACLE_IP` :
`KERASTUNER_ORACLE_PORT` and blocks until the search is over; every other
process (a worker, with a unique id) asks it for trials and runs them. This
package adds what an lrdecay search needs around that, one module each:

- `roles`: `resolve_role()`, chief, worker or a single process, from those
  variables or the matching options (`--tuner-id`, `--oracle-ip`,
  `--oracle-port`), checked.
- `worker`: `join_search()`, a worker finding the chief's MLflow parent run and
  asking the oracle for its trial (`SearchEndedError` when the search is over).
- `worker`: `watch_for_chief()`, a worker stopping with one line when its
  chief has not answered for `LRDECAY_CHIEF_TIMEOUT` seconds (default 60).
- `chief_gone`: `on_chief_gone()`, the process owner's answer to a gone chief
  (`interrupt_or_exit`: SIGINT, else exit code 1); the watchdog thread
  itself never signals or ends the process.
- `jobs`: `resolve_jobs()`, how many trials at a time on this machine
  (`jobs=N` or `"auto"`) and the threads of each worker.
- `local`: `local_workers()`, this process the chief on 127.0.0.1 and N
  worker processes of its own (`local_worker`, their `__main__`), restarted
  under their id when one dies, all stopped when the search ends.
- `chief`: `watch_chief()`, the chief's status lines about its workers while it
  serves, and the runs of dead workers ended KILLED at the end.

Which process does what:

```
every process: KERASTUNER_ORACLE_IP=10.0.0.5 KERASTUNER_ORACLE_PORT=8000,
               the same search arguments (so the same project name), the
               same MLFLOW_TRACKING_URI and experiment
the chief:     KERASTUNER_TUNER_ID=chief
worker i:      KERASTUNER_TUNER_ID=worker-i   (unique, without "chief")
```

This package imports neither TensorFlow nor MLflow at import time. All its
modules log to the logger `lrdecay.tuning.distributed`.
"""

from __future__ import annotations

from lrdecay.tuning.distributed.chief import REPORT_EVERY_ENV, watch_chief
from lrdecay.tuning.distributed.chief_gone import (
    ChiefGone,
    interrupt_or_exit,
    on_chief_gone,
)
from lrdecay.tuning.distributed.jobs import JOBS_AUTO, Jobs, resolve_jobs
from lrdecay.tuning.distributed.local import (
    Workers,
    local_workers,
    prestarted_workers,
)
from lrdecay.tuning.distributed.roles import (
    ORACLE_IP_ENV,
    ORACLE_PORT_ENV,
    TUNER_ID_ENV,
    Role,
    resolve_role,
)
from lrdecay.tuning.distributed.worker import (
    CHIEF_TIMEOUT_ENV,
    ChiefUnreachableError,
    JoinedSearch,
    SearchEndedError,
    join_search,
    watch_for_chief,
)

__all__ = [
    "CHIEF_TIMEOUT_ENV",
    "JOBS_AUTO",
    "ORACLE_IP_ENV",
    "ORACLE_PORT_ENV",
    "REPORT_EVERY_ENV",
    "TUNER_ID_ENV",
    "ChiefGone",
    "ChiefUnreachableError",
    "Jobs",
    "JoinedSearch",
    "Role",
    "SearchEndedError",
    "Workers",
    "interrupt_or_exit",
    "join_search",
    "local_workers",
    "on_chief_gone",
    "prestarted_workers",
    "resolve_jobs",
    "resolve_role",
    "watch_chief",
    "watch_for_chief",
]

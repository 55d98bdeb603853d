"""`search(jobs=N)`: N trials at a time, on lrdecay's own local workers.

`search_in_jobs` runs one search as KerasTuner's chief in this process and
`N` worker processes on 127.0.0.1 (`lrdecay.tuning.distributed.local`); the
chief's oracle hands out the trials, and a grid that shares prefixes hands
out the constant-rate control (the trunk) first; the trials that branch
from it start beside it and wait for the trunk epochs they need
(`lrdecay.tuning.prefixes.trunk_lock`). The
workers run the same seeded trials as one process would, so the numbers are
the same; they log to the chief's MLflow parent run, one child run per
trial. `progress` and the result stay in this process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from lrdecay.tuning import distributed
from lrdecay.tuning.distributed.jobs import Jobs, resolve_jobs
from lrdecay.tuning.pipeline.caller_warnings import warn_again

# What only the chief uses: not sent to the workers.
_CHIEF_ONLY = ("progress", "jobs")


def checked_jobs(jobs: int | str) -> Jobs:
    """`jobs=` checked: `resolve_jobs`, and not inside a distributed role.

    Raises:
        TypeError, ValueError: As `resolve_jobs`; a ValueError when this
            process already has a KerasTuner role (`KERASTUNER_*`).
    """
    chosen = resolve_jobs(jobs)
    if chosen.count > 1 and distributed.resolve_role().is_distributed:
        raise ValueError(
            "`jobs` > 1 starts its own KerasTuner chief and workers on this "
            "machine; this process is already part of a distributed search "
            f"(KERASTUNER_* variables). Received: jobs={jobs!r}"
        )
    return chosen


def search_in_jobs(
    search: Callable[..., Any], jobs: Jobs, called: Mapping[str, Any]
) -> Any:
    """`search(**called)` as the chief of `jobs.count` local workers.

    The workers are let go at once: each search opens the store on a
    thread while it checks its data and model (`prepare.open_store_early`,
    one process at a time creating or migrating a new store).

    Args:
        search: `lrdecay.search` (pickled by reference for the workers).
        jobs: `Jobs`, from `checked_jobs`.
        called: The arguments of the `search()` call, by name (its
            `locals()` on entry: `fit_kwargs` a dict of its own).

    Returns:
        The chief's `SearchResult`.
    """
    named = {k: v for k, v in called.items() if k != "fit_kwargs"}
    named.update(called.get("fit_kwargs") or {})
    chief_call = {**named, "jobs": 1}
    worker_call = {k: v for k, v in named.items() if k not in _CHIEF_ONLY}
    with (
        distributed.local_workers(search, (), worker_call, jobs) as workers,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        workers.release()
        result = search(**chief_call)
    warn_again(caught, __file__, stacklevel=3)
    return result

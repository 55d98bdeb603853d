"""The steps of `search()` before the tuner runs: role, LR range test, MLflow runs.

`open_store_early` creates a tracked search's store on a thread while the
data, the model and the identity are checked; `join` finds this process's
role in KerasTuner's distributed mode (a worker joins the chief's search),
`range_test` runs the LR range test of `initial_lr="auto"`
(`record_setup` keeps one run now), and `track` sets up the search's
MLflow runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lrdecay._compat.python import Thread
from lrdecay.tracking.credentials import credentials_in_environment, is_http
from lrdecay.tuning import distributed
from lrdecay.tuning.data.inputs import SearchInputs
from lrdecay.tuning.lr_finder import auto_lr
from lrdecay.tuning.lr_finder.lr_range import LRFinderResult
from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel
from lrdecay.tuning.pipeline.plan import SearchPlan
from lrdecay.tuning.record import project_files, runner_lock
from lrdecay.tuning.record import runs as layout
from lrdecay.tuning.searchspace.space import DecaySpace


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """The LR range test of `initial_lr="auto"` and the space it gives.

    Attributes:
        result: `LRFinderResult`.
        ran_now: Bool. It ran now (else it was read back from the project
            of the search being resumed): `record_setup` keeps it.
        space: `DecaySpace`. The plan's space, searching
            `auto_lr.auto_initial_lrs` of the suggestion.
    """

    result: LRFinderResult
    ran_now: bool
    space: DecaySpace


@dataclasses.dataclass(frozen=True)
class Joined:
    """This process's role, the chief's search it joined, and its plan.

    Attributes:
        role: `distributed.Role`.
        search: `distributed.JoinedSearch` or `None` (not a worker).
        plan: `SearchPlan`. A worker's: never `overwrite`, the chief's seed.
    """

    role: distributed.Role
    search: Any | None
    plan: SearchPlan


def range_test(
    plan: SearchPlan,
    build_model: Callable[..., Any],
    x: Any,
    y: Any,
    validation_split: float | None,
) -> RangeTest:
    """`initial_lr="auto"`: the range test, and the space of its rates."""
    resuming = not plan.overwrite and os.path.exists(
        os.path.join(plan.project_path, "oracle.json")
    )
    probe = DecayHyperModel(build_model, plan.space, tracking=False)
    result, ran_now = auto_lr.range_test(
        probe,
        x,
        y,
        batch_size=plan.batch_size,
        seed=plan.seed,
        validation_split=validation_split,
        project_path=plan.project_path,
        resuming=resuming,
    )
    space = plan.space.with_initial_lr(auto_lr.auto_initial_lrs(result.suggested_lr))
    return RangeTest(result, ran_now, space)


def record_setup(
    plan: SearchPlan,
    runs: Any | None,
    is_worker: bool,
    sharing_off: str | None,
    lr_range: RangeTest | None,
) -> None:
    """Record how the search was set up, once its runs exist (not by a worker).

    Why prefixes are not shared (a tag of the parent run), and a range test
    run now (`initial_lr="auto"`): in the project, and in the parent run.
    """
    if is_worker:
        return
    if runs is not None and sharing_off is not None:
        runs.tag_search({layout.SHARING_OFF_TAG: sharing_off})
    if lr_range is not None and lr_range.ran_now:
        auto_lr.write(plan.project_path, lr_range.result)
        if runs is not None:
            runs.log_range_test(lr_range.result)


def join(plan: SearchPlan) -> Joined:
    """This process's role; a worker joins the chief's search (or exits).

    KerasTuner's distributed mode (`KERASTUNER_*` variables): a worker
    joins the chief's search and its MLflow parent run, or raises
    `SearchEndedError` if the search is over. A single process or a chief
    holds the search's runner lock (`lrdecay.tuning.record.runner_lock`)
    until the enclosing `runner_lock.scope()` ends.

    Raises:
        SearchRunningError: Another process runs this search.
    """
    role = distributed.resolve_role()
    if not role.is_worker:
        # One process runs a search (workers share the chief's project).
        runner_lock.take(plan.project_path)
        return Joined(role, None, plan)
    options = plan.tracking or {}
    joined = distributed.join_search(
        role,
        plan.project_name,
        tracking=plan.tracking is not None,
        tracking_uri=options.get("tracking_uri"),
        experiment_name=plan.experiment_name,
    )
    # A shared project directory is the chief's.
    plan = dataclasses.replace(plan, overwrite=False)
    if not plan.seed_given and joined.parent_run_id is not None:
        # The chief picked the seed: every execution seeds from it.
        recorded = _recorded_seed(joined.tracking_uri, joined.parent_run_id)
        if recorded is not None:
            plan = dataclasses.replace(plan, seed=recorded)
    return Joined(role, joined, plan)


def _recorded_seed(tracking_uri: str | None, parent_run_id: str) -> int | None:
    """The seed a search's parent run records (its param `seed`), or `None`."""
    import mlflow

    try:
        run = mlflow.MlflowClient(tracking_uri).get_run(parent_run_id)
        return int(run.data.params["seed"])
    except Exception:
        return None


def open_store(tracking_uri: str | None) -> None:
    """Create (and migrate) the MLflow store at `tracking_uri` (else MLflow's).

    Through `store_setup.ready_store`, as every opening of a database store:
    under its lock (a `jobs=N` search's chief and workers, or two searches,
    open a new store at the same moment, and only one migrates it); a
    server's store is the server's, left alone there. Errors are left to
    the search's own opening of the store, which says what is wrong.
    """
    import mlflow

    from lrdecay.tracking import store_setup
    from lrdecay.tracking.store import absolute_uri

    uri = str(tracking_uri or mlflow.get_tracking_uri())
    with contextlib.suppress(Exception):
        store_setup.ready_store(absolute_uri(uri))


def open_store_early(plan: SearchPlan) -> threading.Thread | None:
    """Open a tracked search's store on a thread, started now; `None` untracked.

    MLflow's import and a new SQLite store's migrations take 1.5-5 s: on a
    thread they run while the data, the model and the identity are checked.
    the runner joins it before the first run (two openings of a new store at
    once would both migrate it). Nothing is written but the store itself.
    """
    if plan.tracking is None:
        return None
    given = plan.tracking.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if given and is_http(given):
        return None
    opening = Thread(
        target=open_store, args=(given,), name="lrdecay-open-store", daemon=True
    )
    opening.start()
    return opening


def track(
    plan: SearchPlan,
    tuner: Any,
    hypermodel: DecayHyperModel,
    joined: Any | None,
    data: SearchInputs | None = None,
) -> Any | None:
    """The search's MLflow runs (`tracker.SearchRuns`), or `None` untracked.

    The parent's params hold `data`'s batch size and steps per epoch, as
    the data have them, and its tags whether they are exact. The caller
    joins `open_store_early`'s thread first.
    """
    if plan.tracking is None:
        return None
    from lrdecay.tuning.record import tracker

    if joined is not None:  # a worker logs under the chief's run
        runs = tracker.SearchRuns(
            joined.tracking_uri or "",
            joined.experiment_id or "0",
            joined.parent_run_id,
            plan.project_name,
            plan.tracking,
        )
    else:
        # KerasTuner reloads the project, or a search stopped before its
        # first trial left its parent run's marker: the same run goes on.
        resuming = not plan.overwrite and any(
            os.path.exists(os.path.join(plan.project_path, name))
            for name in ("oracle.json", project_files.MARKER_FILE)
        )
        runs = tracker.SearchRuns.for_search(
            options=plan.tracking,
            project_name=plan.project_name,
            project_path=plan.project_path,
            resuming=resuming,
            settings={
                **plan.settings(),
                **({} if data is None else data.settings()),
            },
            space=plan.space,
        )
        runs.close_stale_runs(tuner)
        if data is not None:
            runs.tag_data(data.exact, data.reason)
    hypermodel.attach_search_runs(runs)
    return runs


@contextlib.contextmanager
def credentials_out_of_the_uri(plan: SearchPlan) -> Iterator[SearchPlan]:
    """For the search, `http://user:password@host` becomes MLflow's variables.

    MLflow prints the URI it was given, password included, in its "View run
    at" lines; with the credentials in `MLFLOW_TRACKING_USERNAME` /
    `MLFLOW_TRACKING_PASSWORD` (restored afterwards) it never sees them.
    """
    if plan.tracking is None:
        yield plan
        return
    given = plan.tracking.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    with credentials_in_environment(given) as clean:
        if clean != given:
            tracking = {**plan.tracking, "tracking_uri": clean}
            plan = dataclasses.replace(plan, tracking=tracking)
        yield plan

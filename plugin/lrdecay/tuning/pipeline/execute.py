"""Run a planned search's tuner: trial events, signals, the heap, interrupts.

`search()` (`lrdecay.tuning.pipeline.runner`) builds the tuner and its MLflow
runs, then calls `run_tuner`: KerasTuner's `search` under Ctrl-C/SIGTERM
handling (`lrdecay.tuning.termination`), a frozen heap, the distributed
watchers, with each ended trial reported to the runs and to `progress`.

Process-wide state: for the duration of the KerasTuner search the objects
alive before it are frozen (`gc.freeze()`), so that KerasTuner's full
garbage collection before every trial does not walk them; they are
unfrozen when the search ends, also on error or interrupt (`search()`
freezes them from its start: `frozen_heap`) (a caller who
froze the heap already keeps it frozen, untouched). Every execution of
every trial calls `keras.utils.set_random_seed` (Python's `random`,
NumPy's global generator and the backend's), so those are left seeded
from the last execution. In the main thread, for the duration of the
KerasTuner search, SIGTERM (Kubernetes, Slurm, `docker stop`) raises
`lrdecay.tuning.termination.Terminated`, a `KeyboardInterrupt`, and both
it and Ctrl-C are recorded, so that one whose exception was swallowed
(in a garbage-collection callback, say) still stops the search at the
next trial, epoch or batch; a handler the program set itself is left
alone. The search then ends as on Ctrl-C (the stopped trial's runs and
the parent KILLED, KerasTuner's state saved; the same call resumes), and
the handlers and `sys.unraisablehook` are restored when it ends. While
it runs, KerasTuner's module `keras_tuner.src.engine.conditions` has a
silent `print` (its stray gRPC print), removed afterwards. Nothing else
process-wide is changed.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from lrdecay._compat import keras_tuner as keras_tuner_compat
from lrdecay._compat import keras_tuner_globals
from lrdecay.tuning import distributed
from lrdecay.tuning.evidence.result import (
    DivergedSearchError,
    TrialEvent,
    best_trial,
    last_line,
    summarize,
)
from lrdecay.tuning.evidence.verdict import rate_warning
from lrdecay.tuning.pipeline.plan import SearchPlan
from lrdecay.tuning.pipeline.tuners import trial_total
from lrdecay.tuning.termination import stop_on_signals


def run_tuner(
    plan: SearchPlan,
    tuner: Any,
    runs: Any | None,
    role: distributed.Role,
    progress: Callable[[TrialEvent], None] | None,
    x: Any,
    y: Any,
    fit_kwargs: dict[str, Any],
) -> None:
    """Run the tuner; keep the trials' runs and `progress` up to date."""
    total = trial_total(plan, tuner)
    ended_here: list[str] = []

    def on_trial_end(the_tuner: Any, trial: Any) -> None:
        oracle = the_tuner.oracle
        ended = oracle.get_trial(trial.trial_id)
        if runs is not None:
            runs.trial_ended(ended)
        if progress is None:
            return
        summary = summarize(ended, plan.space, plan.epochs)
        # A worker's oracle is the chief's, over gRPC: no local trial list,
        # so a worker counts the trials it ran itself.
        ended_here.append(summary.trial_id)
        best = None if role.is_worker else best_trial(oracle)
        index = len(ended_here)
        if not role.is_worker:
            # The chief's watcher may see two trials end at once: each gets
            # its own place in the oracle's order (a resume counts from it).
            end_order = [str(trial_id) for trial_id in getattr(oracle, "end_order", ())]
            if summary.trial_id in end_order:
                index = end_order.index(summary.trial_id) + 1
            else:
                index = len(end_order)
        progress(
            TrialEvent(
                index=index,
                total=total,
                trial_id=summary.trial_id,
                status=summary.status,
                score=summary.score,
                best_trial_id=None if best is None else best.trial_id,
                best_score=None if best is None else float(best.score),
                kind=summary.kind,
                settings=summary.settings,
                message=last_line(ended.message),
            )
        )

    tuner.lrdecay_on_trial_end = on_trial_end
    try:
        with (
            stop_on_signals(),
            frozen_heap(),
            # Keras' clear_session() has just collected.
            keras_tuner_globals.one_collection_per_build(),
            # KerasTuner prints each conditional value it sends over gRPC.
            keras_tuner_compat.quiet_condition_protos(),
            distributed.watch_chief(
                tuner.oracle,
                role,
                on_trial_end=lambda trial: on_trial_end(tuner, trial),
                tracking_uri=None if runs is None else runs.tracking_uri,
                parent_run_id=None if runs is None else runs.parent_run_id,
            ),
            distributed.watch_for_chief(role),
        ):
            tuner.search(x, y, **fit_kwargs)
    except BaseException as error:
        if runs is not None:
            runs.search_interrupted(error)
        if isinstance(error, KeyboardInterrupt) and not role.is_worker:
            # Rewrite KerasTuner's state in full, each trial's file too: the
            # interrupt may have landed while it was being written.
            _save_state(tuner)
        # KerasTuner ends a search after 3 failed trials in a row: when they
        # all diverged, say that the rate is the problem.
        warning = (
            None
            if role.is_worker or not isinstance(error, RuntimeError)
            else rate_warning(tuner.oracle.trials.values(), every_trial_only=True)
        )
        if warning is not None:
            raise DivergedSearchError(warning) from error
        raise


def _save_state(tuner: Any) -> None:
    try:
        keras_tuner_compat.save_trial_files(tuner.oracle)
        tuner.save()
    except Exception as error:
        warnings.warn(
            f"lrdecay: saving KerasTuner's state after the interrupt failed "
            f"({type(error).__name__}: {error}); the search may not resume.",
            stacklevel=3,
        )


# How deep `frozen_heap()` blocks nest; the outermost one unfreezes.
_FREEZES = {"depth": 0}


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep KerasTuner's and Keras' garbage collections to the search's objects.

    KerasTuner calls `clear_session()` (which collects) and a full
    `gc.collect()` before every trial, and `search()` builds models (the
    preflight, the identity) that clear the session too; with TensorFlow
    loaded each collection walks ~0.5 M long-lived objects (0.1-0.3 s each;
    a 6-trial search took 2.65x its bare fits, 1.29x frozen, see
    benchmarks/bench_cost.py). Objects alive when the block starts are moved
    to the permanent generation (`gc.freeze()`, without a collection first:
    garbage among them waits for the next collection after the block); a
    nested block freezes what was made since. The outermost block moves
    them back (`gc.unfreeze()`), however it ends; the search's own garbage
    is still collected. A caller who froze the heap already keeps control
    of it.
    """
    if gc.get_freeze_count() and not _FREEZES["depth"]:
        yield
        return
    _FREEZES["depth"] += 1
    gc.freeze()
    try:
        yield
    finally:
        _FREEZES["depth"] -= 1
        if not _FREEZES["depth"]:
            gc.unfreeze()

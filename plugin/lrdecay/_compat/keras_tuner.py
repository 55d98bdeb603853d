"""Internals of keras_tuner that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

# ---------------------------------------------------------------------------
# Used by lrdecay.tuning (oracles, hypermodel, search).
#
# keras_tuner.src.engine.tuner_utils, .engine.oracle and .tuners.gridsearch
# are identical in keras-tuner 1.4.7 and 1.4.8; every item below is verified
# with both. Each imports KerasTuner only when called.


def find_tuner_callback(callbacks: Sequence[Any]) -> Any | None:
    """The `TunerCallback` that `Tuner.run_trial` adds to a trial's callbacks.

    Relies on `keras_tuner.src.engine.tuner_utils.TunerCallback(tuner, trial)`
    (attributes `.tuner`, `.trial`), appended once per execution by
    `Tuner.run_trial`. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    from keras_tuner.src.engine import tuner_utils

    for callback in callbacks:
        if isinstance(callback, tuner_utils.TunerCallback):
            return callback
    return None


def find_best_epoch_checkpoint(callbacks: Sequence[Any]) -> Any | None:
    """The callback that writes a trial's best-epoch checkpoint, if any.

    Relies on `keras_tuner.src.engine.tuner_utils.SaveBestEpoch(objective,
    filepath)`, appended (one instance per trial, shared by its executions)
    by `Tuner.run_trial`, and on its attributes: `.objective` (an
    `Objective`: `has_value`, `get_value`, `better_than`), `.filepath` (the
    weights file) and `.best_value` (the best objective value so far; it
    saves at an epoch that beats it, or at every epoch whose logs lack the
    objective). Subclasses count. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    from keras_tuner.src.engine import tuner_utils

    for callback in callbacks:
        if isinstance(callback, tuner_utils.SaveBestEpoch):
            return callback
    return None


def retry_queue(oracle: Any) -> list[Any]:
    """The ids of the trials the oracle will hand out again (to re-run).

    Relies on the private `Oracle._retry_queue` (a list of trial ids, saved in
    the oracle's state). Verified: keras-tuner 1.4.7, 1.4.8.
    """
    return list(getattr(oracle, "_retry_queue", ()))


def project_dir(oracle: Any) -> str:
    """The oracle's project folder (`Oracle._project_dir`, which creates it)."""
    return str(oracle._project_dir)


def save_trial_files(oracle: Any) -> None:
    """Write every trial's `trial.json` again, as the oracle holds it.

    `Oracle.create_trial` adds a trial to its state, makes its folder, then
    writes its `trial.json` (`Oracle._save_trial`): a Ctrl-C in between
    leaves the folder without the file, and `Tuner.save()` afterwards writes
    `oracle.json` naming the trial: `Oracle.reload` then fails ("Error
    reloading `Oracle` from existing project"). Relies on the private
    `Oracle._save_trial(trial)` and `Oracle.trials` (id -> `Trial`).
    Verified: keras-tuner 1.4.7, 1.4.8.
    """
    for trial in list(oracle.trials.values()):
        oracle._save_trial(trial)


def grid_pending(oracle: Any) -> list[str]:
    """The grid oracle's queue of trials to derive the next grid point from.

    Relies on the private `GridSearchOracle._populate_next` (a list of trial
    ids, mutated in place by the oracle; not saved in its state). The list
    itself is returned, to be changed in place. Verified: keras-tuner 1.4.7,
    1.4.8.
    """
    pending: list[str] = oracle._populate_next
    return pending


def set_grid_pending(oracle: Any, trial_ids: Sequence[str]) -> None:
    """Replace the grid oracle's `_populate_next` queue (see `grid_pending`).

    Verified: keras-tuner 1.4.7, 1.4.8.
    """
    oracle._populate_next = list(trial_ids)


def grid_order_is_empty(oracle: Any) -> bool:
    """Whether the grid oracle's ordered list of trials is empty.

    Relies on the private `GridSearchOracle._ordered_ids` (a `LinkedList`
    whose `_data_to_index` dict holds every inserted trial id; not saved in
    the oracle's state). Verified: keras-tuner 1.4.7, 1.4.8.
    """
    return not oracle._ordered_ids._data_to_index


def grid_order_append(oracle: Any, trial_id: str) -> None:
    """Append `trial_id` to the grid oracle's ordered list of trials.

    Relies on the private `LinkedList.insert(data)` of
    `GridSearchOracle._ordered_ids` (no predecessor: at the end). Verified:
    keras-tuner 1.4.7, 1.4.8.
    """
    oracle._ordered_ids.insert(trial_id)


def grid_compare(
    oracle: Any, first: Mapping[str, Any], second: Mapping[str, Any]
) -> int:
    """The grid oracle's order of two trials' hyperparameter values (-1, 0, 1).

    Relies on the private `GridSearchOracle._compare(a, b)` over `hp.values`
    dicts. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    return int(oracle._compare(dict(first), dict(second)))


def metrics_of_result(result: Any, objective: Any) -> dict[str, Any]:
    """The metrics dict KerasTuner makes of one execution's `fit` result.

    For a `History`: every metric at the execution's best epoch of the
    objective, as KerasTuner scores a trial. Relies on
    `keras_tuner.src.engine.tuner_utils.convert_to_metrics_dict(results,
    objective)`. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    from keras_tuner.src.engine import tuner_utils

    return dict(tuner_utils.convert_to_metrics_dict(result, objective))


_IN_MEMORY_BEST_EPOCH: list[type[Any]] = []


def keep_best_epoch_in_memory(callbacks: Sequence[Any]) -> None:
    """Make KerasTuner's checkpoint callback in `callbacks` write once per fit.

    `Tuner.run_trial` adds one `SaveBestEpoch(objective, filepath)` to every
    execution's callbacks; it calls `model.save_weights(filepath)` at every
    epoch that beats `best_value` (a few tens of ms each: ~8% of a small
    model's fit). Changed in place (its class becomes a subclass, so the same
    object, shared by the trial's executions, keeps `best_value` and
    `filepath`), it copies the model's and optimizer's variables at such an
    epoch instead, and at `on_train_end` writes the file once, with the
    stock `_save_model`, only if this fit improved on `best_value`. A caller
    that sets `best_value` and writes `filepath` before the fit (a branch
    seeded from a shared prefix) keeps its file unless the fit improves on
    it. A fit that raises writes nothing (its trial is FAILED, INVALID and
    retried, or interrupted and re-run). Memory: one copy of the variables.

    Relies on `keras_tuner.src.engine.tuner_utils.SaveBestEpoch`: its
    `objective`, `filepath`, `best_value`, `on_epoch_end` calling
    `_save_model()` at every improving epoch (or every epoch when the logs
    lack the objective), and `_save_model()` writing `self.model`'s weights
    (which Keras 3 saves as the layers' and the optimizer's variables).
    Verified: keras-tuner 1.4.7, 1.4.8; keras 3.15.
    """
    from keras_tuner.src.engine import tuner_utils

    if not _IN_MEMORY_BEST_EPOCH:
        stock = tuner_utils.SaveBestEpoch

        class SaveBestEpoch(stock):  # type: ignore[misc, valid-type]
            _lrdecay_best: list[Any] | None = None

            def on_train_begin(self, logs: Any = None) -> None:
                self._lrdecay_best = None

            def _save_model(self) -> None:
                self._lrdecay_best = [v.numpy() for v in _saved_variables(self.model)]

            def on_train_end(self, logs: Any = None) -> None:
                best, self._lrdecay_best = self._lrdecay_best, None
                if best is None:
                    return
                variables = _saved_variables(self.model)
                last = [variable.numpy() for variable in variables]
                for variable, value in zip(variables, best, strict=True):
                    variable.assign(value)
                try:
                    stock._save_model(self)
                finally:
                    for variable, value in zip(variables, last, strict=True):
                        variable.assign(value)

        SaveBestEpoch.__module__ = stock.__module__
        _IN_MEMORY_BEST_EPOCH.append(SaveBestEpoch)
    in_memory = _IN_MEMORY_BEST_EPOCH[0]
    for callback in callbacks:
        if isinstance(callback, tuner_utils.SaveBestEpoch) and not isinstance(
            callback, in_memory
        ):
            callback.__class__ = in_memory


def _saved_variables(model: Any) -> list[Any]:
    """The variables `model.save_weights` writes: the layers', the optimizer's."""
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", True):
        variables += list(optimizer.variables)
    return variables


_FIRST_VALUES_CLASSES: dict[type[Any], type[Any]] = {}


def start_with(
    oracle: Any,
    first_values: Callable[[Any], dict[str, Any]],
    holds_them: Callable[[Mapping[str, Any]], bool],
) -> None:
    """Make `oracle` hand out `first_values(hp)` before any random values.

    Until one of the oracle's trials (any status, reloaded ones too) holds
    them (`holds_them(trial.hyperparameters.values)`), the next call for
    random values returns `first_values(oracle.hyperparameters)` instead;
    then sampling goes on as before. The instance's class becomes a
    subclass of its own (same name, no new state), so what the oracle
    saves is unchanged. Relies on the private `Oracle._random_values()`
    (every random, Bayesian and Hyperband point comes from it) and
    `Oracle._duplicate(values)`. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    base = type(oracle)
    if base not in _FIRST_VALUES_CLASSES:

        def _random_values(self: Any) -> dict[str, Any] | None:
            hooks = self.lrdecay_first_values
            if hooks is not None and not any(
                hooks[1](trial.hyperparameters.values) for trial in self.trials.values()
            ):
                values = hooks[0](self.hyperparameters)
                if not self._duplicate(values):
                    return values
            values = base._random_values(self)
            return values

        _FIRST_VALUES_CLASSES[base] = type(
            base.__name__,
            (base,),
            {"_random_values": _random_values, "__module__": base.__module__},
        )
    oracle.__class__ = _FIRST_VALUES_CLASSES[base]
    oracle.lrdecay_first_values = (first_values, holds_them)


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.distributed.
#
# keras_tuner.src.protos, .engine.oracle and .engine.trial are identical in
# keras-tuner 1.4.7 and 1.4.8. Each item imports KerasTuner only when called:
# importing lrdecay.tuning.distributed imports no TensorFlow.


def request_trial(address: str, tuner_id: str | None, timeout: float) -> Any:
    """Ask the chief's oracle at `address` for `tuner_id`'s trial over gRPC.

    The same call a worker's `Tuner.search` makes (`OracleClient.create_trial`),
    with our own timeout; returns a `keras_tuner.engine.trial.Trial`.

    Relies on the raw gRPC service of `keras_tuner.src.protos` (`OracleStub`,
    `CreateTrialRequest`) and `Trial.from_proto`. Verified: keras-tuner 1.4.7,
    1.4.8.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.engine import trial as trial_module

    # grpcio (a KerasTuner dependency) ships no type stubs.
    grpc: Any = importlib.import_module("grpc")
    channel = grpc.insecure_channel(address)
    try:
        stub = protos.get_service_grpc().OracleStub(channel)
        response = stub.CreateTrial(
            protos.get_service().CreateTrialRequest(tuner_id=tuner_id),
            wait_for_ready=True,
            timeout=timeout,
        )
        return trial_module.Trial.from_proto(response.trial)
    finally:
        channel.close()


def oracle_answers(address: str, timeout: float) -> bool:
    """Whether the chief's gRPC server at `address` answers within `timeout` s.

    Sends one call to a method the server does not have: gRPC answers it
    (`UNIMPLEMENTED`) from its own threads, without the oracle's lock, so a
    busy oracle still counts as answering, while a dead, frozen or
    unreachable chief does not (`UNAVAILABLE`, `DEADLINE_EXCEEDED`).

    Relies on KerasTuner serving its oracle with grpcio (`keras_tuner.src.
    distribute.oracle_chief.start_server`), not on any KerasTuner name.
    Verified: keras-tuner 1.4.7, 1.4.8; grpcio 1.6x-1.7x.
    """
    grpc: Any = importlib.import_module("grpc")
    channel = grpc.insecure_channel(address)
    try:
        ping = channel.unary_unary("/lrdecay.ChiefProbe/Ping")
        try:
            ping(b"", timeout=timeout)
        except grpc.RpcError as error:
            return bool(error.code() == grpc.StatusCode.UNIMPLEMENTED)
        return True
    finally:
        channel.close()


@dataclasses.dataclass(frozen=True)
class OracleProgress:
    """Where a chief's oracle stands, read in one go under its lock.

    Attributes:
        ongoing: Dict. Tuner id -> id of the trial it is running.
        tuner_ids: Set. The tuners that asked for a trial and did not stop.
        end_order: List. Ids of the ended trials, in the order they ended.
        trials: Dict. Trial id -> `keras_tuner` trial (a copy of the dict; the
            trials themselves are the oracle's).
    """

    ongoing: dict[str, str]
    tuner_ids: set[str]
    end_order: list[str]
    trials: dict[str, Any]


def oracle_progress(oracle: Any, lock_timeout: float) -> OracleProgress | None:
    """The oracle's progress, or `None` if its lock stays taken `lock_timeout` s.

    Relies on `keras_tuner.src.engine.oracle.LOCKS` (the per-oracle lock that
    `synchronized`, hence the chief's gRPC handlers, hold) and the oracle's
    undocumented `ongoing_trials`, `tuner_ids`, `end_order`, `trials`.
    Verified: keras-tuner 1.4.7, 1.4.8.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    lock = oracle_module.LOCKS[oracle]
    if not lock.acquire(timeout=lock_timeout):
        return None
    try:
        return OracleProgress(
            ongoing={
                str(tuner_id): str(trial.trial_id)
                for tuner_id, trial in oracle.ongoing_trials.items()
            },
            tuner_ids={str(tuner_id) for tuner_id in oracle.tuner_ids},
            end_order=[str(trial_id) for trial_id in oracle.end_order],
            trials={str(trial_id): trial for trial_id, trial in oracle.trials.items()},
        )
    finally:
        lock.release()


_QUIET_CONDITIONS = {"depth": 0}
_QUIET_CONDITIONS_LOCK = threading.Lock()


def _discard_print(*args: Any, **kwargs: Any) -> None:
    """What `print` is in KerasTuner's `conditions` module during a search."""


@contextlib.contextmanager
def quiet_condition_protos() -> Iterator[None]:
    """Silence the stray `print` of KerasTuner's conditions for the block.

    `keras_tuner.src.engine.conditions.Parent.to_proto` prints the first
    value of its condition (`step`, `plateau`, ...) to stdout each time a
    conditional hyperparameter is sent over gRPC: a distributed search's
    chief and workers printed ~80 such lines for 5 trials. For the block,
    the module gets a global `print` that discards, which shadows the
    builtin for that module's code only; when the outermost block ends the
    global is removed again (nested and concurrent blocks count). Nothing
    else in the module prints.

    Relies on: the bare `print(self.values[0])` in `Parent.to_proto`, a
    global name lookup in `keras_tuner.src.engine.conditions`. Verified with
    keras-tuner 1.4.8.
    """
    from keras_tuner.src.engine import conditions

    with _QUIET_CONDITIONS_LOCK:
        _QUIET_CONDITIONS["depth"] += 1
        if _QUIET_CONDITIONS["depth"] == 1:
            conditions.print = _discard_print
    try:
        yield
    finally:
        with _QUIET_CONDITIONS_LOCK:
            _QUIET_CONDITIONS["depth"] -= 1
            if _QUIET_CONDITIONS["depth"] == 0:
                vars(conditions).pop("print", None)


# ---------------------------------------------------------------------------
# Used by lrdecay.cli.


@contextlib.contextmanager
def debug_tracebacks(enabled: bool) -> Iterator[None]:
    """Set KerasTuner's debug flag for the `with` block; restore it on any exit.

    In debug mode (KerasTuner's default) every failed trial prints its whole
    traceback; the `lrdecay` command shows it only with `--verbose`.

    Relies on: the module global `keras_tuner.src.config.DEBUG`, read by
    `BaseTuner._try_run_and_update_trial` when a trial raises. Verified with
    keras-tuner 1.4.8.
    """
    from keras_tuner.src import config

    before = config.DEBUG
    config.DEBUG = enabled
    try:
        yield
    finally:
        config.DEBUG = before


def queue_again(oracle: Any, trial_id: str) -> None:
    """Make a local oracle hand out an ended trial again, as a retry.

    The trial leaves `end_order`, its run count starts over, and it joins
    the retry queue, which `Oracle.create_trial` serves before new trials
    (and which sets it RUNNING). Relies on the private `Oracle._retry_queue`
    (served last in, first out) and `Oracle._run_times`, and on the public
    attribute `end_order`. Verified: keras-tuner 1.4.7, 1.4.8.
    """
    trial_id = str(trial_id)
    if trial_id in oracle.end_order:
        oracle.end_order.remove(trial_id)
    oracle._run_times[trial_id] = 0
    if trial_id not in oracle._retry_queue:
        oracle._retry_queue.insert(0, trial_id)

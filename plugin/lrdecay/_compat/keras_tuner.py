"""Internals of keras_tuner that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

# ---------------------------------------------------------------------------
# Used by lrdecay.tuning (oracles, hypermodel, search).


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


# ---------------------------------------------------------------------------
# Used by lrdecay.cli.

"""The trunk store of a search: the constant-rate prefixes its trials share.

A *trunk* is the constant-rate fit every decay of one setting follows until it
departs (`lrdecay.tuning.prefixes.prefix`). `search()` keeps each trunk on disk, one
self-contained file per epoch, so that a trial (in this process, in a resumed
search, or on another worker sharing the project directory) continues it
instead of training the shared epochs again:

```
<project_path>/trunks/<key>/epoch-0001.npz   state at the start of epoch 1
<project_path>/trunks/<key>/epoch-0002.npz   ...
```

`epoch-NNNN.npz` holds the state at the START of epoch NNNN: every model
variable (weights and the layers' `SeedGenerator` states), every optimizer
variable (iterations, momentum, the rate), Python's and NumPy's global random
states, the logs of epoch NNNN-1 and the trial that wrote it. The trunk's
history is the run of consecutive files from `epoch-0001`; the weights of its
best epoch `b` are those of `epoch-(b+1)` (the state at the end of epoch `b`),
so no file repeats them. A file is written to a temporary name and moved in
place (`os.replace`): a reader sees a whole file or none, and two processes
writing the same epoch write the same bytes (the fit is seeded), so no lock
is needed.

On disk: one copy of the model's and the optimizer's variables per trunk
epoch (SGD with momentum: twice the weights), for every execution seed and
every other setting of `build_model`'s own hyperparameters, plus ~8 kB of
random states. The default digits search (a 2.4 k-parameter model, plain SGD,
40 epochs) keeps 40 files of 20 kB: under 1 MB. Delete `trunks/` to free it;
a search then trains its trunks again.

The key of a trunk (`trunk_key`): the execution's seed, the trunk's rate as
float32, the values of `build_model`'s own (non-decay) hyperparameters, the
batch size, the shapes and dtypes of the model's variables, the optimizer's
class and its config other than the rate, and the data's shapes, dtypes and
a digest of their values (`lrdecay.tuning.prefixes.branch.OrderedData.shapes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from lrdecay.tuning.prefixes import trunk_check, trunk_lock
from lrdecay.tuning.prefixes.prefix import TrunkState, restore_state

TRUNKS_DIR = "trunks"
_FILE = "epoch-{:04d}.npz"

Logs = dict[str, float]


def trunk_key(
    *,
    seed: int,
    trunk_lr: float,
    hyperparameters: Mapping[str, Any],
    batch_size: int,
    model: Any,
    data_shapes: Any,
) -> str:
    """The name of the trunk these settings train: a hash of what decides it."""
    optimizer = model.optimizer
    try:
        config = dict(optimizer.get_config())
    except Exception:
        config = {}
    for name in ("learning_rate", "name"):
        config.pop(name, None)
    identity = {
        "seed": int(seed),
        "lr": float(np.float32(trunk_lr)).hex(),
        "hp": {str(k): v for k, v in sorted(hyperparameters.items())},
        "batch_size": int(batch_size),
        "variables": [[list(v.shape), str(v.dtype)] for v in model.variables],
        "optimizer": [type(optimizer).__name__, config],
        "data": data_shapes,
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclasses.dataclass
class TrunkEpoch(TrunkState):
    """One trunk file: the state at the start of `epoch`, and epoch-1's logs."""

    logs: Logs
    writer: str | None


class TrunkStore:
    """The epoch files of one trunk, in `directory`.

    Args:
        directory: String. The trunk's folder (created on the first write).
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, epoch: int) -> str:
        return os.path.join(self.directory, _FILE.format(epoch))

    def length(self) -> int:
        """Epochs the trunk holds: the consecutive whole files from epoch 1.

        The first damaged file (`trunk_check.damage`) ends the trunk; it is
        removed, with a warning, and trained and written again.
        """
        epoch = 0
        while os.path.exists(self.path(epoch + 1)):
            problem = trunk_check.damage(self.path(epoch + 1))
            if problem is not None:
                trunk_check.set_aside(self.path(epoch + 1), epoch + 1, problem)
                break
            epoch += 1
        return epoch

    def history(self, length: int | None = None) -> list[Logs]:
        """The logs of the trunk's first `length` epochs (all it holds)."""
        if length is None:
            length = self.length()
        history = []
        for epoch in range(1, length + 1):
            with np.load(self.path(epoch), allow_pickle=False) as data:
                history.append(json.loads(str(data["meta"]))["logs"])
        return history

    def writer(self, epoch: int) -> str | None:
        """The trial that wrote epoch `epoch`'s file (`None`: not a trial)."""
        with np.load(self.path(epoch), allow_pickle=False) as data:
            writer = json.loads(str(data["meta"]))["writer"]
        return None if writer is None else str(writer)

    def load(self, epoch: int) -> TrunkEpoch:
        with np.load(self.path(epoch), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            model_variables = [data[f"model_{i}"] for i in range(meta["n_model"])]
            optimizer_variables = [
                data[f"optimizer_{i}"] for i in range(meta["n_optimizer"])
            ]
            python_state = tuple(int(n) for n in data["python_random"])
            numpy_keys = data["numpy_random"]
        version, gauss = meta["python_random"]
        algorithm, position, has_gauss, cached = meta["numpy_random"]
        return TrunkEpoch(
            epoch=epoch,
            model_variables=model_variables,
            optimizer_variables=optimizer_variables,
            python_random=(version, python_state, gauss),
            numpy_random=(algorithm, numpy_keys, position, has_gauss, cached),
            logs=meta["logs"],
            writer=meta["writer"],
        )

    def write(self, epoch: int, model: Any, logs: Logs, writer: str | None) -> None:
        """Store `model`'s state now as the start of `epoch` (atomically)."""
        version, python_state, gauss = random.getstate()
        algorithm, keys, position, has_gauss, cached = np.random.get_state()
        model_variables = [np.asarray(v.numpy()) for v in model.variables]
        optimizer_variables = [np.asarray(v.numpy()) for v in model.optimizer.variables]
        meta = {
            "epoch": epoch,
            "logs": logs,
            "writer": writer,
            "n_model": len(model_variables),
            "n_optimizer": len(optimizer_variables),
            "python_random": [version, gauss],
            "numpy_random": [algorithm, int(position), int(has_gauss), cached],
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps(meta)),
            "python_random": np.asarray(python_state, dtype=np.int64),
            "numpy_random": np.asarray(keys, dtype=np.uint32),
        }
        arrays.update({f"model_{i}": value for i, value in enumerate(model_variables)})
        arrays.update(
            {f"optimizer_{i}": value for i, value in enumerate(optimizer_variables)}
        )
        os.makedirs(self.directory, exist_ok=True)
        temporary = f"{self.path(epoch)}.{os.getpid()}-{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as file:
                np.savez(file, **arrays)  # type: ignore[arg-type]  # names, not flags
            os.replace(temporary, self.path(epoch))
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def restore(model: Any, state: TrunkEpoch) -> None:
    """Put a trunk epoch's state into `model` (built as the trunk's was).

    Raises:
        ValueError: If `model` has other variables than the trunk's.
    """
    restore_state(
        model,
        state,
        mismatch="The model of this trial has other variables than the stored "
        "trunk's: {got} instead of {expected}. Delete the project's `trunks/` "
        "folder, or pass `share_prefix=False`.",
    )


class TrunkWriter(keras.callbacks.Callback):
    """Stores each new trunk epoch while the fit still follows the trunk.

    Listed before the decay, so the state it stores at the end of an epoch
    is the trunk's (a plateau rule's reduction at that epoch's end is not in
    it). `departure(history)` gives the decay's departure epoch from the
    trunk history so far (`None`: not known to depart yet).

    Args:
        store: The `TrunkStore`.
        history: List of dict. The trunk's logs before the fit's first
            epoch (extended in place with the fit's own).
        departure: Callable from the history to the departure epoch.
        trunk_lr: Float. The trunk's rate, logged as `learning_rate`.
        writer: String or `None`. The trial id recorded in each file.
    """

    def __init__(
        self,
        store: TrunkStore,
        history: list[Logs],
        departure: Any,
        trunk_lr: float,
        writer: str | None,
    ) -> None:
        super().__init__()
        self.store = store
        self.history = history
        self.departure = departure
        self.trunk_lr = float(np.float32(trunk_lr))
        self.writer = writer
        self.following = True
        # Held while the fit follows the trunk: other processes' trials that
        # branch from it wait for its epochs (`trunk_lock.wait_for_trunk`).
        self.lock = trunk_lock.WriterLock(store.directory)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.lock.acquire()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.lock.release()

    def _stop_following(self) -> None:
        self.following = False
        self.lock.release()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.following or epoch != len(self.history):
            self._stop_following()
            return
        values = trunk_logs(logs, self.trunk_lr)
        self.history.append(values)
        departure = self.departure(self.history)
        if departure is not None and departure < epoch + 1:
            self._stop_following()
            return
        if not os.path.exists(self.store.path(epoch + 1)):
            try:
                self.store.write(epoch + 1, self.model, values, self.writer)
            except OSError as error:
                # Only time is lost: later trials train these epochs again.
                warnings.warn(
                    f"lrdecay: could not store epoch {epoch + 1} of the shared "
                    f"trunk in {self.store.directory} ({error}); trials that "
                    "share it will train it again.",
                    stacklevel=2,
                )
                self._stop_following()
                return
        if departure is not None and departure <= epoch + 1:
            self._stop_following()


def trunk_logs(logs: Mapping[str, Any] | None, trunk_lr: float) -> Logs:
    """An epoch's logs as the trunk keeps them: floats, with the trunk's rate."""
    values = {}
    for key, value in (logs or {}).items():
        try:
            values[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    values["learning_rate"] = float(np.float32(trunk_lr))
    return values

"""The user's callbacks in a search: as in an independent fit, in every trial.

Two rules, both applied by `search()`:

- **Shared prefixes only with stateless callbacks.** A trial that continues a
  shared constant-rate trunk from its departure epoch (`fit(initial_epoch=S)`)
  shows the callbacks its own epochs only: an `EarlyStopping` would count its
  patience from `S`, a `ReduceLROnPlateau` or `ModelCheckpoint(save_best_only=
  True)` would forget the best value of the prefix, a `CSVLogger` would miss
  its rows. The exact rule: the trials share prefixes only when every callback
  of `callbacks=` is known to keep no state across epochs (`STATELESS`: Keras'
  `ProgbarLogger`, `TerminateOnNaN` and `History`, and `StatelessCallback`s);
  with any other, `search()` runs every trial whole (the numbers of
  `share_prefix=False`, at its cost) and says so once: a `UserWarning`, and
  the parent run's tag `lrdecay.share_prefix_off` holds the reason.
- **A path per trial.** A `ModelCheckpoint`, `CSVLogger`, `TensorBoard` or
  `BackupAndRestore` in `callbacks=` would write every trial to the same
  path, each overwriting the one before. Each trial's copy (KerasTuner
  deep-copies the callbacks per trial) writes to its own: `{trial_id}` in the
  path is replaced by the trial's id; without it, a file gets
  `-trial_<id>` before its extension (`best.keras` -> `best-trial_0001.keras`)
  and a folder a `trial_<id>` subfolder (`logs` -> `logs/trial_0001`). The
  executions of one trial (`repeats`) share its path.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import keras

__all__ = [
    "STATELESS",
    "StatelessCallback",
    "for_trial",
    "settle_sharing",
    "sharing_off_reason",
    "trial_path",
    "warn_shared_paths",
]

TRIAL_ID_FIELD = "{trial_id}"


class StatelessCallback(keras.callbacks.Callback):
    """A callback that keeps nothing across epochs: trials may share prefixes.

    Subclass it for a callback whose behaviour in an epoch depends on that
    epoch alone (a progress line, a per-epoch log), so that `search()` keeps
    sharing prefixes with it in `callbacks=`.
    """


# Exactly these classes (a subclass may add state), and StatelessCallbacks.
STATELESS: tuple[type[Any], ...] = (
    keras.callbacks.ProgbarLogger,
    keras.callbacks.TerminateOnNaN,
    keras.callbacks.History,
)

# The callbacks that write to a path, and the argument that names it.
_PATHS: dict[type[Any], str] = {
    keras.callbacks.ModelCheckpoint: "filepath",
    keras.callbacks.CSVLogger: "filename",
    keras.callbacks.TensorBoard: "log_dir",
    keras.callbacks.BackupAndRestore: "backup_dir",
}
_FOLDERS = (keras.callbacks.TensorBoard, keras.callbacks.BackupAndRestore)


def sharing_off_reason(callbacks: Sequence[Any]) -> str | None:
    """Why trials cannot share prefixes with `callbacks`, or `None` if they can."""
    stateful = [
        callback
        for callback in callbacks
        if type(callback) not in STATELESS
        and not isinstance(callback, StatelessCallback)
    ]
    if not stateful:
        return None
    names = ", ".join(dict.fromkeys(type(callback).__name__ for callback in stateful))
    return (
        f"the callbacks {names} in `callbacks=` may keep state across epochs: "
        "a trial continuing a shared prefix would show them its own epochs "
        "only, not what an independent fit shows them. Every trial runs whole "
        "(as with share_prefix=False: the same numbers, at full cost)."
    )


def settle_sharing(plan: Any, callbacks: Sequence[Any]) -> str | None:
    """Whether stateful callbacks turn `plan`'s sharing off; say both rules once.

    Returns why the trials do not share prefixes although the plan asked
    them to (the caller then searches `share_prefix=False`), or `None`.
    """
    warn_shared_paths(callbacks)
    if not plan.shares_prefix:
        return None
    reason = sharing_off_reason(callbacks)
    if reason is not None:
        warnings.warn(
            f"lrdecay.search: trials do not share prefixes: {reason}", stacklevel=4
        )
    return reason


def trial_path(path: str, trial_id: str, folder: bool) -> str:
    """`path` for one trial: `{trial_id}` filled in, else the id inserted.

    Example:

    ```python
    trial_path("best.keras", "0001", folder=False)  # 'best-trial_0001.keras'
    trial_path("ckpt/{trial_id}/w.weights.h5", "0001", folder=False)
    # 'ckpt/0001/w.weights.h5'
    trial_path("logs", "0001", folder=True)  # 'logs/trial_0001'
    ```
    """
    if TRIAL_ID_FIELD in path:
        # Only this field: Keras fills `{epoch}` and metric fields itself.
        return path.replace(TRIAL_ID_FIELD, trial_id)
    if folder:
        return os.path.join(path, f"trial_{trial_id}")
    root, extension = os.path.splitext(path)
    if root.endswith(".weights"):  # Keras' `.weights.h5`
        root, extension = root[: -len(".weights")], ".weights" + extension
    return f"{root}-trial_{trial_id}{extension}"


def for_trial(callbacks: list[Any], trial_id: str | None) -> list[Any]:
    """Give the path-writing callbacks of one trial their own paths.

    `callbacks` are the trial's own copies (KerasTuner deep-copies them for
    every execution); they are changed in place and returned. Without a
    trial id (a fit outside a search) nothing changes.
    """
    if trial_id is None:
        return callbacks
    for callback in callbacks:
        owner = _path_owner(callback)
        if owner is None:
            continue
        attribute = _PATHS[owner]
        path = trial_path(
            str(getattr(callback, attribute)), trial_id, issubclass(owner, _FOLDERS)
        )
        if owner is keras.callbacks.BackupAndRestore:
            # Its file paths are derived from `backup_dir` at construction.
            _restart_backup_and_restore(callback, path)
        else:
            setattr(callback, attribute, path)
    return callbacks


def warn_shared_paths(callbacks: Sequence[Any]) -> None:
    """Say once which callbacks write per trial to a path lrdecay chose."""
    chosen = []
    for callback in callbacks:
        owner = _path_owner(callback)
        if owner is None:
            continue
        path = str(getattr(callback, _PATHS[owner]))
        if TRIAL_ID_FIELD not in path:
            example = trial_path(path, "0001", issubclass(owner, _FOLDERS))
            chosen.append(f"{type(callback).__name__}({path!r}) -> {example!r}")
    if chosen:
        warnings.warn(
            "lrdecay.search: every trial would write to the same path and "
            "overwrite the one before; each writes to its own instead: "
            + "; ".join(chosen)
            + ". Put '{trial_id}' in the path to choose where.",
            stacklevel=5,
        )


def _path_owner(callback: Any) -> type[Any] | None:
    if type(callback).__module__.startswith("keras_tuner."):
        return None
    for owner in _PATHS:
        if isinstance(callback, owner):
            return owner
    return None


def _restart_backup_and_restore(callback: Any, backup_dir: str) -> None:
    """Construct `callback` again (a fresh copy, before its fit) at `backup_dir`."""
    keras.callbacks.BackupAndRestore.__init__(
        callback,
        backup_dir,
        save_freq=callback.save_freq,
        double_checkpoint=callback.double_checkpoint,
        delete_checkpoint=callback.delete_checkpoint,
    )

"""KerasTuner's project files, checked before a search resumes from them.

KerasTuner reloads `oracle.json`, `tuner*.json` and every
`trial_*/trial.json` when a search resumes; a damaged one (an empty file
left by a process killed while writing it, before lrdecay wrote them
atomically, `lrdecay._compat.keras_tuner_files`; a disk error) stops the
search with a bare JSON error, and a trial `oracle.json` names whose
`trial.json` is missing (a process killed between KerasTuner making the
trial's folder and writing its file) with "Error reloading `Oracle`".
`check(project_path)` reads them first and names the damaged file in one
line with what to do.

Plain files: importing this module imports neither MLflow, Keras nor
KerasTuner.
"""

from __future__ import annotations

import glob
import json
import os

# What `check` says of a damaged file and of a missing one.
_CUT_SHORT = "empty or not JSON, e.g. left by a process killed while writing it"
_MISSING = (
    "missing though oracle.json names the trial, e.g. left by a process killed "
    "while creating it"
)


def damaged(project_path: str) -> list[str]:
    """The KerasTuner state files of the project that are not whole JSON objects."""
    names = [os.path.join(project_path, "oracle.json")]
    names += sorted(glob.glob(os.path.join(project_path, "tuner*.json")))
    names += sorted(glob.glob(os.path.join(project_path, "trial_*", "trial.json")))
    found = []
    for name in names:
        if not os.path.exists(name):
            continue
        try:
            with open(name) as file:
                content = json.load(file)
        except (OSError, ValueError):
            found.append(name)
            continue
        if not isinstance(content, dict):
            found.append(name)
    return found


def missing(project_path: str) -> list[str]:
    """The `trial.json` files of the trials `oracle.json` names that do not exist."""
    try:
        with open(os.path.join(project_path, "oracle.json")) as file:
            state = json.load(file)
        named = set(state.get("start_order", []))
        named |= set(state.get("ongoing_trials", {}).values())
    except (OSError, ValueError, AttributeError, TypeError):
        return []  # no oracle yet, or a damaged one (`damaged` names it)
    names = [
        os.path.join(project_path, f"trial_{trial_id}", "trial.json")
        for trial_id in sorted(map(str, named))
    ]
    return [name for name in names if not os.path.exists(name)]


def check(project_path: str) -> None:
    """Raise `ValueError` naming the project's damaged KerasTuner files.

    Raises:
        ValueError: A state file of the project is empty or not JSON, or a
            trial's file that `oracle.json` names is missing.
    """
    parts = []
    for names, why in (
        (damaged(project_path), _CUT_SHORT),
        (missing(project_path), _MISSING),
    ):
        if names:
            shown = ", ".join(os.path.relpath(name, project_path) for name in names)
            parts.append(f"{shown}: {why}")
    if not parts:
        return
    raise ValueError(
        f"KerasTuner's state in {project_path!r} is damaged ({'; '.join(parts)}), "
        "so the search cannot resume from it. Restore the file(s), or start the "
        "search again with tuner_options={'overwrite': True} (`lrdecay.budget`: "
        "overwrite=True; `--overwrite`); the MLflow runs of its finished trials "
        "are kept."
    )

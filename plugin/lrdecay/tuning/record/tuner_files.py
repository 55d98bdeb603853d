"""KerasTuner's project files, checked before a search resumes from them.

KerasTuner reloads `oracle.json`, `tuner*.json` and every
`trial_*/trial.json` when a search resumes; a damaged one (an empty file
left by a process killed while writing it, before lrdecay wrote them
atomically, `lrdecay._compat.keras_tuner_files`; a disk error) stops the
search with a bare JSON error. `check(project_path)` reads them first and
names the damaged file in one line with what to do.

Plain files: importing this module imports neither MLflow, Keras nor
KerasTuner.
"""

from __future__ import annotations

import glob
import json
import os


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


def check(project_path: str) -> None:
    """Raise `ValueError` naming the project's damaged KerasTuner files.

    Raises:
        ValueError: A state file of the project is empty or not JSON.
    """
    found = damaged(project_path)
    if not found:
        return
    shown = ", ".join(os.path.relpath(name, project_path) for name in found)
    raise ValueError(
        f"KerasTuner's state in {project_path!r} is damaged ({shown}: empty or "
        "not JSON, e.g. left by a process killed while writing it), so the "
        "search cannot resume from it. Restore the file(s), or start the "
        "search again with tuner_options={'overwrite': True} (`lrdecay.budget`: "
        "overwrite=True; `--overwrite`); the MLflow runs of its finished trials "
        "are kept."
    )

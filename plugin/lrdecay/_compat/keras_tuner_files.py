"""KerasTuner's project files written whole: a kill never leaves half of one.

KerasTuner writes `oracle.json`, `tuner0.json`, every `trial.json` and
`build_config.json` with `keras_tuner.src.utils.save_json`, which truncates
the file and then writes it: a process killed in between (`kill -9`, an OOM
kill, a power cut) leaves an empty `oracle.json`, and the project can no
longer be resumed ("Expecting value: line 1 column 1"). Inside
`atomic_json_writes()` the same function writes a temporary file beside the
target and moves it in place (`os.replace`): a reader sees the old file or
the new one.

Relies on the module attribute `keras_tuner.src.utils.save_json(path, obj)`
(returning the JSON text), which `engine.stateful`, `engine.tuner` and
`engine.trial` call through the module. Verified: keras-tuner 1.4.7, 1.4.8.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

_guard = threading.Lock()
_depth = 0
_original: Any = None


def _save_json(path: Any, obj: Any) -> str:
    text = json.dumps(obj)
    target = os.fspath(path)
    if "://" in target:  # gs://, s3:// ...: KerasTuner's own writer
        return str(_original(path, obj))
    temporary = f"{target}.{os.getpid()}-{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "w") as file:
            file.write(text)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return text


@contextlib.contextmanager
def atomic_json_writes() -> Iterator[None]:
    """Make KerasTuner write its JSON files atomically inside the block.

    Process-wide while any such block is open (also from other threads);
    KerasTuner's own function is put back when the last one ends.
    """
    global _depth, _original
    from keras_tuner.src import utils

    with _guard:
        if _depth == 0:
            _original = utils.save_json
            utils.save_json = _save_json
        _depth += 1
    try:
        yield
    finally:
        with _guard:
            _depth -= 1
            if _depth == 0:
                utils.save_json = _original

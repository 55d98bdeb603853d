"""Whether a trunk epoch file is whole: a damaged one is set aside, not trusted.

A trunk file (`lrdecay.tuning.prefixes.trunks`, `epoch-NNNN.npz`) is a zip
archive: NumPy's `savez` writes each array with its size and CRC-32, and the
archive's directory at its end. A file cut short (a full disk, a copy
interrupted) has no directory; garbled bytes fail their member's CRC-32.
`damage(path)` reads the whole file once and says which; the verdict is kept
for the file as it is (size, modification time), so a trunk read by many
trials of one process is checked once.

`TrunkStore.length()` stops at the first damaged epoch and removes its file,
saying so in one line: the trial then continues from the last intact epoch,
trains the rest, and writes the file again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
import zipfile
import zlib

import numpy as np

_intact: set[tuple[str, int, int]] = set()
_intact_guard = threading.Lock()


def damage(path: str) -> str | None:
    """Why the trunk file at `path` cannot be used; `None` when it is whole."""
    try:
        stat = os.stat(path)
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _intact_guard:
        if key in _intact:
            return None
    problem = _read_whole(path)
    if problem is None:
        with _intact_guard:
            _intact.add(key)
    return problem


def _read_whole(path: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            failed = archive.testzip()  # reads every member, checks its CRC-32
            if failed is not None:
                return f"{failed} fails its CRC-32 check"
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            names = ["python_random", "numpy_random"]
            names += [f"model_{i}" for i in range(int(meta["n_model"]))]
            names += [f"optimizer_{i}" for i in range(int(meta["n_optimizer"]))]
            missing = [name for name in names if name not in data.files]
            if missing:
                return f"no {missing[0]!r} array"
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        return f"{type(error).__name__}: {error}"
    except (ValueError, KeyError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def set_aside(path: str, epoch: int, problem: str) -> None:
    """Remove the damaged file of `epoch`, saying so in one line."""
    with contextlib.suppress(FileNotFoundError):  # another process did
        os.remove(path)
    warnings.warn(
        f"lrdecay: trunk epoch {epoch} in {os.path.dirname(path)} is damaged "
        f"({problem}); removed it, continuing from epoch {epoch - 1} and "
        "training the trunk again from there.",
        stacklevel=3,
    )

"""A quiet terminal: the frameworks' start-up and progress chatter, silenced.

On success `lrdecay search` writes nothing to stderr but lrdecay's own lines.
TensorFlow, absl, MLflow, KerasTuner and Keras each print something a user
cannot act on; this module turns each of them down, for the command line
only: these are process-wide settings, which an application may choose and a
library must not (`lrdecay.search()` changes none of them). `-v` leaves them
all as they are.

- TensorFlow's C++ logging: `TF_CPP_MIN_LOG_LEVEL=3` unless the user set it,
  before TensorFlow is imported.
- absl's C++ logging before `absl::InitializeLog()` (TensorFlow 2.21 writes
  "WARNING: All log messages before absl::InitializeLog() ..." and an
  `I0000 ... cudart_stub.cc` or `E0000 ... failed call to cuInit` line at
  import, whatever the variables say): the backend is imported with the
  process's stderr file descriptor captured, and the captured text is written
  back without those lines. An import that fails writes everything back.
- Python-side loggers: `mlflow` (INFO lines on store set-up), `absl`,
  `tensorflow`: WARNING, ERROR, ERROR.
- KerasTuner's "Reloading Tuner from ..." (a `print` in `Tuner.__init__`,
  keras-tuner 1.4.8): dropped from stdout; the banner says "resuming".
  (The `print` of its gRPC conditions is silenced by the search itself:
  `lrdecay._compat.keras_tuner.quiet_condition_protos`.)
- MLflow's "🏃 View run ... at" / "🧪 View experiment at" lines on stdout,
  printed as each run against a tracking server ends:
  `MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true` unless the user set it; the
  command prints the link to the search's runs itself.
- Warnings: one `lrdecay: warning: <message>` line each on stderr (another
  package's: `<package>: warning: <message>`), not Python's two lines
  with the file, line and source of the `warnings.warn` call.
- Keras' "Skipping variable loading for optimizer ..." warning: KerasTuner's
  `Tuner.load_model` (which `search()` uses for `SearchResult.best_model`)
  loads the best checkpoint into a freshly built model whose optimizer is not
  built, so the optimizer's saved state is skipped; the model's weights are
  loaded. The model is only evaluated here, so the warning is dropped.

Everything is restored when the command ends (`framework_output` is a
context manager), so `lrdecay.cli.main.main()` called in-process leaves the
caller's process as it found it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

# What each Python logger is turned down to while the command runs.
_LOGGER_LEVELS = {"mlflow": logging.WARNING, "absl": logging.ERROR}
_LOGGER_LEVELS["tensorflow"] = logging.ERROR

# Lines absl / TensorFlow's C++ code writes at import (glog format:
# severity, date, time, thread, file:line]).
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] )"
)

_RELOADING_TUNER = "Reloading Tuner from "

# MLflow's variable (read at each run's end) against its "View run" lines.
_NO_RUN_LINKS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"

_OPTIMIZER_NOT_BUILT = "Skipping variable loading for optimizer"


@contextlib.contextmanager
def framework_output(verbosity: int) -> Iterator[None]:
    """Silence the frameworks for a command at `verbosity` (< 2); restore after.

    Args:
        verbosity: Int. `0` (`-q`), `1` (default) or `2` (`-v`: nothing is
            silenced).
    """
    if verbosity >= 2:
        yield
        return
    saved_env = {
        name: os.environ.get(name)
        for name in ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL", _NO_RUN_LINKS)
    }
    # The user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # MLflow sets its logger's level from this variable when it is imported.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault(_NO_RUN_LINKS, "true")
    saved_levels = {}
    for name, level in _LOGGER_LEVELS.items():
        logger = logging.getLogger(name)
        saved_levels[name] = logger.level
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        with warnings.catch_warnings(), _stdout_without(_RELOADING_TUNER):
            warnings.showwarning = _show_warning
            warnings.filterwarnings(
                "ignore", message=re.escape(_OPTIMIZER_NOT_BUILT), category=UserWarning
            )
            # Python's own defaults for a program's libraries (a test runner
            # turns them on): deprecations are for developers, not the
            # command's users (e.g. pyparsing's, through matplotlib).
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
            yield
    finally:
        for name, level in saved_levels.items():
            # An import during the command may have set it: restore anyway.
            logging.getLogger(name).setLevel(level)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def warning_line(message: Warning | str, filename: str) -> str:
    """A warning as the command prints it: `lrdecay: warning: <message>`.

    lrdecay's messages that start with `lrdecay: ` lose that start; another
    package's warning is named by its package (from `filename`).
    """
    text = str(message).strip()
    package = _package_of(filename)
    if package == "lrdecay" or text.startswith("lrdecay"):
        return f"lrdecay: warning: {text.removeprefix('lrdecay: ')}"
    return f"{package}: warning: {text}"


def _package_of(filename: str) -> str:
    parts = os.path.normpath(filename).split(os.sep)
    for marker in ("site-packages", "dist-packages", "plugin"):
        if marker in parts[:-1]:
            index = len(parts) - 1 - parts[::-1].index(marker)
            return os.path.splitext(parts[index + 1])[0]
    return os.path.splitext(os.path.basename(filename))[0] or "python"


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    stream = file if file is not None else sys.stderr
    # As `warnings.showwarning`: a closed or missing stream shows nothing.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.write(warning_line(message, filename) + "\n")


def import_backend(verbosity: int) -> None:
    """Import Keras (and its backend) without absl's native start-up lines.

    A no-op when Keras is imported already or at `-v`.
    """
    if verbosity >= 2 or "keras" in sys.modules:
        return
    with _native_stderr_filtered():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # Finding the devices is where a machine without a GPU driver
            # logs `E0000 ... failed call to cuInit`; listing them leaves
            # them configurable.
            tf.config.list_physical_devices()


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    """Capture file descriptor 2; write it back without `_NATIVE_NOISE` lines.

    On an exception everything captured is written back: a failed import
    keeps its reasons.
    """
    try:
        stderr_fd = sys.__stderr__.fileno() if sys.__stderr__ else 2
    except (AttributeError, OSError, ValueError):
        stderr_fd = 2
    sys.stderr.flush()
    saved = os.dup(stderr_fd)
    failed = False
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), stderr_fd)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, stderr_fd)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if failed or not _NATIVE_NOISE.match(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _LineDropper:
    """A text stream that passes everything on but `print`s starting `prefix`.

    `print(text)` writes `text` and then its end (`"\\n"`) in two calls; the
    end of a dropped line is dropped with it. Anything else (a `\\r` progress
    line, a partial write) passes at once, unbuffered.
    """

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self._stream = stream
        self._prefix = prefix
        self._dropping = False

    def write(self, text: str) -> int:
        if self._dropping and text == "\n":
            self._dropping = False
            return len(text)
        self._dropping = False
        if text.startswith(self._prefix):
            self._dropping = not text.endswith("\n")
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _stdout_without(prefix: str) -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _LineDropper(original, prefix)
    try:
        yield
    finally:
        sys.stdout = original

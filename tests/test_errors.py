"""`lrdecay.errors`: every exception in one module, light, with its old base."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lrdecay
from lrdecay import errors


def test_lrdecay_errors_imports_neither_keras_nor_mlflow_nor_keras_tuner():
    code = (
        "import sys, lrdecay; from lrdecay.errors import DivergedSearchError; "
        "assert lrdecay.errors.DivergedSearchError is DivergedSearchError; "
        "bad = [m for m in ('keras', 'tensorflow', 'mlflow', 'keras_tuner', 'numpy') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "name, base",
    [
        ("TrackingUnreachable", ValueError),
        ("NonFiniteLossError", Exception),
        ("DivergedSearchError", RuntimeError),
        ("EvidenceWarning", UserWarning),
        ("Terminated", KeyboardInterrupt),
        ("SearchEndedError", RuntimeError),
        ("ChiefUnreachableError", RuntimeError),
        ("UsageError", Exception),
        ("DataError", ValueError),
        ("ConfigError", ValueError),
        ("PreviewError", ValueError),
        ("SearchRunningError", ValueError),
    ],
)
def test_each_exception_keeps_its_base(name, base):
    assert name in errors.__all__
    assert issubclass(getattr(errors, name), base)


def test_the_old_import_paths_name_the_same_classes():
    from lrdecay.cli.config import ConfigError
    from lrdecay.cli.data import DataError
    from lrdecay.cli.errors import UsageError
    from lrdecay.cli.preview import PreviewError
    from lrdecay.tracking.preflight import TrackingUnreachable
    from lrdecay.tuning.distributed import ChiefUnreachableError, SearchEndedError
    from lrdecay.tuning.evidence.result import DivergedSearchError, EvidenceWarning
    from lrdecay.tuning.pipeline.hypermodel import NonFiniteLossError
    from lrdecay.tuning.termination import Terminated

    assert ConfigError is errors.ConfigError
    assert DataError is errors.DataError
    assert UsageError is errors.UsageError
    assert PreviewError is errors.PreviewError
    assert TrackingUnreachable is errors.TrackingUnreachable
    assert ChiefUnreachableError is errors.ChiefUnreachableError
    assert SearchEndedError is errors.SearchEndedError
    assert NonFiniteLossError is errors.NonFiniteLossError
    assert DivergedSearchError is errors.DivergedSearchError
    assert EvidenceWarning is errors.EvidenceWarning
    assert Terminated is errors.Terminated
    assert lrdecay.errors is errors


def test_a_diverged_fit_raises_one_error_both_kerastuner_and_lrdecay_catch():
    import keras_tuner

    from lrdecay.tuning.pipeline import hypermodel

    guard = hypermodel._FiniteGuard()
    with pytest.raises(errors.NonFiniteLossError, match="`loss` became nan at epoch 3"):
        guard.on_epoch_end(3, {"loss": float("nan")})
    with pytest.raises(keras_tuner.errors.FailedTrialError):
        guard.on_epoch_end(0, {"val_loss": float("inf")})
    assert errors.Terminated().exit_code == 143

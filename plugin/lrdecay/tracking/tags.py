"""The tags lrdecay writes on every MLflow run, and how to read older stores.

Every run lrdecay ends (a fit's, a search's parent, a trial's) carries one
status tag, `lrdecay.status` (`STATUS_TAG`): how the run ended, beside
MLflow's own run status. A fit's run says FINISHED, FAILED or KILLED; a
search's trial run is then given KerasTuner's word for the trial
(COMPLETED, FAILED, INVALID, KILLED); a search's parent says FINISHED,
FAILED or KILLED. A run still running has none: MLflow's status says it.
A run that failed holds the error in `lrdecay.error` (`ERROR_TAG`); a fit
with plateau reductions lists them in `lrdecay.plateau_reductions`.
The decay kind is the param `decay_kind` (`lrdecay.tracking.params`), not a tag.

Stores written by lrdecay before this layout held a trial's status in
`lrdecay.trial_status` (and the fit's end in `lrdecay.status`) and the kind
in the tag `lrdecay.kind` too; `run_status` and `run_kind` read those first
where they are, so `lrdecay report`, a resumed search and the comparison
plots read old stores as they read new ones.

Nothing here imports MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping

from lrdecay.tracking.params import KIND_PARAM

__all__ = [
    "ERROR_TAG",
    "LEGACY_KIND_TAG",
    "LEGACY_TRIAL_STATUS_TAG",
    "PLATEAU_REDUCTIONS_TAG",
    "STATUS_TAG",
    "run_kind",
    "run_status",
]

STATUS_TAG = "lrdecay.status"
ERROR_TAG = "lrdecay.error"
PLATEAU_REDUCTIONS_TAG = "lrdecay.plateau_reductions"
# Written by earlier versions only.
LEGACY_TRIAL_STATUS_TAG = "lrdecay.trial_status"
LEGACY_KIND_TAG = "lrdecay.kind"


def run_status(tags: Mapping[str, str]) -> str | None:
    """The status lrdecay wrote on a run (a trial's: KerasTuner's), or `None`.

    A run of an older store holding `lrdecay.trial_status` gives that: its
    `lrdecay.status` there is the fit's end (FINISHED), not the trial's.
    """
    return tags.get(LEGACY_TRIAL_STATUS_TAG) or tags.get(STATUS_TAG)


def run_kind(params: Mapping[str, str], tags: Mapping[str, str]) -> str | None:
    """The run's decay kind: the param `decay_kind`, else an older store's tag."""
    return params.get(KIND_PARAM) or tags.get(LEGACY_KIND_TAG)

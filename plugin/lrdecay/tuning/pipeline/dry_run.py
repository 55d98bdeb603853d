"""What a search would do, worked out before it trains: `search_outline()`.

`lrdecay search --dry-run` and `lrdecay.search_outline(...)` check
everything a search checks before its first trial (the arguments, the data,
one model through the preflight, the project) and return a `SearchOutline`
instead of training: the trials, the epochs per trial, and the epochs the
trials would train with shared prefixes against independent fits. No
tuner, no project file and no MLflow run is created.

The epochs trained are those `SearchResult.cost.epochs_trained` counts after the
fact (`lrdecay.tuning.prefixes.branch`): per trunk (one per seed and initial rate)
its longest constant-rate prefix once, plus each trial's epochs after it
departs (`lrdecay.tuning.prefixes.prefix.departure_epoch`). A scheduled decay's
departure is known from its schedule; a plateau decay departs where the
control's own validation history triggers its first reduction, so a grid
with plateau decays gets a range: none of them departs (the least) or each
departs as early as its patience allows (the most). Random and Bayesian
searches sample their trials, and Hyperband sets its own: what they train
is known when they run.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from typing import Any

from lrdecay import defaults
from lrdecay.schedules import KIND_TABLE
from lrdecay.tuning.pipeline.identity import SearchIdentity, check_project
from lrdecay.tuning.pipeline.plan import SearchPlan
from lrdecay.tuning.pipeline.tuners import grid_size
from lrdecay.tuning.record import project_files
from lrdecay.tuning.searchspace.ranges import Setting
from lrdecay.tuning.searchspace.space import (
    CONTROL_KIND,
    INITIAL_LR_HP,
    KIND_HP,
    DecaySpace,
)

__all__ = [
    "SearchOutline",
    "checked_outline",
    "grid_points",
    "model_grid_factor",
    "outline",
]

# The rate the departures are read at: any positive rate departs alike.
_ANY_RATE = 0.1


@dataclasses.dataclass(frozen=True)
class SearchOutline:
    """The plan of a search, known before it trains (`search_outline()`).

    Attributes:
        algorithm: String. `"grid"`, `"random"`, `"hyperband"`, `"bayesian"`.
        trials: Int or `None`. Trials the search runs (`None`: Hyperband's
            brackets set them).
        space: String. What the trials try, per kind.
        epochs: Int. Epochs per trial (Hyperband's most).
        repeats: Int. Runs per trial, one seed each.
        epochs_independent: Int or `None`. Epochs of independent fits of
            every run (`None`: unknown until run).
        epochs_trained: `(least, most)` or `None`. Epochs the runs train with
            shared prefixes (`None`: unknown until run).
        trained_note: String or `None`. Why `epochs_trained` is a range or
            unknown.
        shares_prefix: Bool. Whether trials continue shared prefixes.
        project_name: String. The KerasTuner project and MLflow tag
            `lrdecay.search`.
        project_dir: String. KerasTuner's projects folder.
        exists: Bool. The project exists.
        overwrite: Bool. The search would start it afresh (else resume it).
        tracking_uri: String or `None` (untracked), redacted.
        experiment_name: String.
        seed: Int or `None` (picked when the search runs).
    """

    algorithm: str
    trials: int | None
    space: str
    epochs: int
    repeats: int
    epochs_independent: int | None
    epochs_trained: tuple[int, int] | None
    trained_note: str | None
    shares_prefix: bool
    project_name: str
    project_dir: str
    exists: bool
    overwrite: bool
    tracking_uri: str | None
    experiment_name: str
    seed: int | None

    def lines(self) -> list[str]:
        """The outline as the command prints it, one fact a line."""
        state = "new"
        if self.exists:
            state = "exists: " + (
                "the search would start it afresh (overwrite)"
                if self.overwrite
                else "the search would resume it"
            )
        tracking = (
            "off"
            if self.tracking_uri is None
            else f"{self.tracking_uri}, experiment {self.experiment_name!r}"
        )
        repeats = f" x {self.repeats} repeats" if self.repeats > 1 else ""
        return [
            f"search    {self.project_name} in {self.project_dir} ({state})",
            f"trials    {self._trials()}: {self.space}",
            f"epochs    {self._per_trial()} per trial{repeats}; {self._trained()}",
            f"tracking  {tracking}",
            "seed      "
            + ("picked when it runs" if self.seed is None else str(self.seed)),
            "Dry run: nothing trained, no project file or MLflow run created.",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _trials(self) -> str:
        if self.trials is None:
            return "set by Hyperband's brackets"
        if self.algorithm == "grid":
            return f"{self.trials}, grid"
        return f"{self.trials} at most, {self.algorithm}"

    def _per_trial(self) -> str:
        if self.algorithm == "hyperband":
            return f"at most {self.epochs}"
        return str(self.epochs)

    def _trained(self) -> str:
        """`N trained of M`, as the search's `epochs:` line says after the fact."""
        if self.epochs_trained is None:
            text = f"trained: unknown until run ({self.trained_note})"
            if self.epochs_independent is not None:
                text += f", at most {self.epochs_independent}"
            return text
        least, most = self.epochs_trained
        total = self.epochs_independent or 1
        if least == most:
            text = f"{least} trained of {total} ({least / total:.0%})"
        else:
            text = (
                f"{least} to {most} trained of {total} "
                f"({least / total:.0%} to {most / total:.0%})"
            )
        text += " with shared prefixes" if self.shares_prefix else " (not shared)"
        return text if self.trained_note is None else f"{text}: {self.trained_note}"


def checked_outline(
    plan: SearchPlan, build_model: Callable[..., Any], search_identity: SearchIdentity
) -> SearchOutline:
    """`search_outline()`'s last checks (project, tracking store), then the outline.

    `search()` has checked the arguments, read the data and passed one model
    through the preflight (`lrdecay.tuning.data.checks`) before it calls this.
    """
    from lrdecay.tracking.preflight import check_reachable
    from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel

    check_project(plan.project_path, search_identity, overwrite=plan.overwrite)
    if plan.tracking is not None:
        check_reachable(
            plan.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
            experiment_name=plan.experiment_name,
        )
    hypermodel = DecayHyperModel(build_model, plan.space, tracking=False)
    return outline(plan, grid_factor=model_grid_factor(hypermodel))


def outline(plan: SearchPlan, *, grid_factor: int | None = 1) -> SearchOutline:
    """The `SearchOutline` of a checked, named `plan`.

    Args:
        plan: `SearchPlan`. The search's plan, named after its identity.
        grid_factor: Int or `None`. The grid points the model's own
            hyperparameters add per decay setting (`None`: unknown). Defaults
            to `1`.
    """
    space = plan.space
    if plan.auto_initial_lr:
        # The rates come from the range test; the count and the departures
        # do not depend on them.
        space = space.with_initial_lr([_ANY_RATE * f for f in defaults.AUTO_LR_FACTORS])
    trials, independent, trained, note = _count(plan, space, grid_factor)
    seed = plan.seed if plan.seed_given else project_files.read_seed(plan.project_path)
    if plan.overwrite:
        seed = plan.seed if plan.seed_given else None
    return SearchOutline(
        algorithm=plan.algorithm,
        trials=trials,
        space=_describe(space),
        epochs=plan.epochs,
        repeats=plan.repeats,
        epochs_independent=independent,
        epochs_trained=trained,
        trained_note=note,
        shares_prefix=plan.shares_prefix,
        project_name=plan.project_name,
        project_dir=plan.project_dir,
        exists=os.path.exists(os.path.join(plan.project_path, "oracle.json")),
        overwrite=plan.overwrite,
        tracking_uri=_redacted(plan.tracking_uri) if plan.tracking else None,
        experiment_name=plan.experiment_name,
        seed=seed,
    )


def _count(
    plan: SearchPlan, space: DecaySpace, grid_factor: int | None
) -> tuple[int | None, int | None, tuple[int, int] | None, str | None]:
    """(trials, epochs independent, epochs trained (least, most), note)."""
    if plan.algorithm == "hyperband":
        return None, None, None, "Hyperband's trials run whole, at its budgets"
    size = grid_size(space)
    factor = grid_factor or 1
    if plan.algorithm != "grid" or size is None:
        trials = plan.max_trials or 10
        independent = trials * plan.epochs * plan.repeats
        return trials, independent, None, "sampled trials branch where they depart"
    points = _grid_points(space)
    trials = size * factor
    if plan.max_trials is not None and plan.max_trials < trials:
        # A cut grid: the first trials in KerasTuner's order, not counted here.
        trials = plan.max_trials
        return trials, trials * plan.epochs * plan.repeats, None, "a cut grid"
    independent = trials * plan.epochs * plan.repeats
    if not plan.shares_prefix:
        return trials, independent, (independent, independent), None
    least, most = _trained(space, points, plan.epochs)
    note = None
    if least != most:
        reacting = [kind for kind in space.kinds if KIND_TABLE[kind].plateau]
        note = (
            f"the {', '.join(reacting)} decays branch where the control's "
            "val_loss stalls, known when it runs"
        )
    if grid_factor is None:
        return trials, independent, None, "the model's own hyperparameters"
    scale = plan.repeats * factor
    return trials, independent, (least * scale, most * scale), note


def _trained(
    space: DecaySpace, points: list[dict[str, Any]], epochs: int
) -> tuple[int, int]:
    """Epochs one seed's trials train with shared prefixes: (least, most).

    Per trunk (one per initial rate): its longest prefix once, plus each
    trial's epochs after its departure (`epochs - departure`, 0 for a trial
    that never departs).
    """
    from lrdecay.callbacks import DECAYS
    from lrdecay.tuning.prefixes.prefix import departure_epoch

    trunks: dict[Any, list[tuple[int, int]]] = {}
    for values in points:
        resolved = space.resolve(values, epochs)
        rate = resolved.initial_lr or _ANY_RATE
        if resolved.kind == CONTROL_KIND:
            latest = earliest = epochs
        elif KIND_TABLE[resolved.kind].plateau:
            patience = int(resolved.settings["patience"])
            # Never reduced (the trunk's whole fit), or reduced at once.
            latest, earliest = epochs, min(epochs, patience + 1)
        else:
            decay_class: Any = DECAYS[resolved.kind]
            decay = decay_class(initial_lr=rate, **resolved.settings)
            departs = departure_epoch(decay, epochs, rate)
            latest = earliest = epochs if departs is None else departs
        trunks.setdefault(rate, []).append((latest, earliest))
    least = most = 0
    for departures in trunks.values():
        least += max(d for d, _ in departures) + sum(epochs - d for d, _ in departures)
        most += max(d for _, d in departures) + sum(epochs - d for _, d in departures)
    return least, most


def _grid_points(space: DecaySpace) -> list[dict[str, Any]]:
    """Every grid point of `space`: the hyperparameter values of each trial."""
    rates: list[Any] = [None] if space.initial_lr is None else _values(space.initial_lr)
    points: list[dict[str, Any]] = []
    if space.control:
        points += [_with_rate({KIND_HP: CONTROL_KIND}, rate) for rate in rates]
    for kind in space.kinds:
        axes = [
            (name, _values(setting))
            for name, setting in space.kind_settings(kind).items()
        ]
        names = [name for name, _ in axes]
        for combination in itertools.product(*(values for _, values in axes)):
            for rate in rates:
                values = {KIND_HP: kind, **dict(zip(names, combination, strict=True))}
                points.append(_with_rate(values, rate))
    return points


def _with_rate(values: dict[str, Any], rate: Any) -> dict[str, Any]:
    return values if rate is None else {**values, INITIAL_LR_HP: rate}


def _values(setting: Setting) -> list[Any]:
    """A grid's values; an integer range's (or a stepped one's) every value."""
    if setting.range is None:
        return list(setting.values)
    r = setting.range
    step = r.step or 1
    count = int((r.high - r.low) / step + 1e-9) + 1
    return [r.low + i * step for i in range(count)]


def _describe(space: DecaySpace) -> str:
    """Per kind, what its decay epochs are: `step epochs_drop 5, 10, 20, 30`."""
    parts = [f"{CONTROL_KIND} (the control)"] if space.control else []
    for kind in space.kinds:
        # The decay epochs, or the kind's rate when it was searched instead.
        hp_name, setting = next(iter(space.kind_settings(kind).items()))
        parts.append(f"{kind} {hp_name.split('/', 1)[1]} {_setting(setting)}")
    text = "; ".join(parts)
    if space.initial_lr is not None:
        text += f"; initial_lr {_setting(space.initial_lr)}"
    return text


def _setting(setting: Setting) -> str:
    if setting.range is None:
        return ", ".join(f"{value:g}" for value in setting.values)
    r = setting.range
    step = "" if r.step is None else f" step {r.step:g}"
    return f"{r.low:g} to {r.high:g}{step}"


def model_grid_factor(hypermodel: Any) -> int | None:
    """The grid points a model's own hyperparameters add per decay setting.

    Builds one model from `hypermodel` (a `DecayHyperModel`) on fresh
    hyperparameters and counts those that are not the decay's.
    """
    import keras
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    decay_names = {parameter.name for parameter in _declared(hypermodel.space)}
    hypermodel.build(hp)
    keras.backend.clear_session()
    return grid_points([p for p in hp.space if p.name not in decay_names])


def _declared(space: DecaySpace) -> list[Any]:
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    return list(hp.space)


def grid_points(hyperparameters: list[Any]) -> int | None:
    """How many grid points KerasTuner's grid search walks over these.

    The product of each hyperparameter's number of values (`hp.values`, as
    `GridSearchOracle` walks them); `None` when one is conditional (only
    some combinations are active).
    """
    total = 1
    for hyperparameter in hyperparameters:
        if getattr(hyperparameter, "conditions", None):
            return None
        try:
            total *= len(tuple(hyperparameter.values))
        except (AttributeError, TypeError):
            return None
    return total


def _redacted(uri: str | None) -> str:
    from lrdecay.tracking.credentials import redact
    from lrdecay.tracking.preflight import MLFLOW_DEFAULT_URI

    shown = uri or os.environ.get("MLFLOW_TRACKING_URI") or MLFLOW_DEFAULT_URI
    return str(redact(shown))

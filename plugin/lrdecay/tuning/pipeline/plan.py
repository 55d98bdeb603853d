"""The checked settings of a `search()`, with the defaults filled in.

`make_plan` checks every argument before anything trains or any MLflow run
exists, and fills in what depends on other arguments: the experiment, the
project name `lrdecay.defaults.project_name` gives the search's settings
(the same as the command line's, so either resumes the other's search), and
the seed. `with_identity` then names the project after the settings, the
data and the model (`lrdecay.tuning.pipeline.identity`), once the runner has built
the model once.

The seed: a search always has one. The user's, else the one a resumed
search recorded in its project directory (`project_files.read_seed`), else a new one
from the operating system's randomness (`pick_seed`). Execution `i` of every
trial is seeded with `execution_seed(seed, i)` = `seed + i`: a function of the
seed and the execution only, so every setting (and the constant-rate control)
starts from the same initial weights and sees the same data order, and the
differences between settings are the settings' (common random numbers).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import warnings
from collections.abc import Mapping
from typing import Any

from lrdecay import defaults
from lrdecay._validation import (
    check_bool,
    check_choice,
    check_positive_int,
    check_seed,
)
from lrdecay.tuning.pipeline.identity import SearchIdentity
from lrdecay.tuning.record import project_files
from lrdecay.tuning.record import runs as layout
from lrdecay.tuning.searchspace.budget import fit_to_budget
from lrdecay.tuning.searchspace.space import DecaySpace


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """A search's checked settings, shared by its steps.

    Frozen: a step that learns something (the range test's rates, the
    chief's seed) returns a new plan (`dataclasses.replace`).
    """

    algorithm: str
    space: DecaySpace
    epochs: int
    max_trials: int | None
    objective: Any
    batch_size: int | None
    seed: int | None
    project_dir: str
    project_name: str
    overwrite: bool
    tracking: dict[str, Any] | None
    experiment_name: str
    executions_per_trial: int
    tuner_kwargs: dict[str, Any]
    control: bool = True
    # Whether the user gave the seed (else it was picked or read back).
    seed_given: bool = True
    # `initial_lr="auto"`: the LR range test sets the space's initial rates.
    auto_initial_lr: bool = False
    # Branch trials from stored constant-rate trunks (`lrdecay.tuning.prefixes.branch`).
    share_prefix: bool = defaults.SHARE_PREFIX
    # The settings `defaults.project_name` hashes (the search's identity
    # without its data and model: `lrdecay.tuning.pipeline.identity`).
    identity_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Whether the user named the project (else its name is derived).
    project_name_given: bool = True
    # The data's and the model's digests (`with_identity`), parent params.
    content: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def shares_prefix(self) -> bool:
        """Whether trials continue stored trunks: asked for, and not Hyperband.

        Hyperband continues trials from their own checkpoints with
        `initial_epoch`; its trials run whole.
        """
        return self.share_prefix and self.algorithm != "hyperband"

    @property
    def repeats(self) -> int:
        """Runs per setting, one seed each (KerasTuner's executions)."""
        return self.executions_per_trial

    @property
    def project_path(self) -> str:
        return os.path.join(self.project_dir, self.project_name)

    @property
    def tracking_uri(self) -> str | None:
        return None if self.tracking is None else self.tracking.get("tracking_uri")

    def settings(self) -> dict[str, Any]:
        """The settings the parent run records."""
        return {
            "algorithm": self.algorithm,
            "epochs": self.epochs,
            "max_trials": self.max_trials,
            "objective": str(self.objective),
            "batch_size": self.batch_size,
            "seed": self.seed,
            # Once, by the name the command line and the README use
            # (`executions_per_trial` is KerasTuner's name of the same).
            "repeats": self.repeats,
            "control": self.control,
            "share_prefix": self.shares_prefix,
            "project_name": self.project_name,
            **{f"{key}_digest": value for key, value in self.content.items()},
            **{f"tuner.{key}": value for key, value in self.tuner_kwargs.items()},
        }


def make_plan(
    *,
    algorithm: Any,
    kinds: Any,
    decay_epochs: Any,
    space: DecaySpace | None,
    initial_lr: Any,
    tracking: Any,
    tracking_uri: str | None,
    experiment_name: str | None,
    project_name: str | None,
    project_dir: Any,
    **settings: Any,
) -> SearchPlan:
    """Check the arguments; fill in the defaults that depend on others.

    `settings` may hold `control` (default `True`), `share_prefix` (default
    `True`) and `repeats` (default `None`: `executions_per_trial`, itself
    `1` by default).
    """
    check_choice("algorithm", algorithm, defaults.ALGORITHMS)
    share_prefix = settings.pop("share_prefix", defaults.SHARE_PREFIX)
    check_bool("share_prefix", share_prefix)
    control = _check_counts(settings)
    if space is None:
        budgeted = fit_to_budget(decay_epochs, settings["epochs"], algorithm)
        if budgeted.note is not None:
            # At the line that called `search()`.
            warnings.warn(budgeted.note, UserWarning, stacklevel=3)
        decay_epochs = budgeted.decay_epochs
    given_space = space
    auto_initial_lr = (
        isinstance(initial_lr, str) and initial_lr == defaults.AUTO_INITIAL_LR
    )
    space = _space(space, kinds, decay_epochs, initial_lr, control, auto_initial_lr)
    space.check_budget(settings["epochs"])
    if algorithm == "hyperband" and settings["max_trials"] is not None:
        raise ValueError(
            "Hyperband sets its own number of trials from `epochs` and "
            "`factor`; leave `max_trials` unset. "
            f"Received: max_trials={settings['max_trials']!r}"
        )
    options, experiment_name = _tracking(tracking, tracking_uri, experiment_name)
    identity = _identity(
        algorithm, given_space, settings, kinds, decay_epochs, initial_lr
    )
    identity["control"] = control
    identity["repeats"] = settings["executions_per_trial"]
    project_name_given = project_name is not None
    if project_name is None:
        project_name = defaults.project_name(identity)
    project_dir = os.fspath(project_dir)
    seed_given = settings["seed"] is not None
    if not seed_given:
        settings["seed"] = _resolved_seed(
            settings["overwrite"], os.path.join(project_dir, project_name)
        )
    return SearchPlan(
        algorithm=algorithm,
        space=space,
        project_dir=project_dir,
        project_name=project_name,
        tracking=options,
        experiment_name=experiment_name,
        control=control,
        seed_given=seed_given,
        auto_initial_lr=auto_initial_lr,
        share_prefix=bool(share_prefix),
        identity_settings=identity,
        project_name_given=project_name_given,
        **settings,
    )


def with_identity(
    plan: SearchPlan,
    identity: SearchIdentity,
    data_identity: Mapping[str, Any] | None = None,
) -> SearchPlan:
    """`plan` named after its settings, data and model, unless the user named it.

    The derived name (`SearchIdentity.project_name(data_identity)`) hashes
    the data's and the model's digests beside the settings (and
    `data_identity`, whose `"name"` names the data); a seed the user did not
    give is the one the project so named recorded, if any.
    """
    if plan.project_name_given:
        return dataclasses.replace(plan, content=identity.content)
    project_name = identity.project_name(data_identity)
    seed = plan.seed
    if not plan.seed_given:
        seed = _resolved_seed(
            plan.overwrite, os.path.join(plan.project_dir, project_name)
        )
    return dataclasses.replace(
        plan, project_name=project_name, seed=seed, content=identity.content
    )


def _resolved_seed(overwrite: bool, project_path: str) -> int:
    """The seed a resumed project recorded, else a new one."""
    recorded = None if overwrite else project_files.read_seed(project_path)
    return pick_seed() if recorded is None else recorded


def _check_counts(settings: dict[str, Any]) -> bool:
    """Check the counts and the seed; fold `repeats` in; return `control`.

    Pops `control` and `repeats` from `settings` and sets
    `executions_per_trial` (`repeats` when given, else `1` by default).
    """
    check_positive_int("epochs", settings["epochs"])
    check_positive_int("max_trials", settings["max_trials"], allow_none=True)
    settings.setdefault("executions_per_trial", 1)
    check_positive_int("executions_per_trial", settings["executions_per_trial"])
    control = settings.pop("control", True)
    check_bool("control", control)
    repeats = settings.pop("repeats", None)
    check_positive_int("repeats", repeats, allow_none=True)
    if repeats is not None:
        if settings["executions_per_trial"] not in (1, repeats):
            raise ValueError(
                "Arguments `repeats` and `executions_per_trial` name the same "
                "thing (runs per setting); give one. Received: "
                f"repeats={repeats!r}, "
                f"executions_per_trial={settings['executions_per_trial']!r}"
            )
        settings["executions_per_trial"] = repeats
    check_seed("seed", settings["seed"])
    if (
        settings["seed"] is not None
        and settings["seed"] + settings["executions_per_trial"] > 2**32
    ):
        raise ValueError(
            "Argument `seed` leaves no room for one seed per repeat "
            "(`seed + repeat` must stay below 2**32). "
            f"Received: seed={settings['seed']!r}"
        )
    return bool(control)


def _space(
    space: DecaySpace | None,
    kinds: Any,
    decay_epochs: Any,
    initial_lr: Any,
    control: bool,
    auto_initial_lr: bool,
) -> DecaySpace:
    """The space searched: the caller's (checked), else one of the arguments."""
    if space is None:
        return DecaySpace(
            kinds,
            decay_epochs,
            initial_lr=None if auto_initial_lr else initial_lr,
            control=control,
        )
    if not isinstance(space, DecaySpace):
        raise TypeError(
            "Argument `space` must be an lrdecay.tuning.searchspace.space.DecaySpace. "
            f"Received: space={space!r}"
        )
    if auto_initial_lr and space.initial_lr is not None:
        raise ValueError(
            'Argument `initial_lr="auto"` searches the rates the LR range '
            "test suggests, but `space` already searches `initial_lr`. "
            f"Received: space.initial_lr={space.initial_lr.describe()!r}"
        )
    return space.with_control(control)


def _tracking(
    tracking: Any, tracking_uri: str | None, experiment_name: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The tracking options (`None`: untracked) and the experiment's name.

    `tracking_uri` and `experiment_name` go into the options, and must not
    contradict them; the experiment defaults to `MLFLOW_EXPERIMENT_NAME`,
    else `lrdecay.defaults.EXPERIMENT`.
    """
    options = layout.tracking_options(tracking)
    if options is not None:
        for name, value in (
            ("tracking_uri", tracking_uri),
            ("experiment_name", experiment_name),
        ):
            if value is not None and options.get(name, value) != value:
                raise ValueError(
                    f"Arguments `{name}` and `tracking` name different "
                    f"values. Received: {name}={value!r}, tracking={tracking!r}"
                )
            if value is not None:
                options[name] = value
        experiment_name = options.get("experiment_name")
    experiment_name = (
        experiment_name
        or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        or defaults.EXPERIMENT
    )
    if options is not None:
        options["experiment_name"] = experiment_name
    return options, experiment_name


def pick_seed() -> int:
    """A new search seed from the operating system's randomness, in [0, 2**31)."""
    return secrets.randbelow(2**31)


def execution_seed(seed: int, execution: int) -> int:
    """The seed of execution `execution` (from 0) of every trial: `seed + execution`.

    The same for every setting of the search, so that settings differ only
    in their settings (common random numbers); repeats differ in their seed.
    """
    return int(seed) + int(execution)


def _identity(
    algorithm: str,
    space: DecaySpace | None,
    settings: Mapping[str, Any],
    kinds: Any,
    decay_epochs: Any,
    initial_lr: Any,
) -> dict[str, Any]:
    """The settings `defaults.project_name` hashes, as the command line has them.

    A `space` of the caller's own (`space`, else `None`) stands for the
    kinds, decay epochs and initial rate it overrides.
    """
    if space is not None:
        config = space.get_config()
        kinds, decay_epochs = config["kinds"], config
        if initial_lr != defaults.AUTO_INITIAL_LR:
            initial_lr = config["initial_lr"]
    return {
        "algorithm": algorithm,
        "kinds": tuple(kinds),
        "decay_epochs": decay_epochs,
        "initial_lr": initial_lr,
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "objective": settings["objective"],
        "seed": settings["seed"],
    }


def check_data(
    plan: SearchPlan,
    validation_data: Any,
    validation_split: float | None,
    progress: Any,
) -> None:
    objective = plan.objective
    if (
        isinstance(objective, str)
        and objective.startswith("val_")
        and validation_data is None
        and not validation_split
    ):
        raise ValueError(
            f"The objective {objective!r} needs validation data: pass "
            "`validation_data=` or `validation_split=`, or choose an objective "
            "without 'val_'. Received: validation_data=None, "
            f"validation_split={validation_split!r}"
        )
    if progress is not None and not callable(progress):
        raise TypeError(
            f"Argument `progress` must be callable. Received: progress={progress!r}"
        )

"""What a search is: its settings, its data and its model.

A search's identity (`SearchIdentity`) is the settings that change what a
trial means (`lrdecay.defaults.project_name`'s), a digest of the data it
trains and validates on (`digest_data`) and a digest of the model
`build_model` returns (`digest_model`: the architecture and the optimizer's
class and config). The project name hashes it, so other data or another
model is another project and another MLflow parent run, never the old
trials; the same call again resumes. The project directory keeps the
identity's digest (`lrdecay.tuning.record.project_files.write_identity`), so an explicit
`project_name` that holds another search is found out before anything
trains (`check_project`).

Both digests are stable across builds in one process and across processes:
Keras numbers the layers of every model it builds (`dense`, `dense_1`, ...),
so the model's config is read with its names replaced by their order of
appearance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from lrdecay import defaults
from lrdecay.tuning.pipeline import variant
from lrdecay.tuning.record import project_files


@dataclasses.dataclass(frozen=True)
class SearchIdentity:
    """A search's settings, data digest and model digest.

    Attributes:
        settings: Dict. The settings `lrdecay.defaults.project_name` hashes.
        data: String. The data's digest (`digest_data`, or the caller's).
        model: String. The model's digest (`digest_model`).
    """

    settings: Mapping[str, Any]
    data: str
    model: str

    @property
    def content(self) -> dict[str, str]:
        """The digests beside the settings: `{"data": ..., "model": ...}`."""
        return {"data": self.data, "model": self.model}

    def digest(self) -> str:
        """One hex digest of the whole identity (kept in the project)."""
        return defaults.identity_digest(self.settings, content=self.content)

    def project_name(self, data_identity: Mapping[str, Any] | None = None) -> str:
        """The default project name: `lrdecay.defaults.project_name` of it."""
        return defaults.project_name(self.settings, data_identity, content=self.content)


def identify(
    settings: Mapping[str, Any],
    build_model: Callable[..., Any],
    x: Any,
    y: Any = None,
    validation_data: Any = None,
    validation_split: float | None = None,
    *,
    data_digest: str | None = None,
    seed: int | None = None,
) -> SearchIdentity:
    """The identity of a search of `build_model` on this data.

    Args:
        settings: Mapping. The search's settings, as
            `lrdecay.defaults.project_name` takes them.
        build_model: The search's model-building function.
        x, y, validation_data, validation_split: The data, as `search()`
            takes them.
        data_digest: String or `None`. The data's digest when the caller
            has one (`search()`'s normalized inputs); else the digest
            `lrdecay.tuning.data.normalize_data.normalize` gives `x`, `y`,
            `validation_data` and `validation_split`.
        seed: Int or `None`. Seeds the one model built (`default_model`).

    Returns:
        A `SearchIdentity`.
    """
    if data_digest is None:
        data_digest = digest_data(
            x,
            y,
            validation_data,
            validation_split,
            batch_size=settings.get("batch_size"),
            epochs=int(settings.get("epochs") or 1),
        )
    return SearchIdentity(
        settings=dict(settings),
        data=data_digest,
        model=digest_model(default_model(build_model, seed)),
    )


def digest_data(
    x: Any,
    y: Any = None,
    validation_data: Any = None,
    validation_split: float | None = None,
    *,
    batch_size: int | None = None,
    epochs: int = 1,
) -> str:
    """A hex digest of training and validation data: `search()`'s own.

    The digest of the data as `search()` reads them
    (`lrdecay.tuning.data.normalize_data.normalize(...).digest()`): arrays (and dicts,
    lists and tuples of them) by their shapes, dtypes and values, a
    pipeline by what it holds (the same for a pipeline that only shuffles,
    run after run), a pipeline that cannot be read exactly by its kind and
    spec.

    Example:

    ```python
    digest_data(x_train, y_train, (x_val, y_val))  # '3f2a9c1e...'
    ```
    """
    from lrdecay.tuning.data import normalize_data

    return normalize_data.normalize(
        x,
        y,
        validation_data=validation_data,
        validation_split=validation_split,
        batch_size=batch_size,
        epochs=epochs,
        fit_kwargs={},
    ).digest()


def default_model(build_model: Callable[..., Any], seed: int | None = None) -> Any:
    """One model from `build_model` with default hyperparameters.

    Built as a trial's is (`DecayHyperModel.build` on a fresh
    `keras_tuner.HyperParameters()`), after `keras.utils.set_random_seed`
    when `seed` is given; then `keras.backend.clear_session()`, which
    KerasTuner calls before every trial anyway.
    """
    import keras
    import keras_tuner

    from lrdecay.tuning.pipeline.hypermodel import DecayHyperModel

    if seed is not None:
        keras.utils.set_random_seed(seed)
    try:
        return DecayHyperModel(build_model, tracking=False).build(
            keras_tuner.HyperParameters()
        )
    finally:
        keras.backend.clear_session()


def digest_model(model: Any) -> str:
    """A hex digest of a model's architecture and optimizer.

    The architecture is `model.get_config()` with the names of the model
    and its layers replaced by their order of appearance (Keras numbers
    auto-named layers per process: `dense_3`), plus the weights' shapes and
    dtypes; a model without a config (a subclass that does not implement
    `get_config`) is described by its class and its layers' classes. The
    optimizer is its class and `get_config()` without its `name`; the loss
    (and its weights) from the model's compile config, where it has one.
    Metrics are left out: they watch training without changing it.
    """
    try:
        architecture: Any = _without_names(model.get_config())
    except Exception:
        architecture = {
            "class": _qualified(model),
            "layers": [_qualified(layer) for layer in getattr(model, "layers", ())],
        }
    weights = [
        [list(weight.shape), str(weight.dtype)]
        for weight in getattr(model, "weights", ())
    ]
    optimizer = getattr(model, "optimizer", None)
    optimizer_config = None
    if optimizer is not None:
        try:
            config = dict(optimizer.get_config())
        except Exception:
            config = {}
        config.pop("name", None)
        optimizer_config = {"class": _qualified(optimizer), "config": config}
    compiled = None
    try:
        compile_config = model.get_compile_config()
    except Exception:
        compile_config = None
    if isinstance(compile_config, Mapping):
        # What training minimizes; metrics only watch it.
        compiled = {key: compile_config.get(key) for key in _TRAINING_COMPILE_KEYS}
    return _sha1(
        {
            "architecture": architecture,
            "weights": weights,
            "optimizer": optimizer_config,
            "compile": compiled,
        }
    )


# The compile arguments that change what training does.
_TRAINING_COMPILE_KEYS = ("loss", "loss_weights")


def _qualified(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _without_names(config: Any) -> Any:
    """`config` with every object name replaced by `name_<i>`, in order.

    An object's name is the `"name"` of a dict with more keys than it (a
    model's or a layer's config); a dict holding only a name is a value (a
    dtype policy such as `{"name": "float32"}`) and keeps it. Every string
    equal to a name (the layer references of a functional model's nodes)
    is replaced too.
    """
    names: dict[str, str] = {}

    def collect(value: Any) -> None:
        if isinstance(value, Mapping):
            name = value.get("name")
            if isinstance(name, str) and len(value) > 1 and name not in names:
                names[name] = f"name_{len(names)}"
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)

    def replace(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [replace(item) for item in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    collect(config)
    return replace(config)


def _sha1(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def check_project(
    project_path: str,
    identity: SearchIdentity,
    *,
    overwrite: bool,
    arguments: tuple[str, str] | None = None,
) -> None:
    """Stop when the project holds another search than `identity`.

    A project without a recorded identity (new, or from an older lrdecay)
    passes; the search records its own (`project_files.write_identity`) once the
    tuner has its project.

    Args:
        project_path: String. The KerasTuner project directory.
        identity: `SearchIdentity`. The search about to run.
        overwrite: Bool. The search starts the project afresh: nothing to
            check.
        arguments: The names of the project-name argument and of the fix, as
            the caller's user writes them (the command line's flags).
            Defaults to `search()`'s (`project_name`,
            `tuner_options={"overwrite": True}`), or those of the search
            variant running (`variant.SearchVariant.overwrite_argument`).

    Raises:
        ValueError: When the project records another identity and
            `overwrite` is false: resuming would mix another search's trials
            (other data, model or settings) into this one.
    """
    if overwrite:
        return
    digest = identity.digest()
    recorded = project_files.read_identity(project_path)
    if recorded is None or recorded == digest:
        return
    if arguments is None:
        searched_as = variant.current()
        fix = (
            variant.OVERWRITE_ARGUMENT
            if searched_as is None
            else searched_as.overwrite_argument
        )
        arguments = ("project_name", fix)
    name_argument, fix = arguments
    project_dir, project_name = os.path.split(os.path.normpath(project_path))
    raise ValueError(
        f"The project {project_name!r} in {project_dir!r} holds another search "
        f"(identity {recorded[:12]}) than this one ({digest[:12]}): other "
        f"data, another model or other settings. Pass {fix} to start this "
        "search there afresh (the other one's trials are deleted), or "
        f"another {name_argument}. Received: {name_argument}={project_name!r}"
    )

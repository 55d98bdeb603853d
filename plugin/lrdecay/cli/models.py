"""Models for `lrdecay search`: the default one, and the user's `module:function`.

The default is a small dense network for a `Dataset` (one hidden layer, SGD);
a user's own builder is named as `module:function` (or
`path/to/file.py:function`) and gets the arguments it asks for. Keras is
imported when a model is built, so a bad spec is reported before TensorFlow
loads.

Example:

```python
from lrdecay.cli import data, models

dataset = data.load_dataset("houses.csv", target="price")
build = models.default_model_builder(dataset)
model = build()         # a compiled keras.Model
```
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrdecay.cli.dataset import DataError, Dataset


def default_model_builder(
    dataset: Dataset, units: int = 32, learning_rate: float = 0.1
) -> Callable[[], Any]:
    """A builder of a small dense Keras model for `dataset`.

    One hidden `Dense(units, relu)` layer; softmax output and sparse
    categorical cross-entropy (plus accuracy) for classification, a linear
    output and mean squared error (plus mean absolute error) for regression;
    SGD at `learning_rate`, which the decay then changes.

    Args:
        dataset: `Dataset`. Gives the input shape, task and output count.
        units: Int. Width of the hidden layer. Defaults to `32`.
        learning_rate: Float. The SGD rate the model is compiled with.
            Defaults to `0.1`.
    """
    input_shape = dataset.input_shape
    task = dataset.task
    num_outputs = dataset.num_outputs

    def build_model() -> Any:
        import keras

        layers: list[Any] = [keras.Input(input_shape)]
        if len(input_shape) > 1:
            layers.append(keras.layers.Flatten())
        layers.append(keras.layers.Dense(units, activation="relu"))
        if task == "classification":
            layers.append(keras.layers.Dense(num_outputs, activation="softmax"))
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        else:
            layers.append(keras.layers.Dense(1))
            loss, metrics = "mean_squared_error", ["mean_absolute_error"]
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
            loss=loss,
            metrics=metrics,
        )
        return model

    return build_model


# Keyword arguments a user's `module:function` model builder may declare.
MODEL_BUILDER_ARGUMENTS = ("hp", "input_shape", "num_outputs", "task")


def load_model_builder(spec: str, dataset: Dataset) -> Callable[[Any], Any]:
    """Resolve `module:function` (or `path/to/file.py:function`) to a builder.

    The function returns a compiled Keras model. It may take any of the
    keyword arguments `hp` (KerasTuner's HyperParameters, to search more than
    the decay), `input_shape`, `num_outputs` (classes, or 1) and `task`;
    it gets the ones it names. The current directory is importable, as
    for `python -m`.

    Raises:
        DataError: The spec is malformed, the module cannot be imported, the
            function is missing or not callable, or it asks for an argument
            not in the list above.
    """
    module_name, function_name = _split_spec(spec)
    module = _import_user_module(module_name, spec)
    function = getattr(module, function_name, None)
    if function is None:
        raise DataError(
            f"--model {spec!r}: module {module_name!r} has no attribute "
            f"{function_name!r}."
        )
    if not callable(function):
        raise DataError(
            f"--model {spec!r}: {function_name!r} is not a function "
            f"(it is a {type(function).__name__})."
        )
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    takes_kwargs = any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        for parameter in parameters.values()
    )
    unknown = [
        name
        for name, parameter in parameters.items()
        if name not in MODEL_BUILDER_ARGUMENTS
        and parameter.default is inspect.Parameter.empty
        and parameter.kind
        not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if unknown:
        raise DataError(
            f"--model {spec!r}: the function takes {unknown[0]!r}, but lrdecay "
            f"can only pass {', '.join(MODEL_BUILDER_ARGUMENTS)}."
        )
    available = {
        "input_shape": dataset.input_shape,
        "num_outputs": dataset.num_outputs,
        "task": dataset.task,
    }
    wanted = [
        name for name in MODEL_BUILDER_ARGUMENTS if takes_kwargs or name in parameters
    ]

    def build_model(hp: Any) -> Any:
        kwargs = {name: available.get(name, hp) for name in wanted}
        return function(**kwargs)

    build_model.__name__ = getattr(function, "__name__", "build_model")
    build_model.__qualname__ = build_model.__name__
    return build_model


def check_model_spec(spec: str) -> None:
    """Check `module:function` without running the module (no Keras loads).

    The file (or the module's source) must exist and bind `function` at its
    top level: a `def`, a class, an assignment or an import of that name.
    A module whose names cannot be read from its source (`from x import *`,
    a module `__getattr__`, no Python source) passes; `load_model_builder`
    checks it when it imports it.

    Raises:
        DataError: The spec is malformed, the file or module does not
            exist, its source does not parse, or it has no such name.
    """
    module_name, function_name = _split_spec(spec)
    if _is_path(module_name):
        path = Path(module_name)
        if not path.is_file():
            raise DataError(f"--model {spec!r}: file {module_name!r} not found.")
        source_path: str | None = str(path)
    else:
        source_path = _module_source(module_name, spec)
    if source_path is None:
        return
    try:
        with open(source_path, "rb") as file:
            tree = ast.parse(file.read(), filename=source_path)
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(
            f"--model {spec!r}: importing {module_name!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    names = _top_level_names(tree.body)
    if names is None or function_name in names:
        return
    raise DataError(
        f"--model {spec!r}: module {module_name!r} has no attribute {function_name!r}."
    )


def _split_spec(spec: str) -> tuple[str, str]:
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise DataError(
            f"--model must look like module:function or path/file.py:function. "
            f"Received: {spec!r}"
        )
    return module_name, function_name


def _is_path(module_name: str) -> bool:
    return module_name.endswith(".py") or os.sep in module_name or "/" in module_name


def _module_source(module_name: str, spec: str) -> str | None:
    """The source file of `module_name`, found as `import` would (from the
    current directory too), without running it; `None`: no Python source.
    A dotted name runs its parent packages, as `find_spec` must."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as error:
        found, reason = None, f" ({error})"
    else:
        reason = ""
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    if found is None:
        raise DataError(
            f"--model {spec!r}: cannot import module {module_name!r}{reason}; "
            "run from the directory that holds it, or give a path to the file."
        )
    origin = found.origin
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        return None
    return origin


def _top_level_names(body: list[ast.stmt]) -> set[str] | None:
    """The names a module's statements bind at its top level (into `if`,
    `try`, `with` and loops); `None` when they cannot be known."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.Match):
            return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(
                    sub.id for sub in ast.walk(target) if isinstance(sub, ast.Name)
                )
        for block in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, block, None)
            if isinstance(inner, list):
                statements = [
                    statement
                    for item in inner
                    for statement in (
                        item.body if isinstance(item, ast.ExceptHandler) else [item]
                    )
                ]
                found = _top_level_names(statements)
                if found is None:
                    return None
                names |= found
        names.update(
            sub.target.id
            for sub in ast.walk(node)
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name)
        )
    return names


def _import_user_module(module_name: str, spec: str) -> Any:
    if _is_path(module_name):
        path = Path(module_name)
        if not path.is_file():
            raise DataError(f"--model {spec!r}: file {module_name!r} not found.")
        import_spec = importlib.util.spec_from_file_location(path.stem, path)
        if import_spec is None or import_spec.loader is None:
            raise DataError(f"--model {spec!r}: cannot import {module_name!r}.")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[path.stem] = module
        try:
            import_spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[path.stem]
            raise DataError(
                f"--model {spec!r}: importing {module_name!r} failed: "
                f"{type(error).__name__}: {error}"
            ) from None
        return module
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise DataError(
            f"--model {spec!r}: cannot import module {module_name!r} ({error}); "
            "run from the directory that holds it, or give a path to the file."
        ) from None
    except Exception as error:
        raise DataError(
            f"--model {spec!r}: importing {module_name!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def check_model(build_model: Callable[[Any], Any], dataset: Dataset) -> list[Any]:
    """Build the user's model once and check it fits `dataset`'s task.

    Runs before any MLflow run or tuner project exists, so that a model the
    search cannot train is one line, not a search of failed trials. The
    model must be a compiled `keras.Model` taking the data's samples, with
    one output whose last dimension is the number of classes (or 1, for two
    classes with a sigmoid) or 1 for regression.

    Args:
        build_model: Callable. The builder `load_model_builder` returned.
        dataset: `Dataset`. What the search trains on.

    Returns:
        The model's own hyperparameters (KerasTuner `HyperParameter`s it
        declared on a fresh `HyperParameters`), which the search tries on top
        of the decay's.

    Raises:
        DataError: Naming what is wrong: not a Keras model, not compiled, an
            input it cannot take, or an output of the wrong shape.
    """
    import keras
    import keras_tuner

    name = getattr(build_model, "__name__", "build_model")
    hp = keras_tuner.HyperParameters()
    try:
        model = build_model(hp)
    except Exception as error:
        raise DataError(
            f"--model: {name}() failed: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(model, keras.Model):
        raise DataError(
            f"--model: {name}() returned a {type(model).__name__}, not a Keras model."
        )
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise DataError(
            f"--model: {name}() returned a model that is not compiled; call "
            "model.compile(optimizer=..., loss=...) before returning it."
        )
    sample = dataset.x_train[:2]
    try:
        output = model(sample, training=False)
    except Exception as error:
        raise DataError(
            f"--model: the model of {name}() cannot take samples of shape "
            f"{dataset.input_shape}: {type(error).__name__}: {error}"
        ) from None
    if isinstance(output, (list, tuple, dict)):
        raise DataError(
            f"--model: the model of {name}() has {len(output)} outputs; "
            "lrdecay search trains models with one."
        )
    shape = tuple(output.shape)
    expected = dataset.num_outputs
    allowed = {expected}
    if dataset.task == "classification" and expected == 2:
        allowed.add(1)  # one sigmoid unit for two classes
    if len(shape) < 2 or shape[-1] not in allowed:
        what = (
            f"{expected} classes"
            if dataset.task == "classification"
            else "a regression target"
        )
        raise DataError(
            f"--model: the model of {name}() outputs shape {shape[1:]}, but "
            f"{dataset.name} has {what}: its last layer needs {expected} "
            f"unit{'s' if expected != 1 else ''}."
        )
    return list(hp.space)


def grid_points(hyperparameters: list[Any]) -> int | None:
    """How many grid points KerasTuner's grid search walks over these.

    `lrdecay.tuning.pipeline.dry_run.grid_points`: the product of each one's number
    of values, `None` when one is conditional.
    """
    from lrdecay.tuning.pipeline.dry_run import grid_points as count

    return count(hyperparameters)

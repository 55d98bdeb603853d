"""The layout of the package: small modules and functions, the tuning map."""

import ast
import pathlib

import lrdecay
from lrdecay import tuning

PACKAGE = pathlib.Path(lrdecay.__file__).parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_over_500_lines():
    long = {
        p.relative_to(PACKAGE).as_posix()
        for p in _modules()
        if len(p.read_text().splitlines()) > MAX_MODULE_LINES
    }
    assert sorted(long) == []


def test_no_function_over_100_lines_of_code():
    """Docstrings aside: public entry points document every argument."""
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                doc = node.body[0]
                if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                    lines -= doc.end_lineno - doc.lineno + 1  # the docstring
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} {lines}")
    assert long == []


def test_every_tuning_subpackage_is_on_the_map():
    subpackages = sorted(
        p.parent.name for p in (PACKAGE / "tuning").glob("*/__init__.py")
    )
    assert subpackages == [
        "budgets",
        "data",
        "distributed",
        "evidence",
        "lr_finder",
        "pipeline",
        "prefixes",
        "record",
        "searchspace",
    ]
    for name in subpackages:
        assert f"`{name}/`" in tuning.__doc__, name


def test_no_two_classes_with_one_name():
    """A class name says which class it is, wherever it is imported from."""
    homes: dict[str, list[str]] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, []).append(
                    path.relative_to(PACKAGE).as_posix()
                )
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}


def test_each_tuning_map_names_the_modules_present():
    """Each subpackage's `__init__` lists its modules; `tuning`'s names them all;
    `docs/architecture.md` names each module of each subpackage."""
    import importlib

    architecture = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text()
    missing = []
    for init in sorted((PACKAGE / "tuning").glob("*/__init__.py")):
        subpackage = init.parent.name
        doc = importlib.import_module(f"lrdecay.tuning.{subpackage}").__doc__ or ""
        for module in sorted(init.parent.glob("*.py")):
            if module.stem == "__init__":
                continue
            if f"`{module.stem}`" not in doc:
                missing.append(f"{subpackage}/__init__: {module.stem}")
            if f"`{module.stem}`" not in tuning.__doc__:
                missing.append(f"tuning/__init__: {subpackage}/{module.stem}")
            if module.stem not in architecture:
                missing.append(f"docs/architecture.md: {subpackage}/{module.stem}")
    assert missing == []

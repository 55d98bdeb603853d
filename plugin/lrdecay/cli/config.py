"""Config files for the `lrdecay` command: the same settings as its flags.

A TOML or YAML file holds settings named like the long flags (`epochs`,
`decay-epochs` or `decay_epochs`, `kinds`, ...), either at the top level or
under a table named after the command (`[search]`, `[budget]`, `[find-lr]`,
`[preview]`, `[report]`, `[replay]`), which wins over the top level. The
other commands' tables are left to them; a top-level setting is read by
every command. Lists are written as lists. Flags on the command line win
over the file.

```toml
# lrdecay.toml
[search]
algorithm = "random"
kinds = ["step", "exponential"]
decay-epochs = "10:50"
epochs = 60
max-trials = 8
data = "houses.csv"
target = "price"

[budget]
budgets = [20, 40, 60, 80]
repeats = 3
```

The file is turned into flags and parsed by the command's own parser, so a
bad value in the file gets the same message as the same bad flag.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from lrdecay.errors import ConfigError as ConfigError


def read_config(
    path: str | os.PathLike[str], command: str, commands: Collection[str]
) -> dict[str, Any]:
    """The settings of `command` in the TOML or YAML file at `path`.

    Args:
        path: The file.
        command: String. The command whose table is read (`find-lr`; the
            table may also be spelt `find_lr`).
        commands: Strings. Every command's name: their tables are not
            settings of `command`.

    Raises:
        ConfigError: A missing or unreadable file, an unknown format, or a
            document that is not a table of settings.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file not found: {str(file)!r}")
    suffix = file.suffix.lower()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read config file {str(file)!r}: {error}") from None
    if suffix == ".toml":
        document = _parse_toml(text, file)
    elif suffix in (".yaml", ".yml"):
        document = _parse_yaml(text, file)
    else:
        raise ConfigError(
            f"Unknown config format {suffix or '(no extension)'!r} of "
            f"{str(file)!r}: use a .toml, .yaml or .yml file."
        )
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"Config file {str(file)!r} must hold a table of settings, not a "
            f"{type(document).__name__}."
        )
    tables = {name.replace("_", "-") for name in commands}
    settings = {
        key: value
        for key, value in document.items()
        if str(key).replace("_", "-") not in tables
    }
    own = [key for key in document if str(key).replace("_", "-") == command]
    if len(own) > 1:
        raise ConfigError(
            f"Config file {str(file)!r} has two tables for {command!r}: "
            f"{', '.join(repr(key) for key in own)}; keep one."
        )
    section = document[own[0]] if own else None
    if section is not None:
        if not isinstance(section, dict):
            raise ConfigError(
                f"Section {command!r} of {str(file)!r} must be a table of settings."
            )
        settings.update(section)
    return settings


def _parse_toml(text: str, file: Path) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(
                "Reading TOML config files on Python 3.10 needs tomli: "
                "pip install tomli (or use a YAML file)."
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Invalid TOML in {str(file)!r}: {error}") from None


def _parse_yaml(text: str, file: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"Invalid YAML in {str(file)!r}{where}: {reason}") from None


def config_arguments(
    settings: dict[str, Any],
    parser: argparse.ArgumentParser,
    given: set[str] | None = None,
    source: str = "config file",
) -> list[str]:
    """Turn `settings` into command-line tokens for `parser`.

    Args:
        settings: Dict. Setting name (a long flag without dashes; `-` or `_`)
            -> value. Lists become comma-separated values, or repeated flags
            for options that may repeat; `true` switches a flag on.
        parser: The command's `ArgumentParser`.
        given: Set of strings. Destinations already given on the command
            line; repeatable options among them are not taken from the file
            (the command line replaces, rather than extends, the list).
        source: String. Named in error messages.

    Raises:
        ConfigError: A setting no flag of the command has, or a value of the
            wrong shape.
    """
    options: dict[str, argparse.Action] = {}
    action: argparse.Action | None
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:].replace("-", "_")] = action
    tokens: list[str] = []
    for key, value in settings.items():
        name = str(key).replace("-", "_")
        action = options.get(name)
        if action is None or name in ("config", "help"):
            known = ", ".join(
                sorted(
                    option.replace("_", "-")
                    for option in options
                    if option not in ("config", "help")
                )
            )
            raise ConfigError(f"Unknown setting {key!r} in {source}; known: {known}.")
        flag = "--" + name.replace("_", "-")
        if action.nargs == 0:
            if not isinstance(value, bool):
                raise ConfigError(
                    f"Setting {key!r} in {source} must be true or false. "
                    f"Received: {value!r}"
                )
            if value:
                tokens.append(flag)
            continue
        if isinstance(action, argparse._AppendAction):
            if given and action.dest in given:
                continue
            for item in value if isinstance(value, list) else [value]:
                tokens += [flag, _token(key, item, source)]
            continue
        if isinstance(value, list):
            tokens += [flag, ",".join(_token(key, item, source) for item in value)]
        else:
            tokens += [flag, _token(key, value, source)]
    return tokens


def _token(key: str, value: Any, source: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(
        f"Setting {key!r} in {source} must be a string, number or list of "
        f"them. Received: {value!r}"
    )

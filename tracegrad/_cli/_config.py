"""TOML configs with a declared schema: every key documented, unknown keys rejected by name.

A schema maps section -> key -> ``Key``.  ``load_config`` reads a file with the standard
library's ``tomllib``, checks every section and key against the schema (types, choices, ranges)
and fills defaults, so a typo in a config is an error that names the key instead of a silently
ignored setting.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._errors import CLIError


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: accepted types, default, one-line help, optional choices and check."""

    types: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error message or None


Schema = Mapping[str, Mapping[str, Key]]


def positive(value) -> str | None:
    """``Key.check`` for strictly positive numbers."""
    return None if value > 0 else "must be positive"


def non_negative(value) -> str | None:
    """``Key.check`` for numbers >= 0."""
    return None if value >= 0 else "must be >= 0"


def _type_ok(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not an int
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def validate(raw: Mapping[str, Any], schema: Schema, where: str) -> dict[str, dict[str, Any]]:
    """Check ``raw`` against ``schema`` and return every section with defaults filled in."""
    out: dict[str, dict[str, Any]] = {}
    for section in raw:
        if section not in schema:
            raise CLIError(f"{where}: unknown section [{section}] (allowed: {', '.join(schema)})")
        if not isinstance(raw[section], Mapping):
            raise CLIError(f"{where}: {section} must be a table [{section}], not a value")
    for section, keys in schema.items():
        given = raw.get(section, {})
        for name in given:
            if name not in keys:
                raise CLIError(
                    f"{where}: unknown key '{section}.{name}' (allowed in [{section}]: "
                    f"{', '.join(keys)})"
                )
        values = {}
        for name, key in keys.items():
            value = given.get(name, key.default)
            if name in given:
                if not _type_ok(value, key.types):
                    raise CLIError(
                        f"{where}: '{section}.{name}' must be {_type_name(key.types)}, "
                        f"got {value!r}"
                    )
                if key.choices is not None and value not in key.choices:
                    raise CLIError(
                        f"{where}: '{section}.{name}' must be one of "
                        f"{', '.join(repr(c) for c in key.choices)}, got {value!r}"
                    )
                problem = key.check(value) if key.check else None
                if problem:
                    raise CLIError(f"{where}: '{section}.{name}' {problem}, got {value!r}")
            values[name] = value
        out[section] = values
    return out


def load_config(path: str | Path | None, schema: Schema) -> dict[str, dict[str, Any]]:
    """Read and validate a TOML config; ``None`` gives the schema's defaults.

    Raises:
        CLIError: missing or unreadable file, TOML syntax error, unknown or ill-typed key.
    """
    if path is None:
        return validate({}, schema, "defaults")
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise CLIError(f"{path}: not valid TOML: {err}") from None
    return validate(raw, schema, str(path))


def override(config: dict, section: str, key: str, value) -> None:
    """Apply a command-line flag over the config when the flag was given."""
    if value is not None:
        config[section][key] = value

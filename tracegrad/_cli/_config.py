"""TOML configs with a declared schema: every key documented, unknown keys rejected by name.

A schema maps section -> key -> ``Key``.  ``load_config`` reads a file with the standard
library's ``tomllib``, checks every section and key against the schema (types, choices, ranges)
and fills defaults, so a typo in a config is an error that names the key instead of a silently
ignored setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
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


INT_MAX = 2**31 - 1
"""Largest count a config accepts (sizes, iterations, restarts run as 32-bit integers)."""


def positive(value) -> str | None:
    """``Key.check`` for strictly positive numbers (integers at most ``INT_MAX``)."""
    if isinstance(value, int) and value > INT_MAX:
        return f"must be at most {INT_MAX}"
    return None if value > 0 else "must be positive"


def non_negative(value) -> str | None:
    """``Key.check`` for numbers >= 0 (integers at most ``INT_MAX``)."""
    if isinstance(value, int) and value > INT_MAX:
        return f"must be at most {INT_MAX}"
    return None if value >= 0 else "must be >= 0"


def fraction(value) -> str | None:
    """``Key.check`` for a fraction in ``[0, 1)``."""
    return None if 0 <= value < 1 else "must be in [0, 1)"


SEED_RANGE = (-(2**63), 2**63 - 1)
"""Seeds ``jax.random.key`` accepts: a signed 64-bit integer."""


def seed(value) -> str | None:
    """``Key.check`` for PRNG seeds: a signed 64-bit integer."""
    low, high = SEED_RANGE
    return None if low <= value <= high else f"must be in [{low}, {high}]"


def _type_ok(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not an int
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _type_name(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names: dict[type, str] = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
    }
    return " or ".join(names.get(t) or t.__name__ for t in types)


def check_value(key: Key, value: Any, label: str) -> None:
    """Check one value against its ``Key`` (type, finiteness, choices, check).

    ``label`` names the value in the message: ``"cfg.toml: 'nmf.rank'"`` or ``"--rank"``.

    Raises:
        CLIError: the value's type, choice or range is wrong.
    """
    if not _type_ok(value, key.types):
        raise CLIError(f"{label} must be {_type_name(key.types)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CLIError(f"{label} must be a finite number, got {value!r}")
    if key.choices is not None and value not in key.choices:
        raise CLIError(
            f"{label} must be one of {', '.join(repr(c) for c in key.choices)}, got {value!r}"
        )
    problem = key.check(value) if key.check else None
    if problem:
        raise CLIError(f"{label} {problem}, got {value!r}")


def flag_type(key: Key, flag: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a flag's text and checks it with the config's ``Key``.

    Flags and config keys share one schema: ``--replicates 0`` is refused exactly as
    ``replicates = 0`` in a config is.
    """
    types = key.types if isinstance(key.types, tuple) else (key.types,)

    def parse(text: str) -> Any:
        value: Any = text
        if int in types:
            try:
                value = int(text)
            except ValueError:
                value = text
        if isinstance(value, str) and float in types:
            try:
                value = float(text)
            except ValueError:
                value = text
        try:
            check_value(key, value, flag)
        except CLIError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{flag} ")) from None
        return value

    parse.__name__ = _type_name(key.types)  # argparse names it in "invalid <name> value"
    return parse


def add_flag(parser: argparse.ArgumentParser, flag: str, key: Key, **kwargs: Any) -> None:
    """Add ``flag`` to ``parser`` with the help, type and checks of the config ``Key``."""
    if key.types is bool:
        parser.add_argument(flag, action="store_true", help=key.help, **kwargs)
        return
    parser.add_argument(flag, type=flag_type(key, flag), help=key.help, **kwargs)


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
                check_value(key, value, f"{where}: '{section}.{name}'")
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
    if path.is_dir():
        raise CLIError(f"--config {path}: is a directory, not a TOML file")
    if not path.is_file():
        raise CLIError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise CLIError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise CLIError(f"{path}: not UTF-8 text (TOML must be UTF-8): {err.reason}") from None
    except OSError as err:
        raise CLIError(f"cannot read config {path}: {err.strerror or err}") from None
    return validate(raw, schema, str(path))


def override(config: dict, section: str, key: str, value) -> None:
    """Apply a command-line flag over the config when the flag was given.

    The flag's value was already checked against the same ``Key`` when it was parsed
    (``add_flag``).
    """
    if value is not None:
        config[section][key] = value

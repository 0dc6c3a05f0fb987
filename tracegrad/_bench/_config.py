"""The suites' settings: a run's overrides merged over a suite's ``DEFAULT_CONFIG``, names
checked against the tables they choose from.

No JAX here: ``cold`` merges its settings before any child process imports it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping


def merge_config(defaults: dict, config: Mapping | None, *, strict_nested: bool = True) -> dict:
    """A deep copy of ``defaults`` with ``config``'s settings over it.

    A key ``defaults`` lacks is a ``KeyError``; a setting whose default is a dict (a workload's
    sizes) is updated key by key, and with ``strict_nested`` a key that dict lacks is a
    ``KeyError`` too.
    """
    cfg = copy.deepcopy(defaults)
    for key, value in (config or {}).items():
        if key not in cfg:
            raise KeyError(f"unknown benchmark setting {key!r} (known: {', '.join(cfg)})")
        if isinstance(cfg[key], dict):
            unknown = set(value) - set(cfg[key])
            if strict_nested and unknown:
                raise KeyError(f"unknown {key} settings {sorted(unknown)}")
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def check_names(cfg: Mapping, tables: Mapping[str, Collection[str]]) -> None:
    """A ``KeyError`` for the first name in ``cfg[key]`` (a plural: ``"solvers"``) that is not
    in ``tables[key]``."""
    for key, table in tables.items():
        for name in cfg[key]:
            if name not in table:
                raise KeyError(f"unknown {key[:-1]} {name!r} (known: {', '.join(table)})")

"""Choosing identities from the registry: by regex, by the module that registered them."""

from __future__ import annotations

import importlib
import re

from .._registry.identity import Identity
from .._registry.registry import registry
from ._errors import CLIError


def select_identities(only: str | None = None, module: str | None = None) -> list[Identity]:
    """Registry identities, optionally those matching ``only`` (a regex searched in the name)
    and/or registered by ``module`` (imported first, so its ``@tracegrad.register`` runs)."""
    if module is not None:
        if not module.strip():
            raise CLIError("--module is empty: give a module name, e.g. mypkg.grads")
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise CLIError(f"--module {module!r}: cannot import module: {err}") from None
        except (Exception, SystemExit) as err:  # noqa: BLE001 - the user's module raised
            detail = str(err).strip().splitlines()
            raise CLIError(
                f"--module {module!r}: importing it raised {type(err).__name__}: "
                f"{detail[0] if detail else 'no message'}"
            ) from None
    chosen = list(registry().values())
    if module is not None:
        chosen = [i for i in chosen if i.module == module or i.module.startswith(module + ".")]
        if not chosen:
            raise CLIError(
                f"--module {module!r} registered no identities (use @tracegrad.register in it)"
            )
    if only is not None:
        try:
            pattern = re.compile(only)
        except re.error as err:
            raise CLIError(f"--only {only!r} is not a valid regular expression: {err}") from None
        chosen = [i for i in chosen if pattern.search(i.name)]
        if not chosen:
            raise CLIError(f"no identity matches --only {only!r}")
    return chosen

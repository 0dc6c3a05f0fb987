"""Compatibility view: the registry's identities in the ``derive`` language, read from the registry.

Each identity now declares its expression once, in its registration
(``register(..., expression="tr(A X B)")``; ``Identity.expression``), or says why the language
cannot state it (``Identity.not_expressible``).  These two mappings are computed from the
registry at import, for scripts written against the former hand-kept tables; new code reads
``tracegrad.registry()`` directly.
"""

from __future__ import annotations

from .registry import registry

EXPRESSIONS: dict[str, str] = {n: i.expression for n, i in registry().items() if i.expression}
"""Registry name -> objective in the ``derive`` language."""

NOT_EXPRESSIBLE: dict[str, str] = {
    n: i.not_expressible for n, i in registry().items() if not i.expression and i.not_expressible
}
"""Registry identities the language cannot express, with the reason."""

"""The identity registry: the built-ins from the source documents plus anything users register."""

from __future__ import annotations

import difflib
import importlib
import types
from collections.abc import Callable, Mapping, Sequence

from ._identity import Identity, Sampler

_IDENTITIES: dict[str, Identity] = {}
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("tracegrad.identities")


def add(identity: Identity, *, replace: bool = False) -> Identity:
    """Add a ready ``Identity`` to the registry; a taken name is an error unless ``replace``."""
    if not isinstance(identity, Identity):
        raise TypeError(f"expected an Identity, got {type(identity).__name__}")
    if identity.name in _IDENTITIES and not replace:
        raise ValueError(
            f"an identity named {identity.name!r} is already registered "
            f"(from {_IDENTITIES[identity.name].module or 'unknown module'}); "
            f"pass replace=True to override it"
        )
    _IDENTITIES[identity.name] = identity
    return identity


def register(
    name: str,
    *,
    objective: Callable,
    source: str,
    sample: Sampler,
    argnames: Sequence[str],
    wrt: int | str = 0,
    formula: str = "",
    latex: str = "",
    terms: Callable | None = None,
    optimum: Callable | None = None,
    replace: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator registering a hand-derived gradient as an ``Identity``.

    Example::

        def objective(A, X, B):
            return jnp.trace(A @ X @ B)

        @tracegrad.register(
            "mine.trace_axb", objective=objective, source="my notes (3)",
            sample=my_sampler, argnames=("A", "X", "B"), wrt="X",
        )
        def gradient(A, X, B):
            return A.T @ B.T

    The decorated function is returned unchanged, so it stays usable as the fast path.

    Args:
        name: unique registry key.
        objective: scalar function of the arguments.
        source: document and equation the derivation comes from.
        sample: ``sample(key, dtype, n=None)`` returning valid arguments.
        argnames: names of the arguments in order.
        wrt: index or name of the differentiated argument.
        formula: the result in plain text.
        latex: the result in LaTeX.
        terms: optional per-appearance terms (see ``Identity``).
        optimum: optional map to a stationary point (see ``Identity``).
        replace: allow overriding an identity of the same name.
    """
    argnames = tuple(argnames)
    if isinstance(wrt, str):
        if wrt not in argnames:
            raise ValueError(f"wrt={wrt!r} is not one of argnames {argnames}")
        wrt = argnames.index(wrt)

    def decorator(gradient: Callable) -> Callable:
        add(
            Identity(
                name=name,
                source=source,
                objective=objective,
                gradient=gradient,
                sample=sample,
                argnames=argnames,
                wrt=wrt,
                formula=formula,
                latex=latex,
                terms=terms,
                optimum=optimum,
                module=getattr(gradient, "__module__", "") or "",
            ),
            replace=replace,
        )
        return gradient

    return decorator


def unregister(name: str) -> Identity:
    """Remove and return the identity called ``name``."""
    _load_builtins()
    if name not in _IDENTITIES:
        raise KeyError(_missing(name))
    return _IDENTITIES.pop(name)


def registry() -> Mapping[str, Identity]:
    """A read-only view of every registered identity, keyed by name."""
    _load_builtins()
    return types.MappingProxyType(_IDENTITIES)


def identity(name: str) -> Identity:
    """The identity called ``name``; a ``KeyError`` suggests close names when it is missing."""
    _load_builtins()
    try:
        return _IDENTITIES[name]
    except KeyError:
        raise KeyError(_missing(name)) from None


def _missing(name: str) -> str:
    close = difflib.get_close_matches(name, list(_IDENTITIES), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"no identity named {name!r}{hint}"

"""The identity registry: the built-ins from the source documents plus anything users register."""

from __future__ import annotations

import difflib
import importlib
import types
from collections.abc import Callable, Mapping, Sequence

from .identity import Identity, Sampler
from .shapespec import ShapeSpec, parse_spec

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
    shapes: Mapping[str, str] | None = None,
    expression: str | None = None,
    sample: Sampler | None = None,
    argnames: Sequence[str] | None = None,
    wrt: int | str = 0,
    hvp: Callable | None = None,
    formula: str = "",
    latex: str = "",
    terms: Callable | None = None,
    optimum: Callable | None = None,
    not_expressible: str = "",
    replace: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator registering a hand-derived gradient as an ``Identity``: one declaration.

    Example::

        def objective(A, X, B):
            return jnp.trace(A @ X @ B)

        @tracegrad.register(
            "mine.trace_axb", objective=objective, source="my notes (3)",
            shapes={"A": "p m", "X": "m n", "B": "n p"}, wrt="X", expression="tr(A X B)",
            hvp=lambda A, X, B, V: jnp.zeros_like(X),
        )
        def gradient(A, X, B):
            return A.T @ B.T

    From ``shapes`` (one string of dimension letters per argument, in argument order) come the
    argument names, one ``ShapeSpec`` that checks the arguments and results of the objective,
    the gradient and the HVP (early ``ValueError``s naming the array and the letter), and a
    default sampler (normal entries, a distinct size per letter); pass ``sample=`` where the
    mathematics needs SPD, positive or low-rank inputs.  From ``expression`` (the ``derive``
    language) come ``formula`` and ``latex``, printed by ``tracegrad.derive`` on first use;
    give them explicitly to state assumptions the expression does not carry.

    The decorated function is returned with its shape checks (unchanged without ``shapes``),
    so it stays usable as the fast path.

    Args:
        name: unique registry key.
        objective: scalar function of the arguments.
        source: document and equation the derivation comes from.
        shapes: ``{argname: "letters"}``; ``""`` for a scalar argument.
        expression: the objective in the ``derive`` language, using the argument names.
        sample: ``sample(key, dtype, n=None)`` returning valid arguments (default from
            ``shapes``).
        argnames: names of the arguments in order (default: the keys of ``shapes``).
        wrt: index or name of the differentiated argument.
        hvp: optional closed-form Hessian-vector product ``hvp(*args, v)``.
        formula: the result in plain text (default: printed from ``expression``).
        latex: the result in LaTeX (default: printed from ``expression``).
        terms: optional per-appearance terms (see ``Identity``).
        optimum: optional map to a stationary point (see ``Identity``).
        not_expressible: why there is no ``expression`` (the registry asks for one or the
            other).
        replace: allow overriding an identity of the same name.

    Raises:
        TypeError: no sampler and no shapes, malformed shapes, a non-callable hvp.
        ValueError: argnames that disagree with shapes, an unknown ``wrt``.
    """
    spec = None
    if shapes is not None:
        parse_spec(dict(shapes) if isinstance(shapes, Mapping) else shapes)  # early, named errors
        if argnames is not None and tuple(argnames) != tuple(shapes):
            raise ValueError(
                f"argnames {tuple(argnames)} disagree with the shapes' names {tuple(shapes)}"
            )
        argnames = tuple(shapes)
    if argnames is None:
        raise TypeError("register needs shapes= (or at least argnames=)")
    argnames = tuple(argnames)
    if isinstance(wrt, str):
        if wrt not in argnames:
            raise ValueError(f"wrt={wrt!r} is not one of argnames {argnames}")
        wrt = argnames.index(wrt)
    if shapes is not None:
        spec = ShapeSpec(dict(shapes), wrt=argnames[wrt])
        objective = spec.wrap(objective, "objective")
        if hvp is not None:
            if not callable(hvp):
                raise TypeError(f"hvp must be callable, got {type(hvp).__name__}")
            hvp = spec.wrap(hvp, "hvp")
        if sample is None:
            sample = spec.sampler()
    if sample is None:
        raise TypeError("register needs sample= when no shapes= are declared")

    def decorator(gradient: Callable) -> Callable:
        checked = spec.wrap(gradient, "gradient") if spec is not None else gradient
        add(
            Identity(
                name=name,
                source=source,
                objective=objective,
                gradient=checked,
                sample=sample,
                argnames=argnames,
                wrt=wrt,
                formula=formula,
                latex=latex,
                terms=terms,
                optimum=optimum,
                module=getattr(gradient, "__module__", "") or "",
                hvp=hvp,
                shapes=spec.text() if spec is not None else None,
                expression=expression,
                not_expressible=not_expressible,
            ),
            replace=replace,
        )
        return checked

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

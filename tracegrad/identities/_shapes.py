"""Shape contracts for the identities' objectives and closed forms, checked before tracing.

``@shapes(A="p m", X="m n", B="n p")`` names each argument's dimensions with letters (the
identity table's notation); a call whose arrays disagree (a wrong number of dimensions, or one
letter bound to two sizes) raises a ``ValueError`` naming the arrays and shapes, instead of a
NumPy broadcast producing a wrong-shaped gradient.  Shapes are static, so under ``jit`` the
check runs once, at trace time, and costs nothing at run time; under ``vmap`` it sees the
per-example shapes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np

from .._validate import shape_str


def _describe(specs: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(
        f"{name} {' x '.join(dims) if dims else 'scalar'}" for name, dims in specs.items()
    )


def check_shapes(where: str, specs: dict[str, tuple[str, ...]], arrays: dict) -> dict[str, int]:
    """Check ``arrays`` against ``specs``; return the size bound to each letter.

    Raises:
        ValueError: naming the array, its shape and the disagreeing dimension.
    """
    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    for name, dims in specs.items():
        shape = tuple(np.shape(arrays[name]))
        if len(shape) != len(dims):
            raise ValueError(
                f"{where}: {name} must have {len(dims)} dimension(s) ({' x '.join(dims)}), got "
                f"shape {shape_str(shape)}; expected {_describe(specs)}"
            )
        for letter, size in zip(dims, shape, strict=True):
            if letter in sizes and sizes[letter] != size:
                raise ValueError(
                    f"{where}: {name} has shape {shape_str(shape)}, so {letter} = {size}, but "
                    f"{origin[letter]} gives {letter} = {sizes[letter]}; expected "
                    f"{_describe(specs)}"
                )
            if letter not in sizes:
                sizes[letter] = int(size)
                origin[letter] = f"{name} ({shape_str(shape)})"
    return sizes


def shapes(**specs: str) -> Callable[[Callable], Callable]:
    """Decorator: check the named arguments' shapes (``A="p m"``) before every call."""
    parsed = {name: tuple(spec.split()) for name, spec in specs.items()}

    def decorator(fn: Callable) -> Callable:
        params = list(inspect.signature(fn).parameters)
        missing = set(parsed) - set(params)
        if missing:
            raise TypeError(f"{fn.__qualname__} has no argument(s) {sorted(missing)}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            arrays = dict(zip(params, args, strict=False)) | kwargs
            check_shapes(fn.__qualname__, {k: v for k, v in parsed.items() if k in arrays}, arrays)
            return fn(*args, **kwargs)

        vars(wrapper)["shapes"] = dict(specs)  # read by the registry's shape table
        return wrapper

    return decorator

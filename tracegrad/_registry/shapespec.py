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

from .._utils import shape_str


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


def parse_spec(specs) -> dict[str, tuple[str, ...]]:
    """``{"A": "p m", "x": "n", "s": ""}`` as ``{"A": ("p", "m"), ...}``; validates the input."""
    if not isinstance(specs, dict) or not specs:
        raise TypeError(
            'shapes must be a non-empty dict of argument name -> letters ({"A": "p m", ...})'
        )
    out = {}
    for name, spec in specs.items():
        if not isinstance(name, str) or not isinstance(spec, str):
            raise TypeError(f"shapes: {name!r}: {spec!r} must map a name to a string of letters")
        dims = tuple(spec.split())
        bad = [d for d in dims if not d.isidentifier()]
        if bad:
            raise ValueError(f"shapes[{name!r}] = {spec!r}: {bad[0]!r} is not a dimension letter")
        out[name] = dims
    return out


class ShapeSpec:
    """One identity's shape declaration, applied to its objective, gradient and HVP.

    ``ShapeSpec({"A": "p m", "X": "m n", "B": "n p"}, wrt="X")`` checks the arguments of every
    function it wraps (``objective``, ``gradient``, ``hvp``; for the HVP also the direction
    ``v``, shaped like ``wrt``) and their results: a scalar objective, and a gradient and an HVP
    shaped like ``wrt``.  Shapes are static, so under ``jit`` every check runs once at trace
    time.

    Attributes:
        specs: ``{name: (letter, ...)}`` in argument order.
        wrt: the differentiated argument's name.
        letters: the distinct dimension letters in order of first appearance.
    """

    def __init__(self, specs, wrt: str):
        self.specs = parse_spec(specs)
        if wrt not in self.specs:
            raise ValueError(f"wrt={wrt!r} is not one of the shapes' names {tuple(self.specs)}")
        self.wrt = wrt
        self.letters = tuple(dict.fromkeys(d for dims in self.specs.values() for d in dims))

    @property
    def argnames(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def text(self) -> dict[str, str]:
        """The declaration as given: ``{"A": "p m", ...}``."""
        return {k: " ".join(v) for k, v in self.specs.items()}

    def _check_args(self, where: str, args: tuple, extra: dict | None = None) -> dict[str, int]:
        if len(args) != len(self.specs):
            raise TypeError(
                f"{where}: expected {len(self.specs)} arguments ({', '.join(self.specs)}), "
                f"got {len(args)}"
            )
        arrays = dict(zip(self.specs, args, strict=True))
        specs = dict(self.specs)
        if extra:
            arrays |= extra
            specs |= {k: self.specs[self.wrt] for k in extra}
        return check_shapes(where, specs, arrays)

    def _check_result(self, where: str, what: str, out, want) -> None:
        got = tuple(np.shape(out))
        if got != tuple(want):
            raise ValueError(
                f"{where}: the {what} has shape {shape_str(got)}, expected "
                f"{shape_str(want)} ({'a scalar' if not want else 'the shape of ' + self.wrt})"
            )

    def wrap(self, fn: Callable, role: str) -> Callable:
        """``fn`` with its arguments and result checked; ``role`` is objective/gradient/hvp."""
        if role not in ("objective", "gradient", "hvp"):
            raise ValueError(f"role must be objective, gradient or hvp, got {role!r}")
        where = getattr(fn, "__qualname__", role)
        wrt_index = self.argnames.index(self.wrt)

        @functools.wraps(fn)
        def checked(*args):
            if role == "hvp":
                *head, v = args
                self._check_args(where, tuple(head), {"v": v})
                args_ = tuple(head)
            else:
                self._check_args(where, args)
                args_ = args
            out = fn(*args)
            want = () if role == "objective" else np.shape(args_[wrt_index])
            self._check_result(where, "objective" if role == "objective" else role, out, want)
            return out

        vars(checked)["shapes"] = self.text()
        return checked

    def sampler(self) -> Callable:
        """Default sampler: standard normal arrays, one distinct size per letter.

        Sizes come from ``samplers.dims`` (small distinct sizes for ``n=None``,
        sizes near ``n`` for benchmarks), so a transposed result cannot pass by symmetry;
        matrices are scaled to entry variance ``1 / cols`` (``scaled``) so long products stay
        O(1).  Override it where the mathematics needs SPD, positive or low-rank inputs.
        """
        specs, letters = self.specs, self.letters

        def sample(key, dtype="float64", n=None):
            from .samplers import dims, gaussians, scaled

            sizes = dict(zip(letters, dims(n, len(letters)), strict=True))
            shapes = [tuple(sizes[d] for d in spec) for spec in specs.values()]
            arrays = gaussians(key, dtype, *shapes)
            return tuple(scaled(a) if a.ndim == 2 else a for a in arrays)

        return sample

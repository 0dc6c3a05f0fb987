"""Typed, immutable expression nodes: what the rules differentiate, simplify, print and compile.

Every node is a matrix with a ``shape`` of two dimensions; a dimension is an ``int`` or, in a
symbolic derivation, the ``str`` name of an unknown size.  Vectors are ``n x 1`` columns and
scalars ``1 x 1``.  Nodes compare and hash structurally, so equal sub-expressions are one key
in a dict (the basis of common sub-expression sharing).

The node set is small on purpose: subtraction is ``Add`` with ``Scale(-1, .)``, a scalar times
a matrix is ``Scale`` (a number) or ``Mul`` (a 1x1 expression), ``||E||_F^2`` is
``Pow(Norm(E), 2)``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing

Dim = int | str
Shape = tuple[Dim, Dim]


class ShapeBug(AssertionError):
    """A rule built an ill-shaped node: an engine bug, never a user error."""


class Expr:
    """Base class: structural equality and a cached hash over the dataclass fields."""

    __slots__ = ()

    def _fields(self) -> tuple:
        fields = dataclasses.fields(typing.cast(typing.Any, self))  # every node is a dataclass
        return tuple(getattr(self, f.name) for f in fields)

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        try:
            return self.__dict__["_hash"]
        except KeyError:
            h = hash((type(self).__name__, self._fields()))
            self.__dict__["_hash"] = h
            return h

    @property
    def children(self) -> tuple[Expr, ...]:
        out = []
        for value in self._fields():
            if isinstance(value, Expr):
                out.append(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
                out.extend(value)
        return tuple(out)

    @functools.cached_property
    def shape(self) -> Shape:
        return self._shape()

    def _shape(self) -> Shape:  # pragma: no cover - every node overrides
        raise NotImplementedError

    @property
    def is_scalar(self) -> bool:
        return self.shape == (1, 1)

    def __repr__(self) -> str:
        from ._printing import to_text

        return f"<{type(self).__name__} {to_text(self)}>"


_T = typing.TypeVar("_T")


@typing.dataclass_transform(frozen_default=True, eq_default=False)
def _node(cls: type[_T]) -> type[_T]:
    return dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)


def _square(e: Expr, what: str) -> Dim:
    r, c = e.shape
    if r != c:
        raise ShapeBug(f"{what} of a non-square {r}x{c} expression")
    return r


# -- leaves ----------------------------------------------------------------------------------


@_node
class Var(Expr):
    """A named input of the given shape."""

    name: str
    dims: Shape

    def _shape(self):
        return self.dims


@_node
class Const(Expr):
    """A number (1x1)."""

    value: float

    def _shape(self):
        return (1, 1)


@_node
class Eye(Expr):
    """The ``n x n`` identity ``I``."""

    n: Dim

    def _shape(self):
        return (self.n, self.n)


@_node
class Ones(Expr):
    """The all-ones matrix ``J`` (``1`` when a column, ``1^T`` when a row)."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)


@_node
class Zeros(Expr):
    """The zero matrix."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)


# -- linear structure ------------------------------------------------------------------------


@_node
class Add(Expr):
    """Sum of equally shaped terms."""

    args: tuple[Expr, ...]

    def _shape(self):
        shape = self.args[0].shape
        for a in self.args[1:]:
            if a.shape != shape:
                raise ShapeBug(f"sum of {shape} and {a.shape}")
        return shape


@_node
class Scale(Expr):
    """A number times an expression."""

    k: float
    arg: Expr

    def _shape(self):
        return self.arg.shape


@_node
class Mul(Expr):
    """A 1x1 expression ``s`` times an expression (scalar multiplication)."""

    s: Expr
    arg: Expr

    def _shape(self):
        if self.s.shape != (1, 1):
            raise ShapeBug(f"scalar factor of shape {self.s.shape}")
        return self.arg.shape


@_node
class MatMul(Expr):
    """Matrix product of two or more conforming factors."""

    args: tuple[Expr, ...]

    def _shape(self):
        for a, b in zip(self.args, self.args[1:], strict=False):
            if a.shape[1] != b.shape[0]:
                raise ShapeBug(f"product of {a.shape} and {b.shape}")
        return (self.args[0].shape[0], self.args[-1].shape[1])


@_node
class Transpose(Expr):
    """``E^T``."""

    arg: Expr

    def _shape(self):
        r, c = self.arg.shape
        return (c, r)


# -- reductions and matrix functions ---------------------------------------------------------


@_node
class Trace(Expr):
    """``tr(E)``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "trace")
        return (1, 1)


@_node
class Sum(Expr):
    """Sum of all entries, ``1^T E 1``."""

    arg: Expr

    def _shape(self):
        return (1, 1)


@_node
class Inv(Expr):
    """``E^-1``."""

    arg: Expr

    def _shape(self):
        n = _square(self.arg, "inverse")
        return (n, n)


@_node
class Det(Expr):
    """``det(E)``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "determinant")
        return (1, 1)


@_node
class LogDet(Expr):
    """``log|det(E)|``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "log-determinant")
        return (1, 1)


@_node
class Diag(Expr):
    """``diag(x)``: the diagonal matrix of a column vector."""

    arg: Expr

    def _shape(self):
        n, c = self.arg.shape
        if c != 1:
            raise ShapeBug(f"diag of a non-vector {self.arg.shape}")
        return (n, n)


@_node
class DiagPart(Expr):
    """The diagonal of a square matrix, as a column vector."""

    arg: Expr

    def _shape(self):
        return (_square(self.arg, "diagonal"), 1)


@_node
class Norm(Expr):
    """Frobenius norm ``||E||_F``."""

    arg: Expr

    def _shape(self):
        return (1, 1)


# -- elementwise -----------------------------------------------------------------------------


@_node
class Hadamard(Expr):
    """Elementwise product of equally shaped factors."""

    args: tuple[Expr, ...]

    def _shape(self):
        shape = self.args[0].shape
        for a in self.args[1:]:
            if a.shape != shape:
                raise ShapeBug(f"Hadamard product of {shape} and {a.shape}")
        return shape


@_node
class EDiv(Expr):
    """Elementwise division ``num ⊘ den``."""

    num: Expr
    den: Expr

    def _shape(self):
        if self.num.shape != self.den.shape:
            raise ShapeBug(f"elementwise division of {self.num.shape} by {self.den.shape}")
        return self.num.shape


@_node
class Log(Expr):
    """Elementwise natural logarithm."""

    arg: Expr

    def _shape(self):
        return self.arg.shape


@_node
class Exp(Expr):
    """Elementwise exponential."""

    arg: Expr

    def _shape(self):
        return self.arg.shape


@_node
class Pow(Expr):
    """Elementwise power ``E.^p`` (for a 1x1 ``E``, the scalar power)."""

    arg: Expr
    p: float

    def _shape(self):
        return self.arg.shape


ONE = Const(1.0)


def is_one_dim(d: Dim) -> bool:
    return d == 1


def concrete(shape: Shape) -> typing.TypeGuard[tuple[int, int]]:
    """True when both dimensions are known integers."""
    return all(isinstance(d, int) for d in shape)


def walk(e: Expr):
    """Every node of ``e`` in pre-order (left to right; repeated sub-trees repeated)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def distinct_nodes(roots):
    """Every distinct node under ``roots`` once (a shared sub-expression is one node of the DAG)."""
    seen: set = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        yield node
        stack.extend(node.children)


def variables(e: Expr) -> dict[str, Shape]:
    """The variables of ``e`` and their shapes, in order of first appearance."""
    out: dict[str, Shape] = {}
    for node in walk(e):
        if isinstance(node, Var) and node.name not in out:
            out[node.name] = node.dims
    return out


def contains(e: Expr, name: str, _cache: dict | None = None) -> bool:
    """Whether the variable ``name`` occurs in ``e``."""
    cache = {} if _cache is None else _cache
    key = (id(e), name)
    if key in cache:
        return cache[key][1]
    if isinstance(e, Var):
        found = e.name == name
    else:
        found = any(contains(c, name, cache) for c in e.children)
    cache[key] = (e, found)  # keep e alive so its id stays unique
    return found

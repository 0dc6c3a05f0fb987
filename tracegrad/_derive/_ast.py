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
from collections.abc import Iterable, Sequence
from typing import ClassVar, dataclass_transform

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

    # equality, hash and shape are computed without recursion: a bracketed chain of
    # matrix-vector products is a tree as deep as the chain is long

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        stack: list[tuple[Expr, Expr]] = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if type(a) is not type(b) or hash(a) != hash(b):
                return False
            for x, y in zip(a._fields(), b._fields(), strict=True):
                if isinstance(x, Expr) and isinstance(y, Expr):
                    stack.append((x, y))
                elif isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y):
                    for u, v in zip(x, y, strict=True):
                        if isinstance(u, Expr) and isinstance(v, Expr):
                            stack.append((u, v))
                        elif u != v:
                            return False
                elif x != y:
                    return False
        return True

    def __hash__(self) -> int:
        try:
            return self.__dict__["_hash"]
        except KeyError:
            pass
        stack: list[Expr] = [self]
        while stack:  # children first
            node = stack[-1]
            pending = [c for c in node.children if "_hash" not in c.__dict__]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if "_hash" not in node.__dict__:
                node.__dict__["_hash"] = hash((type(node).__name__, node._fields()))
        return self.__dict__["_hash"]

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
        stack = [c for c in self.children if "shape" not in c.__dict__]
        while stack:  # children first
            node = stack[-1]
            pending = [c for c in node.children if "shape" not in c.__dict__]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            node.__dict__["shape"] = node._shape()
        return self._shape()

    def _shape(self) -> Shape:  # pragma: no cover - every node overrides
        raise NotImplementedError

    @property
    def is_scalar(self) -> bool:
        return self.shape == (1, 1)

    def __repr__(self) -> str:
        from ._printing import to_text

        return f"<{type(self).__name__} {to_text(self)}>"

    # -- the operator protocol: every pass dispatches on these methods ---------------------
    # A node class carries its shape rule (``_shape``), its first-order rule (``adjoints``,
    # reverse mode, and ``jvp``, forward mode: the second order is the forward derivative of
    # the gradient), its rebuild (``simplified``), its lowering to JAX (``lower``) and its
    # printing (``show``).  The base methods raise, so a forgotten one fails loudly (and
    # ``tests/test_derive_nodes.py`` walks every subclass through every pass).

    def adjoints(self, G: Expr, needed) -> Iterable[tuple[Expr, Expr]]:
        """``(child, adjoint of child)`` for each child that ``needed``: if ``df = tr(G^T dN)``
        for this node ``N``, the child's adjoint is the ``G_c`` with ``df = tr(G_c^T dc)``."""
        raise NotImplementedError(f"{type(self).__name__} has no adjoint rule")

    def jvp(self, tangents: Sequence[Expr | None]) -> Expr | None:
        """This node's differential given its children's (``Expr.children`` order; ``None``
        is zero); ``None`` when it is zero."""
        raise NotImplementedError(f"{type(self).__name__} has no forward rule")

    def simplified(self, children: Sequence[Expr]) -> Expr:
        """This node rebuilt on simplified ``children``, in normal form (``_simplify``)."""
        raise NotImplementedError(f"{type(self).__name__} has no rebuild rule")

    def lower(self, ev):
        """The value of this node, given the evaluator ``ev`` (``_codegen._Evaluator``)."""
        raise NotImplementedError(f"{type(self).__name__} has no lowering")

    def show(self, p) -> tuple[str, int]:
        """``(text, precedence level)`` for the printer ``p`` (``p.latex`` for LaTeX)."""
        raise NotImplementedError(f"{type(self).__name__} has no printing")

    def jacobian(self, jac) -> Expr | None:
        """The Jacobian of this vector- or 1x1-valued node w.r.t. a vector variable as a
        closed form (rows: this node's entries; columns: the variable's), given ``jac(child)``
        (the child's Jacobian, ``None`` when none is known); ``None`` when there is no closed
        form here (callers fall back to the directional derivative, entry by entry)."""
        return None

    def replace(self, children: Sequence[Expr]) -> Expr:
        """The same node type and parameters on new ``children`` (no simplification)."""
        if not children:
            return self
        values = []
        it = iter(children)
        for value in self._fields():
            if isinstance(value, Expr):
                values.append(next(it))
            elif isinstance(value, tuple) and value and isinstance(value[0], Expr):
                values.append(tuple(next(it) for _ in value))
            else:
                values.append(value)
        return type(self)(*values)


@dataclass_transform(frozen_default=True, eq_default=False)
def _node(cls):
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

    def adjoints(self, G, needed):
        return ()

    def jvp(self, tangents):
        return None

    def simplified(self, children):
        return self

    def lower(self, ev):
        return ev._Var(self)

    def show(self, p):
        return p._Var(self)


@_node
class Const(Expr):
    """A number (1x1)."""

    value: float

    def _shape(self):
        return (1, 1)

    def adjoints(self, G, needed):
        return ()

    def jvp(self, tangents):
        return None

    def simplified(self, children):
        return self

    def lower(self, ev):
        return ev._Const(self)

    def show(self, p):
        return p._Const(self)


@_node
class Eye(Expr):
    """The ``n x n`` identity ``I``."""

    n: Dim

    def _shape(self):
        return (self.n, self.n)

    def adjoints(self, G, needed):
        return ()

    def jvp(self, tangents):
        return None

    def simplified(self, children):
        return self

    def lower(self, ev):
        return ev._Eye(self)

    def show(self, p):
        return p._Eye(self)


@_node
class Ones(Expr):
    """The all-ones matrix ``J`` (``1`` when a column, ``1^T`` when a row)."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)

    def adjoints(self, G, needed):
        return ()

    def jvp(self, tangents):
        return None

    def simplified(self, children):
        return self

    def lower(self, ev):
        return ev._Ones(self)

    def show(self, p):
        return p._Ones(self)


@_node
class Zeros(Expr):
    """The zero matrix."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)

    def adjoints(self, G, needed):
        return ()

    def jvp(self, tangents):
        return None

    def simplified(self, children):
        return self

    def lower(self, ev):
        return ev._Zeros(self)

    def show(self, p):
        return p._Zeros(self)


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

    def adjoints(self, G, needed):
        return ((a, G) for a in self.args if needed(a))

    def jvp(self, tangents):
        return _total(tangents)

    def jacobian(self, jac):
        return _total_known([jac(a) for a in self.args])

    def simplified(self, children):
        from . import _simplify as s

        return s.add(*children)

    def lower(self, ev):
        return ev._Add(self)

    def show(self, p):
        return p._Add(self)


@_node
class Scale(Expr):
    """A number times an expression."""

    k: float
    arg: Expr

    def _shape(self):
        return self.arg.shape

    def adjoints(self, G, needed):
        yield self.arg, Scale(self.k, G)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Scale(self.k, t)

    def jacobian(self, jac):
        j = jac(self.arg)
        return None if j is None else Scale(self.k, j)

    def simplified(self, children):
        from . import _simplify as s

        return s.scale(self.k, children[0])

    def lower(self, ev):
        return ev._Scale(self)

    def show(self, p):
        return p._Scale(self)


@_node
class Mul(Expr):
    """A 1x1 expression ``s`` times an expression (scalar multiplication)."""

    s: Expr
    arg: Expr

    def _shape(self):
        if self.s.shape != (1, 1):
            raise ShapeBug(f"scalar factor of shape {self.s.shape}")
        return self.arg.shape

    def adjoints(self, G, needed):
        if needed(self.s):
            yield self.s, Sum(Hadamard((G, self.arg)))
        if needed(self.arg):
            yield self.arg, Mul(self.s, G)

    def jvp(self, tangents):
        ts, ta = tangents
        return _total(
            [None if ts is None else Mul(ts, self.arg), None if ta is None else Mul(self.s, ta)]
        )

    def jacobian(self, jac):
        if self.arg.shape[1] != 1:
            return None
        js, ja = jac(self.s), jac(self.arg)
        if js is None or ja is None:
            return None
        return Add((_mm(self.arg, js), Mul(self.s, ja)))

    def simplified(self, children):
        from . import _simplify as s

        return s.mul(children[0], children[1])

    def lower(self, ev):
        return ev._Mul(self)

    def show(self, p):
        return p._Mul(self)


@_node
class MatMul(Expr):
    """Matrix product of two or more conforming factors."""

    args: tuple[Expr, ...]

    def _shape(self):
        for a, b in zip(self.args, self.args[1:], strict=False):
            if a.shape[1] != b.shape[0]:
                raise ShapeBug(f"product of {a.shape} and {b.shape}")
        return (self.args[0].shape[0], self.args[-1].shape[1])

    def adjoints(self, G, needed):
        args = self.args
        for i, a in enumerate(args):
            if not needed(a):
                continue
            parts = []
            if i > 0:
                parts.append(Transpose(_mm(*args[:i])))
            parts.append(G)
            if i < len(args) - 1:
                parts.append(Transpose(_mm(*args[i + 1 :])))
            yield a, _mm(*parts)

    def jvp(self, tangents):
        args = self.args
        return _total(
            [
                None if t is None else _mm(*args[:i], t, *args[i + 1 :])
                for i, t in enumerate(tangents)
            ]
        )

    def jacobian(self, jac):
        # F_1 ... F_k a column: per dependent factor F_i of L F_i R: the last factor, a column
        # (L J); a column u before the end (R is 1x1: R L J_u); a row u^T (L R^T J_u); a 1x1
        # factor (L R J_s); diag(u) (L diag(R) J_u); a sum, multiple or product (distributed)
        if self.shape[1] != 1:
            return None
        args = self.args
        terms = []
        for i, f in enumerate(args):
            left, right = args[:i], args[i + 1 :]
            if not _depends(jac, f):
                continue
            if f.shape == (1, 1) or (not right and f.shape[1] == 1):
                j = jac(f)
                if j is None:
                    return None
                terms.append(_mm(*left, *right, j) if f.shape == (1, 1) else _mm(*left, j))
            elif f.shape[1] == 1:  # a column before the end: what follows it is 1x1
                j = jac(f)
                if j is None:
                    return None
                terms.append(Mul(_mm(*right), _mm(*left, j)))
            elif isinstance(f, Transpose) and f.shape[0] == 1:
                j = jac(f.arg)
                if j is None:
                    return None
                terms.append(_mm(*left, Transpose(_mm(*right)), j))
            elif isinstance(f, Diag) and right:
                j = jac(f.arg)
                if j is None:
                    return None
                terms.append(_mm(*left, Diag(_mm(*right)), j))
            elif isinstance(f, (Add, Scale, Mul, MatMul)) and right:
                # a dependent matrix factor that is a sum, multiple or product: distribute the
                # product over it (L (P + Q) R = L P R + L Q R) and take each part's Jacobian
                if isinstance(f, Add):
                    parts = Add(tuple(_mm(*left, t, *right) for t in f.args))
                elif isinstance(f, Scale):
                    parts = Scale(f.k, _mm(*left, f.arg, *right))
                elif isinstance(f, Mul):
                    parts = Mul(f.s, _mm(*left, f.arg, *right))
                else:
                    parts = _mm(*left, *f.args, *right)
                j = jac(parts)
                if j is None:
                    return None
                terms.append(j)
            else:
                return None
        return _total_known(terms) if terms else None

    def simplified(self, children):
        from . import _simplify as s

        return s._ones_rowsum(s.matmul(*children))

    def lower(self, ev):
        return ev._MatMul(self)

    def show(self, p):
        return p._MatMul(self)


@_node
class Transpose(Expr):
    """``E^T``."""

    arg: Expr

    def _shape(self):
        r, c = self.arg.shape
        return (c, r)

    def adjoints(self, G, needed):
        yield self.arg, Transpose(G)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Transpose(t)

    def simplified(self, children):
        from . import _simplify as s

        return s.transpose(children[0])

    def lower(self, ev):
        return ev._Transpose(self)

    def show(self, p):
        return p._Transpose(self)


# -- reductions and matrix functions ---------------------------------------------------------


@_node
class Trace(Expr):
    """``tr(E)``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "trace")
        return (1, 1)

    def adjoints(self, G, needed):
        yield self.arg, Mul(G, Eye(self.arg.shape[0]))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Trace(t)

    def simplified(self, children):
        from . import _simplify as s

        return s.trace(children[0])

    def lower(self, ev):
        return ev._Trace(self)

    def show(self, p):
        return p._Trace(self)


@_node
class Sum(Expr):
    """Sum of all entries, ``1^T E 1``."""

    arg: Expr

    def _shape(self):
        return (1, 1)

    def adjoints(self, G, needed):
        yield self.arg, Mul(G, Ones(*self.arg.shape))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Sum(t)

    def simplified(self, children):
        from . import _simplify as s

        return s.sum_(children[0])

    def lower(self, ev):
        return ev._Sum(self)

    def show(self, p):
        return p._Sum(self)


@_node
class Inv(Expr):
    """``E^-1``."""

    arg: Expr

    def _shape(self):
        n = _square(self.arg, "inverse")
        return (n, n)

    def adjoints(self, G, needed):
        inv_t = Transpose(self)
        yield self.arg, Scale(-1.0, MatMul((inv_t, G, inv_t)))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Scale(-1.0, MatMul((self, t, self)))

    def simplified(self, children):
        from . import _simplify as s

        return s.inv(children[0])

    def lower(self, ev):
        return ev._Inv(self)

    def show(self, p):
        return p._Inv(self)


@_node
class Det(Expr):
    """``det(E)``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "determinant")
        return (1, 1)

    def adjoints(self, G, needed):
        yield self.arg, Mul(G, Mul(self, Transpose(Inv(self.arg))))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Mul(self, Trace(MatMul((Inv(self.arg), t))))

    def simplified(self, children):
        from . import _simplify as s

        return s.det(children[0])

    def lower(self, ev):
        return ev._Det(self)

    def show(self, p):
        return p._Det(self)


@_node
class LogDet(Expr):
    """``log|det(E)|``."""

    arg: Expr

    def _shape(self):
        _square(self.arg, "log-determinant")
        return (1, 1)

    def adjoints(self, G, needed):
        yield self.arg, Mul(G, Transpose(Inv(self.arg)))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Trace(MatMul((Inv(self.arg), t)))

    def simplified(self, children):
        from . import _simplify as s

        return s.logdet(children[0])

    def lower(self, ev):
        return ev._LogDet(self)

    def show(self, p):
        return p._LogDet(self)


@_node
class Diag(Expr):
    """``diag(x)``: the diagonal matrix of a column vector."""

    arg: Expr

    def _shape(self):
        n, c = self.arg.shape
        if c != 1:
            raise ShapeBug(f"diag of a non-vector {self.arg.shape}")
        return (n, n)

    def adjoints(self, G, needed):
        yield self.arg, DiagPart(G)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Diag(t)

    def simplified(self, children):
        from . import _simplify as s

        return s.diag(children[0])

    def lower(self, ev):
        return ev._Diag(self)

    def show(self, p):
        return p._Diag(self)


@_node
class DiagPart(Expr):
    """The diagonal of a square matrix, as a column vector."""

    arg: Expr

    def _shape(self):
        return (_square(self.arg, "diagonal"), 1)

    def adjoints(self, G, needed):
        yield self.arg, Diag(G)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else DiagPart(t)

    def simplified(self, children):
        from . import _simplify as s

        return s.diag_part(children[0])

    def lower(self, ev):
        return ev._DiagPart(self)

    def show(self, p):
        return p._DiagPart(self)


@_node
class Norm(Expr):
    """Frobenius norm ``||E||_F``."""

    arg: Expr

    def _shape(self):
        return (1, 1)

    def adjoints(self, G, needed):
        yield self.arg, Mul(Mul(G, Pow(self, -1.0)), self.arg)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Mul(Pow(self, -1.0), Sum(Hadamard((self.arg, t))))

    def simplified(self, children):
        from . import _simplify as s

        return s.norm(children[0])

    def lower(self, ev):
        return ev._Norm(self)

    def show(self, p):
        return p._Norm(self)


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

    def adjoints(self, G, needed):
        args = self.args
        for i, a in enumerate(args):
            if needed(a):
                yield a, Hadamard((G, *args[:i], *args[i + 1 :]))

    def jvp(self, tangents):
        args = self.args
        return _total(
            [
                None if t is None else Hadamard((*args[:i], t, *args[i + 1 :]))
                for i, t in enumerate(tangents)
            ]
        )

    def jacobian(self, jac):
        if self.shape[1] != 1:
            return None
        args = self.args
        terms = []
        for i, a in enumerate(args):
            if not _depends(jac, a):
                continue
            j = jac(a)
            if j is None:
                return None
            rest = args[:i] + args[i + 1 :]
            terms.append(_mm(Diag(rest[0] if len(rest) == 1 else Hadamard(rest)), j))
        return _total_known(terms) if terms else None

    def simplified(self, children):
        from . import _simplify as s

        return s.hadamard(*children)

    def lower(self, ev):
        return ev._Hadamard(self)

    def show(self, p):
        return p._Hadamard(self)


@_node
class EDiv(Expr):
    """Elementwise division ``num ⊘ den``."""

    num: Expr
    den: Expr

    def _shape(self):
        if self.num.shape != self.den.shape:
            raise ShapeBug(f"elementwise division of {self.num.shape} by {self.den.shape}")
        return self.num.shape

    def adjoints(self, G, needed):
        if needed(self.num):
            yield self.num, EDiv(G, self.den)
        if needed(self.den):
            yield self.den, Scale(-1.0, Hadamard((G, EDiv(self.num, Pow(self.den, 2.0)))))

    def jvp(self, tangents):
        tn, td = tangents
        return _total(
            [
                None if tn is None else EDiv(tn, self.den),
                None
                if td is None
                else Scale(-1.0, Hadamard((EDiv(self.num, Pow(self.den, 2.0)), td))),
            ]
        )

    def jacobian(self, jac):
        if self.shape[1] != 1:
            return None
        terms = []
        if _depends(jac, self.num):
            j = jac(self.num)
            if j is None:
                return None
            terms.append(_mm(Diag(Pow(self.den, -1.0)), j))
        if _depends(jac, self.den):
            j = jac(self.den)
            if j is None:
                return None
            w = Scale(-1.0, EDiv(self.num, Pow(self.den, 2.0)))
            terms.append(_mm(Diag(w), j))
        return _total_known(terms) if terms else None

    def simplified(self, children):
        from . import _simplify as s

        return s.ediv(children[0], children[1])

    def lower(self, ev):
        return ev._EDiv(self)

    def show(self, p):
        return p._EDiv(self)


@_node
class Log(Expr):
    """Elementwise natural logarithm."""

    arg: Expr

    def _shape(self):
        return self.arg.shape

    def adjoints(self, G, needed):
        yield self.arg, EDiv(G, self.arg)

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else EDiv(t, self.arg)

    def jacobian(self, jac):
        return _diag_times(Pow(self.arg, -1.0), jac(self.arg), self)

    def simplified(self, children):
        from . import _simplify as s

        return s.log(children[0])

    def lower(self, ev):
        return ev._Log(self)

    def show(self, p):
        return p._Log(self)


@_node
class Exp(Expr):
    """Elementwise exponential."""

    arg: Expr

    def _shape(self):
        return self.arg.shape

    def adjoints(self, G, needed):
        yield self.arg, Hadamard((G, self))

    def jvp(self, tangents):
        (t,) = tangents
        return None if t is None else Hadamard((self, t))

    def jacobian(self, jac):
        return _diag_times(self, jac(self.arg), self)

    def simplified(self, children):
        from . import _simplify as s

        return s.exp(children[0])

    def lower(self, ev):
        return ev._Exp(self)

    def show(self, p):
        return p._Exp(self)


@_node
class Pow(Expr):
    """Elementwise power ``E.^p`` (for a 1x1 ``E``, the scalar power)."""

    arg: Expr
    p: float

    def _shape(self):
        return self.arg.shape

    def adjoints(self, G, needed):
        base, p = self.arg, self.p
        if isinstance(base, Norm):
            # d ||E||^p = p ||E||^(p-2) tr(E^T dE): skip the norm node, so that ||E||_F^2
            # gives 2 G E with no square root to cancel
            inner = base.arg
            scale = Scale(p, G) if p == 2 else Mul(Pow(base, p - 2.0), Scale(p, G))
            yield inner, Mul(scale, inner)
        else:
            yield base, Hadamard((G, Scale(p, Pow(base, p - 1.0))))

    def jvp(self, tangents):
        (t,) = tangents
        if t is None:
            return None
        return Hadamard((Scale(self.p, Pow(self.arg, self.p - 1.0)), t))

    def jacobian(self, jac):
        return _diag_times(Scale(self.p, Pow(self.arg, self.p - 1.0)), jac(self.arg), self)

    def simplified(self, children):
        from . import _simplify as s

        return s.power(children[0], self.p)

    def lower(self, ev):
        return ev._Pow(self)

    def show(self, p):
        return p._Pow(self)


# -- elementwise functions: each one class (value, derivative, spelling) ----------------------


@_node
class Elementwise(Expr):
    """Base of the elementwise functions ``f(E)`` of one argument.

    A subclass gives ``spellings`` (the function names of the grammar), ``apply`` (its value,
    with ``xp`` jax.numpy or NumPy) and ``derivative`` (``f'(E)`` as an expression, ``None``
    where it is zero); the rules, printing, lowering and sampling follow from those.
    ``positive_domain`` marks a function defined for positive arguments only (the check's
    sampler draws its symbols positive).
    """

    arg: Expr
    spellings: ClassVar[tuple[str, ...]] = ()
    latex_name: ClassVar[str] = ""
    positive_domain: ClassVar[bool] = False

    def _shape(self):
        return self.arg.shape

    @property
    def name(self) -> str:
        return self.spellings[0]

    def apply(self, xp, a):
        raise NotImplementedError(f"{type(self).__name__} has no value")

    def derivative(self) -> Expr | None:
        raise NotImplementedError(f"{type(self).__name__} has no derivative")

    def adjoints(self, G, needed):
        d = self.derivative()
        if d is not None:
            yield self.arg, Hadamard((G, d))

    def jvp(self, tangents):
        (t,) = tangents
        d = self.derivative()
        return None if t is None or d is None else Hadamard((d, t))

    def jacobian(self, jac):
        d = self.derivative()
        if d is None:
            j = jac(self.arg)
            return None if j is None or self.shape[1] != 1 else Zeros(self.shape[0], j.shape[1])
        return _diag_times(d, jac(self.arg), self)

    def simplified(self, children):
        (a,) = children
        if isinstance(a, Const):
            import numpy as np

            return Const(float(self.apply(np, np.float64(a.value))))
        return self.replace(children)

    def lower(self, ev):
        return self.apply(ev.xp, ev(self.arg))

    def show(self, p):
        return p._func(self.name, self, self.latex_name or f"\\operatorname{{{self.name}}}")


def _ones_like(e: Expr) -> Expr:
    return ONE if e.shape == (1, 1) else Ones(*e.shape)


def _zeros_like(e: Expr) -> Expr:
    return Zeros(*e.shape)


@_node
class Step(Elementwise):
    """The Heaviside step ``step(E)``: 1 where ``E > 0``, else 0 (``relu'``; ``step(0) = 0``)."""

    spellings = ("step",)

    def apply(self, xp, a):
        return xp.where(a > 0, xp.ones_like(a), xp.zeros_like(a))

    def derivative(self):
        return None


@_node
class Sign(Elementwise):
    """``sign(E)`` (``sign(0) = 0``); its derivative is zero almost everywhere."""

    spellings = ("sign",)

    def apply(self, xp, a):
        return xp.sign(a)

    def derivative(self):
        return None


@_node
class Abs(Elementwise):
    """``|E|`` elementwise; subgradient ``d|x|/dx = sign(x)`` (0 at 0)."""

    spellings = ("abs",)

    def apply(self, xp, a):
        return xp.abs(a)

    def derivative(self):
        return Sign(self.arg)


@_node
class Sqrt(Elementwise):
    """``sqrt(E)`` elementwise (positive arguments); ``d sqrt(x) = dx / (2 sqrt(x))``."""

    spellings = ("sqrt",)
    latex_name = "\\sqrt"
    positive_domain = True

    def apply(self, xp, a):
        return xp.sqrt(a)

    def show(self, p):
        if p.latex:
            return f"\\sqrt{{{p.show(self.arg)[0]}}}", 6
        return super().show(p)

    def derivative(self):
        return Scale(0.5, Pow(self, -1.0))


@_node
class Tanh(Elementwise):
    """``tanh(E)``; ``tanh' = 1 - tanh^2``."""

    spellings = ("tanh",)
    latex_name = "\\tanh"

    def apply(self, xp, a):
        return xp.tanh(a)

    def derivative(self):
        return Add((_ones_like(self), Scale(-1.0, Pow(self, 2.0))))


@_node
class Sigmoid(Elementwise):
    """The logistic ``sigmoid(E) = 1 / (1 + exp(-E))``; ``sigma' = sigma (1 - sigma)``."""

    spellings = ("sigmoid", "logistic")
    latex_name = "\\sigma"

    def apply(self, xp, a):
        if xp is np_module():
            return 0.5 * (1.0 + xp.tanh(0.5 * a))
        import jax

        return jax.nn.sigmoid(a)

    def derivative(self):
        return Hadamard((self, Add((_ones_like(self), Scale(-1.0, self)))))


@_node
class Softplus(Elementwise):
    """``softplus(E) = log(1 + exp(E))`` (evaluated stably); ``softplus' = sigmoid``."""

    spellings = ("softplus",)

    def apply(self, xp, a):
        return xp.logaddexp(xp.zeros_like(a), a)

    def derivative(self):
        return Sigmoid(self.arg)


@_node
class Sin(Elementwise):
    """``sin(E)``; ``sin' = cos``."""

    spellings = ("sin",)
    latex_name = "\\sin"

    def apply(self, xp, a):
        return xp.sin(a)

    def derivative(self):
        return Cos(self.arg)


@_node
class Cos(Elementwise):
    """``cos(E)``; ``cos' = -sin``."""

    spellings = ("cos",)
    latex_name = "\\cos"

    def apply(self, xp, a):
        return xp.cos(a)

    def derivative(self):
        return Scale(-1.0, Sin(self.arg))


@_node
class Relu(Elementwise):
    """``relu(E) = max(0, E)``; subgradient ``relu'(x) = step(x)`` (0 at 0)."""

    spellings = ("relu",)

    def apply(self, xp, a):
        return xp.maximum(a, xp.zeros_like(a))

    def derivative(self):
        return Step(self.arg)


@_node
class Max(Expr):
    """Elementwise ``max(A, B)`` of equally shaped arguments.

    Subgradient convention: at a tie the derivative goes to the *first* argument, so the
    weights are ``1 - step(B - A)`` for ``A`` and ``step(B - A)`` for ``B``; ``max(0, x)``
    then has derivative 0 at 0, as ``relu``.
    """

    left: Expr
    right: Expr

    def _shape(self):
        if self.left.shape != self.right.shape:
            raise ShapeBug(f"max of {self.left.shape} and {self.right.shape}")
        return self.left.shape

    def _weights(self) -> tuple[Expr, Expr]:
        second = Step(Add((self.right, Scale(-1.0, self.left))))
        return Add((_ones_like(self), Scale(-1.0, second))), second

    def adjoints(self, G, needed):
        wa, wb = self._weights()
        if needed(self.left):
            yield self.left, Hadamard((G, wa))
        if needed(self.right):
            yield self.right, Hadamard((G, wb))

    def jvp(self, tangents):
        ta, tb = tangents
        wa, wb = self._weights()
        return _total(
            [None if ta is None else Hadamard((wa, ta)), None if tb is None else Hadamard((wb, tb))]
        )

    def jacobian(self, jac):
        if self.shape[1] != 1:
            return None
        wa, wb = self._weights()
        ja, jb = jac(self.left), jac(self.right)
        if ja is None or jb is None:
            return None
        return Add((_mm(Diag(wa), ja), _mm(Diag(wb), jb)))

    def simplified(self, children):
        a, b = children
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(max(a.value, b.value))
        return self.replace(children)

    def lower(self, ev):
        return ev.xp.maximum(ev(self.left), ev(self.right))

    def show(self, p):
        a, b = p.show(self.left)[0], p.show(self.right)[0]
        if p.latex:
            return f"\\max\\left({a}, {b}\\right)", 6
        return f"max({a}, {b})", 6


@_node
class Kron(Expr):
    """The Kronecker product ``kron(A, B)`` (blocks ``A_ij B``)."""

    left: Expr
    right: Expr

    def _shape(self):
        (ar, ac), (br, bc) = self.left.shape, self.right.shape
        if not all(isinstance(d, int) for d in (ar, ac, br, bc)):
            raise ShapeBug("kron of symbolic shapes")
        return (ar * br, ac * bc)  # type: ignore[operator]

    def adjoints(self, G, needed):
        # d tr(G^T (dA ⊗ B)) = tr(KronCut(G, B)^T dA), and likewise for B
        if needed(self.left):
            yield self.left, KronCut(G, self.right, True)
        if needed(self.right):
            yield self.right, KronCut(G, self.left, False)

    def jvp(self, tangents):
        ta, tb = tangents
        return _total(
            [
                None if ta is None else Kron(ta, self.right),
                None if tb is None else Kron(self.left, tb),
            ]
        )

    def simplified(self, children):
        if any(isinstance(c, Zeros) for c in children):
            return Zeros(*self.shape)
        return self.replace(children)

    def lower(self, ev):
        return ev.xp.kron(ev(self.left), ev(self.right))

    def show(self, p):
        a, b = p.show(self.left)[0], p.show(self.right)[0]
        if p.latex:
            return f"{p.wrap(a) if ' ' in a else a} \\otimes {p.wrap(b) if ' ' in b else b}", 4
        return f"kron({a}, {b})", 6


@_node
class KronCut(Expr):
    """The partial contraction that is the adjoint of a Kronecker factor.

    With ``G`` viewed as blocks ``G[i rb + k, j cb + l] = G4[i, k, j, l]``: for the first
    factor (``first``) ``out[i, j] = sum_kl G4[i, k, j, l] M[k, l]`` (``M`` is ``B``), for the
    second ``out[k, l] = sum_ij G4[i, k, j, l] M[i, j]`` (``M`` is ``A``); so
    ``tr(G^T (dA ⊗ B)) = tr(KronCut(G, B)^T dA)``.  Not part of the input language: it is
    printed as ``kron_adj(G, M)``.
    """

    g: Expr
    m: Expr
    first: bool

    def _shape(self):
        (gr, gc), (mr, mc) = self.g.shape, self.m.shape
        return (gr // mr, gc // mc)  # type: ignore[operator]

    def _blocks(self) -> tuple[int, int, int, int]:
        (gr, gc), (mr, mc) = self.g.shape, self.m.shape
        if self.first:  # M = B: G4 is (ra, rb, ca, cb) with rb, cb = M's shape
            return (gr // mr, mr, gc // mc, mc)  # type: ignore[return-value, operator]
        return (mr, gr // mr, mc, gc // mc)  # type: ignore[return-value, operator]

    def adjoints(self, G, needed):
        if needed(self.g):
            yield self.g, Kron(G, self.m) if self.first else Kron(self.m, G)
        if needed(self.m):
            yield self.m, KronCut(self.g, G, not self.first)

    def jvp(self, tangents):
        tg, tm = tangents
        return _total(
            [
                None if tg is None else KronCut(tg, self.m, self.first),
                None if tm is None else KronCut(self.g, tm, self.first),
            ]
        )

    def simplified(self, children):
        if any(isinstance(c, Zeros) for c in children):
            return Zeros(*self.shape)
        return self.replace(children)

    def lower(self, ev):
        g4 = ev(self.g).reshape(self._blocks())
        spec = "ikjl,kl->ij" if self.first else "ikjl,ij->kl"
        return ev.xp.einsum(spec, g4, ev(self.m))

    def show(self, p):
        a, b = p.show(self.g)[0], p.show(self.m)[0]
        name = "kron\\_adj" if p.latex else "kron_adj"
        which = "1" if self.first else "2"
        return f"{name}_{which}({a}, {b})", 6


def np_module():
    import numpy

    return numpy


def _all_subclasses(cls) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def elementwise_functions() -> dict[str, type[Elementwise]]:
    """Spelling -> class of every elementwise function (the grammar reads this table)."""
    return {name: cls for cls in _all_subclasses(Elementwise) for name in cls.spellings}


# -- helpers of the rules --------------------------------------------------------------------


def _mm(*factors: Expr) -> Expr:
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


def _total(terms) -> Expr | None:
    """The sum of the non-zero (not ``None``) terms; ``None`` when all are zero."""
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _total_known(terms) -> Expr | None:
    """The sum of the terms, ``None`` when one of them has no closed form."""
    if any(t is None for t in terms):
        return None
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _depends(jac, e: Expr) -> bool:
    return jac.depends(e)


def _diag_times(d: Expr, j: Expr | None, node: Expr) -> Expr | None:
    """``diag(d) J`` for a column ``node`` (an elementwise function's Jacobian)."""
    if j is None or node.shape[1] != 1:
        return None
    return _mm(Diag(d), j)


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

"""Typed, immutable expression nodes: the data every pass of ``derive`` reads.

Every node is a matrix with a ``shape`` of two dimensions; a dimension is an ``int`` or, in a
symbolic derivation, the ``str`` name of an unknown size.  Vectors are ``n x 1`` columns and
scalars ``1 x 1``.  Nodes compare and hash structurally, so equal sub-expressions are one key
in a dict (the basis of common sub-expression sharing).

The node set is small on purpose: subtraction is ``Add`` with ``Scale(-1, .)``, a scalar times
a matrix is ``Scale`` (a number) or ``Mul`` (a 1x1 expression), ``||E||_F^2`` is
``Pow(Norm(E), 2)``.

A node class holds its fields and its shape rule, nothing else: each pass keeps one table
keyed by node class (``functools.singledispatch``) -- the reverse rules in ``_rules``, the
forward rules and closed-form Jacobians in ``_forward``, the rebuild in normal form in
``_simplify``, the lowering to JAX in ``_codegen`` and the printing in ``_printing``.  This
module imports none of them.  A named function of one argument (``Function``) also declares
its spellings, shape rule and domain here, which the grammar and the sampler read.

The classes follow equinox's abstract/final convention: ``Expr``, ``Leaf``, ``Function`` and
``Elementwise`` are abstract bases; every class decorated ``@_node`` is final (it cannot be
subclassed) and must implement every abstract method, or its definition raises ``TypeError``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import ClassVar, dataclass_transform

import numpy as np

Dim = int | str
Shape = tuple[Dim, Dim]


class ShapeBug(AssertionError):
    """A rule built an ill-shaped node: an engine bug, never a user error."""


class Expr(abc.ABC):
    """Base class: structural equality and a cached hash over the dataclass fields."""

    __slots__ = ()

    text_form: ClassVar[Callable[[Expr], str] | None] = None
    """The plain-text printer, installed by ``_printing`` (which imports this module)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        final = [b.__name__ for b in cls.__bases__ if b.__dict__.get("_final", False)]
        if final:
            raise TypeError(f"{cls.__name__}: node class {final[0]} is final, not a base")

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
                vars(node)["_hash"] = hash((type(node).__name__, node._fields()))
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
            vars(node)["shape"] = node._shape()
        return self._shape()

    @abc.abstractmethod
    def _shape(self) -> Shape:
        """The shape from the children's (``ShapeBug`` when they do not conform)."""

    @property
    def is_scalar(self) -> bool:
        return self.shape == (1, 1)

    def __repr__(self) -> str:
        text = "" if Expr.text_form is None else " " + Expr.text_form(self)
        return f"<{type(self).__name__}{text}>"

    def replace(self, children: typing.Sequence[Expr]) -> Expr:
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
def _abstract(cls):
    """An abstract node base: a dataclass that may be subclassed."""
    return dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)


@dataclass_transform(frozen_default=True, eq_default=False)
def _node(cls):
    """A concrete node class: final, with every abstract method implemented."""
    cls = _abstract(cls)
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise TypeError(f"node class {cls.__name__} does not implement {', '.join(missing)}")
    cls._final = True
    return cls


def _square(e: Expr, what: str) -> Dim:
    r, c = e.shape
    if r != c:
        raise ShapeBug(f"{what} of a non-square {r}x{c} expression")
    return r


# -- leaves ----------------------------------------------------------------------------------


class Leaf(Expr):
    """A node without children: no derivative, already in normal form."""

    __slots__ = ()

    @property
    def children(self) -> tuple[Expr, ...]:
        return ()


@_node
class Var(Leaf):
    """A named input of the given shape."""

    name: str
    dims: Shape

    def _shape(self):
        return self.dims


@_node
class Const(Leaf):
    """A number (1x1)."""

    value: float

    def _shape(self):
        return (1, 1)


@_node
class Eye(Leaf):
    """The ``n x n`` identity ``I``."""

    n: Dim

    def _shape(self):
        return (self.n, self.n)


@_node
class Ones(Leaf):
    """The all-ones matrix ``J`` (``1`` when a column, ``1^T`` when a row)."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)


@_node
class Zeros(Leaf):
    """The zero matrix."""

    rows: Dim
    cols: Dim

    def _shape(self):
        return (self.rows, self.cols)


# -- linear structure ------------------------------------------------------------------------


def _same_shapes(args: typing.Sequence[Expr], what: str) -> Shape:
    shape = args[0].shape
    for a in args[1:]:
        if a.shape != shape:
            raise ShapeBug(f"{what} of {shape} and {a.shape}")
    return shape


@_node
class Add(Expr):
    """Sum of equally shaped terms."""

    args: tuple[Expr, ...]

    def _shape(self):
        return _same_shapes(self.args, "sum")


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


# -- named functions of one argument ---------------------------------------------------------


@_abstract
class Function(Expr):
    """A named function ``f(E)`` of one argument: the grammar entry and shape rule in one place.

    ``spellings`` are its names in the language (the first one prints), ``square`` says that
    the argument must be square, ``scalar`` that the value is 1x1 (else it has the argument's
    shape), ``domain`` how the self-check draws the argument (``"positive"`` entries, an
    ``"invertible"`` matrix, or anything); ``latex_name`` is its LaTeX operator.
    """

    arg: Expr
    spellings: ClassVar[tuple[str, ...]] = ()
    square: ClassVar[bool] = False
    scalar: ClassVar[bool] = False
    domain: ClassVar[str] = ""
    latex_name: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return self.spellings[0]

    def _shape(self):
        if self.square:
            _square(self.arg, self.name)
        return (1, 1) if self.scalar else self.arg.shape


@_node
class Trace(Function):
    """``tr(E)``."""

    spellings = ("tr", "Tr", "trace")
    square = scalar = True


@_node
class Sum(Function):
    """Sum of all entries, ``1^T E 1``."""

    spellings = ("sum",)
    scalar = True


@_node
class Inv(Function):
    """``E^-1``."""

    spellings = ("inv",)
    square = True
    domain = "invertible"


@_node
class Det(Function):
    """``det(E)``."""

    spellings = ("det",)
    square = scalar = True
    domain = "invertible"
    latex_name = "\\det"


@_node
class LogDet(Function):
    """``log|det(E)|``."""

    spellings = ("logdet",)
    square = scalar = True
    domain = "invertible"


@_node
class Norm(Function):
    """Frobenius norm ``||E||_F``."""

    spellings = ("norm",)
    scalar = True


@_node
class Log(Function):
    """Elementwise natural logarithm."""

    spellings = ("log",)
    domain = "positive"
    latex_name = "\\log"


@_node
class Exp(Function):
    """Elementwise exponential."""

    spellings = ("exp",)
    latex_name = "\\exp"


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


# -- elementwise -----------------------------------------------------------------------------


@_node
class Hadamard(Expr):
    """Elementwise product of equally shaped factors."""

    args: tuple[Expr, ...]

    def _shape(self):
        return _same_shapes(self.args, "Hadamard product")


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
class Pow(Expr):
    """Elementwise power ``E.^p`` (for a 1x1 ``E``, the scalar power)."""

    arg: Expr
    p: float

    def _shape(self):
        return self.arg.shape


@_abstract
class Elementwise(Function):
    """Base of the elementwise functions ``f(E)`` of one argument.

    A subclass gives ``spellings`` (the function names of the grammar), ``apply`` (its value,
    with ``xp`` jax.numpy or NumPy) and ``derivative`` (``f'(E)`` as an expression, ``None``
    where it is zero); the rules, printing, lowering and sampling follow from those.
    ``domain = "positive"`` marks a function defined for positive arguments only (the check's
    sampler draws its symbols positive).
    """

    @abc.abstractmethod
    def apply(self, xp, a) -> typing.Any:
        """The value on the array ``a`` (``xp`` is jax.numpy or NumPy)."""

    @abc.abstractmethod
    def derivative(self) -> Expr | None:
        """``f'(E)`` as an expression; ``None`` where it is zero."""


def ones_like(e: Expr) -> Expr:
    return ONE if e.shape == (1, 1) else Ones(*e.shape)


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
    domain = "positive"

    def apply(self, xp, a):
        return xp.sqrt(a)

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
        return Add((ones_like(self), Scale(-1.0, Pow(self, 2.0))))


@_node
class Sigmoid(Elementwise):
    """The logistic ``sigmoid(E) = 1 / (1 + exp(-E))``; ``sigma' = sigma (1 - sigma)``."""

    spellings = ("sigmoid", "logistic")
    latex_name = "\\sigma"

    def apply(self, xp, a):
        if xp is np:
            return 0.5 * (1.0 + xp.tanh(0.5 * a))
        import jax

        return jax.nn.sigmoid(a)

    def derivative(self):
        return Hadamard((self, Add((ones_like(self), Scale(-1.0, self)))))


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


# -- functions of two arguments --------------------------------------------------------------


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

    def weights(self) -> tuple[Expr, Expr]:
        """The derivative's weights ``(1 - step(B - A), step(B - A))`` of ``A`` and ``B``."""
        second = Step(Add((self.right, Scale(-1.0, self.left))))
        return Add((ones_like(self), Scale(-1.0, second))), second


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

    def blocks(self) -> tuple[int, int, int, int]:
        """``G``'s shape as the four-index ``G4``."""
        (gr, gc), (mr, mc) = self.g.shape, self.m.shape
        if self.first:  # M = B: G4 is (ra, rb, ca, cb) with rb, cb = M's shape
            return (gr // mr, mr, gc // mc, mc)  # type: ignore[return-value, operator]
        return (mr, gr // mr, mc, gc // mc)  # type: ignore[return-value, operator]


def _all_subclasses(cls) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def functions() -> dict[str, type[Function]]:
    """Spelling -> class of every named function of one argument (the grammar reads this)."""
    return {
        name: cls
        for cls in _all_subclasses(Function)
        if cls.__dict__.get("_final", False)
        for name in cls.spellings
    }


def mm(*factors: Expr) -> Expr:
    """The product of ``factors`` (one factor: itself)."""
    return factors[0] if len(factors) == 1 else MatMul(tuple(factors))


ONE = Const(1.0)


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

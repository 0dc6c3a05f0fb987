"""Shape inference: unify dimensions over the parse tree, report mismatches, elaborate to ``_ast``.

Every named symbol gets a ``rows x cols`` pair of dimension variables (fixed by ``shapes`` when
given; otherwise a name starting with a lowercase letter is a column vector ``n x 1`` and any
other name a matrix).  Walking the tree bottom-up, each operator unifies the dimensions it
needs equal: a product the inner ones, a sum or ``⊙`` both, ``tr``/``inv``/``det`` rows with
columns.  A conflict is a ``DeriveShapeError`` naming the sub-expression, with the source line
and the sub-expression underlined.

Scalars: a factor known to be 1x1 when it is reached (a number, ``tr``, ``det``, ``sum``, a
norm, ``a' x`` of two vectors, any symbol declared 1x1) multiplies, adds to (broadcast) or
divides anything.  This is decided as the tree is read, so a factor that only later turns out
to be 1x1 is treated as a matrix: declare it in ``shapes``.

``diag(E)`` is the diagonal matrix of a vector ``E`` and the diagonal (as a vector) of a square
matrix ``E`` (MATLAB's convention); a matrix of unknown shape is taken to be square.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import re
import warnings
from collections.abc import Mapping

from . import _ast as E
from . import _syntax as S
from ._errors import (
    DeriveDomainError,
    DeriveError,
    DerivePrecedenceWarning,
    DeriveShapeError,
    pointer,
)
from ._lexer import CONSTANTS, FUNCTIONS


class _Dims:
    """Union-find over dimension variables, each class optionally bound to an integer."""

    def __init__(self):
        self.parent: list[int] = []
        self.value: list[int | None] = []
        self.label: list[str] = []

    def copy(self) -> _Dims:
        other = _Dims()
        other.parent = list(self.parent)
        other.value = list(self.value)
        other.label = list(self.label)
        return other

    def new(self, label: str, value: int | None = None) -> int:
        self.parent.append(len(self.parent))
        self.value.append(value)
        self.label.append(label)
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def get(self, i: int) -> int | None:
        return self.value[self.find(i)]

    def unify(self, i: int, j: int) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        va, vb = self.value[a], self.value[b]
        if va is not None and vb is not None and va != vb:
            return False
        # the class is named by a symbol's dimension rather than a constant's, then the older
        lo, hi = sorted((a, b), key=lambda k: (not self._symbolic_label(k), k))
        self.parent[hi] = lo
        self.value[lo] = va if va is not None else vb
        return True

    def _symbolic_label(self, i: int) -> bool:
        return self.label[i].startswith(("rows(", "cols(", "len("))

    def bind(self, i: int, value: int) -> bool:
        root = self.find(i)
        if self.value[root] is not None:
            return self.value[root] == value
        self.value[root] = value
        return True

    def show(self, i: int) -> str:
        v = self.get(i)
        return str(v) if v is not None else self.label[self.find(i)]


def normalize_shapes(shapes: Mapping | str | None) -> dict[str, tuple[int, int]] | None:
    """``{name: (rows, cols)}`` from ints (vectors), tuples, ``"3x4"`` strings or ``"A=3x4,x=5"``.

    A vector may be given as ``n``, ``(n,)`` or ``(n, 1)``; a scalar as ``()`` or ``1x1``.
    """
    if shapes is None:
        return None
    if isinstance(shapes, str):
        shapes = parse_shape_spec(shapes)
    if not isinstance(shapes, Mapping):
        raise DeriveError(
            f"shapes must be a mapping from names to shapes, got {type(shapes).__name__}"
        )
    out = {}
    for name, shape in shapes.items():
        if not isinstance(name, str) or not re.fullmatch(r"[^\W\d_][\w]*", name):
            raise DeriveError(f"shapes: {name!r} is not a symbol name")
        if (name in CONSTANTS and name != "J") or name in FUNCTIONS:
            raise DeriveError(f"shapes: {name!r} is reserved (a constant or function name)")
        out[name] = _one_shape(name, shape)
    return out


def _one_shape(name: str, shape) -> tuple[int, int]:
    if isinstance(shape, str):
        dims = [d.strip() for d in re.split(r"[x×X*,]", shape.strip())] if shape.strip() else []
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            raise DeriveError(
                f"shapes: {name}={shape!r} is not a shape; write ROWSxCOLS (3x4) or N for a vector"
            ) from None
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise DeriveError(f"shapes: {name}={shape!r} is not a shape") from None
    if len(dims) == 0:
        dims = (1, 1)
    elif len(dims) == 1:
        dims = (dims[0], 1)
    if len(dims) != 2:
        raise DeriveError(
            f"shapes: {name} has {len(dims)} dimensions {tuple(dims)}; symbols are matrices "
            f"(2 dimensions), vectors (1) or scalars (0)"
        )
    out = []
    for d in dims:
        try:
            if isinstance(d, bool):
                raise TypeError
            d = operator.index(d)  # ints, NumPy integers
        except TypeError:
            d = 0
        if d < 1:
            raise DeriveError(f"shapes: {name}={tuple(dims)} needs positive integer dimensions")
        out.append(d)
    return (out[0], out[1])


def parse_shape_spec(spec: str) -> dict[str, tuple[int, int]]:
    """Parse ``"A=3x4,x=5,s=1x1"`` (spaces allowed, ``×`` for ``x``) into ``{name: shape}``."""
    out: dict[str, tuple[int, int]] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name or not value.strip():
            raise DeriveError(f"bad shape {item!r}: expected NAME=ROWSxCOLS (A=3x4) or NAME=N")
        if name in out:
            raise DeriveError(f"shape of {name} given twice in {spec!r}")
        try:
            out[name] = _one_shape(name, value.strip())
        except DeriveError as err:
            raise DeriveError(f"bad shape {item!r}: {err}") from None
    if not out:
        raise DeriveError(f"no shapes in {spec!r}: expected NAME=ROWSxCOLS,... (A=3x4,x=5)")
    return out


@dataclasses.dataclass
class _Info:
    r: int
    c: int
    decision: str = ""


FUNCTIONS_OF_ONE = {cls.spellings[0]: cls for cls in E.functions().values()}
"""Canonical name -> class of the named functions of one argument (shape rule on the class)."""


def _broadcast(s: E.Expr, shape) -> E.Expr:
    """The 1x1 ``s`` as a matrix of ``shape`` (``s J``)."""
    ones = E.Ones(*shape)
    return E.Scale(s.value, ones) if isinstance(s, E.Const) else E.Mul(s, ones)


class Elaboration:
    """The inferred shapes of one parse tree, and its elaboration into typed nodes.

    Attributes:
        source: the expression text.
        tree: the parse tree.
        symbols: ``{name: (rows_var, cols_var)}`` in order of first appearance.
        concrete: whether every dimension is a known integer.
    """

    def __init__(
        self,
        source: str,
        tree: S.Node,
        shapes: dict[str, tuple[int, int]] | None,
        scalar: bool = True,
        quiet: bool = False,
    ):
        self.source = source
        self.tree = tree
        self.given = shapes
        self.quiet = quiet  # no DerivePrecedenceWarning (the expression was read once already)
        self.dims = _Dims()
        self.info: dict[int, _Info] = {}
        self.symbols: dict[str, tuple[int, int]] = {}
        self.constants: list[tuple[S.Constant, int, int]] = []
        self._nodes: list[S.Node] = []  # keep parse nodes alive: info is keyed by id
        r, c = self._infer(tree)
        self.root = (r, c)
        if shapes is not None:
            uses_j = any(node.kind == "J" for node, _, _ in self.constants)
            unknown = [n for n in shapes if n not in self.symbols and not (n == "J" and uses_j)]
            if unknown:
                raise DeriveError(
                    f"shapes names {', '.join(unknown)}, which the expression does not use "
                    f"(its symbols: {', '.join(self.symbols) or 'none'})"
                )
        if scalar and not (self.dims.get(r) == 1 and self.dims.get(c) == 1):
            raise DeriveShapeError(
                f"the objective must be a scalar (1x1), but it is {self.show(r, c)}; "
                f"take tr(...), sum(...) or a norm of it",
                source,
                tree.span,
            )
        if shapes is not None:
            self.require_concrete()

    # -- reporting -------------------------------------------------------------------------
    def show(self, r: int, c: int) -> str:
        return f"{self.dims.show(r)}x{self.dims.show(c)}"

    def text(self, node: S.Node) -> str:
        return self.source[node.span[0] : node.span[1]]

    def fail(self, reason: str, node: S.Node):
        raise DeriveShapeError(reason, self.source, node.span)

    def _known(self, i: int, value: int) -> bool:
        return self.dims.get(i) == value

    def _scalar(self, rc: tuple[int, int]) -> bool:
        return self._known(rc[0], 1) and self._known(rc[1], 1)

    def _record(self, node: S.Node, r: int, c: int, decision: str = "") -> tuple[int, int]:
        self.info[id(node)] = _Info(r, c, decision)
        self._nodes.append(node)
        return r, c

    # -- pass 1: inference -----------------------------------------------------------------
    def _symbol(self, node: S.Name) -> tuple[int, int]:
        name = node.name
        if name not in self.symbols:
            given = None if self.given is None else self.given.get(name)
            if given is not None:
                r = self.dims.new(f"rows({name})", given[0])
                c = self.dims.new(f"cols({name})", given[1])
            elif name[0].islower():
                r = self.dims.new(f"len({name})")
                c = self.dims.new("1", 1)
            else:
                r = self.dims.new(f"rows({name})")
                c = self.dims.new(f"cols({name})")
            self.symbols[name] = (r, c)
        return self.symbols[name]

    def _infer(self, node: S.Node) -> tuple[int, int]:
        d = self.dims
        if isinstance(node, S.Name):
            return self._record(node, *self._symbol(node))
        if isinstance(node, S.Number) or (isinstance(node, S.Constant) and node.kind == "pi"):
            one = d.new("1", 1)
            return self._record(node, one, one)
        if isinstance(node, S.Constant):
            where = f"{node.kind}@{node.span[0]}"
            if node.kind == "I":
                n = d.new(f"size({where})")
                self.constants.append((node, n, n))
                return self._record(node, n, n)
            declared = None if self.given is None else self.given.get("J")
            if declared is not None:  # J given a shape in shapes=: every J has it
                r, c = d.new(f"rows({where})", declared[0]), d.new(f"cols({where})", declared[1])
            else:
                r, c = d.new(f"rows({where})"), d.new(f"cols({where})")
            self.constants.append((node, r, c))
            return self._record(node, r, c)
        if isinstance(node, S.Neg):
            return self._record(node, *self._infer(node.arg))
        if isinstance(node, S.Transpose):
            r, c = self._infer(node.arg)
            return self._record(node, c, r)
        if isinstance(node, S.Power):
            return self._power(node)
        if isinstance(node, S.Call):
            return self._call(node)
        if isinstance(node, S.Binary):
            # a chain A B C ... nests to the left: walked by a loop, not by recursion
            spine = []
            while isinstance(node, S.Binary):
                spine.append(node)
                node = node.left
            rc = self._infer(node)
            for b in reversed(spine):
                rc = self._binary(b, rc)
            return rc
        raise AssertionError(f"unknown parse node {node!r}")

    def _power(self, node: S.Power) -> tuple[int, int]:
        r, c = self._infer(node.arg)
        if node.elementwise:
            return self._record(node, r, c, "elementwise")
        if node.exponent is not None and self._scalar((r, c)):
            return self._record(node, r, c, "scalar_pow")
        if node.exponent is not None and float(node.exponent).is_integer():
            if not self.dims.unify(r, c):
                self.fail(
                    f"the matrix power {self.text(node)} needs a square matrix, but "
                    f"{self.text(node.arg)} is {self.show(r, c)}; use .^ for an elementwise power",
                    node,
                )
            return self._record(node, r, c, "matpow")
        if node.exponent is None or node.exponent == -1:
            if not self.dims.unify(r, c):
                what = "inverse transpose" if node.exponent is None else "inverse"
                self.fail(
                    f"the {what} needs a square matrix, but {self.text(node.arg)} is "
                    f"{self.show(r, c)}",
                    node,
                )
            return self._record(node, r, c, "inv" if node.exponent is not None else "invT")
        self.fail(
            f"{self.text(node)}: only a scalar (1x1) can be raised to the power "
            f"{node.exponent:g}, and {self.text(node.arg)} is {self.show(r, c)}; use .^ for an "
            f"elementwise power, ^-1 or inv() for the inverse",
            node,
        )
        raise AssertionError  # unreachable

    def _call(self, node: S.Call) -> tuple[int, int]:
        d = self.dims
        if node.arg2 is not None:
            return self._binary_call(node)
        r, c = self._infer(node.arg)
        f = node.func
        arg = self.text(node.arg)
        if f in FUNCTIONS_OF_ONE:
            cls = FUNCTIONS_OF_ONE[f]
            if cls.square and not d.unify(r, c):
                self.fail(f"{f} needs a square matrix, but {arg} is {self.show(r, c)}", node)
            if not cls.scalar:
                return self._record(node, r, c)
            one = d.new("1", 1)
            return self._record(node, one, one)
        if f == "diag":
            if self._known(c, 1):
                return self._record(node, r, r, "diag")
            if self._known(r, 1):
                return self._record(node, c, c, "diag_row")
            if not d.unify(r, c):
                self.fail(
                    f"diag needs a vector (the diagonal matrix of it) or a square matrix (its "
                    f"diagonal), but {arg} is {self.show(r, c)}",
                    node,
                )
            one = d.new("1", 1)
            return self._record(node, r, one, "diagpart")
        raise AssertionError(f"unknown function {f}")

    def _binary_call(self, node: S.Call) -> tuple[int, int]:
        """``max(A, B)`` (equal shapes, or a 1x1 broadcast) and ``kron(A, B)``."""
        if node.func == "max":
            assert node.arg2 is not None
            binary = S.Binary(node.span, "max", node.arg, node.arg2)
            return self._binary(binary, self._infer(node.arg), record_as=node)
        assert node.func == "kron" and node.arg2 is not None
        d = self.dims
        (ar, ac), (br, bc) = self._infer(node.arg), self._infer(node.arg2)
        sizes = [d.get(i) for i in (ar, ac, br, bc)]
        if any(v is None for v in sizes):
            self.fail(
                f"kron needs the shapes of both arguments, but {self.text(node.arg)} is "
                f"{self.show(ar, ac)} and {self.text(node.arg2)} is {self.show(br, bc)}; "
                f"declare them in shapes=",
                node,
            )
        r = d.new("kron rows", sizes[0] * sizes[2])  # type: ignore[operator]
        c = d.new("kron cols", sizes[1] * sizes[3])  # type: ignore[operator]
        return self._record(node, r, c)

    def _binary(
        self, node: S.Binary, left: tuple[int, int], record_as: S.Node | None = None
    ) -> tuple[int, int]:
        """The shape of ``node`` whose left operand's shape, already inferred, is ``left``
        (recorded against ``record_as`` when given: ``max(A, B)`` is read as a binary node)."""
        d = self.dims
        L, R = node.left, node.right
        lr, lc = left
        rr, rc = self._infer(R)
        lsc, rsc = self._scalar((lr, lc)), self._scalar((rr, rc))
        op = node.op
        if op == "*":
            if lsc:
                return self._record(record_as or node, rr, rc, "scale_left")
            if rsc:
                return self._record(record_as or node, lr, lc, "scale_right")
            if not d.unify(lc, rr):
                self.fail(
                    f"cannot multiply {self.text(L)} ({self.show(lr, lc)}) by {self.text(R)} "
                    f"({self.show(rr, rc)}): {d.show(lc)} columns against {d.show(rr)} rows",
                    node,
                )
            return self._record(record_as or node, lr, rc, "matmul")
        if op == "/":
            if not rsc:
                self.fail(
                    f"the divisor of '/' must be a scalar, but {self.text(R)} is "
                    f"{self.show(rr, rc)}; use ⊘ (or ./) for elementwise division",
                    node,
                )
            return self._record(record_as or node, lr, lc, "scalar_div")
        if op in ("⊙", "⊘"):
            self._warn_precedence(node)
        # +, -, ⊙, ⊘: equal shapes, or a scalar broadcast against a matrix
        if lsc and not rsc:
            return self._record(record_as or node, rr, rc, "bcast_left")
        if rsc and not lsc:
            return self._record(record_as or node, lr, lc, "bcast_right")
        if not (d.unify(lr, rr) and d.unify(lc, rc)):
            lhs, rhs = (
                f"{self.text(L)} ({self.show(lr, lc)})",
                f"{self.text(R)} ({self.show(rr, rc)})",
            )
            message = {
                "+": f"cannot add {lhs} and {rhs}: the shapes differ",
                "-": f"cannot subtract {rhs} from {lhs}: the shapes differ",
                "⊙": f"⊙ (elementwise product) needs equal shapes, but {lhs} and {rhs} differ",
                "⊘": f"⊘ (elementwise division) needs equal shapes, but {lhs} and {rhs} differ",
                "max": f"max needs equal shapes, but {lhs} and {rhs} differ",
            }[op]
            self.fail(message, record_as or node)
        return self._record(record_as or node, lr, lc, "same")

    def _warn_precedence(self, node: S.Binary) -> None:
        """Warn where MATLAB or NumPy would read ``A ⊙ B C`` as ``(A ⊙ B) C``: the right
        operand is an unbracketed matrix product (a product by a 1x1 factor commutes, so the
        value is the same either way and nothing is said)."""
        right = node.right
        if self.quiet or not (isinstance(right, S.Binary) and right.op == "*"):
            return
        if self.info[id(right)].decision != "matmul":
            return
        text = self.text(right)
        if text[:1] in "([" and text[-1:] in ")]":
            return  # bracketed
        sign = "⊙" if node.op == "⊙" else "⊘"
        first = right.left
        while isinstance(first, S.Binary) and first.op == "*":
            first = first.left
        rest = self.source[first.span[1] : right.span[1]].strip()
        warnings.warn(
            DerivePrecedenceWarning(
                f"{self.text(node)} is read as {self.text(node.left)} {sign} ({text}): "
                f"elementwise operators bind more loosely than products here, while MATLAB "
                f"and NumPy would read ({self.text(node.left)} {sign} {self.text(first)}) {rest}; "
                f"bracket the product to say which you mean\n"
                f"{pointer(self.source, node.span[0], node.span[1])}"
            ),
            stacklevel=2,
        )

    # -- completeness ----------------------------------------------------------------------
    def require_concrete(self) -> None:
        """Raise listing every symbol or constant whose shape the expression leaves open."""
        missing = []
        for name, (r, c) in self.symbols.items():
            if self.dims.get(r) is None or self.dims.get(c) is None:
                missing.append(f"{name} ({self.show(r, c)})")
        for node, r, c in self.constants:
            if self.dims.get(r) is None or self.dims.get(c) is None:
                what = "size" if node.kind == "I" else "shape"
                missing.append(f"the {what} of {node.kind} at column {node.span[0]}")
        if missing:
            raise DeriveShapeError(
                "the shapes of these are not determined by the expression and the given "
                f"shapes: {'; '.join(missing)}; add them to shapes=",
                self.source,
                None,
            )

    @property
    def concrete(self) -> bool:
        ids = [i for rc in self.symbols.values() for i in rc]
        ids += [i for _, r, c in self.constants for i in (r, c)]
        return all(self.dims.get(i) is not None for i in ids)

    def free_classes(self) -> list[int]:
        """Root variables of the dimensions still unknown, in order of creation."""
        roots = []
        for i in range(len(self.dims.parent)):
            root = self.dims.find(i)
            if self.dims.value[root] is None and root not in roots:
                roots.append(root)
        return roots

    def with_sizes(self, sizes: Mapping[int, int]) -> Elaboration:
        """A copy with the free dimension classes ``sizes`` bound (for default check shapes)."""
        other = self._copy()
        for root, value in sizes.items():
            other.dims.bind(root, value)
        return other

    def bind_arrays(self, shapes: Mapping[str, tuple[int, int]]) -> Elaboration:
        """A copy with each symbol's dimensions bound to the shape of the array passed for it.

        Raises ``DeriveShapeError`` naming the array when its shape contradicts the expression
        (or the shapes of the other arrays, through the dimensions they share).
        """
        other = self._copy()
        d = other.dims
        for name, shape in shapes.items():
            r, c = other.symbols[name]
            for axis, (var, size) in enumerate(zip((r, c), shape, strict=True)):
                if d.bind(var, size):
                    continue
                needed = d.get(var)
                ties = [
                    f"{'rows' if k == 0 else 'cols'}({n})"
                    for n, pair in other.symbols.items()
                    for k, v in enumerate(pair)
                    if n != name and d.find(v) == d.find(var)
                ]
                why = f", tied by the expression to {', '.join(ties)}" if ties else ""
                kind = ""
                if name[0].islower() and axis == 1 and (self.given is None):
                    kind = (
                        f" ({name} was read as a column vector: lowercase names are vectors "
                        f"unless shapes= says otherwise)"
                    )
                raise DeriveShapeError(
                    f"{name} has shape {shape[0]}x{shape[1]}, but the expression needs "
                    f"{needed} {'rows' if axis == 0 else 'columns'}{why}{kind}",
                    self.source,
                    None,
                )
        other.require_concrete()
        return other

    @property
    def is_scalar(self) -> bool:
        """Whether the whole expression is known to be 1x1."""
        return self.dims.get(self.root[0]) == 1 and self.dims.get(self.root[1]) == 1

    def _copy(self) -> Elaboration:
        other = object.__new__(Elaboration)
        other.__dict__.update(self.__dict__)
        other.dims = self.dims.copy()
        return other

    # -- pass 2: elaboration ---------------------------------------------------------------
    def dim(self, i: int) -> E.Dim:
        v = self.dims.get(i)
        return v if v is not None else self.dims.label[self.dims.find(i)]

    def symbol_shapes(self) -> dict[str, E.Shape]:
        return {n: (self.dim(r), self.dim(c)) for n, (r, c) in self.symbols.items()}

    def build(self) -> tuple[E.Expr, dict[str, list[tuple[int, int]]]]:
        """The typed objective as written, and for each symbol the source spans of its
        appearances in the order the rules visit them (``Expr.children`` order)."""
        spans: dict[str, list[tuple[int, int]]] = {n: [] for n in self.symbols}
        expr = self._build(self.tree, spans)
        return expr, spans

    def _matrix_power(self, node: S.Power, spans) -> E.Expr:
        """``X^k = X X ... X`` (k factors, each an appearance of the symbols in ``X``),
        ``X^0 = I``, ``X^-k = (X^k)^-1``."""
        k = int(node.exponent)  # type: ignore[arg-type]
        if k == 0:
            a = self._build(node.arg, {n: [] for n in spans})  # no appearance survives
            return E.Eye(a.shape[0])
        factors = [self._build(node.arg, spans) for _ in range(abs(k))]
        product = factors[0] if len(factors) == 1 else E.MatMul(tuple(factors))
        return E.Inv(product) if k < 0 else product

    def _build(self, node: S.Node, spans) -> E.Expr:
        info = self.info[id(node)]
        if isinstance(node, S.Name):
            spans[node.name].append(node.span)
            return E.Var(node.name, (self.dim(info.r), self.dim(info.c)))
        if isinstance(node, S.Number):
            return E.Const(node.value)
        if isinstance(node, S.Constant):
            if node.kind == "pi":
                return E.Const(math.pi)
            if node.kind == "I":
                return E.Eye(self.dim(info.r))
            return E.Ones(self.dim(info.r), self.dim(info.c))
        if isinstance(node, S.Neg):
            arg = self._build(node.arg, spans)
            return E.Const(-arg.value) if isinstance(arg, E.Const) else E.Scale(-1.0, arg)
        if isinstance(node, S.Transpose):
            return E.Transpose(self._build(node.arg, spans))
        if isinstance(node, S.Power):
            if info.decision == "matpow":
                return self._matrix_power(node, spans)
            a = self._build(node.arg, spans)
            if info.decision == "inv":
                return E.Inv(a)
            if info.decision == "invT":
                return E.Transpose(E.Inv(a))
            assert node.exponent is not None  # exponent None is the inverse transpose: "invT"
            return E.Pow(a, float(node.exponent))
        if isinstance(node, S.Call):
            a = self._build(node.arg, spans)
            f = node.func
            if node.arg2 is not None:
                b = self._build(node.arg2, spans)
                if f == "kron":
                    return E.Kron(a, b)
                if isinstance(a, E.Const) and isinstance(b, E.Const):
                    return E.Const(max(a.value, b.value))
                if a.shape == (1, 1) and b.shape != (1, 1):
                    a = _broadcast(a, b.shape)
                elif b.shape == (1, 1) and a.shape != (1, 1):
                    b = _broadcast(b, a.shape)
                return E.Max(a, b)
            if f in FUNCTIONS_OF_ONE:
                return FUNCTIONS_OF_ONE[f](a)
            assert f == "diag"
            return {
                "diag": E.Diag,
                "diag_row": lambda x: E.Diag(E.Transpose(x)),
                "diagpart": E.DiagPart,
            }[info.decision](a)
        assert isinstance(node, S.Binary)
        # a chain A B C ... nests to the left: walked by a loop, not by recursion.  A scalar
        # on the right that becomes the first child (Mul(s, arg)) is built before the left
        # operand, so that appearance spans stay in Expr.children order
        spine = []
        while isinstance(node, S.Binary):
            spine.append(node)
            node = node.left
        early = {id(b): self._build(b.right, spans) for b in spine if self._right_first(b)}
        out = self._build(node, spans)
        for b in reversed(spine):
            right = early[id(b)] if id(b) in early else self._build(b.right, spans)
            out = self._binary_node(b, out, right)
        return out

    def _right_first(self, node: S.Binary) -> bool:
        decision = self.info[id(node)].decision
        op = node.op
        return decision == "scale_right" or op == "/" or (op == "⊘" and decision == "bcast_right")

    def _binary_node(self, node: S.Binary, a: E.Expr, b: E.Expr) -> E.Expr:
        """The typed node of ``node`` from its typed operands; a chain of products, sums or
        Hadamard products is kept one n-ary node, and numeric factors are folded (a fold
        beyond float64, or a division by the number 0, is a ``DeriveDomainError``)."""
        out = self._binary_fold(node, a, b)
        k = out.value if isinstance(out, E.Const) else out.k if isinstance(out, E.Scale) else 1.0
        if not math.isfinite(k):
            raise DeriveDomainError(
                f"{self.text(node)}: the numbers multiply to {k} (beyond float64)",
                self.source,
                node.span,
            )
        return out

    def _binary_fold(self, node: S.Binary, a: E.Expr, b: E.Expr) -> E.Expr:
        decision = self.info[id(node)].decision
        op = node.op
        if op == "*":
            if decision == "matmul":
                return E.MatMul((*_flat(a, E.MatMul), b))
            s, m = (a, b) if decision == "scale_left" else (b, a)
            if isinstance(s, E.Const) and isinstance(m, E.Const):
                return E.Const(s.value * m.value)
            if isinstance(s, E.Const) and isinstance(m, E.Scale):
                return E.Scale(s.value * m.k, m.arg)
            return E.Scale(s.value, m) if isinstance(s, E.Const) else E.Mul(s, m)
        if op == "/":
            if isinstance(b, E.Const):
                if b.value == 0:
                    raise DeriveDomainError(
                        f"{self.text(node)}: division by 0", self.source, node.span
                    )
                return E.Scale(1.0 / b.value, a)
            return E.Mul(E.Pow(b, -1.0), a)
        if decision == "bcast_left":
            a = (
                E.Mul(a, E.Ones(*b.shape))
                if not isinstance(a, E.Const)
                else (E.Scale(a.value, E.Ones(*b.shape)))
            )
        elif decision == "bcast_right" and op != "⊘":
            b = (
                E.Mul(b, E.Ones(*a.shape))
                if not isinstance(b, E.Const)
                else (E.Scale(b.value, E.Ones(*a.shape)))
            )
        if op == "+":
            return E.Add((*_flat(a, E.Add), b))
        if op == "-":
            return E.Add((*_flat(a, E.Add), E.Scale(-1.0, b)))
        if op == "⊙":
            return E.Hadamard((*_flat(a, E.Hadamard), b))
        if decision == "bcast_right":  # matrix ⊘ scalar
            return E.Mul(E.Pow(b, -1.0), a)
        return E.EDiv(a, b)


def _flat(e: E.Expr, kind: type[E.MatMul | E.Add | E.Hadamard]) -> tuple[E.Expr, ...]:
    """The operands of ``e`` when it is a ``kind`` node (an n-ary chain), else ``(e,)``."""
    return tuple(e.args) if isinstance(e, kind) else (e,)

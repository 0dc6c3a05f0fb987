"""``derive`` and its result, the ``Derivation``: formula, per-appearance terms, a checked
jitted gradient function."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping

import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._check.report import GradReport
from .._utils import require_finite, shape_str
from . import _ast as E
from ._arguments import eager, internal_shape
from ._errors import DeriveDomainError, DeriveError, DeriveInternalError, DeriveShapeError
from ._jacobian import Jacobian, is_scalar_expression
from ._lexer import CONSTANTS
from ._parser import MAX_NESTING, parse
from ._printing import to_latex, to_text
from ._rules import appearance_terms
from ._second import (
    DENSE_MAX_ENTRIES,
    SecondOrder,
    direction_name,
    hvp_expression,
    jacobian,
    kronecker_terms,
    kronecker_text,
)
from ._shapes import Elaboration, normalize_shapes
from ._simplify import simplify, tidy
from ._specialization import Specialization


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


class Term:
    """One appearance of the variable and its gradient term (trace notes eq. 18).

    Attributes:
        index: 1-based appearance number, left to right in the expression.
        span: ``(start, end)`` of the appearance in the expression.
        transposed: whether it appears as ``X^T`` (the eq. 12 case).
        text, latex: the simplified term.
    """

    def __init__(
        self, derivation: Derivation, order: int, index: int, span, expr: E.Expr, transposed: bool
    ):
        self._derivation = derivation
        self._order = order  # position in Expr.children order (the rules' order)
        self.index = index
        self.span = span
        self.transposed = transposed
        self.expr = expr
        self.text = to_text(expr)
        self.latex = to_latex(expr)

    def function(self, *args):
        """This term's value at the arrays (positional, in ``Derivation.argnames`` order)."""
        spec = self._derivation._specialization(args)
        return spec.term_function(self._order)(*args)

    def __repr__(self) -> str:
        where = f"{self._derivation.wrt}{'^T' if self.transposed else ''}"
        return (
            f"Term({_ordinal(self.index)} appearance, {where} at column {self.span[0]}: "
            f"{self.text})"
        )


class Derivation:
    """The gradient of a scalar matrix expression, derived symbolically and checked.

    Attributes:
        expression: the objective as given.
        wrt: the differentiated symbol.
        argnames: the symbols, in order of first appearance (the order ``function`` takes).
        shapes: ``{name: (rows, cols)}`` (vectors ``(n, 1)``), given or inferred; ``None`` for a
            symbolic derivation (``shapes`` not passed).
        objective_text, objective_latex: the objective as read (tidied): check the precedence.
        gradient, latex: the simplified gradient, plain text and LaTeX.
        terms: one ``Term`` per appearance of ``wrt``; their sum is the gradient.
        report: the ``GradReport`` of the check against ``jax.grad`` (for a symbolic
            derivation, at ``check_shapes``).
        check_shapes: the shapes the derivation was checked at.
        reports: every check so far, keyed by the shape signature.
    """

    def __init__(self, expression: str, wrt: str, shapes, seed: int, order: int = 1):
        tree = parse(expression)
        given = normalize_shapes(shapes)
        elaboration = Elaboration(expression, tree, given, quiet=True)
        if wrt not in elaboration.symbols:
            if wrt in CONSTANTS:
                raise DeriveError(f"wrt={wrt!r} is a reserved constant, not a variable")
            known = ", ".join(elaboration.symbols) or "none"
            raise DeriveError(
                f"wrt={wrt!r} does not appear in {expression!r} (its symbols: {known})"
            )
        self.expression = expression
        self.wrt = wrt
        self.argnames: tuple[str, ...] = tuple(elaboration.symbols)
        self._elaboration = elaboration
        self._seed = seed
        self._specs: dict[tuple, Specialization] = {}
        symbolic = not elaboration.concrete
        self.shapes = None if symbolic else elaboration.symbol_shapes()

        objective, spans = elaboration.build()
        raw = appearance_terms(objective, wrt)
        term_exprs = [simplify(t) for t in raw]
        gradient = simplify(raw[0] if len(raw) == 1 else E.Add(tuple(raw)))
        _require_finite_numbers(expression, [gradient, *term_exprs])
        self.objective_text = to_text(tidy(objective))
        self.objective_latex = to_latex(tidy(objective))
        self.gradient = to_text(gradient)
        self.latex = to_latex(gradient)
        self._gradient_expr = gradient
        appearance_spans = spans[wrt]
        by_column = sorted(range(len(raw)), key=lambda k: appearance_spans[k][0])
        self.terms = tuple(
            Term(
                self,
                k,
                i + 1,
                appearance_spans[k],
                term_exprs[k],
                _is_transposed(tree, appearance_spans[k]),
            )
            for i, k in enumerate(by_column)
        )

        if symbolic:
            # distinct small sizes 3, 4, 5, ... for the dimensions the expression leaves free
            sizes = {root: 3 + i for i, root in enumerate(elaboration.free_classes())}
            check_elaboration = elaboration.with_sizes(sizes)
        else:
            check_elaboration = elaboration
        spec = Specialization(check_elaboration, wrt, self.argnames, seed)
        self._specs[self._signature(spec.shapes)] = spec
        self.report: GradReport = spec.report
        self.check_shapes: dict[str, tuple[int, int]] = dict(spec.shapes)
        self._symbolic = symbolic
        self._default_spec = spec
        self.order = order
        self._seconds: dict[tuple, SecondOrder] = {}
        if order == 2:
            self.direction = direction_name(wrt, self.argnames)
            d = E.Var(self.direction, gradient.shape)
            hvp = hvp_expression(gradient, wrt, d)
            self.hvp_text = to_text(hvp)
            self.hvp_latex = to_latex(hvp)
            hessian = jacobian(gradient, wrt, gradient.shape)
            self.hessian_text = None if hessian is None else to_text(hessian)
            self.hessian_latex = None if hessian is None else to_latex(hessian)
            kron = None
            if hessian is None and 1 not in gradient.shape:
                kron = kronecker_terms(hvp, self.direction)
            if kron is not None:  # the Hessian of vec(X), column-major (K: commutation)
                self.hessian_text = f"vec: {kronecker_text(kron)}"
                self.hessian_latex = f"\\operatorname{{vec}}: {kronecker_text(kron, latex=True)}"
            self.second_report = self._second(spec).report

    # -- second order ----------------------------------------------------------------------
    def _second(self, spec: Specialization) -> SecondOrder:
        """The checked second order at ``spec``'s shapes (built once per signature)."""
        key = self._signature(spec.shapes)
        if key not in self._seconds:
            # inside a caller's trace, evaluate now rather than stage into it (outside one,
            # ensure_compile_time_eval would run every jitted check op by op)
            with jax.enable_x64(True), eager():
                sample = spec._sample(self._seed, None)
                second = SecondOrder(spec, sample)
            if not second.report.ok:
                shapes = ", ".join(f"{n}={shape_str(s)}" for n, s in spec.shapes.items())
                raise DeriveInternalError(
                    self.expression, self.wrt, to_text(second.hvp_expr), second.report, shapes
                )
            self._seconds[key] = second
        return self._seconds[key]

    def _require_second(self, what: str) -> None:
        if self.order != 2:
            raise DeriveError(f"{what} needs a second-order derivation: derive(..., order=2)")

    def hvp(self, direction, **arrays) -> jax.Array:
        """The Hessian-vector product ``H[dX]`` at the named arrays: the derivative of the
        gradient along ``direction`` (shaped like the variable), as a jitted closed form."""
        self._require_second("hvp")
        args = self._arguments(arrays)
        spec = self._specialization(args, fallback=True)
        x = args[self.argnames.index(self.wrt)]
        if not hasattr(direction, "dtype"):
            direction = np.asarray(direction, dtype=float)
        if not jnp.issubdtype(direction.dtype, jnp.floating):
            raise DeriveError(f"direction must be a floating-point array, got {direction.dtype}")
        if np.shape(direction) != np.shape(x):
            raise DeriveShapeError(
                f"direction has shape {np.shape(direction)}, but {self.wrt} has shape "
                f"{np.shape(x)}: the direction must be shaped like the variable"
            )
        require_finite("direction", direction)
        return self._second(spec).hvp_fn(*args, jnp.asarray(direction))

    def hessian(self, **arrays) -> jax.Array:
        """The dense Hessian at the named arrays, shape ``wrt.shape + wrt.shape`` (a closed
        form for a vector variable where one exists, else assembled from ``hvp``)."""
        self._require_second("hessian")
        args = self._arguments(arrays)
        size = int(np.size(args[self.argnames.index(self.wrt)]))
        if size * size > DENSE_MAX_ENTRIES:
            raise DeriveError(
                f"the dense Hessian w.r.t. {self.wrt} would have {size}^2 = {size * size:.3g} "
                f"entries (more than {DENSE_MAX_ENTRIES:.3g}); use hvp(direction, ...) instead"
            )
        spec = self._specialization(args, fallback=True)
        return self._second(spec).hessian_fn(*args)

    # -- shapes and dispatch ---------------------------------------------------------------
    def _signature(self, shapes: Mapping[str, tuple[int, int]]) -> tuple:
        return tuple(tuple(shapes[n]) for n in self.argnames)

    def _specialization(self, args, fallback: bool = False) -> Specialization:
        shapes = {n: internal_shape(n, a) for n, a in zip(self.argnames, args, strict=True)}
        signature = self._signature(shapes)
        spec = self._specs.get(signature)
        if spec is not None:
            return spec
        bound = self._elaboration.bind_arrays(shapes)  # raises, naming the array, on mismatch
        if not self._symbolic:  # pragma: no cover - bind_arrays raised already
            raise DeriveShapeError(f"shapes {shapes} differ from {self.shapes}")
        concrete = all(not isinstance(a, jax.core.Tracer) for a in args)
        # inside a caller's jit the shapes are known: derive and check for them on sampled,
        # concrete inputs, evaluated now rather than staged into the caller's trace (outside
        # one, ensure_compile_time_eval would run the check's trace-time constants op by op,
        # each a small program of its own)
        with eager():
            spec = Specialization(
                bound,
                self.wrt,
                self.argnames,
                self._seed,
                tuple(args) if fallback and concrete else None,
            )
        self._specs[signature] = spec
        return spec

    def _arguments(self, arrays: Mapping) -> tuple:
        missing = [n for n in self.argnames if n not in arrays]
        extra = [n for n in arrays if n not in self.argnames]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise DeriveError(
                f"{'; '.join(parts)}: {self.expression!r} takes {', '.join(self.argnames)}"
            )
        args = []
        for n in self.argnames:
            a = arrays[n]
            if not hasattr(a, "dtype"):
                a = np.asarray(a, dtype=float)
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise DeriveError(f"{n} must be a floating-point array, got dtype {a.dtype}")
            require_finite(n, a)
            args.append(jnp.asarray(a))
        return tuple(args)

    def __call__(self, **arrays) -> jax.Array:
        """The gradient at the named arrays (in their dtype; a vector may be 1-D).

        For a symbolic derivation each new shape signature is derived and checked against
        ``jax.grad`` once, before its first result is returned.
        """
        args = self._arguments(arrays)
        return self._specialization(args, fallback=True).gradient_fn(*args)

    @property
    def function(self) -> Callable[..., jax.Array]:
        """The gradient as a function of the arrays in ``argnames`` order (positional).

        With ``shapes`` given this is the jitted function itself; for a symbolic derivation it
        dispatches on the shapes to a jitted function per signature, derived and checked on
        first use (also when first called inside a ``jax.jit``: the check runs on sampled
        inputs at trace time).
        """
        if not self._symbolic:
            return self._default_spec.gradient_fn

        def gradient(*args):
            return self._specialization(args).gradient_fn(*args)

        return gradient

    @property
    def objective(self) -> Callable[..., jax.Array]:
        """The objective as written, a function of the arrays in ``argnames`` order."""
        if not self._symbolic:
            return self._default_spec.objective_fn

        def objective(*args):
            return self._specialization(args).objective_fn(*args)

        return objective

    @property
    def reports(self) -> Mapping[tuple, GradReport]:
        return types.MappingProxyType({k: s.report for k, s in self._specs.items()})

    def summary(self, latex: bool = False) -> str:
        """A few lines: objective, gradient, per-appearance terms, the check."""
        lines = [
            f"f = {self.objective_latex if latex else self.objective_text}",
            f"df/d{self.wrt} = {self.latex if latex else self.gradient}",
        ]
        if len(self.terms) > 1:
            lines.append(f"terms (one per appearance of {self.wrt}, trace notes eq. 18):")
            for t in self.terms:
                what = f"{self.wrt}^T" if t.transposed else self.wrt
                lines.append(
                    f"  [{t.index}] {what} at column {t.span[0]}: {t.latex if latex else t.text}"
                )
        if self.order == 2:
            lines.append(f"H[{self.direction}] = {self.hvp_latex if latex else self.hvp_text}")
            if self.hessian_text is not None:
                lines.append(
                    f"d2f/d{self.wrt}2 = {self.hessian_latex if latex else self.hessian_text}"
                )
            lines.append(str(self.second_report))
        shapes = ", ".join(f"{n}={shape_str(s)}" for n, s in self.check_shapes.items())
        verdict = "PASS" if self.report.ok else "FAIL"
        lines.append(
            f"check vs jax.grad: {verdict} (float64, {shapes}"
            f"{', sizes chosen for the check' if self._symbolic else ''}; "
            f"max rel err {self.report.max_rel_err:.1e})"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Derivation({self.expression!r}, wrt={self.wrt!r}: {self.gradient})"

    def __str__(self) -> str:
        return self.summary()


def _require_finite_numbers(expression: str, exprs) -> None:
    """Raise ``DeriveDomainError`` when folding the expression's numbers left float64 (a
    coefficient ``1e308 * 1e308``), before anything prints or compiles it."""
    for e in E.distinct_nodes(exprs):
        number = e.value if isinstance(e, E.Const) else e.k if isinstance(e, E.Scale) else 0.0
        if not np.isfinite(number):
            raise DeriveDomainError(
                f"the numbers in the expression combine to {number} (beyond float64)",
                expression,
                (0, len(expression)),
            )


def _is_transposed(tree, span) -> bool:
    """Whether the name at ``span`` is the direct operand of a transpose (or inverse transpose)."""
    from . import _syntax as S

    stack: list[tuple[S.Node, S.Node | None]] = [(tree, None)]  # a long sum is deep
    while stack:
        node, parent = stack.pop()
        if isinstance(node, S.Name) and node.span == span:
            return isinstance(parent, S.Transpose) or (
                isinstance(parent, S.Power) and parent.exponent is None
            )
        stack.extend((v, node) for v in vars(node).values() if isinstance(v, S.Node))
    return False


def derive(
    expression: str,
    wrt: str,
    shapes: Mapping[str, int | tuple | str] | str | None = None,
    *,
    seed: int = 0,
    order: int = 1,
) -> Derivation | Jacobian:
    """Differentiate a scalar matrix expression, one term per appearance (trace notes eq. 18).

    The rule of the trace notes (eq. 18-21): differentiate each appearance of the variable
    with the basic results (eq. 9 ``d tr(A X B)/dX = A^T B^T``, eq. 12
    ``d tr(A X^T B)/dX = B A``, generalised to every operator of the language as adjoint
    rules, see ``_rules``), holding everything else constant, and add the terms.  The sum is
    simplified (transposes pushed to the leaves, like terms combined), compiled to a jitted
    JAX function (products bracketed by a FLOP cost model over the shapes, shared
    sub-products computed once), and checked against ``jax.grad`` in float64 on sampled
    inputs before it is returned.  A failed check raises ``DeriveInternalError``: a bug in
    the engine, never a silent result.

    Example::

        >>> d = tracegrad.derive("tr(A X B)", wrt="X", shapes={"A": (2, 3), "B": (4, 2)})
        >>> d.gradient
        'A^T B^T'
        >>> d(A=A, X=X, B=B)            # the gradient array, in the arrays' dtype

    Args:
        expression: the objective, a scalar (1x1) expression; the language is documented in
            ``tracegrad._derive`` (names, ``'``/``^T``, products by juxtaposition or ``*``,
            ``+ -``, ``⊙``/``.*``, ``⊘``/``./``, ``tr inv det logdet diag log exp sum``,
            ``||E||_F``/``norm(E)``, ``I``, ``J``, numbers).
        wrt: the symbol to differentiate with respect to (a matrix, vector or 1x1 symbol).
        shapes: ``{name: shape}`` (``(3, 4)``, ``5`` or ``(5,)`` for a vector, ``()`` for a
            scalar, or ``"3x4"``), or the string ``"A=3x4,x=5"``.  Shapes the expression
            determines may be left out.  Omitted entirely, the derivation is symbolic (names
            starting lowercase are column vectors, others matrices): it is checked at small
            distinct sizes now, and the function specialises to (and checks) each new shape
            signature on first call.
        seed: seed of the check's input sampler.
        order: 2 adds the second order: ``hvp(direction, **arrays)`` (``H[dX]``, the
            derivative of the gradient along ``dX``, a jitted closed form), ``hessian(**arrays)``
            (dense, ``wrt.shape + wrt.shape``), ``hvp_text``/``hvp_latex`` (the direction named
            ``dX`` for ``wrt="X"``) and ``hessian_text`` (the closed-form Hessian of a vector
            variable, or None); both checked against ``jax.jvp(jax.grad)`` and
            ``jax.hessian`` before they are returned.

    Returns:
        A ``Derivation``; for a vector- or matrix-valued expression a ``Jacobian`` (its
        closed form where one exists, ``d(A x)/dx = A``, else the differential along ``dX``;
        calling it gives the Jacobian array, shape ``f.shape + wrt.shape``).

    Raises:
        DeriveSyntaxError: the expression does not parse (the message has a caret under the
            bad token).
        DeriveShapeError: shapes do not fit (the message names and underlines the
            sub-expression), the objective is not 1x1, or given shapes leave some undetermined.
        DeriveError: a bad ``wrt`` or ``shapes`` argument.
        DeriveInternalError: the derived gradient failed the check against ``jax.grad``.
    """
    if not isinstance(wrt, str):
        raise DeriveError(f"wrt must be a symbol name (str), got {type(wrt).__name__}")
    try:
        if isinstance(order, bool) or order not in (1, 2):
            raise DeriveError(f"order must be 1 or 2, got {order!r}")
        scalar, elaboration = is_scalar_expression(expression, normalize_shapes(shapes))
        if not scalar:
            if wrt not in elaboration.symbols:
                known = ", ".join(elaboration.symbols) or "none"
                raise DeriveError(
                    f"wrt={wrt!r} does not appear in {expression!r} (its symbols: {known})"
                )
            if order != 1:
                raise DeriveShapeError(
                    f"order=2 needs a scalar (1x1) objective, but {expression!r} is "
                    f"{elaboration.show(*elaboration.root)}",
                    expression,
                    elaboration.tree.span,
                )
            if elaboration.given is not None:
                elaboration.require_concrete()
            return Jacobian(expression, wrt, elaboration, seed)
        return Derivation(expression, wrt, shapes, seed, order)
    except RecursionError:
        # the parser bounds the nesting (MAX_NESTING, MAX_DEPTH) so that no pass should get
        # here at Python's default recursion limit; a caller's lower limit, or a deep stack
        # at the call, still must not surface as a RecursionError
        raise DeriveError(
            f"the expression is nested too deeply for Python's recursion limit "
            f"({sys.getrecursionlimit()}); the parser accepts up to {MAX_NESTING} levels"
        ) from None

"""Forward derivatives of expressions: Hessian-vector products, Hessians and Jacobians.

The Hessian-vector product is the directional derivative of the gradient:
``H[dX] = d/dt grad f(X + t dX)`` at ``t = 0``.  ``tangent`` propagates a direction ``dX``
forward through an expression, each node by its forward rule (``_forward.jvp``:
``d(A B) = dA B + A dB``, ``d X^-1 = -X^-1 dX X^-1``, ``d f(E) = f'(E) ⊙ dE``, ...), so
applied to the (matrix-valued) gradient expression it gives the HVP as a closed form in ``X``
and ``dX``.

For a vector variable ``x`` (``n x 1``) and a column-valued expression ``g`` the Jacobian has
closed forms (``jacobian``): each node's rule (``_forward.jacobian``) combines its children's
(``d(A x)/dx = A``, ``d exp(u)/dx = diag(exp(u)) du/dx``, ``d (u ⊙ v)/dx = diag(v) du/dx +
diag(u) dv/dx``), a 1x1 node's is its gradient transposed (the reverse rules).  The dense
Hessian of ``f`` w.r.t. ``x`` is the Jacobian of its gradient: ``X^T diag(s) X`` for the
logistic loss, formed by one scaled product instead of ``n`` Hessian-vector products.  Where a
node has no closed form (a matrix factor that depends on ``x`` inside a product, say) the
Hessian is assembled from the Hessian-vector product along the ``n`` unit directions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _ast as E
from ._forward import jacobian as closed_form
from ._forward import jvp
from ._rules import appearance_terms
from ._simplify import simplify
from ._specialization import _natural_shape


def tangent(expr: E.Expr, wrt: str, direction: E.Expr) -> E.Expr:
    """``d expr`` when the variable ``wrt`` moves along ``direction`` (unsimplified)."""
    cache: dict = {}
    memo: dict = {}

    def visit(e: E.Expr) -> E.Expr | None:
        if e in memo:
            return memo[e]
        if isinstance(e, E.Var):
            out = direction if e.name == wrt else None
        elif not E.contains(e, wrt, cache):
            out = None
        else:
            out = jvp(e, [visit(c) for c in e.children])
        memo[e] = out
        return out

    out = visit(expr)
    return E.Zeros(*expr.shape) if out is None else out


def direction_name(wrt: str, taken) -> str:
    """``dX`` for ``wrt="X"`` (primed until it is not one of the symbols ``taken``)."""
    name = f"d{wrt}"
    while name in taken:
        name += "_"
    return name


def hvp_expression(gradient: E.Expr, wrt: str, direction: E.Var) -> E.Expr:
    """``H[dX]``, the derivative of ``gradient`` along ``direction``, simplified."""
    return simplify(tangent(gradient, wrt, direction))


class _Jac:
    """The Jacobians of column- and 1x1-valued nodes w.r.t. the vector ``wrt`` (memoised)."""

    def __init__(self, wrt: str, n: E.Dim):
        self.wrt = wrt
        self.n = n
        self.cache: dict = {}
        self.memo: dict = {}

    def depends(self, e: E.Expr) -> bool:
        return E.contains(e, self.wrt, self.cache)

    def __call__(self, e: E.Expr) -> E.Expr | None:
        if e in self.memo:
            return self.memo[e]
        if not self.depends(e):
            out: E.Expr | None = E.Zeros(e.shape[0], self.n) if e.shape[1] == 1 else None
        elif isinstance(e, E.Var):
            out = E.Eye(self.n)
        elif e.shape == (1, 1):
            # a 1x1 node's Jacobian is its gradient transposed (the reverse rules)
            terms = appearance_terms(e, self.wrt)
            out = E.Transpose(terms[0] if len(terms) == 1 else E.Add(tuple(terms)))
        elif e.shape[1] != 1:
            out = None
        else:
            out = closed_form(e, self)
        self.memo[e] = out
        return out


def jacobian(expr: E.Expr, wrt: str, wrt_shape: E.Shape) -> E.Expr | None:
    """The closed-form Jacobian (``rows(expr) x n``) of a column ``expr`` w.r.t. the column
    variable ``wrt`` of shape ``(n, 1)``, simplified; ``None`` where no closed form is known."""
    if wrt_shape[1] != 1 or expr.shape[1] != 1:
        return None
    out = _Jac(wrt, wrt_shape[0])(expr)
    return None if out is None else simplify(out)


def assemble(directional: Callable, shape: tuple[int, ...], wrt_index: int) -> Callable:
    """A dense derivative from a directional one: ``directional(V, *args)`` along every unit
    ``V`` of ``shape`` (vmapped), arranged as ``out.shape + shape``; the directions take the
    dtype of argument ``wrt_index``."""
    size = math.prod(shape)

    def dense(*args):
        dtype = jnp.asarray(args[wrt_index]).dtype
        # behind a barrier: XLA would otherwise constant-fold the (size x size) identity
        # through the vmapped program, which takes seconds at a few thousand entries
        basis = jax.lax.optimization_barrier(jnp.eye(size, dtype=dtype)).reshape((size, *shape))
        cols = jax.vmap(lambda v: directional(v, *args))(basis)  # (size, *out)
        out_rank = cols.ndim - 1
        cols = cols.reshape((*shape, *cols.shape[1:]))
        return jnp.moveaxis(
            cols, tuple(range(len(shape))), tuple(range(out_rank, out_rank + len(shape)))
        )

    return dense


_HESSIAN_DENSE_MAX = 256
"""Up to this many entries of the variable the check compares the whole dense Hessian with
``jax.hessian``; above, it compares ``H v`` along random directions."""
_DIRECTIONS = 2
_DENSE_CHECK_MAX = 4096
"""Above this many entries of the variable the check does not form a closed-form dense
Hessian (it compares the HVP only)."""
DENSE_MAX_ENTRIES = 2**28
"""The most entries ``hessian`` forms (2 GiB in float64); beyond, it raises."""


@dataclasses.dataclass(frozen=True)
class SecondOrderReport:
    """The check of a derived HVP and Hessian against jax, in float64.

    Attributes:
        ok: both within ``atol + rtol * max|reference|``.
        hvp_err: normwise error of ``H[dX]`` against ``jax.jvp(jax.grad(f))``, relative to
            the reference's largest entry (worst over the directions).
        hessian_err: the same for the dense Hessian against ``jax.hessian`` (whole) or, for a
            large variable, ``H v`` against ``jax.jvp(jax.grad(f))``.
        rtol, atol: the tolerances.
        detail: what was compared.
    """

    ok: bool
    hvp_err: float
    hessian_err: float
    rtol: float
    atol: float
    detail: str

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return (
            f"second-order check: {verdict} (hvp rel err {self.hvp_err:.1e}, hessian rel err "
            f"{self.hessian_err:.1e}; {self.detail})"
        )


class SecondOrder:
    """The second order at one concrete shape signature: ``H[dX]`` and the dense Hessian as
    jitted closed forms, checked against ``jax`` before use.

    Attributes:
        direction: the direction's name (``dX``).
        hvp_expr: ``H[dX]`` (an expression in the symbols and ``dX``).
        hessian_expr: the closed-form dense Hessian (vector variables), or ``None`` when it is
            assembled from ``hvp_fn`` along the unit directions.
        hvp_fn: ``hvp_fn(*args, dX)``, shaped like the variable.
        hessian_fn: ``hessian_fn(*args)``, shape ``wrt.shape + wrt.shape`` (natural layouts).
        report: the ``SecondOrderReport``.
    """

    def __init__(self, spec, sample: tuple):
        from ._codegen import build_function

        self.spec = spec
        wrt, shapes, argnames = spec.wrt, spec.shapes, spec.argnames
        self.direction = direction_name(wrt, argnames)
        wrt_shape = shapes[wrt]
        d = E.Var(self.direction, wrt_shape)
        self.hvp_expr = hvp_expression(spec.gradient_expr, wrt, d)
        self.hvp_fn = build_function(
            [self.hvp_expr],
            (*argnames, self.direction),
            {**shapes, self.direction: wrt_shape},
            optimize_=True,
            output_like=self.direction,
        )
        self.hessian_expr = jacobian(spec.gradient_expr, wrt, wrt_shape)
        index = argnames.index(wrt)
        natural = _natural_shape(wrt_shape)
        self.kronecker = (
            kronecker_terms(self.hvp_expr, self.direction)
            if self.hessian_expr is None and wrt_shape[0] != 1 and wrt_shape[1] != 1
            else None
        )
        if self.hessian_expr is not None:
            matrix = build_function([self.hessian_expr], argnames, shapes, optimize_=True)
            self.hessian_fn = jax.jit(lambda *args: jnp.reshape(matrix(*args), natural + natural))
        elif self.kronecker is not None:
            self.hessian_fn = kronecker_hessian(self.kronecker, argnames, shapes, wrt_shape)
        else:
            hvp = self.hvp_fn
            self.hessian_fn = jax.jit(assemble(lambda v, *args: hvp(*args, v), natural, index))
        self.report = self._check(sample)

    def _check(self, args: tuple) -> SecondOrderReport:
        from .._check.references import reference_jit
        from .._check.tolerances import tolerances

        spec = self.spec
        index = spec.argnames.index(spec.wrt)
        f = spec.objective_fn
        rtol, atol = tolerances(jnp.float64)

        def grad_along(v, *args):
            def g(w):
                return jax.grad(f, argnums=index)(*args[:index], w, *args[index + 1 :])

            return jax.jvp(g, (args[index],), (v,))[1]

        reference = reference_jit(grad_along)
        x = args[index]
        rng = np.random.default_rng(_SEED)

        def rel(got, want) -> tuple[float, bool]:
            got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
            if got.shape != want.shape:
                return math.inf, False
            err = float(np.max(np.abs(got - want))) if want.size else 0.0
            top = float(np.max(np.abs(want))) if want.size else 0.0
            ok = bool(np.isfinite(err) and err <= atol + rtol * top)
            return (err / top if top > 0 else (0.0 if err == 0 else math.inf)), ok

        ok = True
        hvp_err = 0.0
        hess_err = 0.0
        directions = [rng.standard_normal(np.shape(x)) for _ in range(_DIRECTIONS)]
        for v in directions:
            want = reference(jnp.asarray(v), *args)
            e, good = rel(self.hvp_fn(*args, jnp.asarray(v)), want)
            hvp_err, ok = max(hvp_err, e), ok and good
        size = int(np.size(x))
        if size <= _HESSIAN_DENSE_MAX:
            dense = np.asarray(self.hessian_fn(*args), np.float64)
            want = reference_jit(jax.hessian(f, argnums=index))(*args)
            hess_err, good = rel(dense, want)
            detail = f"jax.jvp(jax.grad) along {_DIRECTIONS} directions, jax.hessian whole"
        elif self.hessian_expr is None or size > _DENSE_CHECK_MAX:
            # assembled from, or (Kronecker) read term by term off, the HVP checked above; or
            # too large to form for a check
            good = True
            detail = (
                f"jax.jvp(jax.grad) along {_DIRECTIONS} directions; the dense Hessian is built "
                f"from that HVP ({size} entries: not formed for the check)"
            )
        else:
            dense = np.asarray(self.hessian_fn(*args), np.float64)
            good = True
            for v in directions:  # the closed-form (or Kronecker) Hessian times the directions
                want = reference(jnp.asarray(v), *args)
                hv = np.tensordot(dense, v, axes=np.ndim(v))
                e, g = rel(hv, want)
                hess_err, good = max(hess_err, e), good and g
            detail = (
                f"jax.jvp(jax.grad) along {_DIRECTIONS} directions, also against the dense "
                f"Hessian times them (too large for jax.hessian: {size} entries)"
            )
        ok = ok and good
        return SecondOrderReport(ok, hvp_err, hess_err, rtol, atol, detail)


_SEED = 20261


# -- Kronecker (vec) closed forms of matrix-variable Hessians --------------------------------


@dataclasses.dataclass(frozen=True)
class KronTerm:
    """One term ``k s L dX R`` (or ``k s L dX^T R`` when ``transposed``) of an HVP linear in
    ``dX``; ``L``/``R`` ``None`` for the identity, ``s`` a 1x1 factor or ``None``.  In vec form
    (column-major) ``vec(L dX R) = (R^T ⊗ L) vec(dX)``; with ``dX^T`` a commutation follows."""

    k: float
    s: E.Expr | None
    left: E.Expr | None
    right: E.Expr | None
    transposed: bool


def kronecker_terms(hvp: E.Expr, direction: str) -> list[KronTerm] | None:
    """The HVP as a sum of ``L dX R`` / ``L dX^T R`` terms, or ``None`` when it is not of that
    form (a Hadamard product with ``dX``, say)."""
    cache: dict = {}

    def has(e: E.Expr) -> bool:
        return E.contains(e, direction, cache)

    out: list[KronTerm] = []
    stack: list[tuple[E.Expr, float, E.Expr | None]] = [(hvp, 1.0, None)]
    while stack:
        t, k, s = stack.pop()
        if isinstance(t, E.Add):
            stack.extend((a, k, s) for a in reversed(t.args))
            continue
        if isinstance(t, E.Scale):
            stack.append((t.arg, k * t.k, s))
            continue
        if isinstance(t, E.Mul) and not has(t.s):
            stack.append((t.arg, k, t.s if s is None else E.Mul(s, t.s)))
            continue
        factors = t.args if isinstance(t, E.MatMul) else (t,)
        hits = [i for i, f in enumerate(factors) if has(f)]
        if len(hits) != 1:
            return None
        i = hits[0]
        f = factors[i]
        if isinstance(f, E.Var) and f.name == direction:
            transposed = False
        elif isinstance(f, E.Transpose) and isinstance(f.arg, E.Var) and f.arg.name == direction:
            transposed = True
        else:
            return None
        left = None if i == 0 else (factors[0] if i == 1 else E.MatMul(factors[:i]))
        rest = factors[i + 1 :]
        right = None if not rest else (rest[0] if len(rest) == 1 else E.MatMul(rest))
        out.append(KronTerm(k, s, left, right, transposed))
    return out


def kronecker_text(terms: list[KronTerm], latex: bool = False) -> str:
    """``vec``-form Hessian ``sum k s (R^T ⊗ L) [K]`` (``K`` the commutation matrix)."""
    from ._printing import to_latex, to_text
    from ._simplify import transpose

    show = to_latex if latex else to_text
    parts = []
    for t in terms:
        rt = "I" if t.right is None else show(transpose(t.right))
        lt = "I" if t.left is None else show(t.left)
        kron = f"({rt} \\otimes {lt})" if latex else f"kron({rt}, {lt})"
        coef = "" if t.k == 1 else ("-" if t.k == -1 else f"{t.k:g} ")
        scal = "" if t.s is None else f"{show(t.s)} "
        comm = (" K" if not latex else " K") if t.transposed else ""
        parts.append(f"{coef}{scal}{kron}{comm}")
    return " + ".join(parts).replace("+ -", "- ")


def kronecker_hessian(terms: list[KronTerm], argnames, shapes, wrt_shape) -> Callable:
    """The dense Hessian ``H[i, j, p, q] = sum k s L[i, p] R[q, j]`` (``L[i, q] R[p, j]`` for
    a ``dX^T`` term) from the terms' factors: one outer product per term instead of one HVP
    per entry of the variable."""
    from ._codegen import build_function

    m, n = wrt_shape
    exprs: list[E.Expr] = []
    for t in terms:
        exprs.append(t.left if t.left is not None else E.Eye(m))
        right_default = E.Eye(n) if not t.transposed else E.Eye(m)
        if t.transposed:  # L (m x n) dX^T (n x m) R (m x n)
            exprs.append(t.right if t.right is not None else right_default)
        else:
            exprs.append(t.right if t.right is not None else right_default)
        exprs.append(t.s if t.s is not None else E.ONE)
    fn = build_function(exprs, argnames, shapes, optimize_=True)

    def hessian(*args):
        values = fn(*args)
        values = values if isinstance(values, tuple) else (values,)
        total = None
        for j, t in enumerate(terms):
            left, right, s = values[3 * j : 3 * j + 3]
            spec = "iq,pj->ijpq" if t.transposed else "ip,qj->ijpq"
            h = (t.k * s) * jnp.einsum(spec, left, right)
            total = h if total is None else total + h
        return total

    return jax.jit(hessian)

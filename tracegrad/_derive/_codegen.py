"""Expressions to JAX functions: chain ordering, sum factoring, shared sub-products, jit.

``build_function(outputs, ...)`` returns a jitted function of the named arrays computing the
given expressions.  With ``optimize_=True`` it

0. distributes a product over a sum factor where the cost model finds that at least 10%
   cheaper (``(X - W H) H^T -> X H^T - W (H H^T)``, eq. 24);
1. rewrites ``tr(F_1 ... F_k)`` as ``sum((F_1 ... F_j) ⊙ (F_{j+1} ... F_k)^T)``, an O(n^2)
   contraction instead of a product, at the cheapest split;
2. brackets every matrix product, jointly over the whole expression, with ``_chain`` (shapes
   and FLOP cost model; a sub-product and its transpose are one product);
3. factors sums of products sharing an operand: ``P X + Q X = (P + Q) X`` (the eq. 21 terms
   pair up this way), when the products are not needed elsewhere;
4. evaluates each distinct sub-expression once; a transposed operand (``A^T``, or a product
   whose transpose was computed already) is handed to ``lax.dot_general`` as a contraction
   over its other axis, never copied;
5. multiplies by ``diag(x)`` as a row or column scaling, by all-ones vectors as row or column
   sums, and (``lu=True``) by an inverse as a solve against one shared LU factorisation
   (``det``, ``logdet`` and ``inv`` of one matrix share it too).

The derived gradient is built with all of it.  The objective that ``jax.grad`` differentiates
in the check is built with steps 0-4 and ``jnp.linalg`` for the matrix functions
(``lu=False``).  ``evaluate`` runs an expression as written with NumPy on the host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from . import _ast as E
from . import _simplify as simp
from ._chain import Factor, best_split, chain_cost, plan_chains

# -- transposition without re-association ------------------------------------------------


def _is_product(e: E.Expr) -> bool:
    return isinstance(e, E.MatMul) and e.shape != (1, 1)


def tree_transpose(e: E.Expr, memo: dict | None = None) -> E.Expr:
    """The transpose of ``e`` keeping its bracketing (binary products mirrored).

    Without recursion (a bracketed chain of matrix-vector products is as deep as it is long);
    ``memo`` (product -> its transpose) may be shared between calls on overlapping trees.
    """
    if not _is_product(e):
        return simp.transpose(e, through=False)
    memo = {} if memo is None else memo
    stack: list[tuple[E.Expr, bool]] = [(e, False)]
    while stack:
        node, done = stack.pop()
        if node in memo:
            continue
        assert isinstance(node, E.MatMul)
        if not done:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if _is_product(a) and a not in memo)
            continue
        t = E.MatMul(
            tuple(
                memo[a] if _is_product(a) else simp.transpose(a, through=False)
                for a in reversed(node.args)
            )
        )
        hash(t)  # bottom-up, so that hashing the result never recurses
        memo[node] = t
    return memo[e]


# -- 1. traces of products -----------------------------------------------------------------


def _chain_factors(e: E.MatMul) -> list[E.Expr]:
    """The factors of an n-ary product, all-ones matrices split into column times row."""
    out = []
    for a in e.args:
        if isinstance(a, E.Ones) and a.rows != 1 and a.cols != 1:
            out.extend([E.Ones(a.rows, 1), E.Ones(1, a.cols)])
        else:
            out.append(a)
    return out


def _rewrite_traces(e: E.Expr, children: list[E.Expr]) -> E.Expr:
    """``e`` rebuilt from its rewritten ``children``, a trace of a product as a contraction."""
    out = _rebuild(e, children)
    if isinstance(out, E.Trace) and isinstance(out.arg, E.MatMul):
        fs = out.arg.args
        j = best_split([f.shape for f in fs])  # one DP table for every split, O(n^3)
        left = fs[0] if j == 1 else E.MatMul(fs[:j])
        right = fs[j] if j == len(fs) - 1 else E.MatMul(fs[j:])
        out = E.Sum(E.Hadamard((left, tree_transpose(right))))
    return out


def _rebuild(e: E.Expr, children: Sequence[E.Expr]) -> E.Expr:
    """``e`` with its children replaced (same node type, no simplification)."""
    return e.replace(children)


# -- 2. chain bracketing -------------------------------------------------------------------


class _Interner:
    def __init__(self):
        self.ids: dict[E.Expr, int] = {}

    def __call__(self, e: E.Expr) -> int:
        if e not in self.ids:
            self.ids[e] = len(self.ids)
        return self.ids[e]


def _kind(e: E.Expr) -> str:
    if isinstance(e, E.Diag):
        return "diag"
    if isinstance(e, E.Ones):
        return "ones"
    return "dense"


def _collect_chains(roots: Sequence[E.Expr]) -> list[E.MatMul]:
    return [e for e in E.distinct_nodes(roots) if isinstance(e, E.MatMul)]


def _int_shape(shape: E.Shape) -> tuple[int, int]:
    """A concrete shape as ints (lowering happens at concrete sizes only)."""
    return int(shape[0]), int(shape[1])


def _bracket(roots: Sequence[E.Expr]) -> list[E.Expr]:
    """Replace every n-ary product by binary products in the jointly cheapest order."""
    chains = _collect_chains(roots)
    intern = _Interner()
    transposes: dict = {}  # tree_transpose's memo, shared: nested chains transpose once
    factor_lists = []
    for chain in chains:
        fs = _chain_factors(chain)
        factor_lists.append(
            [
                Factor(
                    intern(f), intern(tree_transpose(f, transposes)), _int_shape(f.shape), _kind(f)
                )
                for f in fs
            ]
        )
    trees, _ = plan_chains(factor_lists) if chains else ([], 0.0)
    plans = {
        chain: (tree, _chain_factors(chain)) for chain, tree in zip(chains, trees, strict=True)
    }

    def realize(e: E.Expr, children: list[E.Expr]) -> E.Expr:
        if not isinstance(e, E.MatMul):
            return _rebuild(e, children)
        tree, _ = plans[e]
        realized: list[E.Expr] = []  # the realized factors, split as _chain_factors splits
        for a, c in zip(e.args, children, strict=True):
            if isinstance(a, E.Ones) and a.rows != 1 and a.cols != 1:
                realized.extend([E.Ones(a.rows, 1), E.Ones(1, a.cols)])
            else:
                realized.append(c)
        # the bracketing, built bottom-up without recursion (it is as deep as the chain is
        # long for a chain of matrix-vector products)
        stack: list = [(tree, False)]
        out: list[E.Expr] = []
        while stack:
            t, done = stack.pop()
            if isinstance(t, int):
                out.append(realized[t])
            elif not done:
                stack += [(t, True), (t[1], False), (t[0], False)]
            else:
                right, left = out.pop(), out.pop()
                node = E.MatMul((left, right))
                hash(node)
                out.append(node)
        return out[0]

    return _bottom_up(roots, realize)


def _bottom_up(roots: Sequence[E.Expr], fn, memo: dict | None = None) -> list[E.Expr]:
    """``fn(node, new_children)`` for every distinct node under ``roots``, children first and
    without recursion; the results for ``roots``.  ``memo`` maps nodes done to results."""
    memo = {} if memo is None else memo
    for root in roots:
        stack: list[tuple[E.Expr, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            if node in memo:
                continue
            if not done:
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(node.children) if c not in memo)
                continue
            memo[node] = fn(node, [memo[c] for c in node.children])
    return [memo[r] for r in roots]


# -- 3. factoring sums of products ---------------------------------------------------------


def _use_counts(roots: Sequence[E.Expr]) -> dict:
    """How many distinct parent nodes use each product (a product and its transpose alike)."""
    counts: dict = {}
    transposes: dict = {}
    for e in E.distinct_nodes(roots):
        for c in set(e.children):
            if isinstance(c, E.MatMul):
                key = _canonical_product(c, transposes)
                counts[key] = counts.get(key, 0) + 1
    return counts


def _canonical_product(e: E.MatMul, transposes: dict | None = None):
    t = tree_transpose(e, transposes)
    return e if hash(e) <= hash(t) else t


def _as_product(term: E.Expr):
    """``(k, left, right)`` when ``term`` is ``k`` times a binary product, else None."""
    k = 1.0
    if isinstance(term, E.Scale):
        k, term = term.k, term.arg
    if isinstance(term, E.MatMul) and len(term.args) == 2:
        return k, term
    return None


def _factor_sums(roots: Sequence[E.Expr]) -> list[E.Expr]:
    counts = _use_counts(roots)

    def visit(e: E.Expr, children: list[E.Expr]) -> E.Expr:
        out = _rebuild(e, children)
        return _factor_add(out, counts) if isinstance(out, E.Add) else out

    return _bottom_up(roots, visit)


def _implicit(e: E.Expr) -> bool:
    return _inverse_of(e) is not None or isinstance(e, (E.Diag, E.Ones))


def _factor_add(e: E.Add, counts: dict) -> E.Expr:
    terms = list(e.args)
    while True:
        products = []
        for i, t in enumerate(terms):
            p = _as_product(t)
            if p is not None and counts.get(_canonical_product(p[1]), 1) <= 1:
                products.append((i, p[0], p[1].args[0], p[1].args[1]))
        # an inverse, a diagonal or an all-ones operand is never formed as a matrix when it
        # multiplies (a solve, a scaling, a sum); adding it to another would form it
        products = [
            (i, k, left, right)
            for i, k, left, right in products
            if not any(_implicit(x) for x in (left, right))
        ]
        best = None
        for side in (1, 0):  # a common right factor first, then a common left one
            groups: dict = {}
            for i, k, left, right in products:
                shared = right if side == 1 else left
                groups.setdefault(shared, []).append((i, k, left, right))
            for shared, members in groups.items():
                if len(members) >= 2 and (best is None or len(members) > len(best[2])):
                    best = (side, shared, members)
        if best is None:
            break
        side, shared, members = best
        others = [
            (
                E.Scale(k, left if side == 1 else right)
                if k != 1.0
                else (left if side == 1 else right)
            )
            for _, k, left, right in members
        ]
        summed = E.Add(tuple(others))
        product = E.MatMul((summed, shared) if side == 1 else (shared, summed))
        used = {i for i, *_ in members}
        terms = [product] + [t for i, t in enumerate(terms) if i not in used]
        if len(terms) == 1:
            return terms[0]
    return E.Add(tuple(terms)) if len(terms) > 1 else terms[0]


# -- 4./5. evaluation ----------------------------------------------------------------------


class _Evaluator:
    """Evaluates nodes on arrays, each distinct node once (a transposed one from the first)."""

    def __init__(
        self,
        env: dict,
        dtype,
        optimize: bool,
        solve_inverses: set,
        xp=jnp,
        lu: bool = True,
        parents: dict | None = None,
    ):
        self.parents = {} if parents is None else parents  # ``_parents`` of the roots
        self.xp = xp  # jax.numpy, or numpy for a quick host evaluation
        self.lu = optimize and lu  # shared LU factorisations (else jnp.linalg per call)
        self.env = env
        self.dtype = dtype
        self.optimize = optimize
        self.solve_inverses = solve_inverses
        self.memo: dict = {}
        self.lus: dict = {}
        self.transposes: dict = {}  # tree_transpose's memo

    def view(self, e: E.Expr):
        """``(value, transposed)`` with ``e = value^T`` when ``transposed``: a transposed
        operand is handed to ``dot_general`` as a contraction over its other axis rather than
        copied (a materialised ``A^T`` makes ``A^T r`` several times slower than ``r^T A``)."""
        if isinstance(e, E.Transpose) and e.shape != (1, 1):
            value, transposed = self.view(e.arg)
            return value, not transposed
        if e in self.memo:
            return self.memo[e], False
        if self.optimize and isinstance(e, E.MatMul) and len(e.args) == 2:
            t = tree_transpose(e, self.transposes)
            if t in self.memo:
                return self.memo[t], True
        return self(e), False

    def _products_first(self, e: E.MatMul) -> None:
        """Evaluate the products nested (through products and transposes) in ``e``, innermost
        first and without recursion: a bracketed chain of matrix-vector products is a tree as
        deep as the chain is long."""
        order: list[E.Expr] = []
        stack: list[tuple[E.Expr, bool]] = [(e, False)]
        seen: set = set()
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node in seen or node in self.memo:
                continue
            seen.add(node)
            stack.append((node, True))
            for a in node.args:
                while isinstance(a, E.Transpose):
                    a = a.arg
                if isinstance(a, E.MatMul):
                    stack.append((a, False))
        for node in order[:-1]:
            self(node)

    def __call__(self, e: E.Expr):
        if e in self.memo:
            return self.memo[e]
        if isinstance(e, E.MatMul):
            self._products_first(e)
        if self.optimize and isinstance(e, E.MatMul) and len(e.args) == 2:
            t = tree_transpose(e, self.transposes)
            if t in self.memo:
                value = self.memo[t].T
                self.memo[e] = value
                return value
        value = lower(e, self)
        if value.shape != tuple(e.shape):  # pragma: no cover - an engine bug
            raise E.ShapeBug(f"evaluated {type(e).__name__} to {value.shape}, expected {e.shape}")
        self.memo[e] = value
        return value

    def _dot(self, a: E.Expr, b: E.Expr):
        (av, ta), (bv, tb) = self.view(a), self.view(b)
        if ta and not tb and _slow_transposed_lhs(av, bv):
            # materialise A^T, then a plain product (``_slow_transposed_lhs``)
            av, ta = jax.lax.optimization_barrier(av.T), False
        dims = (((0 if ta else 1,), (1 if tb else 0,)), ((), ()))
        return jax.lax.dot_general(av, bv, dims)

    def _diagonal_rows(self, a: E.Expr):
        """``((L^T R) ⊙ Y) 1`` as ``(1^T (L ⊙ (R Y^T)))^T``: the diagonal of ``L^T R Y^T``
        (``diag(x)`` gradients, eq. 41) with the product taken as ``R Y^T`` instead of
        ``L^T R``, same FLOPs, no transposed left operand (the slower product on the CPU).
        Only where ``L^T R`` is needed nowhere else; None otherwise."""
        if not (isinstance(a, E.Hadamard) and len(a.args) == 2) or self.parents.get(a, 0) > 1:
            return None
        for X, Y in (a.args, a.args[::-1]):
            if (
                isinstance(X, E.MatMul)
                and len(X.args) == 2
                and isinstance(X.args[0], E.Transpose)
                and X.args[0].shape != (1, 1)
                and self.parents.get(X, 0) <= 1
                and X not in self.memo
                and _inverse_of(X.args[0]) is None
            ):
                L, R = X.args[0].arg, X.args[1]
                ryt = self._dot(R, simp.transpose(Y, through=False))
                return self.xp.sum(self(L) * ryt, axis=0).reshape(-1, 1)
        return None

    def _product(self, a: E.Expr, b: E.Expr):
        if not self.optimize:
            return self(a) @ self(b)
        if isinstance(a, E.Diag):
            return self(a.arg) * self(b)
        if isinstance(b, E.Diag):
            return self(a) * self(b.arg).T
        if isinstance(b, E.Ones):  # row sums
            rows = self._diagonal_rows(a) if b.cols == 1 else None
            if rows is not None:
                return rows
            av, ta = self.view(a)
            rows = self.xp.sum(av, axis=0 if ta else 1).reshape(-1, 1)
            return rows if b.cols == 1 else self.xp.broadcast_to(rows, (a.shape[0], b.cols))
        if isinstance(a, E.Ones):  # column sums
            bv, tb = self.view(b)
            cols = self.xp.sum(bv, axis=1 if tb else 0).reshape(1, -1)
            return cols if a.rows == 1 else self.xp.broadcast_to(cols, (a.rows, b.shape[1]))
        inv_a = _inverse_of(a)
        if inv_a is not None and inv_a[0] in self.solve_inverses:
            m, transposed = inv_a
            return jsl.lu_solve(self._lu(m), self(b), trans=1 if transposed else 0)
        inv_b = _inverse_of(b)
        if inv_b is not None and inv_b[0] in self.solve_inverses:
            # A M^-1 = (M^-T A^T)^T and A M^-T = (M^-1 A^T)^T
            m, transposed = inv_b
            return jsl.lu_solve(self._lu(m), self(a).T, trans=0 if transposed else 1).T
        return self._dot(a, b)

    def _lu(self, m: E.Expr):
        if m not in self.lus:
            self.lus[m] = jsl.lu_factor(self(m))
        return self.lus[m]


@functools.singledispatch
def lower(e: E.Expr, ev: _Evaluator) -> Any:
    """The value of the node ``e``, its children evaluated by ``ev`` (``ev(child)``)."""
    raise NotImplementedError(
        f"{type(e).__name__} has no lowering: register one with @_codegen.lower.register"
    )


@lower.register
def _(e: E.Var, ev: _Evaluator):
    return ev.env[e.name]


@lower.register
def _(e: E.Const, ev: _Evaluator):
    return ev.xp.full((1, 1), e.value, ev.dtype)


@lower.register
def _(e: E.Eye, ev: _Evaluator):
    # a select on the diagonal mask: XLA's CPU code writes it about twice as fast as the
    # bool-to-float conversion of eye(n, dtype=float) (as hu.trace's closed form does)
    one, zero = ev.xp.ones((), ev.dtype), ev.xp.zeros((), ev.dtype)
    return ev.xp.where(ev.xp.eye(e.n, dtype=bool), one, zero)


@lower.register
def _(e: E.Ones, ev: _Evaluator):
    return ev.xp.ones(e.shape, ev.dtype)


@lower.register
def _(e: E.Zeros, ev: _Evaluator):
    return ev.xp.zeros(e.shape, ev.dtype)


@lower.register
def _(e: E.Add, ev: _Evaluator):
    out = ev(e.args[0])
    for a in e.args[1:]:
        out = out + ev(a)
    return out


@lower.register
def _(e: E.Scale, ev: _Evaluator):
    return ev.xp.asarray(e.k, ev.dtype) * ev(e.arg)


@lower.register
def _(e: E.Mul, ev: _Evaluator):
    return ev(e.s) * ev(e.arg)


@lower.register
def _(e: E.MatMul, ev: _Evaluator):
    args = e.args
    out = ev._product(args[0], args[1])
    for a in args[2:]:  # as written: left to right
        out = out @ ev(a)
    return out


@lower.register
def _(e: E.Transpose, ev: _Evaluator):
    # through the argument's view, never ``view(e)``: for a 1x1 ``e`` that calls back here
    value, transposed = ev.view(e.arg)
    return value if transposed else value.T


@lower.register
def _(e: E.Trace, ev: _Evaluator):
    return ev.xp.trace(ev(e.arg)).reshape(1, 1)


@lower.register
def _(e: E.Sum, ev: _Evaluator):
    return ev.xp.sum(ev(e.arg)).reshape(1, 1)


@lower.register
def _(e: E.Inv, ev: _Evaluator):
    if not ev.lu:
        return ev.xp.linalg.inv(ev(e.arg))
    n = e.shape[0]
    return jsl.lu_solve(ev._lu(e.arg), ev.xp.eye(n, dtype=ev.dtype))


@lower.register
def _(e: E.Det, ev: _Evaluator):
    if not ev.lu:
        return ev.xp.linalg.det(ev(e.arg)).reshape(1, 1)
    lu, piv = ev._lu(e.arg)
    n = lu.shape[0]
    swaps = ev.xp.sum(piv != ev.xp.arange(n, dtype=piv.dtype))
    sign = ev.xp.where(swaps % 2 == 0, 1.0, -1.0).astype(ev.dtype)
    return (sign * ev.xp.prod(ev.xp.diagonal(lu))).reshape(1, 1)


@lower.register
def _(e: E.LogDet, ev: _Evaluator):
    if not ev.lu:
        return ev.xp.linalg.slogdet(ev(e.arg))[1].reshape(1, 1)
    lu, _ = ev._lu(e.arg)
    return ev.xp.sum(ev.xp.log(ev.xp.abs(ev.xp.diagonal(lu)))).reshape(1, 1)


@lower.register
def _(e: E.Diag, ev: _Evaluator):
    x = ev(e.arg)
    return ev.xp.diag(x[:, 0])


@lower.register
def _(e: E.DiagPart, ev: _Evaluator):
    return ev.xp.diagonal(ev(e.arg))[:, None]


@lower.register
def _(e: E.Norm, ev: _Evaluator):
    a = ev(e.arg)
    return ev.xp.sqrt(ev.xp.sum(a * a)).reshape(1, 1)


@lower.register
def _(e: E.Hadamard, ev: _Evaluator):
    out = ev(e.args[0])
    for a in e.args[1:]:
        out = out * ev(a)
    return out


@lower.register
def _(e: E.EDiv, ev: _Evaluator):
    return ev(e.num) / ev(e.den)


@lower.register
def _(e: E.Log, ev: _Evaluator):
    return ev.xp.log(ev(e.arg))


@lower.register
def _(e: E.Exp, ev: _Evaluator):
    return ev.xp.exp(ev(e.arg))


@lower.register
def _(e: E.Pow, ev: _Evaluator):
    p = e.p
    if isinstance(e.arg, E.Norm) and p == 2.0:
        a = ev(e.arg.arg)
        return ev.xp.sum(a * a).reshape(1, 1)
    a = ev(e.arg)
    if p == 2.0:
        return a * a
    if p == -1.0:
        return 1.0 / a
    if p == 0.5:
        return ev.xp.sqrt(a)
    if float(p).is_integer():
        return jax.lax.integer_pow(a, int(p)) if ev.xp is jnp else a ** int(p)
    return a**p


@lower.register
def _(e: E.Elementwise, ev: _Evaluator):
    return e.apply(ev.xp, ev(e.arg))


@lower.register
def _(e: E.Max, ev: _Evaluator):
    return ev.xp.maximum(ev(e.left), ev(e.right))


@lower.register
def _(e: E.Kron, ev: _Evaluator):
    return ev.xp.kron(ev(e.left), ev(e.right))


@lower.register
def _(e: E.KronCut, ev: _Evaluator):
    g4 = ev(e.g).reshape(e.blocks())
    spec = "ikjl,kl->ij" if e.first else "ikjl,ij->kl"
    return ev.xp.einsum(spec, g4, ev(e.m))


def _slow_transposed_lhs(av, bv) -> bool:
    """Whether ``A^T B`` (``A`` stored ``k x m``) runs faster as a copy of ``A^T`` and a plain
    product: on the CPU in float64, for matrices (not vectors), where XLA's transposed-operand
    product ran at about half the plain one's speed (``benchmarks/RESULTS.md``, "Measured
    design choices"; float32 and other backends keep the contraction)."""
    return (
        av.dtype == jnp.float64
        and min(av.shape) > 1
        and min(bv.shape) > 1
        and jax.default_backend() == "cpu"
    )


def _inverse_of(e: E.Expr) -> tuple[E.Expr, bool] | None:
    """``(M, transposed)`` when ``e`` is ``M^-1`` or ``M^-T``."""
    if isinstance(e, E.Inv):
        return e.arg, False
    if isinstance(e, E.Transpose) and isinstance(e.arg, E.Inv):
        return e.arg.arg, True
    return None


def _solvable_inverses(roots: Sequence[E.Expr]) -> set:
    """Matrices whose inverse only ever multiplies something: those are solved, not formed."""
    as_operand: set = set()
    elsewhere: set = set()
    for e in E.distinct_nodes(roots):
        if isinstance(e, E.Transpose) and isinstance(e.arg, E.Inv):
            continue  # ``M^-T`` itself: where it is used is judged at its parents
        operands = set()
        if isinstance(e, E.MatMul) and len(e.args) == 2:
            a, b = e.args
            if not isinstance(b, (E.Diag, E.Ones)) and not isinstance(a, (E.Diag, E.Ones)):
                operands = {a, b}
        for c in e.children:
            inv = _inverse_of(c)
            if inv is not None:
                (as_operand if c in operands else elsewhere).add(inv[0])
            elif isinstance(c, E.Inv):
                elsewhere.add(c.arg)
    for r in roots:
        inv = _inverse_of(r)
        if inv is not None:
            elsewhere.add(inv[0])
    return as_operand - elsewhere


# -- 0. distributing a product over a sum, when the cost model says it pays ----------------


def _flop_estimate(e: E.Expr, seen: set | None = None) -> float:
    """FLOPs of the products in ``e`` (each distinct product once, best bracketing alone)."""
    seen = set() if seen is None else seen
    total = 0.0
    for node in E.distinct_nodes([e]):  # without recursion
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, E.MatMul) and all(E.concrete(a.shape) for a in node.args):
            total += chain_cost([a.shape for a in _chain_factors(node)])
    return total


def objective_flops(e: E.Expr) -> float:
    """Rough FLOPs of one evaluation of ``e`` (concrete shapes): products at their best
    bracketing, ``2 n^3`` per matrix function (inverse, determinant), entries otherwise."""
    total = _flop_estimate(e)
    for node in set(E.walk(e)):
        if isinstance(node, (E.Inv, E.Det, E.LogDet)):
            total += 2.0 * float(node.arg.shape[0]) ** 3
        elif E.concrete(node.shape):
            total += float(node.shape[0] * node.shape[1])
    return total


def _parents(roots: Sequence[E.Expr]) -> dict:
    """How many times each node is a child of a distinct node (with multiplicity)."""
    counts: dict = {}
    for e in E.distinct_nodes(roots):
        for c in e.children:
            counts[c] = counts.get(c, 0) + 1
    return counts


def _distribute(roots: Sequence[E.Expr]) -> list[E.Expr]:
    """``P (E + F) Q -> P E Q + P F Q`` where that is at least 10% cheaper, e.g. the gradient
    ``-2 (X - W H) H^T`` of eq. (24) becomes ``-2 X H^T + 2 W (H H^T)``: the k x k Gram
    matrix replaces one of the two m x n x k products.  A sum used elsewhere too is kept."""
    parents = _parents(roots)

    def visit(e: E.Expr, children: list[E.Expr]) -> E.Expr:
        out = _rebuild(e, children)
        if isinstance(out, E.MatMul) and all(E.concrete(a.shape) for a in out.args):
            for i, f in enumerate(out.args):
                if not (isinstance(f, E.Add) and len(f.args) <= 4 and parents.get(f, 0) <= 1):
                    continue
                expanded = simp.add(
                    *(simp.matmul(*out.args[:i], t, *out.args[i + 1 :]) for t in f.args)
                )
                if _flop_estimate(expanded) < 0.9 * _flop_estimate(out):
                    out = expanded
                    break
        return out

    return _bottom_up(roots, visit)


def optimize(roots: Sequence[E.Expr]) -> list[E.Expr]:
    """Steps 0-3 of the module docstring: distribution, traces of products, bracketing, sum
    factoring."""
    roots = _distribute(roots)
    roots = _bottom_up(roots, _rewrite_traces)
    roots = _bracket(roots)
    return _factor_sums(roots)


def build_function(
    outputs: Sequence[E.Expr],
    argnames: Sequence[str],
    internal_shapes: dict[str, tuple[int, int]],
    *,
    optimize_: bool,
    output_like: str | None = None,
    lu: bool = True,
) -> Callable:
    """A jitted function of ``argnames`` (positional) evaluating ``outputs``.

    ``optimize_`` applies the optimisations of the module docstring; ``lu=False`` keeps
    ``jnp.linalg`` for ``inv``, ``det`` and ``logdet`` (no shared factorisation, no solves):
    the objective that ``jax.grad`` differentiates in the check is built that way.

    Arguments may be passed in their natural layout (a vector as ``(n,)`` or ``(n, 1)``, a
    scalar as ``()``); they are reshaped to the internal 2-D shapes.  A single output that is
    the gradient w.r.t. ``output_like`` takes that argument's layout; a 1x1 output is returned
    as a 0-d scalar.
    """
    exprs = optimize(outputs) if optimize_ else list(outputs)
    solve = _solvable_inverses(exprs) if optimize_ and lu else set()
    parents = _parents(exprs) if optimize_ else {}
    names = tuple(argnames)
    index = {n: i for i, n in enumerate(names)}

    def fn(*args):
        if len(args) != len(names):
            raise TypeError(f"expected {len(names)} arrays ({', '.join(names)}), got {len(args)}")
        arrays = [jnp.asarray(a) for a in args]
        floats = [a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating)]
        dtype = jnp.result_type(*floats) if floats else jnp.result_type(float)
        env = {
            n: jnp.reshape(a, internal_shapes[n]).astype(dtype)
            for n, a in zip(names, arrays, strict=True)
        }
        ev = _Evaluator(env, dtype, optimize_, solve, lu=lu, parents=parents)
        values = [ev(e) for e in exprs]
        results = []
        for e, v in zip(outputs, values, strict=True):
            if output_like is not None and len(outputs) == 1:
                v = jnp.reshape(v, jnp.shape(arrays[index[output_like]]))
            elif e.shape == (1, 1):
                v = v.reshape(())
            results.append(v)
        return results[0] if len(results) == 1 else tuple(results)

    return jax.jit(fn)


def evaluate(exprs: Sequence[E.Expr], env: dict) -> list[np.ndarray]:
    """Evaluate ``exprs`` as written with NumPy in float64 on 2-D arrays ``env``: a quick host
    evaluation (no compilation) for the sampler's domain checks."""
    env = {n: np.asarray(a, np.float64) for n, a in env.items()}
    ev = _Evaluator(env, np.float64, False, set(), xp=np)
    with np.errstate(all="ignore"):
        return [np.asarray(ev(e)) for e in exprs]

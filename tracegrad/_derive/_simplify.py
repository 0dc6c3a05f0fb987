"""Algebraic simplification to a normal form: what is printed and what the code generator reads.

Rules (each one an identity, valid wherever the expression is defined):

* transposes pushed to the leaves: ``(A B)^T = B^T A^T``, ``(A^T)^T = A``, through sums,
  scalar multiples and elementwise operations; a 1x1 expression, ``I``, ``diag(x)`` equal their
  transposes; the inverse keeps the transpose outside, ``(A^T)^-1 = (A^-1)^T``, so that
  ``A^-1`` and ``A^-T`` share one inverse;
* products and sums flattened; numbers folded; scalar factors collected in front
  (``A (2 B) = 2 A B``, ``A (tr(X) B) = tr(X) A B``); ``I`` dropped from products, ``J``/``1``
  from Hadamard products; zero terms and factors absorbed; like terms combined
  (``X^T + X^T = 2 X^T``, ``E - E = 0``);
* ``tr``, ``sum``, ``diag`` distributed over sums and scalar multiples; ``tr(I) = n``,
  ``sum(J) = rows * cols`` when the sizes are known; ``tr(E^T) = tr(E)``;
* the diagonal of a product as a row sum (trace notes eq. 30-31):
  ``diag(P Q) = (P ⊙ Q^T) 1``, which costs O(n^2) instead of O(n^3), and its eq. (34) form
  ``(M J ⊙ N) 1 = M 1 ⊙ N 1`` for an all-ones ``J``;
* ``log(exp(E)) = E``, ``exp(log(E)) = E``, ``(E^-1)^-1 = E``, ``det(E^T) = det(E)``,
  ``(k E)^-1 = E^-1 / k``, integer powers of powers merged.

``simplify`` applies them bottom-up until nothing changes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, TypeGuard
from typing import cast as typing_cast

import numpy as np

from . import _ast as E
from ._chain import best_split


def _known(d: E.Dim) -> TypeGuard[int]:
    return isinstance(d, int)


def _is_scalar(e: E.Expr) -> bool:
    return e.shape == (1, 1)


# -- scalar multiples ------------------------------------------------------------------------


def const(v: float) -> E.Expr:
    return E.Const(float(v))


def split_coef(e: E.Expr) -> tuple[float, E.Expr]:
    """``(k, base)`` with ``e = k base`` and ``base`` free of a numeric factor."""
    if isinstance(e, E.Scale):
        return e.k, e.arg
    if isinstance(e, E.Const):
        return e.value, E.ONE
    return 1.0, e


def zeros_like(e: E.Expr) -> E.Expr:
    return E.Zeros(*e.shape)


def scale(k: float, a: E.Expr) -> E.Expr:
    k = float(k)
    if k == 1.0:
        return a
    if k == 0.0 or isinstance(a, E.Zeros):
        return zeros_like(a)
    if isinstance(a, E.Scale):
        return scale(k * a.k, a.arg)
    if isinstance(a, E.Const):
        return const(k * a.value)
    if isinstance(a, E.Add) and k < 0 and all(split_coef(t)[0] < 0 for t in a.args):
        return add(*(scale(k, t) for t in a.args))  # -(-P - Q) = P + Q
    return E.Scale(k, a)


def _scalar_product(s: E.Expr, a: E.Expr) -> E.Expr:
    """``s a`` for two 1x1 factors: powers of a common base merged (``d^-2 d = d^-1``)."""
    factors: list[E.Expr] = []
    for x in (s, a):
        while isinstance(x, E.Mul):
            factors.append(x.s)
            x = x.arg
        factors.append(x)
    order: list[E.Expr] = []
    exponents: dict[E.Expr, float] = {}
    for f in factors:
        base, p = (f.arg, f.p) if isinstance(f, E.Pow) else (f, 1.0)
        if base not in exponents:
            order.append(base)
            exponents[base] = 0.0
        exponents[base] += p
    kept = [power(b, exponents[b]) for b in order if exponents[b] != 0.0]
    if not kept:
        return E.ONE
    out = kept[-1]
    for f in reversed(kept[:-1]):
        out = E.Mul(f, out)
    return out


def mul(s: E.Expr, a: E.Expr) -> E.Expr:
    """The 1x1 ``s`` times ``a``."""
    if isinstance(s, E.Const):
        return scale(s.value, a)
    if isinstance(s, E.Scale):
        return scale(s.k, mul(s.arg, a))
    if isinstance(s, E.Zeros) or isinstance(a, E.Zeros):
        return zeros_like(a)
    if isinstance(a, E.Scale):
        return scale(a.k, mul(s, a.arg))
    if isinstance(a, E.Const):
        return scale(a.value, s)
    if _is_scalar(a):
        return _scalar_product(s, a)
    if isinstance(a, E.Mul):
        return mul(mul(s, a.s), a.arg)
    return E.Mul(s, a)


# -- structure ---------------------------------------------------------------------------


def transpose(a: E.Expr, through: bool = True) -> E.Expr:
    """``a^T``, pushed to the leaves; with ``through=False`` only the transposes of leaves,
    1x1 and symmetric nodes and transposes are resolved (``A^T`` of anything else is kept)."""
    if _is_scalar(a) or isinstance(a, (E.Eye, E.Diag, E.Const)):
        return a
    if isinstance(a, E.Transpose):
        return a.arg
    if isinstance(a, E.Ones):
        return E.Ones(a.cols, a.rows)
    if isinstance(a, E.Zeros):
        return E.Zeros(a.cols, a.rows)
    if not through:
        return E.Transpose(a)
    if isinstance(a, E.Add):
        return add(*(transpose(x) for x in a.args))
    if isinstance(a, E.Scale):
        return scale(a.k, transpose(a.arg))
    if isinstance(a, E.Mul):
        return mul(a.s, transpose(a.arg))
    if isinstance(a, E.MatMul):
        return matmul(*(transpose(x) for x in reversed(a.args)))
    if isinstance(a, E.Hadamard):
        return hadamard(*(transpose(x) for x in a.args))
    if isinstance(a, E.EDiv):
        return ediv(transpose(a.num), transpose(a.den))
    if isinstance(a, E.Log):
        return log(transpose(a.arg))
    if isinstance(a, E.Exp):
        return exp(transpose(a.arg))
    if isinstance(a, E.Pow):
        return power(transpose(a.arg), a.p)
    if isinstance(a, E.Elementwise):
        return a.replace([transpose(a.arg)])
    if isinstance(a, E.Max):
        return a.replace([transpose(a.left), transpose(a.right)])
    return E.Transpose(a)


def add(*args: E.Expr) -> E.Expr:
    flat: list[E.Expr] = []
    for a in args:
        flat.extend(a.args if isinstance(a, E.Add) else (a,))
    shape = flat[0].shape
    order: list[E.Expr] = []
    coefs: dict[E.Expr, float] = {}
    for a in flat:
        if isinstance(a, E.Zeros):
            continue
        k, base = split_coef(a)
        if base not in coefs:
            order.append(base)
            coefs[base] = 0.0
        coefs[base] += k
    terms = [scale(coefs[b], b) for b in order if coefs[b] != 0.0]
    if not terms:
        return E.Zeros(*shape)
    if len(terms) == 1:
        return terms[0]
    return E.Add(tuple(terms))


def _absorb(a: E.Expr, kind: type, out: list, scalars: list) -> float:
    """Append the factors of ``a`` (a ``kind`` node flattened, scalar multiples stripped) to
    ``out`` and its scalar factors to ``scalars``; returns the numeric factor."""
    k = 1.0
    while True:
        if isinstance(a, E.Scale):
            k *= a.k
            a = a.arg
        elif isinstance(a, E.Mul):
            scalars.append(a.s)
            a = a.arg
        else:
            break
    if isinstance(a, kind):
        for x in typing_cast(Any, a).args:  # kind is an n-ary node class (Add, MatMul, ...)
            k *= _absorb(x, kind, out, scalars)
    else:
        out.append(a)
    return k


def matmul(*args: E.Expr) -> E.Expr:
    rows, cols = args[0].shape[0], args[-1].shape[1]
    k = 1.0
    scalars: list[E.Expr] = []
    flat: list[E.Expr] = []
    for a in args:
        k *= _absorb(a, E.MatMul, flat, scalars)
    factors: list[E.Expr] = []
    for a in flat:
        if isinstance(a, E.Zeros):
            return E.Zeros(rows, cols)
        if isinstance(a, E.Eye):
            continue
        if isinstance(a, E.Const):
            k *= a.value
            continue
        factors.append(a)
    if len(factors) > 1:
        # a 1x1 factor inside a longer chain is a scalar multiple: its neighbours end and
        # start with a dimension 1, so they still conform without it
        kept = [f for f in factors if not _is_scalar(f)]
        if kept:
            scalars.extend(f for f in factors if _is_scalar(f))
            factors = kept
    # the all-ones row times the all-ones column is the length
    merged: list[E.Expr] = []
    for f in factors:
        prev = merged[-1] if merged else None
        if (
            isinstance(prev, E.Ones)
            and isinstance(f, E.Ones)
            and prev.rows == 1
            and f.cols == 1
            and _known(f.rows)
        ):
            merged.pop()
            k *= f.rows
            continue
        if isinstance(prev, E.Diag) and isinstance(f, E.Diag):
            merged[-1] = E.Diag(hadamard(prev.arg, f.arg))
            continue
        if isinstance(prev, E.Diag) and isinstance(f, E.Ones) and f.cols == 1:
            merged[-1] = prev.arg  # diag(x) 1 = x
            continue
        if isinstance(prev, E.Ones) and prev.rows == 1 and isinstance(f, E.Diag):
            merged[-1] = transpose(f.arg)  # 1^T diag(x) = x^T
            continue
        merged.append(f)
    factors = merged
    if not factors:  # only identities, numbers and scalars were multiplied
        base = E.ONE if (rows, cols) == (1, 1) else E.Eye(rows)
    elif len(factors) == 1:
        base = factors[0]
    else:
        base = E.MatMul(tuple(factors))
    if scalars and base == E.ONE:
        base, scalars = scalars[-1], scalars[:-1]
    for s in reversed(scalars):
        base = mul(s, base)
    return scale(k, base)


def hadamard(*args: E.Expr) -> E.Expr:
    shape = args[0].shape
    k = 1.0
    scalars: list[E.Expr] = []
    flat: list[E.Expr] = []
    for a in args:
        k *= _absorb(a, E.Hadamard, flat, scalars)
    factors: list[E.Expr] = []
    for a in flat:
        if isinstance(a, E.Zeros):
            return E.Zeros(*shape)
        if isinstance(a, E.Ones):
            continue
        if isinstance(a, E.Const):
            k *= a.value
            continue
        factors.append(a)
    if shape == (1, 1):
        scalars.extend(factors)
        factors = []
    if not factors:
        base = E.ONE if shape == (1, 1) else E.Ones(*shape)
        if scalars and shape == (1, 1):
            base, scalars = scalars[-1], scalars[:-1]
    elif len(factors) == 1:
        base = factors[0]
    else:
        base = E.Hadamard(tuple(factors))
    for s in reversed(scalars):
        base = mul(s, base)
    return scale(k, base)


def ediv(num: E.Expr, den: E.Expr) -> E.Expr:
    if isinstance(num, E.Zeros):
        return num
    if isinstance(den, E.Ones):
        return num
    if isinstance(num, E.Scale):
        return scale(num.k, ediv(num.arg, den))
    if isinstance(den, E.Scale):
        return scale(1.0 / den.k, ediv(num, den.arg))
    if isinstance(num, E.Mul):
        return mul(num.s, ediv(num.arg, den))
    if isinstance(den, E.Const) and den.value != 0:
        return scale(1.0 / den.value, num)
    if num == den:
        return E.ONE if num.shape == (1, 1) else E.Ones(*num.shape)
    if isinstance(num, E.Const) and num.shape == (1, 1):
        return scale(num.value, power(den, -1.0))
    if isinstance(num, E.Ones) or num == E.ONE:
        return power(den, -1.0)
    return E.EDiv(num, den)


# -- reductions ------------------------------------------------------------------------------


def _pull(op, a: E.Expr) -> E.Expr | None:
    """Distribute a linear reduction ``op`` over scalar multiples and sums."""
    if isinstance(a, E.Scale):
        return scale(a.k, op(a.arg))
    if isinstance(a, E.Mul):
        return mul(a.s, op(a.arg))
    if isinstance(a, E.Add):
        return add(*(op(x) for x in a.args))
    return None


def trace(a: E.Expr) -> E.Expr:
    if _is_scalar(a):
        return a
    if (pulled := _pull(trace, a)) is not None:
        return pulled
    if isinstance(a, E.Transpose):
        return trace(a.arg)
    if isinstance(a, E.Zeros):
        return const(0.0)
    if isinstance(a, (E.Eye, E.Ones)) and _known(a.shape[0]):
        return const(a.shape[0])
    if isinstance(a, E.Diag):
        return sum_(a.arg)
    return E.Trace(a)


def sum_(a: E.Expr) -> E.Expr:
    if _is_scalar(a):
        return a
    if (pulled := _pull(sum_, a)) is not None:
        return pulled
    if isinstance(a, E.Transpose):
        return sum_(a.arg)
    if isinstance(a, E.Zeros):
        return const(0.0)
    if isinstance(a, E.Ones) and _known(a.rows) and _known(a.cols):
        return const(a.rows * a.cols)
    if isinstance(a, E.Eye) and _known(a.n):
        return const(a.n)
    if isinstance(a, E.Diag):
        return sum_(a.arg)
    return E.Sum(a)


def diag(x: E.Expr) -> E.Expr:
    """``diag(x)``, the diagonal matrix of the column vector ``x``."""
    n = x.shape[0]
    if _is_scalar(x):
        return x
    if isinstance(x, E.Scale):
        return scale(x.k, diag(x.arg))
    if isinstance(x, E.Mul):
        return mul(x.s, diag(x.arg))
    if isinstance(x, E.Zeros):
        return E.Zeros(n, n)
    if isinstance(x, E.Ones):
        return E.Eye(n)
    if isinstance(x, E.DiagPart) and isinstance(x.arg, E.Diag):
        return x.arg
    return E.Diag(x)


def diag_part(a: E.Expr) -> E.Expr:
    """The diagonal of the square ``a`` as a column vector."""
    if _is_scalar(a):
        return a
    if (pulled := _pull(diag_part, a)) is not None:
        return pulled
    n = a.shape[0]
    if isinstance(a, E.Transpose):
        return diag_part(a.arg)
    if isinstance(a, E.Diag):
        return a.arg
    if isinstance(a, E.Eye):
        return E.Ones(n, 1)
    if isinstance(a, E.Zeros):
        return E.Zeros(n, 1)
    if isinstance(a, E.Hadamard):
        return hadamard(*(diag_part(x) for x in a.args))
    if isinstance(a, E.MatMul):
        # diag(F_1 ... F_k) = ((F_1 ... F_j) ⊙ (F_{j+1} ... F_k)^T) 1  (eq. 30-31); the
        # notes split off the last factor, the cheapest split is taken when sizes are known
        j = _diag_split(a.args)
        left = matmul(*a.args[:j])
        right = transpose(matmul(*a.args[j:]))
        inner = hadamard(left, right)
        return matmul(inner, E.Ones(inner.shape[1], 1))
    return E.DiagPart(a)


def _diag_split(factors: tuple[E.Expr, ...]) -> int:
    last = len(factors) - 1
    if not all(E.concrete(f.shape) for f in factors):
        return last
    return best_split([f.shape for f in factors], prefer_last=True)


# -- matrix functions ------------------------------------------------------------------------


def inv(a: E.Expr) -> E.Expr:
    if isinstance(a, E.Inv):
        return a.arg
    if isinstance(a, E.Eye):
        return a
    if isinstance(a, E.Transpose):
        return transpose(inv(a.arg))
    if isinstance(a, E.Scale):
        return scale(1.0 / a.k, inv(a.arg))
    if isinstance(a, E.Diag):
        return diag(power(a.arg, -1.0))
    if _is_scalar(a):
        return power(a, -1.0)
    return E.Inv(a)


def det(a: E.Expr) -> E.Expr:
    if _is_scalar(a):
        return a
    if isinstance(a, E.Transpose):
        return det(a.arg)
    if isinstance(a, E.Eye):
        return E.ONE
    if isinstance(a, E.Inv):
        return power(det(a.arg), -1.0)
    return E.Det(a)


def logdet(a: E.Expr) -> E.Expr:
    if isinstance(a, E.Transpose):
        return logdet(a.arg)
    if isinstance(a, E.Eye):
        return const(0.0)
    if isinstance(a, E.Inv):
        return scale(-1.0, logdet(a.arg))
    return E.LogDet(a)


def log(a: E.Expr) -> E.Expr:
    if isinstance(a, E.Exp):
        return a.arg
    if isinstance(a, E.Ones):
        return E.Zeros(*a.shape)
    if isinstance(a, E.Const) and a.value > 0:
        return const(math.log(a.value))
    return E.Log(a)


def exp(a: E.Expr) -> E.Expr:
    if isinstance(a, E.Log):
        return a.arg
    if isinstance(a, E.Zeros):
        return E.Ones(*a.shape) if a.shape != (1, 1) else E.ONE
    return E.Exp(a)


def power(a: E.Expr, p: float) -> E.Expr:
    p = float(p)
    if p == 1.0:
        return a
    if p == 0.0:
        return E.ONE if a.shape == (1, 1) else E.Ones(*a.shape)
    if isinstance(a, E.Const) and (a.value > 0 or p.is_integer()):
        folded = _fold_power(a.value, p)
        if folded is not None:
            return const(folded)
    if isinstance(a, E.Ones):
        return a
    if isinstance(a, E.Pow) and p.is_integer():
        return power(a.arg, a.p * p)
    if isinstance(a, E.Scale) and (a.k > 0 or p.is_integer()):
        folded = _fold_power(a.k, p)
        if folded is not None:
            return scale(folded, power(a.arg, p))
    return E.Pow(a, p)


def _fold_power(v: float, p: float) -> float | None:
    """``v ** p`` when it is a finite nonzero float64 (else the power stays unfolded)."""
    try:
        out = v**p
    except (ZeroDivisionError, OverflowError):
        return None
    return out if math.isfinite(out) and (out != 0 or v == 0) else None


def norm(a: E.Expr) -> E.Expr:
    if isinstance(a, E.Transpose):
        return norm(a.arg)
    if isinstance(a, E.Scale):
        return scale(abs(a.k), norm(a.arg))
    return E.Norm(a)


def _ones_rowsum(e: E.Expr) -> E.Expr:
    """``(M J ⊙ N) 1 = M 1 ⊙ N 1`` (eq. 34) where ``J`` is an all-ones matrix."""
    if not (isinstance(e, E.MatMul) and len(e.args) == 2):
        return e
    had, ones = e.args
    if not (isinstance(ones, E.Ones) and ones.cols == 1 and isinstance(had, E.Hadamard)):
        return e
    if len(had.args) != 2:
        return e
    for i in (0, 1):
        prod, other = had.args[i], had.args[1 - i]
        if (
            isinstance(prod, E.MatMul)
            and isinstance(prod.args[-1], E.Ones)
            and prod.args[-1].rows != 1
        ):
            j = prod.args[-1]
            left = matmul(*prod.args[:-1], E.Ones(j.rows, 1))
            right = matmul(other, E.Ones(other.shape[1], 1))
            return hadamard(left, right)
    return e


# -- the driver ------------------------------------------------------------------------------


@functools.singledispatch
def rebuilt(e: E.Expr, children: Sequence[E.Expr]) -> E.Expr:
    """The node ``e`` rebuilt on simplified ``children``, in normal form."""
    raise NotImplementedError(
        f"{type(e).__name__} has no rebuild rule: register one with @_simplify.rebuilt.register"
    )


def _only(rule):
    """The rebuild by ``rule(child)`` of a node with one child."""
    return lambda e, children: rule(children[0])


for _cls, _rule in {
    E.Leaf: lambda e, c: e,
    E.Add: lambda e, c: add(*c),
    E.Scale: lambda e, c: scale(e.k, c[0]),
    E.Mul: lambda e, c: mul(c[0], c[1]),
    E.MatMul: lambda e, c: _ones_rowsum(matmul(*c)),
    E.Transpose: _only(transpose),
    E.Trace: _only(trace),
    E.Sum: _only(sum_),
    E.Inv: _only(inv),
    E.Det: _only(det),
    E.LogDet: _only(logdet),
    E.Diag: _only(diag),
    E.DiagPart: _only(diag_part),
    E.Norm: _only(norm),
    E.Hadamard: lambda e, c: hadamard(*c),
    E.EDiv: lambda e, c: ediv(c[0], c[1]),
    E.Log: _only(log),
    E.Exp: _only(exp),
    E.Pow: lambda e, c: power(c[0], e.p),
}.items():
    rebuilt.register(_cls, _rule)


@rebuilt.register
def _(e: E.Elementwise, children):
    (a,) = children
    if isinstance(a, E.Const):
        return E.Const(float(e.apply(np, np.float64(a.value))))
    return e.replace(children)


@rebuilt.register
def _(e: E.Max, children):
    a, b = children
    if isinstance(a, E.Const) and isinstance(b, E.Const):
        return E.Const(max(a.value, b.value))
    return e.replace(children)


@rebuilt.register(E.Kron)
@rebuilt.register(E.KronCut)
def _(e, children):
    if any(isinstance(c, E.Zeros) for c in children):
        return E.Zeros(*e.shape)
    return e.replace(children)


def _once(e: E.Expr, memo: dict) -> E.Expr:
    if e in memo:
        return memo[e]
    out = rebuilt(e, [_once(c, memo) for c in e.children])
    if isinstance(out, (E.Eye, E.Ones)) and out.shape == (1, 1):
        out = E.ONE  # a 1x1 identity or all-ones is the number 1 (else printed "I^63")
    if out.shape != e.shape:  # pragma: no cover - a rule bug
        raise E.ShapeBug(f"simplification changed the shape {e.shape} -> {out.shape}")
    memo[e] = out
    return out


def simplify(e: E.Expr, max_passes: int = 20) -> E.Expr:
    """``e`` in normal form (see the module docstring); the value is unchanged."""
    for _ in range(max_passes):
        out = _once(e, {})
        if out == e:
            return out
        e = out
    return e


def tidy(e: E.Expr) -> E.Expr:
    """``e`` with only associativity and numbers normalised (products, sums and Hadamard
    products flattened, numeric factors folded and pulled in front): how an objective was
    read, without the rewriting ``simplify`` does."""
    children = [tidy(c) for c in e.children]
    if isinstance(e, (E.MatMul, E.Add, E.Hadamard)):
        flat: list[E.Expr] = []
        k = 1.0
        for c in children:
            if isinstance(e, (E.MatMul, E.Hadamard)):
                while isinstance(c, E.Scale):
                    k *= c.k
                    c = c.arg
            flat.extend(c.args if type(c) is type(e) else (c,))
        if isinstance(e, E.MatMul) and len(flat) > 1:
            consts = [c for c in flat if isinstance(c, E.Const)]
            for c in consts:
                k *= c.value
            flat = [c for c in flat if not isinstance(c, E.Const)] or [E.ONE]
        node = flat[0] if len(flat) == 1 else type(e)(tuple(flat))
        return node if k == 1.0 else tidy(E.Scale(k, node))
    if isinstance(e, E.Scale):
        arg = children[0]
        if isinstance(arg, E.Scale):
            return tidy(E.Scale(e.k * arg.k, arg.arg))
        if isinstance(arg, E.Const):
            return E.Const(e.k * arg.value)
        return E.Scale(e.k, arg)
    if not children:
        return e
    return e.replace(children)

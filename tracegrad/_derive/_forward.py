"""Forward rules: each node's differential from its children's, and closed-form Jacobians.

``jvp(e, tangents)`` is the differential of the node ``e`` given its children's (in
``Expr.children`` order; ``None`` is zero), ``None`` when it is zero: ``d(A B) = dA B + A dB``,
``d tr(E) = tr(dE)``, ...  ``_second.tangent`` propagates it through an expression; the second
order is the forward derivative of the gradient.

``jacobian(e, jac)`` is the Jacobian of a vector- or 1x1-valued node ``e`` w.r.t. a vector
variable as a closed form (rows: the node's entries; columns: the variable's), given
``jac(child)`` (the child's Jacobian, ``None`` when none is known) and ``jac.depends(child)``;
``None`` where there is no closed form here (callers fall back to the directional derivative,
entry by entry).  Unlike the other passes this one is optional per node: the base returns
``None``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from . import _ast as E
from ._ast import (
    Add,
    Diag,
    EDiv,
    Hadamard,
    Kron,
    KronCut,
    MatMul,
    Mul,
    Pow,
    Scale,
    Sum,
    Trace,
    Transpose,
    Zeros,
    mm,
)

Tangents = Sequence[E.Expr | None]


def _total(terms) -> E.Expr | None:
    """The sum of the non-zero (not ``None``) terms; ``None`` when all are zero."""
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _unary(rule):
    """A one-child rule ``rule(e, t)`` for a non-zero tangent ``t``, zero for zero."""

    def jvp_rule(e, tangents):
        (t,) = tangents
        return None if t is None else rule(e, t)

    return jvp_rule


@functools.singledispatch
def jvp(e: E.Expr, tangents: Tangents) -> E.Expr | None:
    """The differential of ``e`` given its children's (``None``: zero)."""
    raise NotImplementedError(
        f"{type(e).__name__} has no forward rule: register one with @_forward.jvp.register"
    )


@jvp.register
def _(e: E.Leaf, tangents):
    return None


@jvp.register
def _(e: E.Add, tangents):
    return _total(tangents)


@jvp.register
def _(e: E.Mul, tangents):
    ts, ta = tangents
    return _total([None if ts is None else Mul(ts, e.arg), None if ta is None else Mul(e.s, ta)])


@jvp.register
def _(e: E.MatMul, tangents):
    args = e.args
    return _total(
        [None if t is None else mm(*args[:i], t, *args[i + 1 :]) for i, t in enumerate(tangents)]
    )


for _cls, _rule in {
    E.Scale: lambda e, t: Scale(e.k, t),
    E.Transpose: lambda e, t: Transpose(t),
    E.Trace: lambda e, t: Trace(t),
    E.Sum: lambda e, t: Sum(t),
    E.Inv: lambda e, t: Scale(-1.0, MatMul((e, t, e))),
    E.Det: lambda e, t: Mul(e, Trace(MatMul((E.Inv(e.arg), t)))),
    E.LogDet: lambda e, t: Trace(MatMul((E.Inv(e.arg), t))),
    E.Diag: lambda e, t: Diag(t),
    E.DiagPart: lambda e, t: E.DiagPart(t),
    E.Norm: lambda e, t: Mul(Pow(e, -1.0), Sum(Hadamard((e.arg, t)))),
    E.Log: lambda e, t: EDiv(t, e.arg),
    E.Exp: lambda e, t: Hadamard((e, t)),
    E.Pow: lambda e, t: Hadamard((Scale(e.p, Pow(e.arg, e.p - 1.0)), t)),
}.items():
    jvp.register(_cls, _unary(_rule))


@jvp.register
def _(e: E.Hadamard, tangents):
    args = e.args
    return _total(
        [
            None if t is None else Hadamard((*args[:i], t, *args[i + 1 :]))
            for i, t in enumerate(tangents)
        ]
    )


@jvp.register
def _(e: E.EDiv, tangents):
    tn, td = tangents
    return _total(
        [
            None if tn is None else EDiv(tn, e.den),
            None if td is None else Scale(-1.0, Hadamard((EDiv(e.num, Pow(e.den, 2.0)), td))),
        ]
    )


@jvp.register
def _(e: E.Elementwise, tangents):
    (t,) = tangents
    d = e.derivative()
    return None if t is None or d is None else Hadamard((d, t))


@jvp.register
def _(e: E.Max, tangents):
    ta, tb = tangents
    wa, wb = e.weights()
    return _total(
        [None if ta is None else Hadamard((wa, ta)), None if tb is None else Hadamard((wb, tb))]
    )


@jvp.register
def _(e: E.Kron, tangents):
    ta, tb = tangents
    return _total(
        [None if ta is None else Kron(ta, e.right), None if tb is None else Kron(e.left, tb)]
    )


@jvp.register
def _(e: E.KronCut, tangents):
    tg, tm = tangents
    return _total(
        [
            None if tg is None else KronCut(tg, e.m, e.first),
            None if tm is None else KronCut(e.g, tm, e.first),
        ]
    )


# -- closed-form Jacobians of column-valued nodes w.r.t. a column variable -----------------


def _total_known(terms) -> E.Expr | None:
    """The sum of the terms, ``None`` when one of them has no closed form."""
    if any(t is None for t in terms):
        return None
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


def _diag_times(d: E.Expr, j: E.Expr | None, node: E.Expr) -> E.Expr | None:
    """``diag(d) J`` for a column ``node`` (an elementwise function's Jacobian)."""
    if j is None or node.shape[1] != 1:
        return None
    return mm(Diag(d), j)


@functools.singledispatch
def jacobian(e: E.Expr, jac) -> E.Expr | None:
    """The closed-form Jacobian of ``e`` given ``jac`` (module docstring); ``None``: none."""
    return None


@jacobian.register
def _(e: E.Add, jac):
    return _total_known([jac(a) for a in e.args])


@jacobian.register
def _(e: E.Scale, jac):
    j = jac(e.arg)
    return None if j is None else Scale(e.k, j)


@jacobian.register
def _(e: E.Mul, jac):
    if e.arg.shape[1] != 1:
        return None
    js, ja = jac(e.s), jac(e.arg)
    if js is None or ja is None:
        return None
    return Add((mm(e.arg, js), Mul(e.s, ja)))


@jacobian.register
def _(e: E.MatMul, jac):
    # F_1 ... F_k a column: per dependent factor F_i of L F_i R: the last factor, a column
    # (L J); a column u before the end (R is 1x1: R L J_u); a row u^T (L R^T J_u); a 1x1
    # factor (L R J_s); diag(u) (L diag(R) J_u); a sum, multiple or product (distributed)
    if e.shape[1] != 1:
        return None
    args = e.args
    terms = []
    for i, f in enumerate(args):
        left, right = args[:i], args[i + 1 :]
        if not jac.depends(f):
            continue
        if f.shape == (1, 1) or (not right and f.shape[1] == 1):
            j = jac(f)
            if j is None:
                return None
            terms.append(mm(*left, *right, j) if f.shape == (1, 1) else mm(*left, j))
        elif f.shape[1] == 1:  # a column before the end: what follows it is 1x1
            j = jac(f)
            if j is None:
                return None
            terms.append(Mul(mm(*right), mm(*left, j)))
        elif isinstance(f, Transpose) and f.shape[0] == 1:
            j = jac(f.arg)
            if j is None:
                return None
            terms.append(mm(*left, Transpose(mm(*right)), j))
        elif isinstance(f, Diag) and right:
            j = jac(f.arg)
            if j is None:
                return None
            terms.append(mm(*left, Diag(mm(*right)), j))
        elif isinstance(f, (Add, Scale, Mul, MatMul)) and right:
            # a dependent matrix factor that is a sum, multiple or product: distribute the
            # product over it (L (P + Q) R = L P R + L Q R) and take each part's Jacobian
            if isinstance(f, Add):
                parts = Add(tuple(mm(*left, t, *right) for t in f.args))
            elif isinstance(f, Scale):
                parts = Scale(f.k, mm(*left, f.arg, *right))
            elif isinstance(f, Mul):
                parts = Mul(f.s, mm(*left, f.arg, *right))
            else:
                parts = mm(*left, *f.args, *right)
            j = jac(parts)
            if j is None:
                return None
            terms.append(j)
        else:
            return None
    return _total_known(terms) if terms else None


@jacobian.register
def _(e: E.Hadamard, jac):
    if e.shape[1] != 1:
        return None
    args = e.args
    terms = []
    for i, a in enumerate(args):
        if not jac.depends(a):
            continue
        j = jac(a)
        if j is None:
            return None
        rest = args[:i] + args[i + 1 :]
        terms.append(mm(Diag(rest[0] if len(rest) == 1 else Hadamard(rest)), j))
    return _total_known(terms) if terms else None


@jacobian.register
def _(e: E.EDiv, jac):
    if e.shape[1] != 1:
        return None
    terms = []
    if jac.depends(e.num):
        j = jac(e.num)
        if j is None:
            return None
        terms.append(mm(Diag(Pow(e.den, -1.0)), j))
    if jac.depends(e.den):
        j = jac(e.den)
        if j is None:
            return None
        w = Scale(-1.0, EDiv(e.num, Pow(e.den, 2.0)))
        terms.append(mm(Diag(w), j))
    return _total_known(terms) if terms else None


@jacobian.register
def _(e: E.Log, jac):
    return _diag_times(Pow(e.arg, -1.0), jac(e.arg), e)


@jacobian.register
def _(e: E.Exp, jac):
    return _diag_times(e, jac(e.arg), e)


@jacobian.register
def _(e: E.Pow, jac):
    return _diag_times(Scale(e.p, Pow(e.arg, e.p - 1.0)), jac(e.arg), e)


@jacobian.register
def _(e: E.Elementwise, jac):
    d = e.derivative()
    if d is None:
        j = jac(e.arg)
        return None if j is None or e.shape[1] != 1 else Zeros(e.shape[0], j.shape[1])
    return _diag_times(d, jac(e.arg), e)


@jacobian.register
def _(e: E.Max, jac):
    if e.shape[1] != 1:
        return None
    wa, wb = e.weights()
    ja, jb = jac(e.left), jac(e.right)
    if ja is None or jb is None:
        return None
    return Add((mm(Diag(wa), ja), mm(Diag(wb), jb)))

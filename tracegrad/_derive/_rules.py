"""Matrix differentials: one gradient term per appearance of the variable (trace notes eq. 18).

The notes' rule: differentiate each appearance of X with the basic results, holding
everything else (the other appearances included) constant, and add the terms.  The basic
results generalise to one *adjoint* rule per operator: if ``f`` depends on a node ``N`` with
``df = tr(G^T dN)`` (``G``, the adjoint of ``N``, has ``N``'s shape; at the root ``G = 1``),
then for each child the adjoint is

    product  F_1 ... F_k        F_i:  (F_1 ... F_{i-1})^T G (F_{i+1} ... F_k)^T
    transpose  N = E^T          E:    G^T
    trace      N = tr(E)        E:    G I                     (tr(A X B) -> A^T B^T, eq. 9)
    sum        N = sum(E)       E:    G J
    sum        N = E + F        E, F: G
    scalar     N = s E          E:    s G;    s: sum(G ⊙ E)
    Hadamard   N = E ⊙ F        E:    G ⊙ F
    division   N = E ⊘ F        E:    G ⊘ F;  F: -(G ⊙ E ⊘ F.^2)
    log, exp   N = log(E)       E:    G ⊘ E;  exp: G ⊙ exp(E)
    power      N = E.^p         E:    p G ⊙ E.^(p-1)
    inverse    N = E^-1         E:    -E^-T G E^-T
    det        N = det(E)       E:    G det(E) E^-T
    logdet     N = log|det E|   E:    G E^-T
    diag       N = diag(x)      x:    diag(G) (the diagonal of G, eq. 30)
    norm       N = ||E||_F      E:    G E / ||E||_F   (and ||E||_F^2: 2 G E)

Eq. (9) and (12) are the product rule at a trace (``G = I``): the transpose of the product to
the left of X times the transpose of the product to its right, and for an appearance as
``X^T`` the transpose of that.  Propagating adjoints from the root down to each leaf X yields
exactly the per-appearance terms of eq. (18)-(21); the terms are returned unsimplified.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from . import _ast as E
from ._ast import (
    Diag,
    DiagPart,
    Eye,
    Hadamard,
    Inv,
    Kron,
    KronCut,
    MatMul,
    Mul,
    Ones,
    Pow,
    Scale,
    Sum,
    Transpose,
    mm,
)

Needed = Callable[[E.Expr], bool]


@functools.singledispatch
def adjoints(e: E.Expr, G: E.Expr, needed: Needed) -> Iterable[tuple[E.Expr, E.Expr]]:
    """``(child, adjoint of child)`` for each child of ``e`` that is ``needed``: if
    ``df = tr(G^T dN)`` for this node ``N``, the child's adjoint is the ``G_c`` with
    ``df = tr(G_c^T dc)``."""
    raise NotImplementedError(
        f"{type(e).__name__} has no reverse rule: register one with @_rules.adjoints.register"
    )


@adjoints.register
def _(e: E.Leaf, G, needed):
    return ()


@adjoints.register
def _(e: E.Add, G, needed):
    return ((a, G) for a in e.args if needed(a))


@adjoints.register
def _(e: E.Scale, G, needed):
    yield e.arg, Scale(e.k, G)


@adjoints.register
def _(e: E.Mul, G, needed):
    if needed(e.s):
        yield e.s, Sum(Hadamard((G, e.arg)))
    if needed(e.arg):
        yield e.arg, Mul(e.s, G)


@adjoints.register
def _(e: E.MatMul, G, needed):
    args = e.args
    for i, a in enumerate(args):
        if not needed(a):
            continue
        parts = []
        if i > 0:
            parts.append(Transpose(mm(*args[:i])))
        parts.append(G)
        if i < len(args) - 1:
            parts.append(Transpose(mm(*args[i + 1 :])))
        yield a, mm(*parts)


@adjoints.register
def _(e: E.Transpose, G, needed):
    yield e.arg, Transpose(G)


@adjoints.register
def _(e: E.Trace, G, needed):
    yield e.arg, Mul(G, Eye(e.arg.shape[0]))


@adjoints.register
def _(e: E.Sum, G, needed):
    yield e.arg, Mul(G, Ones(*e.arg.shape))


@adjoints.register
def _(e: E.Inv, G, needed):
    inv_t = Transpose(e)
    yield e.arg, Scale(-1.0, MatMul((inv_t, G, inv_t)))


@adjoints.register
def _(e: E.Det, G, needed):
    yield e.arg, Mul(G, Mul(e, Transpose(Inv(e.arg))))


@adjoints.register
def _(e: E.LogDet, G, needed):
    yield e.arg, Mul(G, Transpose(Inv(e.arg)))


@adjoints.register
def _(e: E.Diag, G, needed):
    yield e.arg, DiagPart(G)


@adjoints.register
def _(e: E.DiagPart, G, needed):
    yield e.arg, Diag(G)


@adjoints.register
def _(e: E.Norm, G, needed):
    yield e.arg, Mul(Mul(G, Pow(e, -1.0)), e.arg)


@adjoints.register
def _(e: E.Hadamard, G, needed):
    args = e.args
    for i, a in enumerate(args):
        if needed(a):
            yield a, Hadamard((G, *args[:i], *args[i + 1 :]))


@adjoints.register
def _(e: E.EDiv, G, needed):
    if needed(e.num):
        yield e.num, E.EDiv(G, e.den)
    if needed(e.den):
        yield e.den, Scale(-1.0, Hadamard((G, E.EDiv(e.num, Pow(e.den, 2.0)))))


@adjoints.register
def _(e: E.Log, G, needed):
    yield e.arg, E.EDiv(G, e.arg)


@adjoints.register
def _(e: E.Exp, G, needed):
    yield e.arg, Hadamard((G, e))


@adjoints.register
def _(e: E.Pow, G, needed):
    base, p = e.arg, e.p
    if isinstance(base, E.Norm):
        # d ||E||^p = p ||E||^(p-2) tr(E^T dE): skip the norm node, so that ||E||_F^2
        # gives 2 G E with no square root to cancel
        inner = base.arg
        scale = Scale(p, G) if p == 2 else Mul(Pow(base, p - 2.0), Scale(p, G))
        yield inner, Mul(scale, inner)
    else:
        yield base, Hadamard((G, Scale(p, Pow(base, p - 1.0))))


@adjoints.register
def _(e: E.Elementwise, G, needed):
    d = e.derivative()
    if d is not None:
        yield e.arg, Hadamard((G, d))


@adjoints.register
def _(e: E.Max, G, needed):
    wa, wb = e.weights()
    if needed(e.left):
        yield e.left, Hadamard((G, wa))
    if needed(e.right):
        yield e.right, Hadamard((G, wb))


@adjoints.register
def _(e: E.Kron, G, needed):
    # d tr(G^T (dA ⊗ B)) = tr(KronCut(G, B)^T dA), and likewise for B
    if needed(e.left):
        yield e.left, KronCut(G, e.right, True)
    if needed(e.right):
        yield e.right, KronCut(G, e.left, False)


@adjoints.register
def _(e: E.KronCut, G, needed):
    if needed(e.g):
        yield e.g, Kron(G, e.m) if e.first else Kron(e.m, G)
    if needed(e.m):
        yield e.m, KronCut(e.g, G, not e.first)


def appearance_terms(objective: E.Expr, wrt: str) -> list[E.Expr]:
    """The gradient terms of scalar ``objective`` w.r.t. the variable ``wrt``, one per
    appearance, in ``Expr.children`` (left-to-right) order; their sum is the gradient."""
    if objective.shape != (1, 1):
        raise ValueError(f"the objective must be 1x1, got {objective.shape}")
    cache: dict = {}
    terms: list[E.Expr] = []

    def needed(e: E.Expr) -> bool:
        return E.contains(e, wrt, cache)

    def visit(node: E.Expr, G: E.Expr) -> None:
        if isinstance(node, E.Var):
            if node.name == wrt:
                terms.append(G)
            return
        for child, adjoint in adjoints(node, G, needed):
            visit(child, adjoint)

    visit(objective, E.ONE)
    return terms

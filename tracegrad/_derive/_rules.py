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

from collections.abc import Iterator

from . import _ast as E


def _mm(*factors: E.Expr) -> E.Expr:
    return factors[0] if len(factors) == 1 else E.MatMul(tuple(factors))


def _adjoints(node: E.Expr, G: E.Expr, needed) -> Iterator[tuple[E.Expr, E.Expr]]:
    """``(child, adjoint of child)`` for each child position of ``node`` that ``needed``."""
    if isinstance(node, E.Add):
        for a in node.args:
            if needed(a):
                yield a, G
    elif isinstance(node, E.Scale):
        yield node.arg, E.Scale(node.k, G)
    elif isinstance(node, E.Mul):
        if needed(node.s):
            yield node.s, E.Sum(E.Hadamard((G, node.arg)))
        if needed(node.arg):
            yield node.arg, E.Mul(node.s, G)
    elif isinstance(node, E.MatMul):
        args = node.args
        for i, a in enumerate(args):
            if not needed(a):
                continue
            parts = []
            if i > 0:
                parts.append(E.Transpose(_mm(*args[:i])))
            parts.append(G)
            if i < len(args) - 1:
                parts.append(E.Transpose(_mm(*args[i + 1 :])))
            yield a, _mm(*parts)
    elif isinstance(node, E.Transpose):
        yield node.arg, E.Transpose(G)
    elif isinstance(node, E.Trace):
        yield node.arg, E.Mul(G, E.Eye(node.arg.shape[0]))
    elif isinstance(node, E.Sum):
        yield node.arg, E.Mul(G, E.Ones(*node.arg.shape))
    elif isinstance(node, E.Inv):
        inv_t = E.Transpose(node)
        yield node.arg, E.Scale(-1.0, E.MatMul((inv_t, G, inv_t)))
    elif isinstance(node, E.Det):
        yield node.arg, E.Mul(G, E.Mul(node, E.Transpose(E.Inv(node.arg))))
    elif isinstance(node, E.LogDet):
        yield node.arg, E.Mul(G, E.Transpose(E.Inv(node.arg)))
    elif isinstance(node, E.Diag):
        yield node.arg, E.DiagPart(G)
    elif isinstance(node, E.DiagPart):
        yield node.arg, E.Diag(G)
    elif isinstance(node, E.Hadamard):
        args = node.args
        for i, a in enumerate(args):
            if needed(a):
                yield a, E.Hadamard((G, *args[:i], *args[i + 1 :]))
    elif isinstance(node, E.EDiv):
        if needed(node.num):
            yield node.num, E.EDiv(G, node.den)
        if needed(node.den):
            yield node.den, E.Scale(-1.0, E.Hadamard((G, E.EDiv(node.num, E.Pow(node.den, 2.0)))))
    elif isinstance(node, E.Log):
        yield node.arg, E.EDiv(G, node.arg)
    elif isinstance(node, E.Exp):
        yield node.arg, E.Hadamard((G, node))
    elif isinstance(node, E.Pow):
        base, p = node.arg, node.p
        if isinstance(base, E.Norm):
            # d ||E||^p = p ||E||^(p-2) tr(E^T dE): skip the norm node, so that ||E||_F^2
            # gives 2 G E with no square root to cancel
            inner = base.arg
            scale = E.Scale(p, G) if p == 2 else E.Mul(E.Pow(base, p - 2.0), E.Scale(p, G))
            yield inner, E.Mul(scale, inner)
        else:
            yield base, E.Hadamard((G, E.Scale(p, E.Pow(base, p - 1.0))))
    elif isinstance(node, E.Norm):
        yield node.arg, E.Mul(E.Mul(G, E.Pow(node, -1.0)), node.arg)
    elif isinstance(node, (E.Var, E.Const, E.Eye, E.Ones, E.Zeros)):
        return
    else:  # pragma: no cover - every node type is handled above
        raise AssertionError(f"no differential rule for {type(node).__name__}")


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
        for child, adjoint in _adjoints(node, G, needed):
            visit(child, adjoint)

    visit(objective, E.ONE)
    return terms

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

from . import _ast as E


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
        for child, adjoint in node.adjoints(G, needed):
            visit(child, adjoint)

    visit(objective, E.ONE)
    return terms

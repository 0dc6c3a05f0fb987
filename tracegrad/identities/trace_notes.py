"""Identities from J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace".

Names are ``traa.eq<N>`` after the equation that states the result, so a reader holding the
notes finds the code by its number.  The notes' convention (their eq. 3): the derivative of a
scalar w.r.t. an ``M x N`` matrix is the ``M x N`` matrix of partials.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._registry.registry import register
from .._registry.samplers import dims, gaussians, scaled, uniforms

# ---------------------------------------------------------------------------------------------
# eq. (9): d tr(A X B) / dX = A^T B^T          A: p x m, X: m x n, B: n x p


def _eq9_objective(A, X, B):
    return jnp.trace(A @ X @ B)


@register(
    "traa.eq9",
    objective=_eq9_objective,
    source="trace notes eq. (9)",
    shapes={"A": "p m", "X": "m n", "B": "n p"},
    expression="tr(A X B)",
    wrt="X",
)
def eq9_gradient(A, X, B):
    """``d tr(AXB)/dX = A^T B^T`` (trace notes eq. 9), computed as ``(B A)^T``: one product."""
    return (B @ A).T


# ---------------------------------------------------------------------------------------------
# eq. (12): d tr(A X^T B) / dX = B A           A: p x n, X: m x n, B: m x p


def _eq12_objective(A, X, B):
    return jnp.trace(A @ X.T @ B)


@register(
    "traa.eq12",
    objective=_eq12_objective,
    source="trace notes eq. (12)",
    shapes={"A": "p n", "X": "m n", "B": "m p"},
    expression="tr(A X' B)",
    wrt="X",
)
def eq12_gradient(A, X, B):
    """``d tr(A X^T B)/dX = B A`` (trace notes eq. 12)."""
    return B @ A


# ---------------------------------------------------------------------------------------------
# eq. (17): d tr(A X B X C^T) / dX = A^T C X^T B^T + B^T X^T A^T C
#           A: p x m, X: m x n, B: n x m, C: p x n


def _eq17_sample(key, dtype=jnp.float64, n=None):
    p, m, q = dims(n, 3)
    return tuple(map(scaled, gaussians(key, dtype, (p, m), (m, q), (q, m), (p, q))))


def _eq17_objective(A, X, B, C):
    return jnp.trace(A @ X @ B @ X @ C.T)


def _eq17_terms(A, X, B, C):
    return {
        "A^T C X^T B^T": A.T @ C @ X.T @ B.T,
        "B^T X^T A^T C": B.T @ X.T @ A.T @ C,
    }


def _eq17_hvp(A, X, B, C, V):
    """Derivative of eq. (17)'s gradient along V: ``M (B V)^T + (V B)^T M``, ``M = A^T C``.

    The gradient ``M (B X)^T + (X B)^T M`` is linear in X, so the HVP is the gradient with X
    replaced by V (the quadratic form's Hessian is constant).
    """
    M = A.T @ C
    return M @ (B @ V).T + (V @ B).T @ M


@register(
    "traa.eq17",
    objective=_eq17_objective,
    source="trace notes eq. (17)",
    sample=_eq17_sample,
    shapes={"A": "p m", "X": "m n", "B": "n m", "C": "p n"},
    expression="tr(A X B X C')",
    hvp=_eq17_hvp,
    wrt="X",
    formula="d tr(A X B X C^T)/dX = A^T C X^T B^T + B^T X^T A^T C",
    latex=r"\frac{\partial\,\mathrm{tr}(AXBXC^T)}{\partial X}"
    r" = A^TCX^TB^T + B^TX^TA^TC",
    terms=_eq17_terms,
)
def eq17_gradient(A, X, B, C):
    """``d tr(A X B X C^T)/dX = A^T C X^T B^T + B^T X^T A^T C`` (trace notes eq. 17).

    One term per appearance of X (eq. 15 and 16, or eq. 18 with D = B X C^T, E = A X B).
    Computed as ``M (B X)^T + (X B)^T M`` with ``M = A^T C`` (m x n) formed once: both terms
    start from the same m x n product, then each needs one square product and one m x n one.
    """
    M = A.T @ C
    return M @ (B @ X).T + (X @ B).T @ M


# ---------------------------------------------------------------------------------------------
# eq. (21): d tr(A X X^T B C X^T X C) / dX, four terms (one per appearance of X)
#           A: n x m, X: m x n, B: m x n, C: n x n


def _eq21_sample(key, dtype=jnp.float64, n=None):
    m, q = dims(n, 2)
    return tuple(map(scaled, gaussians(key, dtype, (q, m), (m, q), (m, q), (q, q))))


def _eq21_objective(A, X, B, C):
    return jnp.trace(A @ X @ X.T @ B @ C @ X.T @ X @ C)


def _eq21_terms(A, X, B, C):
    return {
        "A^T C^T X^T X C^T B^T X": A.T @ C.T @ X.T @ X @ C.T @ B.T @ X,
        "B C X^T X C A X": B @ C @ X.T @ X @ C @ A @ X,
        "X C A X X^T B C": X @ C @ A @ X @ X.T @ B @ C,
        "X C^T B^T X X^T A^T C^T": X @ C.T @ B.T @ X @ X.T @ A.T @ C.T,
    }


def _eq21_hvp(A, X, B, C, V):
    """Derivative of eq. (21)'s gradient ``(F + F^T) X + X (Q + Q^T)`` along V (product rule).

    ``dP = C (V^T X + X^T V) C``, ``dF = B dP A``, ``dQ = C A (V X^T + X V^T) B C``, and
    ``dG = (dF + dF^T) X + (F + F^T) V + V (Q + Q^T) + X (dQ + dQ^T)``.
    """
    XtX, XXt = X.T @ X, X @ X.T
    P = C @ XtX @ C
    F = (B @ P) @ A
    Q = C @ ((A @ XXt) @ B) @ C
    dP = C @ (V.T @ X + X.T @ V) @ C
    dF = (B @ dP) @ A
    dQ = C @ ((A @ (V @ X.T + X @ V.T)) @ B) @ C
    return (dF + dF.T) @ X + (F + F.T) @ V + V @ (Q + Q.T) + X @ (dQ + dQ.T)


@register(
    "traa.eq21",
    objective=_eq21_objective,
    source="trace notes eq. (21) (first term as in eq. 20: A^T, not A)",
    sample=_eq21_sample,
    shapes={"A": "n m", "X": "m n", "B": "m n", "C": "n n"},
    expression="tr(A X X' B C X' X C)",
    hvp=_eq21_hvp,
    wrt="X",
    formula="d tr(A X X^T B C X^T X C)/dX = A^T C^T X^T X C^T B^T X + B C X^T X C A X"
    " + X C A X X^T B C + X C^T B^T X X^T A^T C^T",
    latex=r"\frac{\partial\,\mathrm{tr}(AXX^TBCX^TXC)}{\partial X}"
    r" = A^TC^TX^TXC^TB^TX + BCX^TXCAX + XCAXX^TBC + XC^TB^TXX^TA^TC^T",
    terms=_eq21_terms,
)
def eq21_gradient(A, X, B, C):
    """``d tr(A X X^T B C X^T X C)/dX``: the four per-appearance terms of trace notes eq. (21).

    Eq. (20) applies eq. (9) to each X and eq. (12) to each X^T::

        A^T C^T X^T X C^T B^T X + B C X^T X C A X + X C A X X^T B C + X C^T B^T X X^T A^T C^T

    The notes' eq. (21) prints the first term as ``A C^T ...``; eq. (20) has ``(A)^T`` and only
    ``A^T`` (m x n) is conformable when A is n x m, so the code follows eq. (20).

    The terms pair up: with ``P = C X^T X C`` (n x n) and ``F = B P A`` (m x m), the first two
    are ``F^T X + F X``; with ``Q = C A X X^T B C`` (n x n), the last two are
    ``X Q + X Q^T``.  Computed as::

        (F + F^T) X + X (Q + Q^T)

    twelve products of the m- and n-sized factors (the two Gram matrices ``X^T X``, ``X X^T``
    once each), against about fifteen for reverse mode through the chain.
    """
    P = C @ (X.T @ X) @ C
    F = (B @ P) @ A
    Q = C @ ((A @ (X @ X.T)) @ B) @ C
    return (F + F.T) @ X + X @ (Q + Q.T)


# ---------------------------------------------------------------------------------------------
# eq. (24): d ||X - W H||_F^2 / dW = -2 X H^T + 2 W H H^T   X: m x n, W: m x k, H: k x n
# and, by the same expansion (eq. 23) applied to H, d/dH = -2 W^T X + 2 W^T W H.


def _eq24_sample(key, dtype=jnp.float64, n=None):
    m, q, k = dims(n, 3)
    k = max(1, k // 4) if n is not None else 2  # a low rank, as in a factorisation
    return gaussians(key, dtype, (m, q), (m, k), (k, q))


def _eq24_objective(X, W, H):
    R = X - W @ H
    return jnp.sum(R * R)


def _eq24_W_terms(X, W, H):
    return {"-2 X H^T": -2.0 * X @ H.T, "2 W H H^T": 2.0 * W @ (H @ H.T)}


def _eq24_W_hvp(X, W, H, V):
    """Derivative of ``2 (W H H^T - X H^T)`` along V: ``2 V (H H^T)`` (trace notes eq. 24)."""
    return 2.0 * (V @ (H @ H.T))


@register(
    "traa.eq24_W",
    objective=_eq24_objective,
    source="trace notes eq. (24)",
    sample=_eq24_sample,
    shapes={"X": "m n", "W": "m k", "H": "k n"},
    expression="||X - W H||_F^2",
    hvp=_eq24_W_hvp,
    wrt="W",
    formula="d ||X - W H||_F^2/dW = -2 X H^T + 2 W H H^T",
    latex=r"\frac{\partial\,\|X-WH\|_F^2}{\partial W} = -2XH^T + 2WHH^T",
    terms=_eq24_W_terms,
)
def eq24_W_gradient(X, W, H):
    """``d||X - WH||_F^2/dW = -2 X H^T + 2 W H H^T`` (trace notes eq. 24).

    Computed as ``2 (W (H H^T) - X H^T)``: the k x k Gram ``H H^T`` first, so the only
    m x n x k product is ``X H^T``.
    """
    return 2.0 * (W @ (H @ H.T) - X @ H.T)


def _eq24_H_terms(X, W, H):
    return {"-2 W^T X": -2.0 * W.T @ X, "2 W^T W H": 2.0 * (W.T @ W) @ H}


def _eq24_H_hvp(X, W, H, V):
    """Derivative of ``2 (W^T W H - W^T X)`` along V: ``2 (W^T W) V`` (trace notes eq. 24)."""
    return 2.0 * ((W.T @ W) @ V)


@register(
    "traa.eq24_H",
    objective=_eq24_objective,
    source="trace notes eq. (24), applied to H via eq. (23)",
    sample=_eq24_sample,
    shapes={"X": "m n", "W": "m k", "H": "k n"},
    expression="||X - W H||_F^2",
    hvp=_eq24_H_hvp,
    wrt="H",
    formula="d ||X - W H||_F^2/dH = -2 W^T X + 2 W^T W H",
    latex=r"\frac{\partial\,\|X-WH\|_F^2}{\partial H} = -2W^TX + 2W^TWH",
    terms=_eq24_H_terms,
)
def eq24_H_gradient(X, W, H):
    """``d||X - WH||_F^2/dH = -2 W^T X + 2 W^T W H`` (eq. 24 by symmetry of eq. 23 in W, H)."""
    return 2.0 * ((W.T @ W) @ H - W.T @ X)


# ---------------------------------------------------------------------------------------------
# eq. (27): d tr[V^T log(A X B)] / dX = A^T (V / (A X B)) B^T
#           V: p x q, A: p x m, X: m x n, B: n x q; A, X, B positive so that A X B > 0.


def _eq27_sample(key, dtype=jnp.float64, n=None):
    p, m, q, r = dims(n, 4)
    return uniforms(key, dtype, (p, r), (p, m), (m, q), (q, r))


def _eq27_objective(V, A, X, B):
    return jnp.sum(V * jnp.log(A @ X @ B))


def _eq27_hvp(V, A, X, B, D):
    """Derivative of eq. (27)'s gradient ``A^T (V / M) B^T``, ``M = A X B``, along D.

    ``d(V / M) = -V dM / M^2`` elementwise with ``dM = A D B``, so the HVP is
    ``-A^T (V (A D B) / M^2) B^T``: the KL block of NMF's Hessian.
    """
    M = A @ X @ B
    return -(A.T @ ((V * (A @ D @ B) / (M * M)) @ B.T))


@register(
    "traa.eq27",
    objective=_eq27_objective,
    source="trace notes eq. (27)",
    sample=_eq27_sample,
    shapes={"V": "p q", "A": "p m", "X": "m n", "B": "n q"},
    expression="sum(V ⊙ log(A X B))",
    hvp=_eq27_hvp,
    wrt="X",
    formula="d tr[V^T log(A X B)]/dX = A^T (V / (A X B)) B^T",
    latex=r"\frac{\partial\,\mathrm{tr}[V^T\log(AXB)]}{\partial X}"
    r" = A^T\left(\frac{V}{AXB}\right)B^T",
)
def eq27_gradient(V, A, X, B):
    """``d tr[V^T log(AXB)]/dX = A^T (V / (AXB)) B^T`` (trace notes eq. 27), ``/`` elementwise.

    Computed as ``A^T ((V / ((A X) B)) B^T)``: for the samplers' shapes (p < m < n < q) that
    association is the cheaper one in both the forward product and the gradient.
    """
    return A.T @ ((V / (A @ X @ B)) @ B.T)


# ---------------------------------------------------------------------------------------------
# eq. (28): d tr[V^T log(A X^T B)] / dX = B (V / (A X^T B))^T A
#           V: p x q, A: p x n, X: m x n, B: m x q; A, X, B positive so that A X^T B > 0.


def _eq28_sample(key, dtype=jnp.float64, n=None):
    p, m, k, q = dims(n, 4)
    return uniforms(key, dtype, (p, q), (p, k), (m, k), (m, q))


def _eq28_objective(V, A, X, B):
    return jnp.sum(V * jnp.log(A @ X.T @ B))


def _eq28_hvp(V, A, X, B, D):
    """Derivative of eq. (28)'s gradient ``B (V / M)^T A``, ``M = A X^T B``, along D.

    ``dM = A D^T B`` and ``d(V / M) = -V dM / M^2``: ``-B (V (A D^T B) / M^2)^T A``.
    """
    M = A @ X.T @ B
    return -(B @ (V * (A @ D.T @ B) / (M * M)).T @ A)


@register(
    "traa.eq28",
    objective=_eq28_objective,
    source="trace notes eq. (28)",
    sample=_eq28_sample,
    shapes={"V": "p q", "A": "p n", "X": "m n", "B": "m q"},
    expression="tr(V' log(A X' B))",
    hvp=_eq28_hvp,
    wrt="X",
    formula="d tr[V^T log(A X^T B)]/dX = B (V / (A X^T B))^T A",
    latex=r"\frac{\partial\,\mathrm{tr}[V^T\log(AX^TB)]}{\partial X}"
    r" = B\left(\frac{V}{AX^TB}\right)^TA",
)
def eq28_gradient(V, A, X, B):
    """``d tr[V^T log(A X^T B)]/dX = B (V / (A X^T B))^T A`` (trace notes eq. 28).

    ``/`` is elementwise; tr[V^T log(M)] = sum(V * log(M)) (trace property 5 of the Hu notes).
    """
    return B @ (V / (A @ X.T @ B)).T @ A


# ---------------------------------------------------------------------------------------------
# eq. (31): d tr[A diag(x) B] / dx = (A^T . B) 1      A: p x n, x: n, B: n x p


def _eq31_objective(A, x, B):
    return jnp.trace((A * x) @ B)  # A diag(x) as the column scaling A * x


@register(
    "traa.eq31",
    objective=_eq31_objective,
    source="trace notes eq. (31)",
    shapes={"A": "p n", "x": "n", "B": "n p"},
    expression="tr(A diag(x) B)",
    wrt="x",
)
def eq31_gradient(A, x, B):
    """``d tr[A diag(x) B]/dx = (A^T . B) 1`` (trace notes eq. 30-31), ``.`` elementwise.

    ``f = sum_ij A_ij x_j B_ji`` (eq. 29), so ``df/dx_j = sum_i A_ij B_ji``: the row sums of
    ``A^T . B``, computed literally as ``(A^T . B) 1`` (a matrix-vector product with ones, which
    XLA runs faster than a reduction over the transposed operand).  O(n p), where reverse mode
    through ``A diag(x) B`` costs a matrix product.
    """
    return (A.T * B) @ jnp.ones(A.shape[0], A.dtype)


# ---------------------------------------------------------------------------------------------
# eq. (34): d tr[J A diag(x) B] / dx = A^T 1 . B 1    A: p x n, x: n, B: n x q, J ones q x p


def _eq34_objective(A, x, B):
    # tr[J M] with J the q x p matrix of ones is the sum of the entries of M (eq. 32)
    return jnp.sum((A * x) @ B)


@register(
    "traa.eq34",
    objective=_eq34_objective,
    source="trace notes eq. (34)",
    shapes={"A": "p n", "x": "n", "B": "n q"},
    expression="tr(J A diag(x) B)",
    wrt="x",
    formula="d tr[J A diag(x) B]/dx = A^T 1 . B 1   (J: matrix of ones)",
    latex=r"\frac{\partial\,\mathrm{tr}[J A\,\mathrm{diag}(x)B]}{\partial x}"
    r" = A^T\mathbf{1}\odot B\mathbf{1}",
)
def eq34_gradient(A, x, B):
    """``d tr[J A diag(x) B]/dx = A^T 1 . B 1`` (trace notes eq. 33-34), J the ones matrix.

    ``f = sum_ijk A_ij x_j B_jk`` (eq. 32), so ``df/dx_j = (sum_i A_ij)(sum_k B_jk)``: the
    column sums of A times the row sums of B, computed literally as ``(1^T A) . (B 1)`` (two
    matrix-vector products).  O(n (p + q)).
    """
    return (jnp.ones(A.shape[0], A.dtype) @ A) * (B @ jnp.ones(B.shape[1], B.dtype))


# ---------------------------------------------------------------------------------------------
# eq. (41): d tr[V^T log(A diag(x) B)] / dx = (A^T (V / (A diag(x) B)) . B) 1
#           V: p x q, A: p x n, x: n, B: n x q; all positive.


def _eq41_sample(key, dtype=jnp.float64, n=None):
    p, m, q = dims(n, 3)
    return uniforms(key, dtype, (p, q), (p, m), (m,), (m, q))


def _eq41_objective(V, A, x, B):
    return jnp.sum(V * jnp.log((A * x) @ B))


def _eq41_hvp(V, A, x, B, d):
    """Derivative of eq. (41)'s gradient ``colsum(A . (R B^T))``, ``R = V / M``, along d.

    ``M = A diag(x) B`` so ``dM = A diag(d) B`` and ``dR = -V dM / M^2``; the HVP is
    ``colsum(A . (dR B^T))``, i.e. ``diag(A^T dR B^T)``.
    """
    M = (A * x) @ B
    dR = -(V * ((A * d) @ B) / (M * M))
    return jnp.sum(A * (dR @ B.T), axis=0)


@register(
    "traa.eq41",
    objective=_eq41_objective,
    source="trace notes eq. (41)",
    sample=_eq41_sample,
    shapes={"V": "p q", "A": "p n", "x": "n", "B": "n q"},
    expression="tr(V' log(A diag(x) B))",
    hvp=_eq41_hvp,
    wrt="x",
    formula="d tr[V^T log(A diag(x) B)]/dx = (A^T (V / (A diag(x) B)) . B) 1",
    latex=r"\frac{\partial\,\mathrm{tr}[V^T\log(A\,\mathrm{diag}(x)B)]}{\partial x}"
    r" = \left(A^T\left(\frac{V}{A\,\mathrm{diag}(x)B}\right)\odot B\right)\mathbf{1}",
)
def eq41_gradient(V, A, x, B):
    """``d tr[V^T log(A diag(x) B)]/dx = (A^T (V / (A diag(x) B)) . B) 1`` (trace notes eq. 41).

    ``A diag(x)`` is the column scaling ``A * x`` (never an n x n diag(x)).  With
    ``R = V / (A diag(x) B)``, ``[(A^T R) . B] 1 = diag(A^T R B^T)``, the column sums of
    ``A . (R B^T)``; the code computes that form: one product for ``A diag(x) B``, one for
    ``R B^T``, and an O(n p) column sum.  Both products are unavoidable (the result is the
    diagonal of a triple product), so this is exactly the work reverse mode does, and XLA
    compiles the two to the same single fusion.
    """
    R = V / ((A * x) @ B)
    return jnp.sum(A * (R @ B.T), axis=0)


# ---------------------------------------------------------------------------------------------
# eq. (46): d sum_k tr[V^T log(A diag(B_k: X) C)] / dX
#           V: p x q, A: p x m, B: K x N, X: N x m, C: m x q; all positive.


def _eq46_sample(key, dtype=jnp.float64, n=None):
    p, m, r, q, K = dims(n, 5)
    if n is not None:
        K = 4  # a handful of rows B_k: the cost is K products of the n-sized factors
    return uniforms(key, dtype, (p, q), (p, m), (K, r), (r, m), (m, q))


def _eq46_objective(V, A, B, X, C):
    D = B @ X  # row k is B_k: X, the diagonal of the k-th term
    return jnp.sum(V * jnp.log((A * D[:, None, :]) @ C))


@register(
    "traa.eq46",
    objective=_eq46_objective,
    source="trace notes eq. (46)",
    sample=_eq46_sample,
    shapes={"V": "p q", "A": "p m", "B": "K N", "X": "N m", "C": "m q"},
    not_expressible="sum over rows B_k: of tr[V^T log(A diag(B_k: X) C)] needs indexing",
    wrt="X",
    formula="d sum_k tr[V^T log(A diag(B_k: X) C)]/dX = B^T Z,"
    " Z_k: = 1^T ((V / (A diag(B_k: X) C))^T A . C^T)",
    latex=r"\frac{\partial\,\sum_k\mathrm{tr}[V^T\log(A\,\mathrm{diag}(B_{k:}X)C)]}{\partial X}"
    r" = B^T\begin{bmatrix}\vdots\\ \mathbf{1}^T\left(\left(\frac{V}{A\,\mathrm{diag}(B_{k:}X)C}"
    r"\right)^TA\odot C^T\right)\\ \vdots\end{bmatrix}",
)
def eq46_gradient(V, A, B, X, C):
    """``d sum_k tr[V^T log(A diag(B_k: X) C)]/dX = B^T Z`` (trace notes eq. 42-46).

    Row k of Z is ``1^T (R_k^T A . C^T)`` with ``R_k = V / (A diag(B_k: X) C)`` (eq. 45): for
    each k, eq. (41) at ``x = B_k: X``; the chain rule through ``D = B X`` gives ``B^T Z``.
    All K terms are computed as one batched product: ``M = (A * D[:, None, :]) @ C``
    (K x p x q), ``R = V / M``, and row k of Z as ``sum_i (A . (R_k C^T))_i:``, which equals
    ``1^T (R_k^T A . C^T)`` (both are ``sum_ij R_k,ij A_im C_mj``) with one batched product.
    """
    M = (A * (B @ X)[:, None, :]) @ C
    R = V / M
    Z = jnp.sum(A * (R @ C.T), axis=-2)
    return B.T @ Z

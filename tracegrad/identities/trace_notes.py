"""Identities from J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace".

Names are ``traa.eq<N>`` after the equation that states the result, so a reader holding the
notes finds the code by its number.  The notes' convention (their eq. 3): the derivative of a
scalar w.r.t. an ``M x N`` matrix is the ``M x N`` matrix of partials.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._registry import register
from ._samplers import dims, normal, positive

# ---------------------------------------------------------------------------------------------
# eq. (9): d tr(A X B) / dX = A^T B^T          A: p x m, X: m x n, B: n x p


def _eq9_sample(key, dtype=jnp.float64, n=None):
    p, m, q = dims(n, 3)
    ka, kx, kb = jax.random.split(key, 3)
    return normal(ka, (p, m), dtype), normal(kx, (m, q), dtype), normal(kb, (q, p), dtype)


def _eq9_objective(A, X, B):
    return jnp.trace(A @ X @ B)


@register(
    "traa.eq9",
    objective=_eq9_objective,
    source="trace notes eq. (9)",
    sample=_eq9_sample,
    argnames=("A", "X", "B"),
    wrt="X",
    formula="d tr(A X B)/dX = A^T B^T",
    latex=r"\frac{\partial\,\mathrm{tr}(AXB)}{\partial X} = A^T B^T",
)
def eq9_gradient(A, X, B):
    """``d tr(AXB)/dX = A^T B^T`` (trace notes eq. 9), computed as ``(B A)^T``: one product."""
    return (B @ A).T


# ---------------------------------------------------------------------------------------------
# eq. (12): d tr(A X^T B) / dX = B A           A: p x n, X: m x n, B: m x p


def _eq12_sample(key, dtype=jnp.float64, n=None):
    p, m, q = dims(n, 3)
    ka, kx, kb = jax.random.split(key, 3)
    return normal(ka, (p, q), dtype), normal(kx, (m, q), dtype), normal(kb, (m, p), dtype)


def _eq12_objective(A, X, B):
    return jnp.trace(A @ X.T @ B)


@register(
    "traa.eq12",
    objective=_eq12_objective,
    source="trace notes eq. (12)",
    sample=_eq12_sample,
    argnames=("A", "X", "B"),
    wrt="X",
    formula="d tr(A X^T B)/dX = B A",
    latex=r"\frac{\partial\,\mathrm{tr}(AX^TB)}{\partial X} = BA",
)
def eq12_gradient(A, X, B):
    """``d tr(A X^T B)/dX = B A`` (trace notes eq. 12)."""
    return B @ A


# ---------------------------------------------------------------------------------------------
# eq. (24): d ||X - W H||_F^2 / dW = -2 X H^T + 2 W H H^T   X: m x n, W: m x k, H: k x n
# and, by the same expansion (eq. 23) applied to H, d/dH = -2 W^T X + 2 W^T W H.


def _eq24_sample(key, dtype=jnp.float64, n=None):
    m, q, k = dims(n, 3)
    k = max(1, k // 4) if n is not None else 2  # a low rank, as in a factorisation
    kx, kw, kh = jax.random.split(key, 3)
    return normal(kx, (m, q), dtype), normal(kw, (m, k), dtype), normal(kh, (k, q), dtype)


def _eq24_objective(X, W, H):
    R = X - W @ H
    return jnp.sum(R * R)


def _eq24_W_terms(X, W, H):
    return {"-2 X H^T": -2.0 * X @ H.T, "2 W H H^T": 2.0 * W @ (H @ H.T)}


@register(
    "traa.eq24_W",
    objective=_eq24_objective,
    source="trace notes eq. (24)",
    sample=_eq24_sample,
    argnames=("X", "W", "H"),
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


@register(
    "traa.eq24_H",
    objective=_eq24_objective,
    source="trace notes eq. (24), applied to H via eq. (23)",
    sample=_eq24_sample,
    argnames=("X", "W", "H"),
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
    kv, ka, kx, kb = jax.random.split(key, 4)
    return (
        positive(kv, (p, r), dtype),
        positive(ka, (p, m), dtype),
        positive(kx, (m, q), dtype),
        positive(kb, (q, r), dtype),
    )


def _eq27_objective(V, A, X, B):
    return jnp.sum(V * jnp.log(A @ X @ B))


@register(
    "traa.eq27",
    objective=_eq27_objective,
    source="trace notes eq. (27)",
    sample=_eq27_sample,
    argnames=("V", "A", "X", "B"),
    wrt="X",
    formula="d tr[V^T log(A X B)]/dX = A^T (V / (A X B)) B^T",
    latex=r"\frac{\partial\,\mathrm{tr}[V^T\log(AXB)]}{\partial X}"
    r" = A^T\left(\frac{V}{AXB}\right)B^T",
)
def eq27_gradient(V, A, X, B):
    """``d tr[V^T log(AXB)]/dX = A^T (V / (AXB)) B^T`` (trace notes eq. 27), ``/`` elementwise."""
    return A.T @ (V / (A @ X @ B)) @ B.T

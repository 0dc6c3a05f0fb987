"""Identities from J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace".

Names are ``traa.eq<N>`` after the equation that states the result, so a reader holding the
notes finds the code by its number.  The notes' convention (their eq. 3): the derivative of a
scalar w.r.t. an ``M x N`` matrix is the ``M x N`` matrix of partials.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._registry import register
from ._samplers import dims, normal

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

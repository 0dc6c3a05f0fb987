"""Identities from the Kalman gain derivation (``kalman.*``).

The derivation minimises ``tr(P_{n,n})`` over the gain K using two trace derivatives, which are
registered on their own (``kalman.trace_AB``, ``kalman.trace_ABAt``), and their combination,
the gradient of the posterior covariance's trace (``kalman.trace_posterior_covariance``), whose
zero is the Kalman gain ``K = P H^T (H P H^T + R)^{-1}``.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._registry.registry import register
from .._registry.samplers import dims, gaussians, scaled, spd_from
from ..kalman import gain

# ---------------------------------------------------------------------------------------------
# d tr(A B) / dA = B^T          A: m x n, B: n x m


def _trace_AB_objective(A, B):
    return jnp.trace(A @ B)


@register(
    "kalman.trace_AB",
    objective=_trace_AB_objective,
    source="Kalman gain derivation: d tr(AB)/dA = B^T",
    shapes={"A": "m n", "B": "n m"},
    expression="tr(A B)",
    wrt="A",
)
def trace_AB_gradient(A, B):
    """``d tr(AB)/dA = B^T`` (Kalman gain derivation, the rule used for ``2 tr(K H P)``).

    ``tr(AB) = sum_ij A_ij B_ji``, so ``df/dA_ij = B_ji``.  A transpose, no arithmetic.
    """
    return B.T


# ---------------------------------------------------------------------------------------------
# d tr(A B A^T) / dA = A (B + B^T)     A: m x n, B: n x n (not necessarily symmetric)


def _trace_ABAt_sample(key, dtype=jnp.float64, n=None):
    m, q = dims(n, 2)
    # B is a plain Gaussian: non-symmetric, so 2 A B (the symmetric-B shortcut) is wrong here
    return tuple(map(scaled, gaussians(key, dtype, (m, q), (q, q))))


def _trace_ABAt_objective(A, B):
    return jnp.trace(A @ B @ A.T)


def _trace_ABAt_terms(A, B):
    return {"A B^T": A @ B.T, "A B": A @ B}


def _trace_ABAt_hvp(A, B, V):
    """Derivative of ``A (B + B^T)`` along V: ``V (B + B^T)`` (a constant Hessian)."""
    return V @ (B + B.T)


@register(
    "kalman.trace_ABAt",
    objective=_trace_ABAt_objective,
    source="Kalman gain derivation: d tr(ABA^T)/dA = 2AB for symmetric B; A(B + B^T) in general",
    sample=_trace_ABAt_sample,
    shapes={"A": "m n", "B": "n n"},
    expression="tr(A B A')",
    hvp=_trace_ABAt_hvp,
    wrt="A",
    formula="d tr(A B A^T)/dA = A (B + B^T)   (= 2 A B only for symmetric B)",
    latex=r"\frac{\partial\,\mathrm{tr}(ABA^T)}{\partial A} = A(B + B^T)",
    terms=_trace_ABAt_terms,
)
def trace_ABAt_gradient(A, B):
    """``d tr(A B A^T)/dA = A B^T + A B = A (B + B^T)`` (Kalman gain derivation).

    One term per appearance of A (trace notes eq. 18): ``tr(A D)`` with ``D = B A^T`` gives
    ``D^T = A B^T``, ``tr(E A^T)`` with ``E = A B`` gives ``E``.  The derivation's ``2AB`` is this
    for symmetric B only.  Computed as ``A @ (B + B^T)``: one product.
    """
    return A @ (B + B.T)


# ---------------------------------------------------------------------------------------------
# d tr[(I - K H) P (I - K H)^T + K R K^T] / dK = -2 (H P)^T + 2 K (H P H^T + R)
#           K: n x m, P: n x n SPD, H: m x n, R: m x m SPD


def _posterior_sample(key, dtype=jnp.float64, n=None):
    m, q = dims(n, 2)  # m measurements, q states
    K, zp, H, zr = gaussians(key, dtype, (q, m), (q, q), (m, q), (m, m))
    return K, spd_from(zp), scaled(H), spd_from(zr)


def _posterior_objective(K, P, H, R):
    I_KH = jnp.eye(P.shape[0], dtype=P.dtype) - K @ H
    return jnp.trace(I_KH @ P @ I_KH.T + K @ R @ K.T)


def _posterior_terms(K, P, H, R):
    HP = H @ P
    return {
        "-2 (H P)^T": -2.0 * HP.T,
        "2 K H P H^T": 2.0 * K @ (HP @ H.T),
        "2 K R": 2.0 * K @ R,
    }


def _posterior_optimum(K, P, H, R):
    return gain(P, H, R), P, H, R


def _posterior_hvp(K, P, H, R, V):
    """Derivative of ``2 (K S - (H P)^T)`` along V: ``2 V S``, ``S = H P H^T + R``.

    The Hessian ``2 (S kron I)`` is positive definite: the Kalman gain is the minimum.
    """
    return 2.0 * (V @ (H @ P @ H.T + R))


@register(
    "kalman.trace_posterior_covariance",
    objective=_posterior_objective,
    source="Kalman gain derivation: d tr(P_{n,n})/dK_n (covariance update equation)",
    sample=_posterior_sample,
    shapes={"K": "n m", "P": "n n", "H": "m n", "R": "m m"},
    expression="tr((I - K H) P (I - K H)' + K R K')",
    hvp=_posterior_hvp,
    wrt="K",
    formula="d tr[(I - K H) P (I - K H)^T + K R K^T]/dK = -2 (H P)^T + 2 K (H P H^T + R)"
    "   (P, R symmetric)",
    latex=r"\frac{\partial\,\mathrm{tr}[(I-KH)P(I-KH)^T + KRK^T]}{\partial K}"
    r" = -2(HP)^T + 2K(HPH^T + R)",
    terms=_posterior_terms,
    optimum=_posterior_optimum,
)
def trace_posterior_covariance_gradient(K, P, H, R):
    """``d tr(P_{n,n})/dK = -2 (H P)^T + 2 K (H P H^T + R)`` (Kalman gain derivation).

    Expanding the covariance update, ``tr P_{n,n} = tr P - 2 tr(K H P) + tr(K S K^T)`` with
    ``S = H P H^T + R`` (P symmetric); ``d tr(KHP)/dK = (HP)^T`` and ``d tr(K S K^T)/dK = 2 K S``
    (S symmetric).  Its zero is the gain ``K = P H^T S^{-1}`` (``tracegrad.kalman.gain``).
    Assumes symmetric P and R, as covariances are.

    Computed as ``2 (K S - (H P)^T)`` with ``H P`` formed once: three products.
    """
    HP = H @ P
    S = HP @ H.T + R
    return 2.0 * (K @ S - HP.T)

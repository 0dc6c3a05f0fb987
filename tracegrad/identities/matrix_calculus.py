"""Identities from P. Hu, "Matrix Calculus: Derivation and Simple Application" (``hu.*``).

The notes' convention (their Definition 1): ``df/dx`` has the shape of ``x``, and the bridge
from differentials to derivatives is Theorem 6, ``df = Tr[(df/dx)^T dx]``.  Sections 2.8
(determinant) and 3.1-3.4 (spectral norm, Gaussian likelihood and its MLE, least squares) are
listed in the notes' contents only; their results are derived here from the differential rules
of sections 2.5-2.6 (Theorem 7: ``d(AB) = dA B + A dB``) and Theorem 6, and each docstring
carries the short derivation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from .._registry.registry import register
from .._registry.samplers import (
    dims,
    gaussians,
    scaled,
    simple_top_from,
    spd_from,
    unit_determinant_from,
    well_conditioned_from,
)


def _square(n: int | None) -> int:
    """Side of the square test matrices: 5 by default, ``n`` for benchmarks."""
    return 5 if n is None else n


# ---------------------------------------------------------------------------------------------
# Theorem 1 / eq. (5): d a^T x / dx = a


def _inner_objective(a, x):
    return jnp.dot(a, x)


@register(
    "hu.inner",
    objective=_inner_objective,
    source="matrix calculus notes Theorem 1, eq. (5)",
    shapes={"a": "n", "x": "n"},
    expression="a' x",
    wrt="x",
)
def inner_gradient(a, x):
    """``d(a^T x)/dx = a`` (matrix calculus notes Theorem 1, eq. 4-5): ``df/dx_k = a_k``."""
    return a


# ---------------------------------------------------------------------------------------------
# eq. (8): d Tr[A] / dA = I


def _trace_objective(A):
    return jnp.trace(A)


@register(
    "hu.trace",
    objective=_trace_objective,
    source="matrix calculus notes eq. (8)",
    shapes={"A": "n n"},
    expression="tr(A)",
    wrt="A",
)
def trace_gradient(A):
    """``d Tr[A]/dA = I`` (matrix calculus notes eq. 8): only diagonal entries enter the trace.

    Built as a select on the diagonal mask: XLA's CPU code writes a select faster than a
    bool-to-float conversion (``jnp.eye``), 25% at n = 2048.
    """
    one, zero = jnp.ones((), A.dtype), jnp.zeros((), A.dtype)
    return jnp.where(jnp.eye(A.shape[-1], dtype=bool), one, zero)


# ---------------------------------------------------------------------------------------------
# Theorem 4: d Tr[A^T X] / dX = A          A, X: m x n


def _trace_inner_objective(A, X):
    return jnp.trace(A.T @ X)


@register(
    "hu.trace_inner",
    objective=_trace_inner_objective,
    source="matrix calculus notes Theorem 4",
    shapes={"A": "m n", "X": "m n"},
    expression="tr(A' X)",
    wrt="X",
)
def trace_inner_gradient(A, X):
    """``d Tr[A^T X]/dX = A`` (matrix calculus notes Theorem 4).

    ``Tr[A^T X] = sum_ij A_ij X_ij`` (trace property 5, the generalised inner product), so
    ``df/dX_ij = A_ij``.
    """
    return A


# ---------------------------------------------------------------------------------------------
# Section 2.8: d det X / dX = det(X) X^{-T},  d log|det X| / dX = X^{-T}


def _det_sample(key, dtype=jnp.float64, n=None):
    # |det X| in [1.28, 2.72] at every size: finite at n = 1024, never exactly 1
    q = _square(n)
    z, zt = gaussians(key, dtype, (2 * q, q), ())
    return (unit_determinant_from(z, 0.625 + 0.375 * jnp.tanh(zt)),)


def _det_objective(X):
    return jnp.linalg.det(X)


def _lu_det(lu: jax.Array, piv: jax.Array) -> jax.Array:
    """``det X`` from ``X = P L U``: the pivot parity times ``prod diag(U)``, via logs.

    Summing ``log|U_ii|`` and exponentiating once avoids the overflow/underflow of partial
    products at large n, as ``slogdet`` does.
    """
    d = jnp.diagonal(lu, axis1=-2, axis2=-1)
    swaps = jnp.sum(piv != jnp.arange(piv.shape[-1], dtype=piv.dtype), axis=-1)
    parity = (1 - 2 * (swaps % 2)).astype(lu.dtype)
    return parity * jnp.prod(jnp.sign(d), axis=-1) * jnp.exp(jnp.sum(jnp.log(jnp.abs(d)), -1))


def _det_hvp(X, V):
    """Derivative of ``det(X) X^{-T}`` along V (section 2.8 and Theorem 7).

    ``d det X = det X tr(X^{-1} V)`` and ``d X^{-T} = -X^{-T} V^T X^{-T}``, so the HVP is
    ``det(X) (tr(X^{-1} V) X^{-T} - X^{-T} V^T X^{-T})``.
    """
    Xi = jnp.linalg.inv(X)
    XiT = Xi.T
    return jnp.linalg.det(X) * (jnp.trace(Xi @ V) * XiT - XiT @ V.T @ XiT)


@register(
    "hu.det",
    objective=_det_objective,
    source="matrix calculus notes section 2.8 (derived: Jacobi's formula + Theorem 6)",
    sample=_det_sample,
    shapes={"X": "n n"},
    expression="det(X)",
    hvp=_det_hvp,
    wrt="X",
    formula="d det X/dX = det(X) X^{-T}",
    latex=r"\frac{\partial\,\det X}{\partial X} = \det(X)\,X^{-T}",
)
def det_gradient(X):
    """``d det X/dX = det(X) X^{-T}`` (matrix calculus notes section 2.8, derived).

    Derivation: ``det(X + dX) = det X det(I + X^{-1} dX) = det X (1 + Tr[X^{-1} dX]) + o(dX)``,
    so ``d det X = det X Tr[X^{-1} dX] = Tr[(det(X) X^{-T})^T dX]``; Theorem 6 reads off the
    derivative.  X must be nonsingular.

    Computed from one LU factorisation ``X = P L U``: ``det X`` from the pivots and
    ``diag(U)``, and ``X^{-1}`` by solving ``X Z = I`` with the same factors, transposed
    (the untransposed triangular solves ran faster than ``trans=1``).

    ``jax.grad(jnp.linalg.det)`` forms the cumulative product of ``diag(U)``, which under- or
    overflows at large n: on this identity's sampler at n = 1024 in float32 it returns all
    zeros, where this closed form is right to 6e-5.
    """
    lu, piv = jsl.lu_factor(X)
    eye = jnp.eye(X.shape[-1], dtype=X.dtype)
    return (_lu_det(lu, piv) * jsl.lu_solve((lu, piv), eye)).T


def _logdet_sample(key, dtype=jnp.float64, n=None):
    q = _square(n)
    return (well_conditioned_from(gaussians(key, dtype, (2 * q, q))[0]),)


def _logdet_objective(X):
    return jnp.linalg.slogdet(X)[1]


def _logdet_hvp(X, V):
    """Derivative of ``X^{-T}`` along V: ``-X^{-T} V^T X^{-T}`` (Theorem 7 on ``X X^{-1} = I``)."""
    XiT = jnp.linalg.inv(X).T
    return -(XiT @ V.T @ XiT)


@register(
    "hu.logdet",
    objective=_logdet_objective,
    source="matrix calculus notes section 2.8 (derived: Jacobi's formula + Theorem 6)",
    sample=_logdet_sample,
    shapes={"X": "n n"},
    expression="logdet(X)",
    hvp=_logdet_hvp,
    wrt="X",
)
def logdet_gradient(X):
    """``d log|det X|/dX = X^{-T}`` (matrix calculus notes section 2.8, derived).

    Derivation: ``d log|det X| = d det X / det X = Tr[X^{-1} dX]`` (Jacobi's formula, see
    ``hu.det``) ``= Tr[(X^{-T})^T dX]``; Theorem 6.  Computed as ``inv(X)^T``.
    """
    return jnp.linalg.inv(X).T


# ---------------------------------------------------------------------------------------------
# d tr(A X^{-1}) / dX = -X^{-T} A^T X^{-T}      A, X: n x n


def _inverse_sample(key, dtype=jnp.float64, n=None):
    q = _square(n)
    A, zx = gaussians(key, dtype, (q, q), (2 * q, q))
    return scaled(A), well_conditioned_from(zx)


def _inverse_objective(A, X):
    return jnp.trace(A @ jnp.linalg.inv(X))


def _inverse_hvp(A, X, V):
    """Derivative of ``-(X^{-1} A X^{-1})^T`` along V (Theorem 7: ``d X^{-1} = -X^{-1} V X^{-1}``).

    ``(X^{-1} V X^{-1} A X^{-1} + X^{-1} A X^{-1} V X^{-1})^T``, one inversion and six products.
    """
    Xi = jnp.linalg.inv(X)
    XiA = Xi @ A @ Xi
    XiV = Xi @ V @ Xi
    return (XiV @ A @ Xi + XiA @ V @ Xi).T


@register(
    "hu.inverse",
    objective=_inverse_objective,
    source="matrix calculus notes sections 2.6-2.7 (derived: Theorem 7 on X X^{-1} = I)",
    sample=_inverse_sample,
    shapes={"A": "n n", "X": "n n"},
    expression="tr(A inv(X))",
    hvp=_inverse_hvp,
    wrt="X",
    formula="d tr(A X^{-1})/dX = -X^{-T} A^T X^{-T}",
    latex=r"\frac{\partial\,\mathrm{tr}(AX^{-1})}{\partial X} = -X^{-T}A^TX^{-T}",
)
def inverse_gradient(A, X):
    """``d tr(A X^{-1})/dX = -X^{-T} A^T X^{-T}`` (matrix calculus notes 2.6-2.7, derived).

    Derivation: Theorem 7 on ``X X^{-1} = I`` gives ``dX X^{-1} + X d(X^{-1}) = 0``, so
    ``d(X^{-1}) = -X^{-1} dX X^{-1}`` and ``df = Tr[A d(X^{-1})] = -Tr[X^{-1} A X^{-1} dX]``
    (trace property 4) ``= Tr[(-X^{-T} A^T X^{-T})^T dX]``; Theorem 6.

    Computed as ``-(X^{-1} A X^{-1})^T`` from one inversion and two products.  The result
    holds X^{-1} twice, so one LU with an n-column inverse followed by two matrix products
    does less triangular-solve work than two n-column LU solves (measured faster on CPU,
    where triangular solves run far below matrix-product speed), at the same accuracy on
    well-conditioned X.
    """
    Xi = jnp.linalg.inv(X)
    return -(Xi @ A @ Xi).T


# ---------------------------------------------------------------------------------------------
# Section 3.1: d ||A||_2 / dA = u_1 v_1^T       A: m x n with a simple largest singular value


def _spectral_sample(key, dtype=jnp.float64, n=None):
    m, q = dims(n, 2)  # a tall q x m A
    zu, zv = gaussians(key, dtype, (q, m), (m, m))
    return (simple_top_from(zu, zv),)


def _spectral_objective(A):
    return jnp.linalg.norm(A, ord=2)


@register(
    "hu.spectral_norm",
    objective=_spectral_objective,
    source="matrix calculus notes section 3.1 (derived: the 2nd induced norm)",
    sample=_spectral_sample,
    shapes={"A": "m n"},
    not_expressible="||A||_2 = sigma_1(A) needs a singular value decomposition",
    wrt="A",
    formula="d ||A||_2/dA = u_1 v_1^T   (sigma_1 simple)",
    latex=r"\frac{\partial\,\|A\|_2}{\partial A} = u_1v_1^T",
)
def spectral_norm_gradient(A):
    """``d ||A||_2/dA = u_1 v_1^T`` for a simple top singular value (notes section 3.1, derived).

    Derivation: ``||A||_2 = sigma_1 = sqrt(lambda_max(A^T A))``.  For a simple eigenvalue with
    unit eigenvector ``v_1``, ``d lambda = v_1^T d(A^T A) v_1 = 2 v_1^T A^T dA v_1``
    (Theorem 7) ``= 2 sigma_1 u_1^T dA v_1`` with ``u_1 = A v_1 / sigma_1``; so
    ``d sigma_1 = u_1^T dA v_1 = Tr[(u_1 v_1^T)^T dA]`` and Theorem 6 gives ``u_1 v_1^T``.

    Computed from the eigendecomposition of the smaller Gram matrix: ``v_1`` = top eigenvector
    of ``A^T A`` and ``u_1 = A v_1 / ||A v_1||`` (or ``u_1`` from ``A A^T`` and
    ``v_1 = A^T u_1 / ||A^T u_1||`` when A is wide).  The sign ambiguity of an eigenvector
    cancels in ``u_1 v_1^T``.  Squaring does not cost accuracy for the top pair: the
    eigenvector error ``eps sigma_1^2 / (sigma_1^2 - sigma_2^2)`` is at most the SVD's
    ``eps sigma_1 / (sigma_1 - sigma_2)``; and a symmetric eigensolver is cheaper than an SVD.
    """
    m, q = A.shape[-2], A.shape[-1]
    if m >= q:
        v = jnp.linalg.eigh(A.T @ A)[1][..., -1]
        u = A @ v
        u = u / jnp.linalg.norm(u)
    else:
        u = jnp.linalg.eigh(A @ A.T)[1][..., -1]
        v = u @ A
        v = v / jnp.linalg.norm(v)
    return jnp.outer(u, v)


_GAUSSIAN = "-0.5 * sum(logdet(2 pi Sigma) + diag((Y - J mu') inv(Sigma) (Y - J mu')'))"
"""sum_i log N(y_i; mu, Sigma) = -1/2 sum_i [log det(2 pi Sigma) + (y_i - mu)^T Sigma^-1
(y_i - mu)] in the derive language, up to an additive constant: the rows of ``Y - J mu'``
(``J`` an N x 1 ones vector) are the ``y_i - mu``, and the diagonal of ``R Sigma^-1 R^T``
holds the N quadratic forms."""


# ---------------------------------------------------------------------------------------------
# Sections 3.2-3.3: the Gaussian log-likelihood sum_i log N(y_i; mu, Sigma) and its MLE
#           mu: d, Sigma: d x d SPD, Y: N x d (one sample per row)


def _gaussian_sample(key, dtype=jnp.float64, n=None):
    d = 3 if n is None else n
    N = 4 * d if n is None else 2 * n  # more samples than dimensions: the MLE is SPD
    mu, zs, Y = gaussians(key, dtype, (d,), (d, d), (N, d))
    # Y is not drawn from N(mu, Sigma), so the gradients are O(1), not near their zero
    return mu, spd_from(zs), Y + 0.5


def _gaussian_objective(mu, Sigma, Y):
    # log|det| and a solve of Sigma as given (no Cholesky, which would read one triangle only),
    # so the objective is defined for the non-symmetric perturbations finite differences make
    N, d = Y.shape
    D = Y - mu
    logdet = jnp.linalg.slogdet(Sigma)[1]
    quad = jnp.sum(D * jnp.linalg.solve(Sigma, D.T).T)
    return -0.5 * (N * (d * math.log(2.0 * math.pi) + logdet) + quad)


def _gaussian_mean_terms(mu, Sigma, Y):
    N = Y.shape[0]
    return {
        "Sigma^-1 sum_i y_i": jnp.linalg.solve(Sigma, jnp.sum(Y, axis=0)),
        "-N Sigma^-1 mu": -N * jnp.linalg.solve(Sigma, mu),
    }


def _gaussian_mean_optimum(mu, Sigma, Y):
    return jnp.mean(Y, axis=0), Sigma, Y


def _gaussian_mean_hvp(mu, Sigma, Y, v):
    """Derivative of ``Sigma^{-1} sum_i (y_i - mu)`` along v: ``-N Sigma^{-1} v`` (one solve)."""
    return -Y.shape[-2] * jnp.linalg.solve(Sigma, v)


@register(
    "hu.gaussian_mean",
    objective=_gaussian_objective,
    source="matrix calculus notes sections 3.2-3.3 (derived: Gaussian MLE of the mean)",
    sample=_gaussian_sample,
    shapes={"mu": "d", "Sigma": "d d", "Y": "N d"},
    expression=_GAUSSIAN,
    hvp=_gaussian_mean_hvp,
    wrt="mu",
    formula="d sum_i log N(y_i; mu, Sigma)/dmu = Sigma^{-1} sum_i (y_i - mu)   (Sigma symmetric)",
    latex=r"\frac{\partial\sum_i\log\mathcal{N}(y_i;\mu,\Sigma)}{\partial\mu}"
    r" = \Sigma^{-1}\sum_i(y_i-\mu)",
    terms=_gaussian_mean_terms,
    optimum=_gaussian_mean_optimum,
)
def gaussian_mean_gradient(mu, Sigma, Y):
    """``d/dmu sum_i log N(y_i; mu, Sigma) = Sigma^{-1} sum_i (y_i - mu)`` (notes 3.2-3.3).

    Derivation: ``f = -N/2 (d log 2 pi + log|det Sigma|) - 1/2 sum_i (y_i - mu)^T Sigma^{-1}
    (y_i - mu)``.  With Sigma symmetric, Theorem 7 gives
    ``df = sum_i (y_i - mu)^T Sigma^{-1} dmu = Tr[(Sigma^{-1} sum_i (y_i - mu))^T dmu]``;
    Theorem 6.  Its zero is the MLE ``mu = mean_i y_i`` (section 3.3).

    Computed as one solve: ``solve(Sigma, sum_i y_i - N mu)``.
    """
    N = Y.shape[-2]
    return jnp.linalg.solve(Sigma, jnp.sum(Y, axis=-2) - N * mu)


def _gaussian_cov_terms(mu, Sigma, Y):
    N = Y.shape[0]
    D = Y - mu
    inv_T = jnp.linalg.inv(Sigma).T
    return {
        "1/2 Sigma^-T S Sigma^-T": 0.5 * inv_T @ (D.T @ D) @ inv_T,
        "-N/2 Sigma^-T": -0.5 * N * inv_T,
    }


def _gaussian_cov_optimum(mu, Sigma, Y):
    N = Y.shape[0]
    mean = jnp.mean(Y, axis=0)
    D = Y - mean
    return mean, (D.T @ D) / N, Y


def _gaussian_cov_hvp(mu, Sigma, Y, V):
    """Derivative of ``1/2 W (S - N Sigma^T) W``, ``W = Sigma^{-T}``, along V.

    ``dW = -W V^T W`` (Theorem 7), so the HVP is
    ``1/2 (-W V^T W S W - W S W V^T W + N W V^T W)`` with ``S = D^T D``.
    """
    N = Y.shape[-2]
    D = Y - mu
    W = jnp.linalg.inv(Sigma).T
    S = D.T @ D
    dW = -(W @ V.T @ W)
    return 0.5 * (dW @ S @ W + W @ S @ dW - N * dW)


@register(
    "hu.gaussian_cov",
    objective=_gaussian_objective,
    source="matrix calculus notes sections 3.2-3.3 (derived: Gaussian MLE of the covariance)",
    sample=_gaussian_sample,
    shapes={"mu": "d", "Sigma": "d d", "Y": "N d"},
    expression=_GAUSSIAN,
    hvp=_gaussian_cov_hvp,
    wrt="Sigma",
    formula="d sum_i log N(y_i; mu, Sigma)/dSigma = 1/2 (Sigma^-T S Sigma^-T - N Sigma^-T),"
    " S = sum_i (y_i - mu)(y_i - mu)^T",
    latex=r"\frac{\partial\sum_i\log\mathcal{N}(y_i;\mu,\Sigma)}{\partial\Sigma}"
    r" = \tfrac12\left(\Sigma^{-T}S\Sigma^{-T} - N\Sigma^{-T}\right)",
    terms=_gaussian_cov_terms,
    optimum=_gaussian_cov_optimum,
)
def gaussian_cov_gradient(mu, Sigma, Y):
    """``d/dSigma sum_i log N(y_i; mu, Sigma) = 1/2 (Sigma^-T S Sigma^-T - N Sigma^-T)`` (3.2-3.3).

    ``S = sum_i (y_i - mu)(y_i - mu)^T``.  Derivation: ``d log|det Sigma| = Tr[Sigma^{-1}
    dSigma]`` (section 2.8) and ``d(Sigma^{-1}) = -Sigma^{-1} dSigma Sigma^{-1}`` (Theorem 7),
    so ``df = -N/2 Tr[Sigma^{-1} dSigma] + 1/2 Tr[Sigma^{-1} S Sigma^{-1} dSigma]``; Theorem 6
    reads off the result, which holds for every invertible Sigma (the gradient w.r.t. the
    unconstrained entries).  Its zero is the MLE ``Sigma = S / N`` (section 3.3).

    Computed as ``1/2 W (S - N Sigma^T) W`` with ``W = Sigma^-T`` from one inversion:
    ``Sigma^-T S Sigma^-T - N Sigma^-T = W (S - N Sigma^T) W``, so the two terms cost one
    sandwich of d x d products; ``S = D^T D``, ``D = Y - 1 mu^T``.  The result holds the inverse
    twice, so one inversion and two products beat two LU solves with d right-hand sides (the
    triangular solves are the slow part on CPU), at the same accuracy for well-conditioned Sigma.
    """
    N = Y.shape[-2]
    D = Y - mu
    W = jnp.linalg.inv(Sigma).T
    return 0.5 * (W @ (D.T @ D - N * Sigma.T) @ W)


# ---------------------------------------------------------------------------------------------
# Section 3.4: d ||A x - b||^2 / dx = 2 A^T (A x - b)      A: m x n (tall), x: n, b: m


def _lsq_sample(key, dtype=jnp.float64, n=None):
    q, _, m = dims(n, 3)  # m > q: a tall, full-column-rank A with a unique least-squares x
    A, x, b = gaussians(key, dtype, (m, q), (q,), (m,))
    return scaled(A), x, b


def _lsq_objective(A, x, b):
    r = A @ x - b
    return jnp.dot(r, r)


def _lsq_terms(A, x, b):
    return {"2 A^T A x": 2.0 * A.T @ (A @ x), "-2 A^T b": -2.0 * A.T @ b}


def _lsq_optimum(A, x, b):
    return A, jnp.linalg.lstsq(A, b)[0], b


def _lsq_hvp(A, x, b, v):
    """Derivative of ``2 A^T (A x - b)`` along v: ``2 A^T A v`` (two matrix-vector products)."""
    return (2.0 * (A @ v)) @ A


@register(
    "hu.least_squares",
    objective=_lsq_objective,
    source="matrix calculus notes section 3.4 (derived: least squares, normal equations)",
    sample=_lsq_sample,
    shapes={"A": "m n", "x": "n", "b": "m"},
    expression="||A x - b||^2",
    hvp=_lsq_hvp,
    wrt="x",
    terms=_lsq_terms,
    optimum=_lsq_optimum,
)
def least_squares_gradient(A, x, b):
    """``d ||A x - b||^2/dx = 2 A^T (A x - b)`` (matrix calculus notes section 3.4, derived).

    Derivation: ``f = (Ax - b)^T (Ax - b)``; Theorem 7 gives ``df = 2 (Ax - b)^T A dx =
    Tr[(2 A^T (Ax - b))^T dx]``; Theorem 6.  Its zero is the normal equations
    ``A^T A x = A^T b``.  Computed as ``(2 (A x - b))^T A``: two matrix-vector products, the
    factor 2 fused into the residual rather than a pass over the result.
    """
    return (2.0 * (A @ x - b)) @ A

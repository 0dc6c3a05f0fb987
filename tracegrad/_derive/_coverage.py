"""Expressions matrix-calculus users write, in the ``derive`` language (coverage cases).

Drawn from matrixcalculus.org's examples, the Matrix Cookbook's trace, determinant and
inverse derivatives, and machine-learning losses.  ``benchmarks/derive_coverage.py`` derives
every one (each checked against ``jax.grad``, ``jax.jacfwd`` or ``jax.hessian``) and counts
the supported ones; ``tests/test_derive_second.py`` (``test_coverage_cases_derive``) derives a
quick subset of them.

Each case: ``(expression, wrt, shapes or None, order, where it comes from)``; ``order`` 2
asks for the Hessian too.
"""

from __future__ import annotations

Case = tuple[str, str, dict | None, int, str]

CASES: list[Case] = [
    # -- matrixcalculus.org examples ----------------------------------------------------------
    ("x' A x", "x", None, 2, "matrixcalculus.org: quadratic form"),
    ("A x", "x", None, 1, "matrixcalculus.org: Jacobian of a linear map"),
    ("exp(x)' A exp(x)", "x", None, 2, "matrixcalculus.org"),
    ("||X w - y||^2", "w", None, 2, "matrixcalculus.org: least squares"),
    ("sum(log(exp(X w) + 1)) - y' X w", "w", None, 2, "matrixcalculus.org: logistic regression"),
    ("tr(inv(X))", "X", None, 2, "matrixcalculus.org"),
    ("det(X)", "X", None, 1, "matrixcalculus.org"),
    ("log(det(X))", "X", None, 2, "matrixcalculus.org"),
    ("tanh(x)' A tanh(x)", "x", None, 2, "matrixcalculus.org: elementwise tanh"),
    ("sin(x)' cos(x)", "x", None, 2, "matrixcalculus.org: sin, cos"),
    ("x' A x / (x' x)", "x", None, 2, "matrixcalculus.org: Rayleigh quotient"),
    ("sum(abs(x))", "x", None, 1, "matrixcalculus.org: l1 norm (subgradient sign(x))"),
    ("sqrt(x)' sqrt(x)", "x", None, 1, "matrixcalculus.org: sqrt"),
    ("exp(x)", "x", None, 1, "matrixcalculus.org: Jacobian diag(exp(x))"),
    ("sigmoid(W x)", "x", None, 1, "matrixcalculus.org: Jacobian of a layer"),
    ("tr(X^3)", "X", None, 2, "matrixcalculus.org: matrix power"),
    ("A X B", "X", None, 1, "matrixcalculus.org: matrix-valued (differential)"),
    # -- the Matrix Cookbook -----------------------------------------------------------------
    ("tr(A X B)", "X", None, 2, "Matrix Cookbook eq. 100"),
    ("tr(A X' B)", "X", None, 1, "Matrix Cookbook eq. 101"),
    ("tr(X' A X)", "X", None, 2, "Matrix Cookbook eq. 107"),
    ("tr(X A X' B)", "X", None, 2, "Matrix Cookbook eq. 116"),
    ("tr(X^2)", "X", None, 2, "Matrix Cookbook eq. 106"),
    ("tr(A X^3)", "X", None, 1, "Matrix Cookbook eq. 108 (k = 3)"),
    ("tr(A inv(X) B)", "X", None, 2, "Matrix Cookbook eq. 124"),
    ("det(A X B)", "X", {"A": (3, 3), "X": (3, 3), "B": (3, 3)}, 1, "Matrix Cookbook eq. 42"),
    ("logdet(X' X)", "X", {"X": (5, 3)}, 2, "Matrix Cookbook eq. 51"),
    ("a' X b", "X", None, 1, "Matrix Cookbook eq. 70"),
    ("a' X' b", "X", None, 1, "Matrix Cookbook eq. 71"),
    ("a' X' X b", "X", None, 2, "Matrix Cookbook eq. 77"),
    ("b' X' D X c", "X", None, 2, "Matrix Cookbook eq. 80"),
    ("(X b + c)' D (X b + c)", "X", None, 2, "Matrix Cookbook eq. 81"),
    ("||X||_F^2", "X", None, 2, "Matrix Cookbook eq. 121"),
    ("tr(kron(A, X))", "X", {"A": (2, 2), "X": (3, 3)}, 1, "Matrix Cookbook eq. 514 (kron)"),
    ("a' inv(X) b", "X", None, 2, "Matrix Cookbook eq. 61"),
    ("(x - mu)' inv(S) (x - mu)", "mu", None, 2, "Matrix Cookbook eq. 86: Mahalanobis"),
    ("tr(inv(X' X))", "X", {"X": (5, 3)}, 1, "Matrix Cookbook: inverse Gram"),
    # -- machine-learning losses ---------------------------------------------------------------
    ("sum(log(1 + exp(-y .* (X w))))", "w", None, 2, "logistic loss"),
    ("sum(softplus(-y .* (X w)))", "w", None, 2, "logistic loss via softplus"),
    ("||X w - y||^2 + lambda * ||w||^2", "w", {"X": (5, 3), "lambda": ()}, 2, "ridge regression"),
    ("||X w - y||^2 + lambda * sum(abs(w))", "w", {"X": (5, 3), "lambda": ()}, 1,
     "lasso (subgradient)"),
    ("sum(max(0, 1 - y .* (X w)))", "w", None, 1, "hinge loss (subgradient)"),
    ("sum(relu(1 - y .* (X w)).^2)", "w", None, 2, "squared hinge"),
    ("-y' log(sigmoid(X w)) - (1 - y)' log(1 - sigmoid(X w))", "w", None, 2,
     "binary cross-entropy"),
    ("log(sum(exp(W x))) - y' W x", "W", None, 2, "softmax cross-entropy"),
    ("sum(exp(X w)) - y' X w", "w", None, 2, "Poisson regression"),
    ("(X w - y)' D (X w - y)", "w", None, 2, "weighted least squares"),
    ("sum(log(1 + (X w - y).^2))", "w", None, 2, "Cauchy loss"),
    ("sum(sqrt(1 + (X w - y).^2))", "w", None, 2, "pseudo-Huber loss"),
    ("||W2 tanh(W1 x) - y||^2", "W1", None, 2, "two-layer tanh network"),
    ("||W2 relu(W1 x) - y||^2", "W2", None, 2, "two-layer ReLU network"),
    ("||X - W H||_F^2", "W", None, 2, "NMF, Frobenius"),
    ("sum(X ⊙ log(X ⊘ (W H)) - X + W H)", "H", None, 2, "NMF, Kullback-Leibler"),
    ("||M ⊙ (X - U V')||_F^2", "U", None, 2, "masked matrix factorisation"),
    ("-0.5 * sum(logdet(2 pi S) + diag((Y - J mu') inv(S) (Y - J mu')'))", "mu", None, 2,
     "Gaussian negative log-likelihood, mean"),
    ("-0.5 * sum(logdet(2 pi S) + diag((Y - J mu') inv(S) (Y - J mu')'))", "S", None, 2,
     "Gaussian negative log-likelihood, covariance"),
    ("0.5 * logdet(S) + 0.5 * tr(inv(S) C)", "S", None, 2, "Gaussian NLL (sample covariance C)"),
    ("tr(W' A W)", "W", None, 2, "PCA objective"),
    ("||x||", "x", None, 2, "Euclidean norm"),
    ("sum(max(A x, B x))", "x", None, 1, "max of two affine maps (subgradient)"),
    ("sum(sin(X) .* cos(X))", "X", None, 2, "elementwise trigonometry"),
    ("||kron(A, X) - C||_F^2", "X", {"A": (2, 2), "X": (2, 3)}, 2, "Kronecker least squares"),
    ("sum(J ⊙ X)", "X", {"X": (2, 3), "J": (2, 3)}, 1, "declared all-ones J"),
    ("expm(X)", "X", None, 1, "matrix exponential (not in the language)"),
    ("||X||_2", "X", None, 1, "spectral norm (not in the language)"),
]  # fmt: skip
"""The coverage cases (see the module docstring)."""

"""The registry's identities written in the ``derive`` language (for tests and benchmarks).

Each expression uses the identity's own argument names, so ``derive(EXPRESSIONS[name],
wrt=identity.wrt_name)`` is called with the identity's sampled arguments by name, and its
gradient must equal the hand-written closed form.  Objectives are reproduced up to additive
constants (which do not change the gradient).
"""

from __future__ import annotations

_GAUSSIAN = "-0.5 * sum(logdet(2 pi Sigma) + diag((Y - J mu') inv(Sigma) (Y - J mu')'))"
"""sum_i log N(y_i; mu, Sigma) = -1/2 sum_i [log det(2 pi Sigma) + (y_i - mu)^T Sigma^-1
(y_i - mu)]: the rows of ``Y - J mu'`` (``J`` an N x 1 ones vector) are the ``y_i - mu``, and
the diagonal of ``R Sigma^-1 R^T`` holds the N quadratic forms."""

EXPRESSIONS: dict[str, str] = {
    "traa.eq9": "tr(A X B)",
    "traa.eq12": "tr(A X' B)",
    "traa.eq17": "tr(A X B X C')",
    "traa.eq21": "tr(A X X' B C X' X C)",
    "traa.eq24_W": "||X - W H||_F^2",
    "traa.eq24_H": "||X - W H||_F^2",
    "traa.eq27": "sum(V ⊙ log(A X B))",  # tr[V^T log(A X B)] = sum(V ⊙ log(A X B))
    "traa.eq28": "tr(V' log(A X' B))",
    "traa.eq31": "tr(A diag(x) B)",
    "traa.eq34": "tr(J A diag(x) B)",  # J: the q x p all-ones matrix, inferred
    "traa.eq41": "tr(V' log(A diag(x) B))",
    "kalman.trace_AB": "tr(A B)",
    "kalman.trace_ABAt": "tr(A B A')",
    "kalman.trace_posterior_covariance": "tr((I - K H) P (I - K H)' + K R K')",
    "hu.inner": "a' x",
    "hu.trace": "tr(A)",
    "hu.trace_inner": "tr(A' X)",
    "hu.det": "det(X)",
    "hu.logdet": "logdet(X)",
    "hu.inverse": "tr(A inv(X))",
    "hu.gaussian_mean": _GAUSSIAN,
    "hu.gaussian_cov": _GAUSSIAN,
    "hu.least_squares": "||A x - b||^2",
}
"""Registry name -> objective in the ``derive`` language."""

NOT_EXPRESSIBLE: dict[str, str] = {
    # a sum over the rows k of B of traces, each with its own diag(B_k: X): needs an index
    # (a third tensor dimension) the language does not have
    "traa.eq46": "sum over rows B_k: of tr[V^T log(A diag(B_k: X) C)] needs indexing",
    # the spectral norm is the largest singular value: no SVD in the language
    "hu.spectral_norm": "||A||_2 = sigma_1(A) needs a singular value decomposition",
}
"""Registry identities the language cannot express, with the reason."""

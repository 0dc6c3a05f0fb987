"""Name the likely mistake in a wrong gradient by matching it against known slips.

Given the candidate ``c`` and the true gradient ``g`` (both float64), try, in order:

1. shape: a transposed or reshaped result;
2. non-finite or all-zero candidates;
3. ``c = a g``: sign flipped (a = -1) or scaled (a = 2: a term counted twice; the classic
   slip of writing ``2AB`` for ``d tr(A B A^T)/dA`` with non-symmetric ``B`` is not a
   multiple of the gradient, it is the missing-plus-doubled term of 7);
4. ``c = a g^T`` (square): transposed;
5. ``c = a (g + g^T)/2`` (square): only the symmetric part, or symmetrised;
6. ``c = 2g - diag(g)``: the symmetric-matrix convention applied to an unconstrained matrix;
7. with the identity's per-appearance terms ``t_k`` (trace notes eq. 18: one term per appearance
   of X): ``c = sum_k b_k t_k`` (and, for square X, ``+ sum_k b'_k t_k^T``) with small-integer
   coefficients: a missing, doubled, negated or transposed term.

Each pattern is accepted only when it reproduces ``c`` to ``tol`` (normwise, relative).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np


def small_fraction(a: float, tol: float) -> str | None:
    """``a`` as a small fraction (``2``, ``-1/2``, ``3/4``) when it is one, else None."""
    frac = Fraction(a).limit_denominator(4)
    if abs(float(frac) - a) <= tol * max(1.0, abs(a)):
        return str(frac)
    return None


def _fit(c: np.ndarray, basis: np.ndarray) -> tuple[float, float]:
    """Least-squares ``a`` in ``c ~ a * basis`` and the relative residual."""
    bb = float(np.vdot(basis, basis))
    if bb == 0.0:
        return 0.0, np.inf
    a = float(np.vdot(basis, c)) / bb
    scale = max(np.linalg.norm(c), abs(a) * np.sqrt(bb))
    return a, float(np.linalg.norm(c - a * basis) / scale)


def _multiple(c, basis, tol) -> str | None:
    """The constant ``a`` (as text) when ``c ~ a * basis`` to ``tol``, else None."""
    a, resid = _fit(c, basis)
    if resid > tol:
        return None
    frac = small_fraction(a, tol)
    return frac if frac is not None else f"{a:.6g}"


def _describe_multiple(a: str, what: str) -> str:
    if a == "-1":
        return f"sign flipped: candidate = -{what}"
    hint = ""
    if a == "2":
        hint = (
            " (a factor 2 too many: a term counted twice, e.g. 2 A (B + B^T) for d tr(A B A^T)/dA,"
            " the symmetric-B shortcut's 2 applied on top of both appearances)"
        )
    elif a == "1/2":
        hint = " (a factor 2 missing: one of two equal appearances dropped?)"
    return f"scaled by a constant: candidate = {a} x {what}{hint}"


def _solve_nice(c: np.ndarray, cols: list[np.ndarray], tol: float) -> list[str] | None:
    """Coefficients (as small fractions) with ``c = sum_k b_k cols_k`` to ``tol``, else None.

    A rank-deficient basis (two terms equal, a term symmetric where its transpose is also in
    the basis) has no unique answer, so it gives None rather than a guess.
    """
    basis = np.stack([col.ravel() for col in cols], axis=1)
    if np.linalg.matrix_rank(basis, tol=tol * np.linalg.norm(basis, 2)) < basis.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(basis, c.ravel(), rcond=None)
    resid = np.linalg.norm(basis @ coef - c.ravel()) / max(np.linalg.norm(c), 1e-300)
    if resid > tol:
        return None
    nice = [small_fraction(float(b), 10 * tol) for b in coef]
    found = [n for n in nice if n is not None]
    return None if len(found) < len(nice) else found


def _term_fit(c, terms: Mapping[str, np.ndarray], square: bool, tol: float) -> str | None:
    labels = list(terms)
    coefs = _solve_nice(c, [terms[k] for k in labels], tol)
    transposed = {k: "0" for k in labels}
    if coefs is None and square:
        # add the transpose of each non-symmetric term: catches a single transposed term
        asym = [
            k
            for k in labels
            if np.linalg.norm(terms[k] - terms[k].T) > tol * np.linalg.norm(terms[k])
        ]
        both = _solve_nice(c, [terms[k] for k in labels] + [terms[k].T for k in asym], tol)
        if both is not None:
            coefs = both[: len(labels)]
            transposed.update(zip(asym, both[len(labels) :], strict=True))
    if coefs is None:
        return None
    problems = []
    for label, direct in zip(labels, coefs, strict=True):
        flipped = transposed[label]
        if direct == "1" and flipped == "0":
            continue
        if direct == "0" and flipped == "1":
            problems.append(f"term {label} transposed")
        elif direct == "0" and flipped == "0":
            problems.append(f"term {label} missing")
        elif flipped == "0":
            word = {"2": "counted twice", "-1": "with the wrong sign"}.get(direct)
            problems.append(f"term {label} " + (word or f"scaled by {direct}"))
        else:
            problems.append(f"term {label} appears as {direct} x it + {flipped} x its transpose")
    if not problems:
        return None
    msg = "; ".join(problems)
    missing = [p for p in problems if p.endswith("missing")]
    doubled = [p for p in problems if p.endswith("twice")]
    if len(missing) == 1 and len(doubled) == 1 and len(problems) == 2:
        msg += " (as if two appearances were equal, e.g. a non-symmetric matrix assumed symmetric)"
    return f"per-appearance terms (trace notes eq. 18): {msg}"


def diagnose(
    candidate,
    truth,
    *,
    tol: float,
    terms: Mapping[str, np.ndarray] | None = None,
) -> str:
    """A sentence naming the likely mistake in ``candidate`` relative to ``truth``.

    Args:
        candidate: the gradient being checked (any float dtype; compared in float64).
        truth: the reference gradient, ideally float64 autodiff.
        tol: normwise relative residual below which a pattern counts as matched.
        terms: optional per-appearance terms whose sum is the true gradient.
    """
    c = np.asarray(candidate, dtype=np.float64)
    g = np.asarray(truth, dtype=np.float64)
    if c.shape != g.shape:
        expected = f"returned shape {c.shape}, expected {g.shape}"
        if c.ndim == 2 and c.shape == g.shape[::-1]:
            if _fit(c.T, g)[1] <= tol and small_fraction(_fit(c.T, g)[0], tol) == "1":
                return f"transposed: {expected}, and its transpose equals the gradient"
            return f"wrong shape: {expected} (the transposed shape, but not the transpose)"
        if c.size == g.size and _fit(c.reshape(g.shape), g)[1] <= tol:
            return f"wrong shape: {expected}; the values match after a reshape"
        return f"wrong shape: {expected}"
    bad = ~np.isfinite(c)
    if bad.any():
        return f"candidate contains {int(bad.sum())} non-finite entries (NaN/Inf)"
    if not np.isfinite(g).all():
        return "the reference gradient is not finite at these arguments"
    gnorm, cnorm = np.linalg.norm(g), np.linalg.norm(c)
    if gnorm == 0.0:
        return f"the true gradient is zero here, but the candidate has norm {cnorm:.3e}"
    if cnorm == 0.0:
        return "candidate is identically zero"

    a = _multiple(c, g, tol)
    if a == "1":
        rel = float(np.abs(c - g).max() / np.abs(g).max())
        return (
            f"nearly right: candidate matches the gradient up to a normwise relative error of "
            f"{rel:.3e} (rounding in a long or ill-conditioned chain, or a tiny term missing)"
        )
    if a is not None:
        return _describe_multiple(a, "gradient")
    square = g.ndim == 2 and g.shape[0] == g.shape[1]
    if square and np.linalg.norm(g - g.T) > tol * gnorm:
        a = _multiple(c, g.T, tol)
        if a == "1":
            return "transposed: candidate = G^T for the gradient G"
        if a is not None:
            return f"transposed and {_describe_multiple(a, 'G^T')} for the gradient G"
        a = _multiple(c, 0.5 * (g + g.T), tol)
        if a == "1":
            return "only the symmetric part: candidate = (G + G^T)/2 for the gradient G"
        if a == "2":
            return (
                "symmetrised: candidate = G + G^T for the gradient G (a non-symmetric argument "
                "treated as symmetric)"
            )
    if square and _multiple(c, 2.0 * g - np.diag(np.diag(g)), tol) == "1":
        return (
            "symmetric-matrix convention: candidate = 2G - diag(G); that is the gradient "
            "restricted to symmetric matrices, not the gradient of the unconstrained entries"
        )
    if terms:
        found = _term_fit(c, {k: np.asarray(v, np.float64) for k, v in terms.items()}, square, tol)
        if found:
            return found
    diff = np.abs(c - g)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    rel = float(diff.max() / np.abs(g).max())
    return (
        f"no simple pattern (not a transpose, constant multiple or symmetrisation"
        f"{'' if terms else '; pass the identity terms to test for a missing term'}): "
        f"normwise relative error {rel:.3e}, largest at index {idx} "
        f"(candidate {c[idx]:.6g}, gradient {g[idx]:.6g})"
    )

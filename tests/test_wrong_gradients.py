"""The checker on every identity: wrong variants rejected with the right diagnosis, right never.

Wrong candidates are passed to the checker as arrays (the correct closed form's value,
transposed, doubled, negated or with one per-appearance term dropped), so no variant needs a
compilation of its own; the references each compile once per identity.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SHIPPED_IDENTITIES

import tracegrad as tg
from tracegrad._check.references import evaluate

# internals: the checker's reference evaluation of an identity's gradient and terms
pytestmark = pytest.mark.internals

NAMES = sorted(SHIPPED_IDENTITIES)
TERMS = "per-appearance terms (trace notes eq. 18): "


@functools.cache
def _case(name: str, seed: int = 0):
    """float64 arguments, the correct gradient and the identity's terms there.

    Evaluated with the checker's own compiled-call helper, so the closed form compiles once
    for this file and the checker's runs alike.
    """
    ident = tg.identity(name)
    args = ident.arguments(seed, jnp.float64)
    g = np.asarray(evaluate(ident.gradient, *args))
    terms = {} if ident.terms is None else evaluate(ident.terms, *args)
    return ident, args, g, {k: np.asarray(v) for k, v in terms.items()}


def _check(ident, candidate, args, terms):
    return tg.check_grad(
        ident.objective,
        candidate,
        *args,
        argnum=ident.wrt,
        terms=terms or None,
        argnames=ident.argnames,
    )


def _wrong_variants(g: np.ndarray, terms: dict[str, np.ndarray]):
    """(what, candidate, expected diagnosis) for the slips every identity can suffer."""
    yield "doubled", 2.0 * g, "scaled by a constant: candidate = 2 x gradient"
    yield "negated", -g, "sign flipped: candidate = -gradient"
    if g.ndim == 2 and g.shape[0] != g.shape[1]:
        yield "transposed", g.T, "transposed: returned shape"
    elif g.ndim == 2 and np.linalg.norm(g - g.T) > 1e-6 * np.linalg.norm(g):
        yield "transposed", g.T, "transposed: candidate = G^T"
    for label in terms:
        rest = sum(v for k, v in terms.items() if k != label)
        yield f"without {label!r}", rest, f"{TERMS}term {label} missing"


def test_every_identity_with_several_appearances_has_terms():
    multi = {
        "traa.eq17",
        "traa.eq21",
        "traa.eq24_W",
        "traa.eq24_H",
        "kalman.trace_ABAt",
        "kalman.trace_posterior_covariance",
        "hu.gaussian_mean",
        "hu.gaussian_cov",
        "hu.least_squares",
    }
    for name in NAMES:
        assert (tg.identity(name).terms is not None) == (name in multi), name
    _, _, g, terms = _case("traa.eq21")
    assert len(terms) == 4
    np.testing.assert_allclose(sum(terms.values()), g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in NAMES if tg.identity(n).terms is not None])
def test_terms_sum_to_the_gradient(name):
    ident, args, g, terms = _case(name, seed=1)
    assert len(terms) >= 2
    np.testing.assert_allclose(sum(terms.values()), g, rtol=1e-10, atol=1e-12 * np.abs(g).max())


@pytest.mark.parametrize("name", NAMES)
def test_wrong_variants_are_rejected_with_the_right_diagnosis(name):
    ident, args, g, terms = _case(name)
    variants = list(_wrong_variants(g, terms))
    assert len(variants) >= 2 + (g.ndim == 2 and name not in ("hu.trace", "hu.gaussian_cov"))
    for what, candidate, expected in variants:
        report = _check(ident, candidate, args, terms)
        assert not report.ok, f"{name}: {what} passed"
        assert expected in report.diagnosis, f"{name}, {what}: {report.diagnosis}"


@pytest.mark.parametrize("name", NAMES)
def test_right_gradients_are_never_rejected_in_float32(name):
    ident = tg.identity(name)
    for seed in range(20):
        report = ident.check(seed, jnp.float32)
        assert report.ok, f"{name}, seed {seed}\n{report}"


def test_symmetric_b_shortcut_is_a_missing_and_a_doubled_term():
    """The Kalman derivation's 2AB is wrong for non-symmetric B: the A B^T appearance is lost."""
    ident, args, g, terms = _case("kalman.trace_ABAt")
    A, B = args
    report = _check(ident, 2.0 * A @ B, args, terms)
    assert not report.ok
    assert "term A B^T missing" in report.diagnosis, report.diagnosis
    assert "term A B counted twice" in report.diagnosis, report.diagnosis
    assert "non-symmetric matrix assumed symmetric" in report.diagnosis


def test_kalman_gradient_without_the_noise_term():
    ident, args, g, terms = _case("kalman.trace_posterior_covariance")
    K, P, H, R = args
    report = _check(ident, -2.0 * (H @ P).T + 2.0 * K @ (H @ P @ H.T), args, terms)
    assert not report.ok
    assert f"{TERMS}term 2 K R missing" in report.diagnosis, report.diagnosis


def test_symmetric_matrix_convention_on_the_covariance_is_named():
    """2G - diag(G): the gradient for symmetric Sigma, not for its unconstrained entries."""
    ident, args, g, terms = _case("hu.gaussian_cov")
    report = _check(ident, 2.0 * g - np.diag(np.diag(g)), args, terms)
    assert not report.ok
    assert "symmetric-matrix convention" in report.diagnosis, report.diagnosis


def test_determinant_without_its_det_factor_is_a_constant_multiple():
    ident, args, g, terms = _case("hu.det")
    (X,) = args
    report = _check(ident, np.linalg.inv(np.asarray(X)).T, args, terms)
    assert not report.ok
    assert "scaled by a constant" in report.diagnosis, report.diagnosis


def test_spectral_norm_with_the_second_singular_pair_has_no_simple_pattern():
    ident, args, g, terms = _case("hu.spectral_norm")
    u, s, vt = np.linalg.svd(np.asarray(args[0]))
    report = _check(ident, np.outer(u[:, 1], vt[1]), args, terms)
    assert not report.ok
    assert "no simple pattern" in report.diagnosis, report.diagnosis

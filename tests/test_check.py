"""The checker itself: it accepts right gradients, rejects wrong ones and says why."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES

import tracegrad as tg


def _xxtx(X):
    return jnp.trace(X @ X.T @ X)


def _xxtx_terms(X):
    return {"X^T X": X.T @ X, "X X": X @ X, "X X^T": X @ X.T}


def _xxtx_grad(X):
    return X.T @ X + X @ X + X @ X.T


@pytest.fixture
def square():
    return jax.random.normal(jax.random.key(3), (5, 5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_right_gradient_passes_every_reference(dtype, square):
    report = tg.check_grad(_xxtx, _xxtx_grad, square.astype(dtype))
    assert report.ok, report
    low = dtype == jnp.float32  # float32 adds the float64 reverse-mode truth
    expected = {"reverse", "forward", "fd64"} | ({"reverse64"} if low else set())
    assert set(report.references) == expected
    assert report.diagnosis == "ok"
    assert report.candidate_dtype == str(jnp.dtype(dtype))
    assert report.max_rel_err <= report.rtol <= tg.default_rtol(dtype)
    assert (report.noise is not None) == low


@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        (lambda X: -_xxtx_grad(X), "sign flipped"),
        (lambda X: 2 * _xxtx_grad(X), "= 2 x gradient"),
        (lambda X: _xxtx_grad(X).T, "transposed"),
        (lambda X: 0.5 * (_xxtx_grad(X) + _xxtx_grad(X).T), "only the symmetric part"),
        (lambda X: X.T @ X + X @ X.T, "term X X missing"),
        (lambda X: X.T @ X + 2 * X @ X, "term X X counted twice; term X X^T missing"),
        (lambda X: X.T @ X - X @ X + X @ X.T, "term X X with the wrong sign"),
        (lambda X: jnp.zeros_like(X), "identically zero"),
        (lambda X: _xxtx_grad(X)[:, :4], "wrong shape"),
    ],
)
def test_wrong_gradients_are_rejected_with_a_diagnosis(wrong, expected, square):
    report = tg.check_grad(_xxtx, wrong, square, terms=_xxtx_terms)
    assert not report.ok
    assert expected in report.diagnosis, report.diagnosis


def test_rectangular_transpose_is_a_shape_failure_not_a_broadcast():
    A = jax.random.normal(jax.random.key(0), (3, 4))
    report = tg.check_grad(lambda X: jnp.sum(jnp.sin(X)), lambda X: jnp.cos(X).T, A)
    assert not report.ok
    assert report.candidate_shape == (4, 3)
    assert "transposed" in report.diagnosis


def test_float32_candidate_is_measured_against_float64_differences():
    x = jax.random.normal(jax.random.key(1), (6, 4), jnp.float32)
    report = tg.check_grad(lambda X: jnp.sum(X**3), lambda X: 3 * X**2, x)
    assert report.ok, report
    assert report.references["fd64"].max_rel_err < 1e-6
    assert "float64" in report.references["fd64"].detail


def test_large_input_uses_directional_differences():
    x = jnp.linspace(-1.0, 1.0, 5000)
    report = tg.check_grad(lambda v: jnp.sum(v**2), lambda v: 2 * v, x)
    assert report.ok, report
    assert "directions" in report.references["fd64"].detail
    bad = tg.check_grad(lambda v: jnp.sum(v**2), lambda v: 2 * v[::-1], x)
    assert not bad.ok


def test_assert_grad_close_raises_with_the_report(square):
    tg.assert_grad_close(_xxtx, _xxtx_grad, square)
    with pytest.raises(AssertionError, match="sign flipped"):
        tg.assert_grad_close(_xxtx, lambda X: -_xxtx_grad(X), square)


def test_gradient_array_is_accepted_as_candidate(square):
    assert tg.check_grad(_xxtx, _xxtx_grad(square), square).ok


def test_non_scalar_objective_is_a_clear_error(square):
    with pytest.raises(TypeError, match="scalar"):
        tg.check_grad(lambda X: X @ X, lambda X: X, square)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_arguments_are_refused(bad, square):
    x = square.at[1, 2].set(bad)
    with pytest.raises(ValueError, match=r"argument 0 \(X\).*first at index \(1, 2\)"):
        tg.check_grad(_xxtx, _xxtx_grad, x, argnames=("X",))


def test_objective_outside_its_domain_is_a_clear_error():
    with pytest.raises(ValueError, match="domain"):
        tg.check_grad(lambda x: jnp.sum(jnp.log(x)), lambda x: 1 / x, -jnp.ones(3))


def test_argnum_selects_the_argument():
    A = jax.random.normal(jax.random.key(0), (3, 4))
    B = jax.random.normal(jax.random.key(1), (4, 3))
    report = tg.check_grad(lambda a, b: jnp.trace(a @ b), lambda a, b: a.T, A, B, argnum=1)
    assert report.ok, report
    assert report.shape == (4, 3)
    with pytest.raises(ValueError, match="out of range"):
        tg.check_grad(lambda a, b: jnp.trace(a @ b), lambda a, b: a.T, A, B, argnum=2)


def test_tolerances_follow_the_dtype():
    assert tg.default_rtol(jnp.float32) == pytest.approx(2.0**-12)
    assert tg.default_rtol(jnp.float64) == pytest.approx(2.0**-26.5)
    assert tg.tolerances(jnp.float32, rtol=1e-2)[0] == 1e-2
    with pytest.raises(TypeError):
        tg.default_rtol(jnp.int32)


def test_references_survive_the_xla_cpu_fusion_that_miscompiles_this_gradient():
    """jax/jaxlib 0.10.2's default CPU YNN fusion returns NaN (float64) or garbage (float32)
    for jit(grad) of this objective at these shapes; the checker's references must not."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((64, 72)), rng.standard_normal((72, 80))
    x = rng.standard_normal(72)

    def f(A, x, B):  # tr(J A diag(x) B), J all ones: trace notes eq. (32)-(34)
        return jnp.sum(jnp.ones((80, 64), A.dtype) * (B.T @ (x[:, None] * A.T)))

    def grad(A, x, B):  # eq. (34): (A^T 1) ⊙ (B 1)
        return A.sum(axis=0) * B.sum(axis=1)

    for dtype in DTYPES:
        args = tuple(jnp.asarray(a, dtype) for a in (A, x, B))
        report = tg.check_grad(f, grad, *args, argnum=1)
        assert report.ok, report


def test_derive_checks_the_diag_identity_at_the_shapes_that_trip_the_fusion():
    d = tg.derive("tr(J A diag(x) B)", wrt="x", shapes={"A": (64, 72), "B": (72, 80)})
    assert d.report.ok

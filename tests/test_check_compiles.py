"""The checker compiles a program per check, not per reference, and nothing on a re-check.

Counted with ``jax.monitoring``'s ``/jax/core/compile/backend_compile_duration`` events (one
per XLA compilation, eager ops included).  Each test uses functions of its own, defined here,
so that no other test has compiled them already.  The counts, first call:

* ``check_grad``: the candidate and the references (reverse, forward, float64 truth, float64
  finite differences), 2 programs in float64; float32 adds the candidate re-run in float64
  (3), and with x64 off the float64 references are a program of their own (4).
* ``check_hvp``: the vmapped candidate and the references, 2; ``check_hessian`` adds the dense
  products and ``jax.hessian``, 4.
* ``check_identity`` (one test of ``identity_tests``): the sampler, the candidate, the
  references and the gradient through the bridge, 4.
* ``derive``: the gradient and the check's references, 2, also for a symbolic derivation's new
  shape signature; calling the derived gradient then compiles nothing.

A second call at new values of the same shapes and dtypes compiles nothing.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import compiled_programs

import tracegrad as tg
from tracegrad._check.references import reference_options
from tracegrad.testing import check_identity

# internals: the references' compiler-option probe (once per process), warmed so it is not counted
pytestmark = pytest.mark.internals


@pytest.fixture(scope="module", autouse=True)
def _process_once():
    """What compiles once per process, whoever calls first: the probe of the references'
    compiler options and the random-key constructor of the samplers."""
    reference_options()
    jax.random.key(0)


_compiles = compiled_programs  # the names of the programs compiled inside the block


def _point(seed: int, dtype=jnp.float64, shape=(5, 3)):
    """Arguments ``(A, X, B)``, made before a counted block (device_put compiles nothing)."""
    rng = np.random.default_rng(seed)
    sizes = ((4, shape[0]), shape, (shape[1], 4))
    return tuple(jax.device_put(rng.standard_normal(s).astype(dtype)) for s in sizes)


def _quadratic_objective(A, X, B):  # ||A X B||_F^2 / 2
    return 0.5 * jnp.sum((A @ X @ B) ** 2)


def _quadratic_gradient(A, X, B):  # A^T (A X B) B^T
    return A.T @ (A @ X @ B) @ B.T


def _twice_gradient(A, X, B):  # a wrong candidate: the diagnosis path
    return 2.0 * (A.T @ (A @ X @ B) @ B.T)


def test_check_grad_float64_compiles_candidate_and_references_once():
    p0, p1 = _point(0), _point(1)
    with _compiles() as first:
        report = tg.check_grad(_quadratic_objective, _quadratic_gradient, *p0, argnum=1)
    assert report.ok, report
    assert len(first) <= 2, first
    with _compiles() as again:
        assert tg.check_grad(_quadratic_objective, _quadratic_gradient, *p1, argnum=1)
    assert again == []


def test_check_grad_float32_compiles_at_most_three_programs():
    p0, p1 = _point(2, np.float32, (6, 2)), _point(3, np.float32, (6, 2))
    with _compiles() as first:
        report = tg.check_grad(_quadratic_objective, _quadratic_gradient, *p0, argnum=1)
    assert report.ok, report
    assert len(first) <= 3, first
    with _compiles() as again:
        assert tg.check_grad(_quadratic_objective, _quadratic_gradient, *p1, argnum=1)
    assert again == []


def test_check_grad_float32_with_x64_off_splits_the_references_in_two():
    def f(A, X, B):
        return 0.5 * jnp.sum((A @ X @ B) ** 2)

    def g(A, X, B):
        return A.T @ (A @ X @ B) @ B.T

    with jax.enable_x64(False):
        p0, p1 = _point(4, np.float32, (3, 5)), _point(5, np.float32, (3, 5))
        with _compiles() as first:
            assert tg.check_grad(f, g, *p0, argnum=1)
        assert len(first) <= 4, first
        with _compiles() as again:
            assert tg.check_grad(f, g, *p1, argnum=1)
        assert again == []


def test_a_failing_check_recompiles_nothing_on_a_second_call():
    shape = (4, 4)
    first_report = tg.check_grad(
        _quadratic_objective, _twice_gradient, *_point(6, shape=shape), argnum=1
    )
    assert not first_report.ok and "2" in first_report.diagnosis
    p1 = _point(7, shape=shape)
    with _compiles() as again:
        report = tg.check_grad(_quadratic_objective, _twice_gradient, *p1, argnum=1)
    assert not report.ok and report.diagnosis == first_report.diagnosis
    # the diagnosis splits f into per-appearance terms: one cached program; nothing else
    assert len(again) <= 1, again


def _hvp(A, X, B, V):  # the Hessian of _quadratic_objective in X applied to V
    return A.T @ (A @ V @ B) @ B.T


def test_check_hvp_compiles_candidate_and_references_once():
    p0, p1 = _point(8, shape=(3, 4)), _point(9, shape=(3, 4))
    with _compiles() as first:
        assert tg.check_hvp(_quadratic_objective, _hvp, *p0, argnum=1)
    assert len(first) <= 2, first
    with _compiles() as again:
        assert tg.check_hvp(_quadratic_objective, _hvp, *p1, argnum=1)
    assert again == []


def test_check_hessian_compiles_at_most_four_programs_once():
    def f(x, A):
        return 0.5 * x @ A @ x + jnp.sum(x**3) / 3

    def hessian(x, A):
        return 0.5 * (A + A.T) + jnp.diag(2 * x)

    def point(seed):
        rng = np.random.default_rng(seed)
        return jax.device_put(rng.standard_normal(6)), jax.device_put(rng.standard_normal((6, 6)))

    p0, p1 = point(0), point(1)
    with _compiles() as first:
        assert tg.check_hessian(f, hessian, *p0)
    assert len(first) <= 4, first
    with _compiles() as again:
        assert tg.check_hessian(f, hessian, *p1)
    assert again == []


def _sample(key, dtype="float64", n=None):
    ka, kx, kb = jax.random.split(key, 3)
    return (
        jax.random.normal(ka, (4, 7), dtype),
        jax.random.normal(kx, (7, 2), dtype),
        jax.random.normal(kb, (2, 4), dtype),
    )


_IDENTITY = tg.Identity(
    name="compiles.quadratic",
    source="tests/test_check_compiles.py",
    objective=_quadratic_objective,
    gradient=_quadratic_gradient,
    sample=_sample,
    argnames=("A", "X", "B"),
    wrt=1,
)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_identity_test_compiles_at_most_four_programs(dtype):
    with _compiles() as first:
        check_identity(_IDENTITY, dtype, 0)
    assert len(first) <= 4, first
    with _compiles() as again:
        check_identity(_IDENTITY, dtype, 1)
    assert again == []


def test_derive_compiles_the_gradient_and_the_check_once():
    shapes = {"A": (3, 5), "X": (5, 6), "B": (6, 3)}
    with _compiles() as first:
        d = tg.derive("tr(A X B) + tr(X' X)", wrt="X", shapes=shapes)
    assert len(first) <= 2, first
    rng = np.random.default_rng(0)
    arrays = {n: jax.device_put(rng.standard_normal(s)) for n, s in shapes.items()}
    with _compiles() as call:
        g = d(**arrays)
    assert call == []  # the check compiled the gradient at these shapes already
    assert g.shape == (5, 6)


def test_a_symbolic_derivation_compiles_twice_per_new_shape_signature():
    d = tg.derive("tr(X' A X B)", wrt="X")

    def arrays(seed):
        r = np.random.default_rng(seed)
        shapes = {"A": (8, 8), "X": (8, 3), "B": (3, 3)}
        return {n: jax.device_put(r.standard_normal(s)) for n, s in shapes.items()}

    a0, a1 = arrays(0), arrays(1)
    with _compiles() as first:
        d(**a0)
    assert len(first) <= 2, first
    with _compiles() as again:
        d(**a1)
    assert again == []

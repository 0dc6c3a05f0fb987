"""Bad input to the identities, their samplers and the gradient benchmark: clear, early errors.

(The checker's own input errors -- a non-scalar objective, NaN/Inf in the differentiated
argument, an out-of-range argnum -- are covered in test_check.py.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SHIPPED_IDENTITIES

import tracegrad as tg

NAMES = sorted(SHIPPED_IDENTITIES)


def _shared_axis(ident):
    """An (argument index, axis) whose dimension letter also sizes another axis, if any."""
    specs = [ident.gradient.shapes[a].split() for a in ident.argnames]
    letters = [letter for dims in specs for letter in dims]
    for i, dims in enumerate(specs):
        for axis, letter in enumerate(dims):
            if letters.count(letter) > 1:
                return i, axis
    return None


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_shapes_name_the_arrays(name):
    ident = tg.identity(name)
    args = [np.asarray(a) for a in ident.arguments(0)]
    w = ident.wrt_name
    extra_dim = list(args)
    extra_dim[ident.wrt] = args[ident.wrt][..., None]
    with pytest.raises(ValueError, match=rf"{w} must have \d dimension\(s\).*got shape"):
        ident.gradient(*extra_dim)
    found = _shared_axis(ident)
    if found is None:  # hu.spectral_norm: one argument, two free dimensions
        return
    i, axis = found
    grown = list(args)
    grown[i] = np.concatenate([args[i], np.take(args[i], [0], axis=axis)], axis=axis)
    for fn in (ident.gradient, ident.objective):
        with pytest.raises(ValueError, match="expected .*" + ident.argnames[i]) as err:
            fn(*grown)
        assert "x".join(str(s) for s in grown[i].shape) in str(err.value)
    with pytest.raises(ValueError, match="but"):  # under jit: at trace time, before compiling
        jax.jit(ident.gradient)(*grown)


def test_checker_reports_mismatched_identity_arguments_by_name():
    ident = tg.identity("traa.eq17")
    A, X, B, C = ident.arguments(0)
    with pytest.raises(ValueError, match=r"_eq17_objective: C has shape 3x4, so n = 4"):
        tg.check_grad(ident.objective, ident.gradient, A, X, B, C[:, :4], argnum=1)


@pytest.mark.parametrize(
    ("name", "arg", "bad", "words"),
    [
        ("traa.eq27", "V", np.nan, r"argument 0 \(V\) contains 1 NaN and 0 Inf"),
        ("hu.gaussian_cov", "Y", -np.inf, r"argument 2 \(Y\) contains 0 NaN and 1 Inf"),
        ("kalman.trace_posterior_covariance", "R", np.inf, r"argument 3 \(R\) contains 0 NaN"),
    ],
)
def test_non_finite_non_differentiated_arguments_are_refused(name, arg, bad, words):
    ident = tg.identity(name)
    args = [np.array(a) for a in ident.arguments(0)]
    i = ident.argnames.index(arg)
    args[i].flat[1] = bad
    with pytest.raises(ValueError, match=words):
        tg.check_grad(
            ident.objective, ident.gradient, *args, argnum=ident.wrt, argnames=ident.argnames
        )


def test_registered_identity_with_a_non_scalar_objective_fails_its_check():
    def sample(key, dtype=jnp.float64, n=None):
        return (jax.random.normal(key, (3, 4), dtype),)

    @tg.register(
        "tests.not_scalar",
        objective=lambda X: X @ X.T,
        source="a test",
        sample=sample,
        argnames=("X",),
    )
    def gradient(X):
        return 2 * X

    try:
        with pytest.raises(TypeError, match=r"must return a scalar, got \(3, 3\)"):
            tg.identity("tests.not_scalar").check(0)
    finally:
        tg.unregister("tests.not_scalar")


def test_samplers_refuse_bad_dtypes_and_sizes():
    ident = tg.identity("traa.eq9")
    with pytest.raises(TypeError, match="floating"):
        ident.arguments(0, jnp.int32)
    with pytest.raises(ValueError, match="n must be positive"):
        ident.arguments(0, jnp.float32, n=0)
    with jax.enable_x64(False), pytest.raises(ValueError, match="enable_x64"):
        ident.arguments(0, jnp.float64)


@pytest.mark.internals  # the gradient benchmark called alone, below `tracegrad bench`
def test_gradient_benchmark_refuses_bad_selections():
    from tracegrad._bench.grads import run_grads

    with pytest.raises(ValueError, match="no registered identity matches"):
        run_grads(sizes=(8,), only="^nothing-matches$")
    with pytest.raises(ValueError, match="floating"):
        run_grads(sizes=(8,), dtype="int32")

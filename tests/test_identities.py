"""The registry's identities: the contract, closed form == autodiff, batching, optima."""

from __future__ import annotations

import functools
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES, SHIPPED_IDENTITIES, dtype_id

import tracegrad as tg

# Each built-in declares its argument shapes in letters once, in its registration; the tests
# read them from the registry.  Distinct letters must be distinct sizes in the samplers
# (rectangular wherever the mathematics allows), so a transposed gradient cannot pass by symmetry.
BUILTIN = {n: tg.identity(n) for n in SHIPPED_IDENTITIES}
NAMES = sorted(BUILTIN)
WITH_OPTIMUM = [n for n in NAMES if tg.identity(n).optimum is not None]


def _letters(name, shapes) -> dict[str, int]:
    """Bind the contract's letters to sizes; fail on an inconsistent shape."""
    sizes: dict[str, int] = {}
    for arg, spec in BUILTIN[name].shapes.items():
        dims = spec.split()
        assert len(shapes[arg]) == len(dims), f"{name}: {arg} has shape {shapes[arg]}"
        for letter, size in zip(dims, shapes[arg], strict=True):
            assert sizes.setdefault(letter, size) == size, f"{name}: {letter} inconsistent"
    return sizes


def test_every_builtin_is_one_full_declaration():
    """Shapes, and an expression for derive or the reason the language cannot state it."""
    assert len(NAMES) >= 25
    for name in NAMES:
        ident = BUILTIN[name]
        assert ident.shapes is not None and tuple(ident.shapes) == ident.argnames, name
        assert bool(ident.expression) != bool(ident.not_expressible), name


@pytest.mark.parametrize("name", NAMES)
def test_contract_argnames_wrt_and_shapes(name):
    ident = tg.identity(name)
    assert ident.source and (ident.expression or (ident.formula and ident.latex))
    doc = ident.gradient.__doc__ or ""  # cites its source: an equation, theorem or section
    assert any(w in doc for w in ("eq.", "Theorem", "section", "derivation")), doc
    key = jax.random.key(0)
    for n in (None, 256):  # test shapes, and benchmark shapes (traced only: nothing runs)
        out = jax.eval_shape(functools.partial(ident.sample, dtype="float32", n=n), key)
        assert all(o.dtype == jnp.float32 for o in out)
        sizes = _letters(name, dict(zip(ident.argnames, (o.shape for o in out), strict=True)))
        assert len(set(sizes.values())) == len(sizes), f"{name} at n={n}: {sizes}"
        if n is not None:
            # every size near n, except the small ranks (eq24's k) and row counts (eq46's K)
            assert all(n <= s <= 2 * n for k, s in sizes.items() if k not in "kK"), sizes


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.internals  # the checker's finite-difference floor has no public name
def test_closed_form_passes_the_checker(name, dtype, seed):
    from tracegrad._check.tolerances import FD_RTOL_FLOOR

    report = tg.identity(name).check(seed, dtype)
    assert report.ok, f"{name}\n{report}"
    assert report.candidate_dtype == jnp.dtype(dtype).name
    assert report.max_rel_err <= max(tg.default_rtol(dtype), FD_RTOL_FLOOR)


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_batches_under_jit_and_vmap(name):
    ident = tg.identity(name)
    samples = [ident.arguments(seed, jnp.float32) for seed in range(4)]
    # stacked on the host: an eager jnp.stack compiles a program per shape
    batch = tuple(jax.device_put(np.stack(xs)) for xs in zip(*samples, strict=True))
    closed = jax.jit(jax.vmap(ident.gradient))(*batch)
    reference = jax.jit(jax.vmap(jax.grad(ident.objective, argnums=ident.wrt)))(*batch)
    assert closed.dtype == jnp.float32
    assert closed.shape == reference.shape == batch[ident.wrt].shape
    rtol = tg.default_rtol(jnp.float32)
    for c, g in zip(np.asarray(closed), np.asarray(reference), strict=True):
        assert np.max(np.abs(c - g)) <= rtol * np.max(np.abs(g)), name


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_never_calls_autodiff(name):
    ident = tg.identity(name)
    args = ident.arguments(0, jnp.float32)

    def forbidden(*_, **__):
        raise AssertionError(f"{name}: the closed form called autodiff")

    transforms = ("grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev")
    with mock.patch.multiple(jax, **{t: forbidden for t in transforms}):
        jaxpr = jax.make_jaxpr(ident.gradient)(*args)
    assert jaxpr.out_avals[0].shape == args[ident.wrt].shape


def test_samplers_keep_their_promises():
    """SPD covariances, |det| = O(1) but not 1, a simple top singular value, positive logs."""
    for seed in range(3):
        K, P, H, R = tg.identity("kalman.trace_posterior_covariance").arguments(seed)
        for S in (P, R):
            np.testing.assert_array_equal(S, S.T)
            assert np.linalg.eigvalsh(S).min() >= 0.99
        _, Sigma, _ = tg.identity("hu.gaussian_cov").arguments(seed)
        np.testing.assert_array_equal(Sigma, Sigma.T)
        assert np.linalg.eigvalsh(Sigma).min() >= 0.99
        (X,) = tg.identity("hu.det").arguments(seed)
        assert 1.28 <= abs(np.linalg.det(X)) <= 2.72
        assert np.linalg.cond(X) <= 4.0 + 1e-9
        (A,) = tg.identity("hu.spectral_norm").arguments(seed)
        s = np.linalg.svd(A, compute_uv=False)
        assert s[0] >= 2.0 * s[1] - 1e-12
        _, B = tg.identity("kalman.trace_ABAt").arguments(seed)
        assert np.linalg.norm(B - B.T) > 0.1 * np.linalg.norm(B)  # not symmetric
        for name in ("traa.eq27", "traa.eq28", "traa.eq41", "traa.eq46"):
            assert all(np.all(np.asarray(a) > 0) for a in tg.identity(name).arguments(seed))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.internals  # the samplers' building blocks, below an identity's arguments()
def test_sampler_random_numbers(dtype):
    """The samplers' hash generator: reproducible, key-dependent, with normal moments."""
    from tracegrad._registry import samplers

    @jax.jit
    def draw(key):
        (z,) = samplers.gaussians(key, dtype, (20_000,))
        (u,) = samplers.uniforms(key, dtype, (20_000,))
        return z, u, samplers.gaussians(key, dtype, (5,))[0]

    z, u, small = draw(jax.random.key(7))
    assert z.dtype == u.dtype == small.dtype == dtype
    z, u = np.asarray(z, np.float64), np.asarray(u, np.float64)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03 and abs((z**4).mean() - 3) < 0.2
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.03
    assert 0.5 <= u.min() and u.max() < 1.5 and abs(u.mean() - 1) < 0.01
    np.testing.assert_array_equal(small, draw(jax.random.key(7))[2])
    assert not np.any(np.asarray(small) == np.asarray(draw(jax.random.key(8))[2]))


# ---------------------------------------------------------------------------------------------
# optima: the closed form vanishes at the known stationary point and not near it


def _term_scale(terms) -> float:
    return max(float(np.max(np.abs(t))) for t in terms.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", WITH_OPTIMUM)
@pytest.mark.internals  # the checker's reference evaluation: one program, as the checker compiles
def test_gradient_vanishes_at_the_optimum(name, dtype):
    from tracegrad._check.references import evaluate

    ident = tg.identity(name)
    rtol = tg.default_rtol(dtype)
    for seed in range(3):
        opt = evaluate(ident.optimum, *ident.arguments(seed, dtype))
        g = np.asarray(evaluate(ident.gradient, *opt))
        scale = _term_scale(evaluate(ident.terms, *opt))
        assert np.max(np.abs(g)) <= rtol * scale, (name, seed, np.max(np.abs(g)), scale)
        if dtype == jnp.float64:
            # a small step away (1e-4 of the optimum's size) and the gradient is clearly back
            x = opt[ident.wrt]
            step = np.random.default_rng(seed).standard_normal(x.shape)
            step *= 1e-4 * np.linalg.norm(x) / np.linalg.norm(step)
            moved = opt[: ident.wrt] + (x + step,) + opt[ident.wrt + 1 :]
            g_moved = np.asarray(evaluate(ident.gradient, *moved))
            assert np.max(np.abs(g_moved)) >= 1e3 * rtol * scale, (name, seed)


def test_optima_are_the_known_closed_forms():
    K, P, H, R = tg.identity("kalman.trace_posterior_covariance").arguments(0)
    K_opt = tg.identity("kalman.trace_posterior_covariance").optimum(K, P, H, R)[0]
    S = H @ P @ H.T + R
    np.testing.assert_allclose(K_opt, P @ H.T @ np.linalg.inv(S), rtol=1e-10)
    mu, Sigma, Y = tg.identity("hu.gaussian_cov").arguments(0)
    mu_opt, Sigma_opt, _ = tg.identity("hu.gaussian_cov").optimum(mu, Sigma, Y)
    np.testing.assert_allclose(mu_opt, Y.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(Sigma_opt, np.cov(np.asarray(Y).T, bias=True), rtol=1e-10)
    A, x, b = tg.identity("hu.least_squares").arguments(0)
    x_opt = tg.identity("hu.least_squares").optimum(A, x, b)[1]
    np.testing.assert_allclose(A.T @ A @ x_opt, A.T @ b, rtol=1e-10, atol=1e-12)


def test_kalman_gain_is_a_minimum():
    """The Hessian of tr(P_{n,n}) in K at the gain is 2 (I kron S): positive definite."""
    ident = tg.identity("kalman.trace_posterior_covariance")
    K, P, H, R = ident.optimum(*ident.arguments(1))
    hess = jax.jit(jax.hessian(ident.objective, argnums=0))(K, P, H, R)
    hess = np.asarray(hess).reshape(K.size, K.size)
    np.testing.assert_allclose(hess, hess.T, atol=1e-12)
    eig = np.linalg.eigvalsh(hess)
    S_eig = np.linalg.eigvalsh(np.asarray(H @ P @ H.T + R))
    assert eig.min() > 0
    np.testing.assert_allclose(np.sort(eig), np.sort(np.repeat(2 * S_eig, K.shape[0])), rtol=1e-10)

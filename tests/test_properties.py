"""Property tests: every identity's closed form equals jax.grad on shapes drawn at random.

Each dimension letter of the identity's shape contract (``gradient.shapes``, e.g.
``A="p m"``) is drawn independently from 1..8, so square only where the contract shares a
letter; arguments are built for the identity's domain (positive under a log, SPD covariances,
well-conditioned inverses, a simple top singular value).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SHIPPED_IDENTITIES
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg

NAMES = sorted(SHIPPED_IDENTITIES)
POSITIVE = {"traa.eq27", "traa.eq28", "traa.eq41", "traa.eq46"}  # every argument, under a log
SPECIAL = {  # (identity, argument) -> how to build it
    ("kalman.trace_posterior_covariance", "P"): "spd",
    ("kalman.trace_posterior_covariance", "R"): "spd",
    ("hu.gaussian_mean", "Sigma"): "spd",
    ("hu.gaussian_cov", "Sigma"): "spd",
    ("hu.det", "X"): "well_conditioned",
    ("hu.logdet", "X"): "well_conditioned",
    ("hu.inverse", "X"): "well_conditioned",
    ("hu.spectral_norm", "A"): "simple_top",
}


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _build(kind: str, shape, rng) -> np.ndarray:
    if kind == "positive":
        return rng.uniform(0.5, 1.5, shape)
    if kind == "spd":
        q = _orthogonal(rng, shape[0])
        return (q * rng.uniform(1.0, 4.0, shape[0])) @ q.T
    if kind == "well_conditioned":
        s = rng.uniform(1.0, 4.0, shape[0]) * rng.choice([-1.0, 1.0], shape[0])
        return (_orthogonal(rng, shape[0]) * s) @ _orthogonal(rng, shape[0]).T
    if kind == "simple_top":
        k = min(shape)
        s = np.concatenate([[2.0], rng.uniform(0.25, 1.0, k - 1)])
        u = _orthogonal(rng, shape[0])[:, :k]
        v = _orthogonal(rng, shape[1])[:, :k]
        return (u * s) @ v.T
    return rng.standard_normal(shape)


@functools.cache
def _compiled(name: str):
    ident = tg.identity(name)
    return jax.jit(ident.gradient), jax.jit(jax.grad(ident.objective, argnums=ident.wrt))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_closed_form_equals_autodiff_on_random_shapes(name, data):
    ident = tg.identity(name)
    specs = {a: s.split() for a, s in ident.gradient.shapes.items()}
    letters = sorted({letter for dims in specs.values() for letter in dims})
    size = dict(
        zip(letters, data.draw(st.tuples(*(st.integers(1, 8) for _ in letters))), strict=True)
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    args = tuple(  # device_put: jnp.asarray of a NumPy array compiles a program per shape
        jax.device_put(
            _build(
                "positive" if name in POSITIVE else SPECIAL.get((name, a), "normal"),
                tuple(size[d] for d in specs[a]),
                rng,
            )
        )
        for a in ident.argnames
    )
    closed, reference = _compiled(name)
    c, g = np.asarray(closed(*args)), np.asarray(reference(*args))
    assert c.shape == g.shape == args[ident.wrt].shape
    scale = max(float(np.max(np.abs(g))), 1.0)
    err = float(np.max(np.abs(c - g)))
    assert err <= tg.default_rtol(jnp.float64) * scale, (name, size, err, scale)


def test_every_identity_declares_its_shapes():
    for name in NAMES:
        ident = tg.identity(name)
        assert set(ident.gradient.shapes) == set(ident.argnames), name
        assert ident.objective.shapes == ident.gradient.shapes, name

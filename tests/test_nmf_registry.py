"""The MU rules are the registry's gradients split into negative and positive parts.

``grad^+ - grad^-`` from ``tracegrad.nmf.gradient_parts`` (what the updates divide) must equal
the closed forms of ``traa.eq24_W``/``eq24_H`` (Frobenius) and ``traa.eq27`` with ``traa.eq9``
(KL) as ``registry_gradient`` assembles them, and both must equal ``jax.grad`` of the loss.
"""

import functools

import jax
import jax.numpy as jnp
import pytest
from helpers import DTYPES, REGISTRY_LOSSES

import tracegrad as tg
from tracegrad.nmf._contract import Data

# internals: the transposed-V products (Data(V, V.T)) single problems use: no argument selects them
pytestmark = pytest.mark.internals

M, N, K = 7, 5, 3  # rectangular and K != M, N: a transposed gradient cannot pass


def _positive(seed, dtype):
    kv, kw, kh = jax.random.split(jax.random.key(seed), 3)
    V = jax.random.uniform(kv, (M, N), dtype, 0.5, 2.0)
    W = jax.random.uniform(kw, (M, K), dtype, 0.5, 2.0)
    H = jax.random.uniform(kh, (K, N), dtype, 0.5, 2.0)
    return V, W, H


def _close(a, b, dtype):
    rtol, atol = tg.tolerances(dtype)
    err = float(jnp.max(jnp.abs(a - b)))
    assert err <= atol + rtol * float(jnp.max(jnp.abs(b))), err


@functools.partial(jax.jit, static_argnames=("loss",))
def _parts_and_registry(V, W, H, loss):
    registry = dict(zip("WH", tg.nmf.registry_gradient(loss, V, W, H), strict=True))
    parts = {f: tg.nmf.gradient_parts(loss, f, V, W, H) for f in "WH"}
    # the transposed-V products (used for single problems) must give the same split
    parts_t = {f: tg.nmf.gradient_parts(loss, f, Data(V, V.T), W, H) for f in "WH"}
    return registry, parts, parts_t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_is_registry_gradient(loss, dtype, seed):
    V, W, H = _positive(seed, dtype)
    registry, parts, parts_t = _parts_and_registry(V, W, H, loss)
    for factor in "WH":
        neg, pos = parts[factor]
        assert jnp.all(neg >= 0) and jnp.all(pos >= 0)
        _close(pos - neg, registry[factor], dtype)
        _close(parts_t[factor][0], neg, dtype)
        _close(parts_t[factor][1], pos, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_registry_gradient_is_autodiff(loss, dtype):
    V, W, H = _positive(7, dtype)
    dW, dH = tg.nmf.registry_gradient(loss, V, W, H)
    gW, gH = jax.grad(lambda W, H: tg.nmf.LOSSES[loss].divergence(V, W, H), argnums=(0, 1))(W, H)
    _close(dW, gW, dtype)
    _close(dH, gH, dtype)


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_masked_split_is_autodiff_of_masked_loss(loss):
    """The weighted-NMF parts (derived in ``_gradients``) against ``jax.grad``."""
    V, W, H = _positive(3, jnp.float64)
    mask = (jax.random.uniform(jax.random.key(9), (M, N)) < 0.6).astype(jnp.float64)
    Vm = V * mask
    gW, gH = jax.grad(lambda W, H: tg.nmf.LOSSES[loss].divergence(Vm, W, H, mask), argnums=(0, 1))(
        W, H
    )
    for factor, ref in (("W", gW), ("H", gH)):
        neg, pos = tg.nmf.gradient_parts(loss, factor, Vm, W, H, mask)
        _close(pos - neg, ref, jnp.float64)


def test_registry_identities_named_in_the_docs_exist():
    for name in ("traa.eq9", "traa.eq24_W", "traa.eq24_H", "traa.eq27"):
        assert tg.identity(name).gradient is not None


def test_split_catches_a_wrong_gradient():
    """The comparison above can fail: a 0.1% error in one part is far outside tolerance."""
    V, W, H = _positive(0, jnp.float64)
    neg, pos = tg.nmf.gradient_parts("kl", "W", V, W, H)
    dW, _ = tg.nmf.registry_gradient("kl", V, W, H)
    _close(pos - neg, dW, jnp.float64)
    with pytest.raises(AssertionError):
        _close(pos - 1.001 * neg, dW, jnp.float64)

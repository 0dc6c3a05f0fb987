"""A local Frobenius objective and its closed forms (trace notes eq. 24) for mechanics tests
of the bridge and the shadow mode, independent of the registry's own entries."""

import jax.numpy as jnp


def _frob(X, W, H):
    return jnp.sum((X - W @ H) ** 2)


def _frob_W(X, W, H):
    return 2.0 * (W @ (H @ H.T) - X @ H.T)


def _frob_H(X, W, H):
    return 2.0 * ((W.T @ W) @ H - W.T @ X)

"""Test-session configuration: x64 on for the whole session (float32 paths are tested explicitly).

The library itself never touches this flag; only the test session does, as users' suites may.
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def xwh():
    """A small rectangular ``(X, W, H)`` for the Frobenius objective of ``tests/_frobenius``."""
    kx, kw, kh = jax.random.split(jax.random.key(11), 3)
    return (
        jax.random.normal(kx, (6, 5)),
        jax.random.normal(kw, (6, 2)),
        jax.random.normal(kh, (2, 5)),
    )

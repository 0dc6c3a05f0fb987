"""Test-session configuration: x64 on for the whole session (float32 paths are tested explicitly).

The library itself never touches this flag; only the test session does, as users' suites may.
"""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)

# The CLI turns JAX's persistent compilation cache on by default, and the CLI tests call
# `main([...])` in this process: that would switch the cache on (a global JAX setting, with
# every later compile in the session written to disk) from whichever CLI test ran first, and
# fill the user's cache directory. The environment switch the CLI honours keeps it off for
# every in-process call and every `tracegrad` subprocess the tests start, present and future,
# without each test passing `--no-compile-cache`. tests/test_compilation_cache.py unsets it
# for the subprocesses that test the cache itself.
os.environ["TRACEGRAD_NO_COMPILE_CACHE"] = "1"


@pytest.fixture(scope="module")
def xwh():
    """A small rectangular ``(X, W, H)`` for the Frobenius objective of ``tests/_frobenius``."""
    kx, kw, kh = jax.random.split(jax.random.key(11), 3)
    return (
        jax.random.normal(kx, (6, 5)),
        jax.random.normal(kw, (6, 2)),
        jax.random.normal(kh, (2, 5)),
    )

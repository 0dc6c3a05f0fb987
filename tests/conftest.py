"""Test-session configuration: x64 on for the whole session (float32 paths are tested explicitly).

The library itself never touches this flag; only the test session does, as users' suites may.
"""

import gc
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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program at the end of each test module.

    Each XLA:CPU executable keeps ~150-200 memory maps of its code for as long as it is cached,
    and the suite compiles a few thousand distinct programs in one process: kept to the end
    they reach Linux's default ``vm.max_map_count`` (65530), after which LLVM cannot map the
    next program and the process aborts inside ``backend_compile`` (seen at 89% of the suite).
    Modules share few programs, so clearing JAX's caches between them costs little; programs a
    module shares across its own tests are kept (module-scoped fixtures stay alive).
    """
    yield
    jax.clear_caches()
    gc.collect()

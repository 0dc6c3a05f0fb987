"""Timing primitives: compiled-once, argument-fed, ``block_until_ready``, medians."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Timing:
    """Median, minimum and count of wall-clock runs, in seconds."""

    median: float
    min: float
    runs: int


def compile_jitted(fn: Callable, *args):
    """Ahead-of-time compile ``jax.jit(fn)`` for ``args``; every operand stays an argument.

    Passing operands as arguments (not closed-over constants) stops XLA from folding them into
    the program at compile time, which would time a different computation.
    """
    return jax.jit(fn).lower(*args).compile()


def time_compiled(compiled: Callable, *args, n_runs: int = 10, warmup: int = 2) -> Timing:
    """Median wall time of ``compiled(*args)``, synchronised with ``block_until_ready``."""
    if n_runs < 1:
        raise ValueError(f"n_runs must be at least 1, got {n_runs}")
    for _ in range(warmup):
        jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(n_runs):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), n_runs)


def time_jitted(fn: Callable, *args, n_runs: int = 10, warmup: int = 2) -> Timing:
    """Compile ``fn`` for ``args`` (excluded from the timing), then time it."""
    return time_compiled(compile_jitted(fn, *args), *args, n_runs=n_runs, warmup=warmup)


def time_python(fn: Callable, *args, n_runs: int = 10, warmup: int = 1) -> Timing:
    """Median wall time of a host (NumPy / scikit-learn) call."""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(n_runs):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), n_runs)


def matmul_peak(n: int = 2048, dtype=jnp.float32, n_runs: int = 10) -> float:
    """Achieved FLOP/s of a jitted square ``n x n`` matmul on the default device, this run."""
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), dtype)
    b = jax.random.normal(kb, (n, n), dtype)
    timing = time_jitted(jnp.matmul, a, b, n_runs=n_runs)
    return 2.0 * n**3 / timing.median


def environment() -> dict:
    """What the numbers were measured on: machine, device, versions, date, BLAS variables."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }
    try:
        import sklearn

        info["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    return info


def time_interleaved(
    fns: dict[str, Callable[[], object]], n_runs: int = 5, warmup: int = 1
) -> dict[str, Timing]:
    """Time several blocking zero-argument callables in alternation, round by round.

    On a shared machine the load changes over seconds; timing A's runs and then B's would
    give their ratio the load difference of two moments.  Alternating A, B, A, B ... exposes
    every case to the same conditions, so ratios of the medians are comparable.  Each callable
    must block until its work is done (wrap jitted calls in ``jax.block_until_ready``).
    """
    if n_runs < 1:
        raise ValueError(f"n_runs must be at least 1, got {n_runs}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n_runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(ts), min(ts), len(ts)) for name, ts in times.items()}


def blas_info() -> list[dict]:
    """The BLAS libraries NumPy/SciPy loaded, with kernel architecture and threads.

    Uses threadpoolctl (a scikit-learn dependency); empty when it is not installed.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [
        {k: info.get(k) for k in keep}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]

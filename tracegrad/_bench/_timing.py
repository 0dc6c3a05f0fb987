"""Timing primitives: compiled-once, argument-fed, ``block_until_ready``, medians."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import jax
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


def time_calls(
    fns: dict[str, Callable[[], object]],
    n_runs: int = 10,
    warmup: int = 1,
    min_time: float = 0.0,
    max_runs: int = 5000,
) -> dict[str, Timing]:
    """Median wall times of several blocking zero-argument callables, run in alternation.

    On a shared machine the load changes over seconds; timing A's runs and then B's would
    give their ratio the load difference of two moments.  Each round times every callable
    once, the order reversed on alternate rounds, so a change in load lands on all of them
    alike and a ratio of the medians is a side-by-side comparison.  At least ``n_runs``
    rounds; more, up to ``max_runs``, until every callable has run for ``min_time`` seconds
    in total, so the medians of microsecond-scale calls are as stable as those of long ones.
    Each callable must block until its work is done (wrap jitted calls in
    ``jax.block_until_ready``).
    """
    if n_runs < 1:
        raise ValueError(f"n_runs must be at least 1, got {n_runs}")
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    run = 0
    while run < n_runs or (run < max_runs and min(sum(t) for t in times.values()) < min_time):
        for name in names if run % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
        run += 1
    return {name: Timing(statistics.median(t), min(t), run) for name, t in times.items()}


def time_interleaved(
    compiled: Sequence[Callable],
    *args,
    n_runs: int = 10,
    warmup: int = 2,
    min_time: float = 0.0,
    max_runs: int = 5000,
) -> list[Timing]:
    """``time_calls`` for several compiled functions of the same ``args``, in that order."""

    def blocking(fn):
        return lambda: jax.block_until_ready(fn(*args))

    timings = time_calls(
        {str(i): blocking(fn) for i, fn in enumerate(compiled)},
        n_runs=n_runs,
        warmup=warmup,
        min_time=min_time,
        max_runs=max_runs,
    )
    return list(timings.values())


def time_jitted(fn: Callable, *args, n_runs: int = 10, warmup: int = 2) -> Timing:
    """Compile ``fn`` for ``args`` (excluded from the timing), then time it."""
    return time_compiled(compile_jitted(fn, *args), *args, n_runs=n_runs, warmup=warmup)


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

"""Independent problems on a multi-core CPU: one compiled loop per core, run concurrently.

XLA's CPU runtime parallelises *inside* an operation; the small batched matmuls of many
small NMF problems (e.g. 64 problems of 257 x 200, rank 16) leave most of that parallelism
unused.  Problems are independent, so ``fit`` splits such a batch into ``workers`` contiguous
groups and runs the same compiled ``_loop`` on each group from its own host thread (JAX
releases the GIL while a program runs, and the CPU client runs programs called from different
threads at the same time).  Each problem's updates are the same operations, but XLA may
block a matmul or order a reduction differently for another group size, so results agree
with one loop over the whole batch to rounding (tested to 1e-13 in float64).  In float32 that
rounding can tip a convergence test whose ``tol`` is near float32 resolution, so a problem may
stop a few checks earlier or later (seen: 8 KL replicates at ``tol=1e-6`` stopping at 190-340
iterations either way, factors different by ~1e-3 relative).  The grouping depends only on
the batch size and the core count, so the same key gives bit-identical results on the same
machine.  When to split: ``_layout.workers``, with the measurements.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable

import jax


def cpu_workers() -> int:
    """Cores this process may run on (the CPU affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def groups(n_problems: int, workers: int) -> list[slice]:
    """``workers`` contiguous slices of ``range(n_problems)``, sizes differing by at most 1."""
    workers = max(1, min(workers, n_problems))
    size, extra = divmod(n_problems, workers)
    out, start = [], 0
    for i in range(workers):
        stop = start + size + (i < extra)
        out.append(slice(start, stop))
        start = stop
    return out


def run_groups(program: Callable, parts: list[tuple], kwargs: dict, workers: int) -> list:
    """``program(*part, **kwargs)`` for every part, at most ``workers`` at a time (host
    threads); the outputs in order."""
    if len(parts) == 1 or workers == 1:
        return [program(*part, **kwargs) for part in parts]

    def one(part):
        return jax.block_until_ready(program(*part, **kwargs))

    with concurrent.futures.ThreadPoolExecutor(min(workers, len(parts))) as pool:
        return list(pool.map(one, parts))


class GroupProgress:
    """One progress stream from concurrent groups: at each group's report, ``report`` gets
    the iterations every group has done (the slowest group's count) and the mean loss over
    all problems (each group's latest mean, weighted by its size)."""

    def __init__(self, sizes: list[int], report: Callable[[int, float], None]):
        self._sizes = sizes
        self._report = report
        self._done = [0] * len(sizes)
        self._loss: list[float | None] = [None] * len(sizes)
        self._lock = threading.Lock()

    def reporter(self, i: int) -> Callable[[int, float], None]:
        """The progress function of group ``i``."""

        def update(done: int, loss: float) -> None:
            with self._lock:
                self._done[i] = max(self._done[i], done)
                self._loss[i] = loss
                pairs = zip(self._sizes, self._loss, strict=True)
                known = [(s, v) for s, v in pairs if v is not None]
                mean = sum(s * v for s, v in known) / sum(s for s, _ in known)
                self._report(min(self._done), mean)

        return update

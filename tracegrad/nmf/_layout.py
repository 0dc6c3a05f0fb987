"""How the compiled loop lays out a batch on the device: chosen from measurements.

Two choices, both invisible in the results (same values, different speed):

``transposed``: keep ``V^T`` beside ``V`` so the products over ``M`` (``W^T V``, KL's
``W^T (V / WH)``) run as tall ``N x K`` matmuls (``_contract``).  XLA's CPU matmul runs the
short, wide ``K x N`` orientation slowly.  For one 1024 x 1024 problem of rank 32 on the 2-core
CPU of ``benchmarks/RESULTS.md`` it measured 1.89 vs 2.26 ms per Frobenius iteration and 3.30
vs 3.77 ms per KL iteration; for the batch of 64 problems of 257 x 200 it measured slower (8.95
vs 4.24 ms Frobenius, 15.2 vs 10.0 ms KL), and replicates contract one ``V`` with all their
factors at once (already a tall matmul).  So: single problems only, CPU only (GPU matmuls take
transposed operands directly).

``chunk``: fit a batch of independent problems ``chunk`` at a time, each chunk running its own
loop to the end, so that a chunk's per-iteration ``M x N`` working set stays in the CPU caches
across iterations instead of streaming the whole batch through memory twice per iteration.
For the 64 x 257 x 200, rank-16 batch: chunks of 4 ran Frobenius at 3.06-3.10 ms per batch
iteration against 3.98-4.24 ms for the whole batch at once (a plain ``vmap`` of the single
loop: 12.4 ms); KL, whose working set is three ``M x N`` arrays (``V``, ``WH``, ``V / WH``),
gained nothing (7.9 whole vs 8.7 in chunks of 4).  The rule below reproduces both: the largest
power-of-two chunk whose working set fits ``CHUNK_BYTES``, and no chunking when that is 1.
Replicates (one shared ``V``) and other backends are never chunked.
"""

from __future__ import annotations

import dataclasses

CHUNK_BYTES = 1 << 20
"""Per-chunk budget for the ``M x N`` arrays live in one iteration (half a core's L2 here)."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """``transposed``: keep ``V^T``; ``chunk``: problems per loop (``n_problems`` = all)."""

    transposed: bool
    chunk: int


def live_arrays(loss: str, masked: bool) -> int:
    """How many ``M x N`` arrays one MU iteration streams: V; KL adds WH and V / WH; a mask
    adds itself and, for Frobenius, the masked WH."""
    if loss == "frobenius":
        return 3 if masked else 1
    return 4 if masked else 3


def plan(
    v_batched: bool,
    n_problems: int,
    m: int,
    n: int,
    itemsize: int,
    loss: str,
    masked: bool,
    backend: str,
) -> Layout:
    """The layout for ``n_problems`` problems of ``m x n`` (``v_batched``: one V each)."""
    if backend != "cpu":
        return Layout(transposed=False, chunk=n_problems)
    if not v_batched:
        return Layout(transposed=n_problems == 1, chunk=n_problems)
    fit = CHUNK_BYTES // (live_arrays(loss, masked) * m * n * itemsize)
    if fit < 2:
        return Layout(transposed=False, chunk=n_problems)
    chunk = 1 << (int(fit).bit_length() - 1)  # largest power of two <= fit
    return Layout(transposed=False, chunk=min(chunk, n_problems))

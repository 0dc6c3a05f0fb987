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


def live_arrays(loss, masked: bool) -> int:
    """How many ``M x N`` arrays one MU iteration streams (the loss object says: Frobenius V,
    or V, the masked WH and the mask; KL and the other betas V, WH and V / WH, plus a mask)."""
    from ._losses import resolve_loss

    return resolve_loss(loss).live_arrays(masked)


def plan(
    v_batched: bool,
    n_problems: int,
    m: int,
    n: int,
    itemsize: int,
    loss,
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


MIN_WORKER_MNK = 1 << 14
"""Below this ``M N K`` per problem a fit takes a few milliseconds and a thread costs more than
it saves (16 problems of 8 x 8, rank 2: 3.2 ms in one loop, 5.4 ms in two threads)."""


def workers(
    n_problems: int,
    m: int,
    n: int,
    k: int,
    backend: str,
    cores: int,
) -> int:
    """Host threads that each run the compiled loop on a contiguous group of problems.

    One group per core on a CPU, for several problems of at least ``MIN_WORKER_MNK``.  Measured on 2
    cores, float32, 100 iterations, one loop vs two threads: 64 problems 257 x 200 rank 16,
    Frobenius 3.0 -> 1.6 ms and KL 7.9 -> 4.3 ms per batch iteration; 64 replicates of one
    257 x 200 V, 1.92x (Frobenius) and 1.90x (KL); 10 problems 64 x 180 rank 8 (the digits
    set's size), 1.31x and 1.94x; 4 problems 1024 x 1024 rank 32, 1.35x and 1.13x.
    """
    if backend != "cpu" or n_problems < 2 or cores < 2:
        return 1
    if m * n * k < MIN_WORKER_MNK:
        return 1
    return min(cores, n_problems)

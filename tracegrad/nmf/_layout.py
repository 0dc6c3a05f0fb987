"""How the compiled loop lays out a batch on the device: chosen from measurements.

Two choices, both invisible in the results (same values, different speed):

``transposed``: keep ``V^T`` beside ``V`` so the products over ``M`` (``W^T V``, KL's
``W^T (V / WH)``) run as tall ``N x K`` matmuls (``_contract``).  XLA's CPU matmul runs the
short, wide ``K x N`` orientation slowly.  Measured (``benchmarks/RESULTS.md``, "Measured design
choices"): faster for one large problem, slower for a batch of small ones; replicates contract
one ``V`` with all their factors at once (already a tall matmul).  So: single problems only, CPU
only (GPU matmuls take transposed operands directly).

``chunk``: fit a batch of independent problems ``chunk`` at a time, each chunk running its own
loop to the end, so that a chunk's per-iteration ``M x N`` working set stays in the CPU caches
across iterations instead of streaming the whole batch through memory twice per iteration.
Measured (same section of ``benchmarks/RESULTS.md``): chunks help the Frobenius spectrogram
batch and not KL, whose working set is three ``M x N`` arrays (``V``, ``WH``, ``V / WH``).  The
rule below reproduces both: the largest power-of-two chunk whose working set fits
``CHUNK_BYTES``, and no chunking when that is 1.
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


MIN_WORKER_MNK = 1 << 14
"""Below this ``M N K`` per problem a fit takes a few milliseconds and a thread costs more than
it saves (measured: ``benchmarks/RESULTS.md``, "Measured design choices")."""


def workers(
    n_problems: int,
    m: int,
    n: int,
    k: int,
    backend: str,
    cores: int,
) -> int:
    """Host threads that each run the compiled loop on a contiguous group of problems.

    One group per core on a CPU, for several problems of at least ``MIN_WORKER_MNK``: XLA
    leaves most cores idle on small matmuls, so independent groups in host threads use them
    (one loop vs two threads on 2 cores: ``benchmarks/RESULTS.md``, "Measured design choices").
    """
    if backend != "cpu" or n_problems < 2 or cores < 2:
        return 1
    if m * n * k < MIN_WORKER_MNK:
        return 1
    return min(cores, n_problems)

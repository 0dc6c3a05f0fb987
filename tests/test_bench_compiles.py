"""Every benchmark row counts its XLA compilations (``jax.monitoring``), shown beside its times."""

import jax
import jax.numpy as jnp
import pytest

from tracegrad._bench._compiles import count_compiles
from tracegrad._bench._format import COMPILE_HEADER, compile_cells
from tracegrad._bench.grads import format_grads, run_grads

# internals: the benchmark's compile counter and table cells, below `tracegrad bench`'s whole suite
pytestmark = pytest.mark.internals


def test_count_compiles_counts_each_new_program_once_and_nests():
    x, y = jnp.arange(5.0), jnp.arange(6.0)  # made outside the blocks: eager ops compile too
    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
    with count_compiles() as outer:
        with count_compiles() as inner:
            jax.block_until_ready(f(x))
        assert inner.count == 1 and inner.seconds > 0 and inner.cache_hits == 0
        with count_compiles() as again:
            jax.block_until_ready(f(x))  # same shapes: jit's cache, no compilation
        assert again.count == 0 and again.seconds == 0
        jax.block_until_ready(f(y))  # a new shape compiles a new program
    assert outer.count == 2 and outer.seconds >= inner.seconds
    with count_compiles() as after:
        pass
    assert after.count == 0  # nothing counted once the block is closed
    assert inner.fields() == {
        "compile_count": 1,
        "compile_s": inner.seconds,
        "cache_hits": 0,
        "trace_s": inner.trace_seconds,
    }


def test_a_bench_row_carries_compile_seconds_and_count():
    result = run_grads(sizes=(6,), n_runs=1, only=r"^traa\.eq31$", min_time=0.0)
    (row,) = result["rows"]
    assert row["compile_count"] == 2  # the closed form and jax.grad, one program each
    assert row["compile_s"] > 0
    table = format_grads(result).splitlines()
    header = next(line for line in table if line.startswith("identity"))
    assert header.rstrip().endswith("  ".join(COMPILE_HEADER))
    line = next(line for line in table if line.startswith("traa.eq31"))
    assert line.split()[-2:] == list(compile_cells(row)) == ["2", f"{row['compile_s']:.2f}"]


def test_compile_cells_shows_cache_hits_and_dashes_without_counts():
    assert compile_cells({"compile_count": 3, "compile_s": 0.5, "cache_hits": 2}) == (
        "3 (2 cached)",
        "0.50",
    )
    assert compile_cells({"closed_s": 1.0}) == ("-", "-")

"""The gradient benchmark's plumbing (never its timings): rows, ratios, geometric means, table."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import pytest

from tracegrad._bench._timing import time_interleaved
from tracegrad._bench.grads import format_grads, geometric_mean, run_grads
from tracegrad._utils import write_json

# internals: the gradient benchmark's rows, geometric mean and timer, below `tracegrad bench`
pytestmark = pytest.mark.internals


def test_run_grads_rows_and_table(tmp_path):
    seen = []
    result = run_grads(
        sizes=(8, 12),
        n_runs=2,
        only=r"^(traa\.eq31|kalman\.trace_AB)$",
        progress=seen.append,
        min_time=0.0,
    )
    rows = result["rows"]
    assert [(r["identity"], r["n"]) for r in rows] == [
        ("kalman.trace_AB", 8),
        ("kalman.trace_AB", 12),
        ("traa.eq31", 8),
        ("traa.eq31", 12),
    ]
    assert seen == rows
    for r in rows:
        assert r["closed_s"] > 0 and r["grad_s"] > 0 and r["runs"] == 2
        assert r["ratio"] == pytest.approx(r["grad_s"] / r["closed_s"])
        assert r["max_rel_diff"] <= 1e-5  # float32: the timed closed form agrees with jax.grad
    assert rows[0]["shapes"] == {"A": "8x9", "B": "9x8"}
    assert result["dtype"] == "float32" and result["n_runs"] == 2
    assert result["geomean"] == pytest.approx(geometric_mean([r["ratio"] for r in rows]))
    assert set(result["geomean_by_size"]) == {"8", "12"}
    assert "jax" in result["environment"]
    table = format_grads(result)
    assert "traa.eq31" in table and "geometric mean ratio at n=12" in table
    assert "overall" in table
    write_json(tmp_path / "g.json", result)  # JSON-serialisable as returned
    assert (
        json.loads((tmp_path / "g.json").read_text())["rows"][0]["identity"] == rows[0]["identity"]
    )


def test_run_grads_in_float64():
    result = run_grads(sizes=(6,), dtype="float64", n_runs=1, only=r"^hu\.inner$")
    assert result["dtype"] == "float64" and result["rows"][0]["max_rel_diff"] == 0.0


def test_geometric_mean_ignores_non_positive_and_non_finite():
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert geometric_mean([4.0, 0.0, math.inf, math.nan]) == pytest.approx(4.0)
    assert math.isnan(geometric_mean([]))


def test_time_interleaved_times_each_function():
    calls = []

    def f(x):
        calls.append("f")
        return x

    def g(x):
        calls.append("g")
        return x

    timings = time_interleaved([f, g], jnp.ones(3), n_runs=3, warmup=1)
    assert [t.runs for t in timings] == [3, 3]
    assert calls == ["f", "g", "f", "g", "g", "f", "f", "g"]  # warm-up, then alternating order
    calls.clear()
    longer = time_interleaved([f, g], jnp.ones(3), n_runs=2, warmup=0, min_time=1e-3)
    assert longer[0].runs == longer[1].runs == len(calls) // 2 > 2  # ran until 1 ms each
    with pytest.raises(ValueError, match="n_runs"):
        time_interleaved([f], jnp.ones(3), n_runs=0)

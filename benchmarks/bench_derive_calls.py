"""End-to-end ``tracegrad.derive`` calls: parse, derive, simplify, codegen and the self-check.

    python benchmarks/bench_derive_calls.py                      # every case, 3 runs each
    python benchmarks/bench_derive_calls.py --runs 5 --only long --out out/derive_calls.json

Each run is a fresh ``derive`` (new jitted functions, so compilation is included: this is the
latency a user sees).  Cases: the registry's typical expressions (symbolic shapes, checked at
small sizes), long products ``tr(A A ... A X)`` with 80, 150 and 300 factors, a 150-factor
chain of matrix-vector products, the log barrier, and nesting at the parser's limit.  Prints
a table of medians and writes the JSON; never asserts timings.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

from tracegrad._bench._format import aligned_table
from tracegrad._bench._timing import environment
from tracegrad._derive import derive
from tracegrad._derive._parser import MAX_NESTING
from tracegrad._registry.expressions import EXPRESSIONS
from tracegrad._registry.registry import registry
from tracegrad._utils import write_json


def cases() -> list[tuple[str, str, str]]:
    """``(name, expression, wrt)`` for every benchmarked call."""
    out = []
    reg = registry()
    for name, expr in EXPRESSIONS.items():
        out.append((f"typical {name}", expr, reg[name].wrt_name))
    for n in (80, 150, 300):
        out.append((f"long tr(A^{n} X)", "tr(" + "A " * n + "X)", "X"))
    out.append(("long x' A^150 y", "x' " + "A " * 150 + "y", "x"))
    out.append(("log barrier", "-sum(log(b - A x))", "x"))
    depth = MAX_NESTING - 1
    out.append((f"nesting {depth}", "tr(" * depth + "a' X b" + ")" * depth, "X"))
    return out


def run(runs: int, only: str | None) -> dict:
    rows = []
    for name, expr, wrt in cases():
        if only and not re.search(only, name):
            continue
        times = []
        d = None
        for _ in range(runs):
            start = time.perf_counter()
            d = derive(expr, wrt=wrt)
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "name": name,
                "wrt": wrt,
                "chars": len(expr),
                "median_s": statistics.median(times),
                "min_s": min(times),
                "runs": runs,
                "check_ok": d is not None and bool(d.report.ok),
            }
        )
        print(f"{name}: {statistics.median(times):.2f} s", flush=True)
    typical = [r["median_s"] for r in rows if r["name"].startswith("typical")]
    return {
        "environment": environment(),
        "rows": rows,
        "typical_median_of_medians_s": statistics.median(typical) if typical else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh derive calls per case")
    parser.add_argument("--only", help="regular expression selecting case names")
    parser.add_argument("--out", default="out/bench_derive_calls.json", help="JSON output path")
    args = parser.parse_args()
    result = run(args.runs, args.only)
    header = ("case", "wrt", "chars", "median s", "min s", "check")
    lines = [
        (
            r["name"],
            r["wrt"],
            str(r["chars"]),
            f"{r['median_s']:.2f}",
            f"{r['min_s']:.2f}",
            "PASS" if r["check_ok"] else "FAIL",
        )
        for r in result["rows"]
    ]
    print("\n".join(aligned_table(header, lines)))
    typical = result["typical_median_of_medians_s"]
    if typical is not None:
        print(f"typical expressions: median of medians {typical:.2f} s")
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

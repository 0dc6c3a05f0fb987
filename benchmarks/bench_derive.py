"""Derived gradients (tracegrad.derive) vs jax.grad on the registry's expressible identities.

    python benchmarks/bench_derive.py                      # n = 256 and 1024, float32
    python benchmarks/bench_derive.py --sizes 256 --only traa --runs 5 --out out/derive.json

Prints a table (ratio = jax.grad time / derived time) and writes the JSON result.
"""

from __future__ import annotations

import argparse

from tracegrad._bench.derive import format_derive, run_derive
from tracegrad._utils import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per median")
    parser.add_argument("--only", help="regular expression selecting identity names")
    parser.add_argument("--out", default="out/bench_derive.json", help="JSON output path")
    args = parser.parse_args()
    result = run_derive(tuple(args.sizes), args.dtype, args.runs, args.only)
    print(format_derive(result))
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Bridge overhead: plain jax.grad vs hand-written custom_vjp vs tracegrad.with_grad (shadow
checking off and on).  Prints a table and writes JSON; asserts nothing.

    PYTHONPATH=. python benchmarks/bench_bridge.py --n 256 --runs 20 --json out/bench_bridge.json
"""

from __future__ import annotations

import argparse
import sys

from tracegrad._bench.bridge import format_bridge, run_bridge
from tracegrad._utils import write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="characteristic size")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per variant")
    parser.add_argument("--every", type=int, default=100, help="N of the every:N variant")
    parser.add_argument("--json", default="out/bench_bridge.json", help="where to write JSON")
    args = parser.parse_args(argv)
    result = run_bridge(n=args.n, n_runs=args.runs, every=args.every)
    print(format_bridge(result))
    write_json(args.json, result)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

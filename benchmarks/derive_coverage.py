"""Coverage of the derive language on expressions users write (``_derive/_coverage.py``).

    python benchmarks/derive_coverage.py [--out out/derive_coverage.json]

Derives every case (with ``order=2`` where the case asks for the Hessian); each result is
checked against jax (``jax.grad``, ``jax.jacfwd``, ``jax.jvp(jax.grad)`` and ``jax.hessian``) in
float64 before it is returned, so a supported case is a right one.  Prints one line per case
and the count; writes the JSON.
"""

from __future__ import annotations

import argparse
import time

import jax

from tracegrad._derive import DeriveError, derive
from tracegrad._derive._coverage import CASES
from tracegrad._utils import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", default="out/derive_coverage.json")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    rows = []
    for expr, wrt, shapes, order, source in CASES:
        start = time.perf_counter()
        try:
            d = derive(expr, wrt, shapes=shapes, order=order)
            result = (
                getattr(d, "gradient", None)
                or getattr(d, "text", None)
                or getattr(d, "differential_text", None)
            )
            status = "ok"
        except DeriveError as err:
            status, result = "unsupported", str(err).splitlines()[0]
        except AssertionError as err:  # DeriveInternalError: a wrong result caught by the check
            status, result = "WRONG", str(err).splitlines()[0]
        seconds = time.perf_counter() - start
        rows.append(
            {"expression": expr, "wrt": wrt, "order": order, "source": source,
             "status": status, "result": result, "seconds": seconds}
        )  # fmt: skip
        print(f"{status:11s} {seconds:5.1f}s  order {order}  d/d{wrt} {expr}  [{source}]")
    supported = sum(r["status"] == "ok" for r in rows)
    wrong = sum(r["status"] == "WRONG" for r in rows)
    print(f"supported {supported}/{len(rows)}, wrong {wrong}")
    write_json(args.out, {"rows": rows, "supported": supported, "total": len(rows)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""``tracegrad derive "EXPR" --wrt X``: derive, check and print a closed-form gradient."""

from __future__ import annotations

import argparse
import sys

from ._errors import CLIError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "derive",
        help="derive the closed-form gradient of a trace expression (checked against jax.grad)",
        description="Differentiate EXPR with respect to one variable by the trace notes' rule "
        "(each appearance by eq. 9/12, terms summed: eq. 18-21), simplify, and check the "
        "result against jax.grad before printing it. Exit status 2 for a bad expression, 1 if "
        "the engine's own check fails (a bug: please report it).",
        epilog="example: tracegrad derive \"tr(A X X' B C X' X C)\" --wrt X",
    )
    p.add_argument("expr", metavar="EXPR", help='the scalar objective, e.g. "tr(A X B)"')
    p.add_argument("--wrt", required=True, metavar="NAME", help="the variable to differentiate")
    p.add_argument("--latex", action="store_true", help="print the formulas in LaTeX")
    p.add_argument(
        "--shapes",
        metavar="SPEC",
        help="sizes, e.g. A=3x4,X=4x5,x=5 (default: symbolic, checked at small distinct sizes)",
    )
    p.add_argument(
        "--order",
        type=int,
        choices=(1, 2),
        default=1,
        help="2 adds the Hessian-vector product H[dX] (and the dense Hessian of a vector "
        "variable where it has a closed form), checked against jax",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._derive import DeriveError, DeriveInternalError, cli_main

    try:
        print(cli_main(args.expr, args.wrt, args.latex, args.shapes, args.order))
    except DeriveError as err:
        raise CLIError(str(err)) from None
    except DeriveInternalError as err:
        print(f"tracegrad derive: internal error (the derived gradient failed its check): {err}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0

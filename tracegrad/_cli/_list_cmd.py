"""``tracegrad list``: every identity with its formula."""

from __future__ import annotations

import argparse

from ._output import print_table
from ._select import select_identities


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the registered identities and their formulas")
    p.add_argument("--latex", action="store_true", help="show formulas in LaTeX")
    p.add_argument("--only", metavar="REGEX", help="list identities whose name matches REGEX")
    p.add_argument(
        "--module", metavar="MODULE", help="import MODULE and list the identities it registers"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    identities = select_identities(args.only, args.module)
    print_table(
        ("identity", "wrt", "source", "formula"),
        [
            (i.name, i.wrt_name, i.source, (i.latex if args.latex else i.formula) or "-")
            for i in identities
        ],
    )
    return 0

"""The ``tracegrad`` command: ``demo``, ``check``, ``list``, ``nmf``, ``bench``, ``derive``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _bench_cmd, _check_cmd, _demo_cmd, _derive_cmd, _list_cmd, _nmf_cmd
from ._errors import CLIError

_COMMANDS = (_demo_cmd, _check_cmd, _list_cmd, _derive_cmd, _nmf_cmd, _bench_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracegrad",
        description="Prove hand-derived matrix gradients right; run batched NMF.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"tracegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a check failed, 2 a usage/input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except CLIError as err:
        print(f"tracegrad {args.command}: error: {err}", file=sys.stderr)
        return 2

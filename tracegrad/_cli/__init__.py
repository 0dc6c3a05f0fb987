"""The ``tracegrad`` command: ``demo``, ``check``, ``list``, ``nmf``, ``bench``, ``derive``.

Exit status: 0 success, 1 a check failed, 2 the run could not be done: bad input (one line on
stderr naming the file, flag or config key) or an unexpected error (one line; ``--debug``
shows the traceback). Inputs and output destinations are checked before any work starts.

Compiled programs are kept on disk for the next run (JAX's persistent compilation cache, in
``$TRACEGRAD_CACHE_DIR`` or the user cache directory; ``--debug`` prints where) unless
``--no-compile-cache`` or ``TRACEGRAD_NO_COMPILE_CACHE=1`` says not to.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import NoReturn

from .._cache import CompilationCacheWarning, _enable
from . import _bench_cmd, _check_cmd, _demo_cmd, _derive_cmd, _list_cmd, _nmf_cmd
from ._errors import CLIError

_COMMANDS = (_demo_cmd, _check_cmd, _list_cmd, _derive_cmd, _nmf_cmd, _bench_cmd)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tracegrad",
        description="Prove hand-derived matrix gradients right; run batched NMF.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"tracegrad {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep compiled programs on disk for the next run "
        "(default: keep them in $TRACEGRAD_CACHE_DIR or the user cache directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in _COMMANDS:
        command.add_parser(sub)
    for subparser in sub.choices.values():  # `tracegrad nmf --debug ...` works as well
        for flag in ("--debug", "--no-compile-cache"):
            subparser.add_argument(
                flag, action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )
    return parser


def _compile_cache(args: argparse.Namespace) -> None:
    """Turn on the persistent compilation cache unless told not to; a failure is one line."""
    if args.no_compile_cache or os.environ.get("TRACEGRAD_NO_COMPILE_CACHE", "") not in ("", "0"):
        if args.debug:
            print("tracegrad: compilation cache: off", file=sys.stderr)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompilationCacheWarning)
        path, enabled = _enable(None)
    for warning in caught:
        print(f"tracegrad: warning: {warning.message}", file=sys.stderr)
    if enabled and args.debug:
        print(f"tracegrad: compilation cache: {path}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a check failed, 2 a usage/input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        _compile_cache(args)
        return int(args.run(args))
    except CLIError as err:
        if args.debug:
            traceback.print_exc()
        print(f"tracegrad {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tracegrad {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line instead of a traceback; --debug shows it
        if args.debug:
            traceback.print_exc()
        detail = str(err).strip().splitlines()
        print(
            f"tracegrad {args.command}: error: {type(err).__name__}: "
            f"{detail[0] if detail else 'no message'}"
            + ("" if args.debug else " (rerun with --debug for the traceback)"),
            file=sys.stderr,
        )
        return 2

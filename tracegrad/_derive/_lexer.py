"""Tokens of the expression language: ASCII and Unicode spellings mapped to one kind each.

Spellings (see the grammar in ``tracegrad._derive``):

* names ``A``, ``X1``, ``Sigma``, ``mu``, ``W_2`` (letters incl. Greek, digits, ``_``);
  ``I`` (identity), ``J`` (all-ones), ``pi``/``π`` are reserved constants and ``tr``/``Tr``/
  ``trace``, ``inv``, ``det``, ``logdet``, ``diag``, ``log``, ``exp``, ``sum``, ``norm`` are
  function names;
* numbers ``2``, ``0.5``, ``.5``, ``1e-3``;
* transpose ``'``, ``^T``, ``ᵀ``; power ``^`` (then a number, or ``-T`` for the inverse
  transpose), elementwise power ``.^``;
* products ``*`` (or juxtaposition), scalar division ``/``, Hadamard ``⊙``/``∘``/``.*``,
  elementwise division ``⊘``/``./``, ``+``, ``-``/``−``;
* norm bars ``||``/``‖`` with the optional suffix ``_F``; brackets ``( )`` and ``[ ]``.
"""

from __future__ import annotations

import dataclasses
import re

from ._ast import functions
from ._errors import DeriveSyntaxError

FUNCTIONS = {
    "diag": "diag",
    "max": "max",
    "kron": "kron",
    # the named functions of one argument, one class each in ``_ast`` (``Function.spellings``:
    # tr, inv, det, logdet, log, exp, sum, norm and the elementwise functions)
    **{name: cls.spellings[0] for name, cls in functions().items()},
}
"""Function spellings and the canonical name each maps to."""

BINARY_FUNCTIONS = {"max", "kron"}
"""Functions of two comma-separated arguments."""

CONSTANTS = {"I": "I", "J": "J", "pi": "pi", "π": "pi"}
"""Reserved names: identity, all-ones (shapes inferred from context) and pi."""

_NAME = re.compile(r"[A-Za-z\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_\u0370-\u03ff]")

_SINGLE = {
    "(": "LPAREN",
    "[": "LPAREN",
    ")": "RPAREN",
    "]": "RPAREN",
    "+": "PLUS",
    "-": "MINUS",
    "\u2212": "MINUS",  # minus sign
    "*": "STAR",
    "/": "SLASH",
    "\u2299": "HADAMARD",  # ⊙
    "\u2218": "HADAMARD",  # ∘
    "\u2298": "EDIV",  # ⊘
    "'": "TRANSPOSE",
    "\u1d40": "TRANSPOSE",  # ᵀ
    "\u2016": "NORM",  # ‖
    ",": "COMMA",
}


@dataclasses.dataclass(frozen=True)
class Token:
    """One token: ``kind``, the source ``text``, its ``[start, end)`` columns, and whether
    whitespace precedes it (a name glued to ``(`` is a function call)."""

    kind: str
    text: str
    start: int
    end: int
    space_before: bool = False


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens, ending with an ``EOF`` token at ``len(source)``.

    Raises:
        DeriveSyntaxError: an unknown character, with a caret under it.
    """
    tokens: list[Token] = []
    i, n = 0, len(source)
    space = False
    while i < n:
        ch = source[i]
        if ch.isspace():
            space = True
            i += 1
            continue
        start = i
        kind = None
        if ch == "^":
            rest = source[i + 1 :]
            if rest.startswith("T") and not _NAME_CHAR.match(rest[1:2] or " "):
                kind, i = "TRANSPOSE", i + 2
            elif rest.startswith("-T") and not _NAME_CHAR.match(rest[2:3] or " "):
                kind, i = "INVT", i + 3
            else:
                kind, i = "CARET", i + 1
        elif ch == "." and i + 1 < n and source[i + 1] in "*/^":
            kind = {"*": "HADAMARD", "/": "EDIV", "^": "EPOW"}[source[i + 1]]
            i += 2
        elif ch == "|":
            if source.startswith("||", i):
                kind, i = "NORM", i + 2
            else:
                raise DeriveSyntaxError(
                    "a single '|' is not an operator: write ||E||_F (or norm(E)) for the "
                    "Frobenius norm and det(E) for the determinant",
                    source,
                    i,
                )
        elif (
            ch == "_"
            and source.startswith("_F", i)
            and not _NAME_CHAR.match(source[i + 2 : i + 3] or " ")
        ):
            kind, i = "NORM_F", i + 2
        elif ch in _SINGLE:
            kind, i = _SINGLE[ch], i + 1
        elif m := _NUMBER.match(source, i):
            kind, i = "NUMBER", m.end()
        elif m := _NAME.match(source, i):
            kind, i = "NAME", m.end()
        if kind is None:
            raise DeriveSyntaxError(f"unexpected character {ch!r}", source, i)
        tokens.append(Token(kind, source[start:i], start, i, space))
        space = False
    tokens.append(Token("EOF", "", n, n, space))
    return tokens

"""Recursive-descent parser: source text to the parse tree of ``_syntax``.

Precedence, loosest first (all binary operators left-associative)::

    +  -                      sums
    ⊙  ⊘   (.*  ./)           elementwise product and division
    *  /   juxtaposition      matrix products, scalar multiples, division by a scalar
    -E                        unary minus
    E'  E^T  E^p  E^-T  E.^p  postfix: transpose, power, inverse transpose, elementwise power

so ``A^T 1 ⊙ B 1`` reads ``(A^T 1) ⊙ (B 1)`` and ``V ⊘ A X B`` reads ``V ⊘ (A X B)``, as in
the trace notes (eq. 34, 27).  Errors are ``DeriveSyntaxError``\\ s with a caret under the
offending token.
"""

from __future__ import annotations

import dataclasses

from . import _syntax as S
from ._errors import DeriveSyntaxError
from ._lexer import BINARY_FUNCTIONS, CONSTANTS, FUNCTIONS, Token, tokenize

_STARTS_OPERAND = {"NUMBER", "NAME", "LPAREN", "NORM"}
_CLOSING = {"(": ")", "[": "]"}


def _describe(tok: Token) -> str:
    return "the end of the expression" if tok.kind == "EOF" else repr(tok.text)


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.norm_depth = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, reason: str, tok: Token | None = None):
        tok = self.tok if tok is None else tok
        raise DeriveSyntaxError(reason, self.source, tok.start)

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> S.Node:
        if self.tok.kind == "EOF":
            self.error("empty expression")
        node = self.additive()
        if self.tok.kind != "EOF":
            tok = self.tok
            if tok.kind == "RPAREN":
                self.error(f"unmatched {tok.text!r}")
            if tok.kind == "NORM":
                self.error("unmatched '||'")
            self.error(f"unexpected {_describe(tok)}")
        return node

    def additive(self) -> S.Node:
        node = self.elementwise()
        while self.tok.kind in ("PLUS", "MINUS"):
            op = "+" if self.advance().kind == "PLUS" else "-"
            right = self.elementwise()
            node = S.Binary((node.span[0], right.span[1]), op, node, right)
        return node

    def elementwise(self) -> S.Node:
        node = self.product()
        while self.tok.kind in ("HADAMARD", "EDIV"):
            op = "⊙" if self.advance().kind == "HADAMARD" else "⊘"
            right = self.product()
            node = S.Binary((node.span[0], right.span[1]), op, node, right)
        return node

    def _juxtaposed(self) -> bool:
        tok = self.tok
        if tok.kind not in _STARTS_OPERAND:
            return False
        return not (tok.kind == "NORM" and self.norm_depth > 0)  # a closing bar

    def product(self) -> S.Node:
        node = self.unary()
        while True:
            if self.tok.kind in ("STAR", "SLASH"):
                op = "*" if self.advance().kind == "STAR" else "/"
            elif self._juxtaposed():
                op = "*"
            else:
                return node
            right = self.unary()
            node = S.Binary((node.span[0], right.span[1]), op, node, right)

    def unary(self) -> S.Node:
        if self.tok.kind == "MINUS":
            start = self.advance().start
            arg = self.unary()
            return S.Neg((start, arg.span[1]), arg)
        return self.postfix()

    def postfix(self) -> S.Node:
        node = self.primary()
        while True:
            kind = self.tok.kind
            if kind == "TRANSPOSE":
                end = self.advance().end
                node = S.Transpose((node.span[0], end), node)
            elif kind == "INVT":
                end = self.advance().end
                node = S.Power((node.span[0], end), node, None, False)
            elif kind in ("CARET", "EPOW"):
                op = self.advance()
                value, end = self.exponent(op)
                node = S.Power((node.span[0], end), node, value, kind == "EPOW")
            else:
                return node

    def exponent(self, op: Token) -> tuple[float, int]:
        sign = 1.0
        if self.tok.kind == "MINUS":
            self.advance()
            sign = -1.0
        if self.tok.kind != "NUMBER":
            hint = " (use ^T or ' for the transpose)" if op.kind == "CARET" else ""
            self.error(f"expected a number after {op.text!r}{hint}")
        tok = self.advance()
        return sign * float(tok.text), tok.end

    def primary(self) -> S.Node:
        tok = self.tok
        if tok.kind == "NUMBER":
            self.advance()
            return S.Number((tok.start, tok.end), float(tok.text))
        if tok.kind == "NAME":
            return self.name()
        if tok.kind == "LPAREN":
            return self.group()
        if tok.kind == "NORM":
            return self.norm()
        if tok.kind == "EOF":
            self.error("expected an expression, found the end of the expression")
        self.error(f"expected an expression, found {_describe(tok)}")
        raise AssertionError  # unreachable

    def name(self) -> S.Node:
        tok = self.advance()
        text = tok.text
        nxt = self.tok
        glued_paren = nxt.kind == "LPAREN" and not nxt.space_before
        if text in FUNCTIONS:
            if nxt.kind != "LPAREN":
                self.error(f"expected '(' after the function {text!r}")
            if FUNCTIONS[text] in BINARY_FUNCTIONS:
                return self.binary_call(tok, FUNCTIONS[text])
            arg = self.group()
            return S.Call((tok.start, arg.span[1]), FUNCTIONS[text], _strip(arg))
        if text in CONSTANTS:
            return S.Constant((tok.start, tok.end), CONSTANTS[text])
        if glued_paren and text[0].islower() and len(text) > 1:
            known = ", ".join(sorted(set(FUNCTIONS.values())))
            self.error(
                f"unknown function {text!r} (known: {known}); to multiply the vector "
                f"{text} by a bracket, put a space or '*' between them",
                tok,
            )
        return S.Name((tok.start, tok.end), text)

    def binary_call(self, tok: Token, func: str) -> S.Node:
        """``func(A, B)``: two comma-separated arguments."""
        open_tok = self.advance()
        saved, self.norm_depth = self.norm_depth, 0
        first = self.additive()
        if self.tok.kind != "COMMA":
            self.error(f"{func} takes two arguments: expected ',' after the first, {func}(A, B)")
        self.advance()
        second = self.additive()
        self.norm_depth = saved
        if self.tok.kind != "RPAREN" or self.tok.text != _CLOSING[open_tok.text]:
            self.error(
                f"expected {_CLOSING[open_tok.text]!r} to close the {open_tok.text!r} at column "
                f"{open_tok.start}"
            )
        end = self.advance().end
        return S.Call((tok.start, end), func, first, second)

    def group(self) -> S.Node:
        open_tok = self.advance()
        if self.tok.kind == "RPAREN":
            self.error(f"expected an expression inside {open_tok.text}{_CLOSING[open_tok.text]}")
        saved, self.norm_depth = self.norm_depth, 0
        inner = self.additive()
        self.norm_depth = saved
        close = self.tok
        want = _CLOSING[open_tok.text]
        if close.kind != "RPAREN":
            self.error(
                f"expected {want!r} to close the {open_tok.text!r} at column {open_tok.start}"
            )
        if close.text != want:
            self.error(
                f"{close.text!r} does not match the {open_tok.text!r} at column {open_tok.start}"
            )
        self.advance()
        return _widen(inner, (open_tok.start, close.end), paren=True)

    def norm(self) -> S.Node:
        open_tok = self.advance()
        self.norm_depth += 1
        inner = self.additive()
        self.norm_depth -= 1
        if self.tok.kind != "NORM":
            self.error(f"expected '||' to close the norm opened at column {open_tok.start}")
        end = self.advance().end
        if self.tok.kind == "NORM_F":
            end = self.advance().end
        return S.Call((open_tok.start, end), "norm", inner)


@dataclasses.dataclass(frozen=True, eq=False)
class _Paren(S.Node):
    """A parenthesised expression (kept only while parsing, to widen spans)."""

    arg: S.Node


def _widen(node: S.Node, span, paren: bool) -> S.Node:
    return _Paren(span, node) if paren else node


def _strip(node: S.Node) -> S.Node:
    """The function argument without its brackets (the call's span covers them)."""
    return node.arg if isinstance(node, _Paren) else node


def _unparen(node: S.Node) -> S.Node:
    """Replace the parsing-only ``_Paren`` wrappers by their contents with widened spans."""
    if isinstance(node, _Paren):
        inner = _unparen(node.arg)
        return dataclasses.replace(inner, span=node.span)
    changes = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, S.Node):
            changes[field.name] = _unparen(value)
    return dataclasses.replace(node, **changes) if changes else node


def parse(source: str) -> S.Node:
    """Parse ``source`` into a parse tree.

    Raises:
        DeriveSyntaxError: with a caret under the first offending token.
    """
    if not isinstance(source, str):
        raise TypeError(f"the expression must be a string, got {type(source).__name__}")
    return _unparen(_Parser(source).parse())

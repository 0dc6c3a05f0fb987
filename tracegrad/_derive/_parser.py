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

Depth is limited, so that no pass exhausts Python's stack (a ``RecursionError``): nesting
of brackets, function calls, norms and unary minus to ``MAX_NESTING`` levels, checked as the
parser descends; the depth of the tree to ``MAX_DEPTH`` (``check_depth``: every operator
node counts, except that a chain of products, sums or ``⊙`` is one level however long, since
those are read by loops and elaborated to one n-ary node).
"""

from __future__ import annotations

import dataclasses
import math

from . import _syntax as S
from ._errors import DeriveSyntaxError
from ._lexer import BINARY_FUNCTIONS, CONSTANTS, FUNCTIONS, Token, tokenize

MAX_NESTING = 64
"""The deepest nesting of brackets, function calls, norms and unary minus the parser reads."""

MAX_DEPTH = 128
"""The deepest parse tree accepted (``check_depth``); later passes recurse over the tree."""

_FLAT_OPS = {"*": "product", "+": "sum", "-": "sum", "⊙": "Hadamard"}
"""Binary operators whose left-nested chains elaborate to one n-ary node (no extra depth)."""

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
        self.depth = 0  # current nesting, against MAX_NESTING

    def enter(self, tok: Token | None = None) -> None:
        """One more level of nesting at ``tok``; raises past the limit (before the parser's
        own recursion could exhaust the stack)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.error(
                f"the expression is nested deeper than {MAX_NESTING} levels (brackets, function "
                f"calls, norms and unary minus count)",
                tok,
            )

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
            self.enter()
            start = self.advance().start
            arg = self.unary()
            self.depth -= 1
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
        return sign * self.number(tok), tok.end

    def primary(self) -> S.Node:
        tok = self.tok
        if tok.kind == "NUMBER":
            self.advance()
            return S.Number((tok.start, tok.end), self.number(tok))
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

    def number(self, tok: Token) -> float:
        value = float(tok.text)
        if not math.isfinite(value):
            raise DeriveSyntaxError(
                f"the number {tok.text} is beyond float64", self.source, tok.start, tok.end
            )
        return value

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
            arg = self.group(widen=False, at=tok)  # one level of nesting, counted by group
            return S.Call((tok.start, self.tokens[self.pos - 1].end), FUNCTIONS[text], arg)
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
        self.enter(tok)
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
        self.depth -= 1
        return S.Call((tok.start, end), func, first, second)

    def group(self, widen: bool = True, at: Token | None = None) -> S.Node:
        """A bracketed expression; ``widen``: its span covers the brackets (a function's
        argument keeps its own span, the call's covers them); ``at``: the function name, where
        a nesting error points."""
        self.enter(at)
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
        self.depth -= 1
        return dataclasses.replace(inner, span=(open_tok.start, close.end)) if widen else inner

    def norm(self) -> S.Node:
        self.enter()
        open_tok = self.advance()
        self.norm_depth += 1
        inner = self.additive()
        self.norm_depth -= 1
        self.depth -= 1
        if self.tok.kind != "NORM":
            self.error(f"expected '||' to close the norm opened at column {open_tok.start}")
        end = self.advance().end
        if self.tok.kind == "NORM_F":
            end = self.advance().end
        return S.Call((open_tok.start, end), "norm", inner)


def _children(node: S.Node) -> list[S.Node]:
    return [v for v in vars(node).values() if isinstance(v, S.Node)]


def check_depth(tree: S.Node, source: str, limit: int = MAX_DEPTH) -> None:
    """Raise ``DeriveSyntaxError`` under the smallest sub-expression deeper than ``limit``.

    Depth counts operator nodes; a left operand of ``*``, ``+``/``-`` or ``⊙`` that is the
    same kind of binary node adds no level (such a chain is one n-ary node once elaborated).
    Computed without recursion, so any tree the parser built can be measured.
    """
    depth: dict[int, int] = {}
    stack: list[tuple[S.Node, bool]] = [(tree, False)]
    while stack:
        node, done = stack.pop()
        kids = _children(node)
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
            continue
        d = 0
        for k in kids:
            chained = (
                isinstance(node, S.Binary)
                and k is node.left
                and isinstance(k, S.Binary)
                and _FLAT_OPS.get(k.op, k.op) == _FLAT_OPS.get(node.op, node.op)
            )
            d = max(d, depth[id(k)] + (0 if chained else 1))
        depth[id(node)] = d
    if depth[id(tree)] <= limit:
        return
    node = tree  # descend to the smallest sub-expression over the limit
    while True:
        deeper = [k for k in _children(node) if depth[id(k)] > limit]
        if not deeper:
            break
        node = deeper[0]
    raise DeriveSyntaxError(
        f"the expression is nested deeper than {limit} levels (operators inside operators; "
        f"a chain of products or sums counts once); underlined: the smallest sub-expression "
        f"over the limit",
        source,
        node.span[0],
        node.span[1],
    )


def parse(source: str) -> S.Node:
    """Parse ``source`` into a parse tree.

    Raises:
        DeriveSyntaxError: with a caret under the first offending token.
    """
    if not isinstance(source, str):
        raise TypeError(f"the expression must be a string, got {type(source).__name__}")
    tree = _Parser(source).parse()
    check_depth(tree, source)
    return tree

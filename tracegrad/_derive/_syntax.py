"""The parse tree: what the user wrote, with the source span of every node.

Shape inference (``_shapes``) reads this tree, reports errors against its spans, and
elaborates it into the typed expression nodes of ``_ast``.
"""

from __future__ import annotations

import dataclasses

Span = tuple[int, int]


@dataclasses.dataclass(frozen=True, eq=False)
class Node:
    """Base of parse-tree nodes; ``span`` is ``(start, end)`` in the source."""

    span: Span


@dataclasses.dataclass(frozen=True, eq=False)
class Name(Node):
    """A named matrix or vector."""

    name: str


@dataclasses.dataclass(frozen=True, eq=False)
class Number(Node):
    """A numeric literal (a scalar)."""

    value: float


@dataclasses.dataclass(frozen=True, eq=False)
class Constant(Node):
    """``I`` (identity), ``J`` (all ones) or ``pi``; matrix shapes come from the context."""

    kind: str


@dataclasses.dataclass(frozen=True, eq=False)
class Neg(Node):
    """Unary minus."""

    arg: Node


@dataclasses.dataclass(frozen=True, eq=False)
class Binary(Node):
    """``op`` is ``+``, ``-``, ``*`` (also juxtaposition), ``/`` (by a scalar), ``⊙``, ``⊘``."""

    op: str
    left: Node
    right: Node


@dataclasses.dataclass(frozen=True, eq=False)
class Transpose(Node):
    """``E'``, ``E^T``, ``Eᵀ``."""

    arg: Node


@dataclasses.dataclass(frozen=True, eq=False)
class Power(Node):
    """``E^p`` (a scalar power, or ``p = -1`` the inverse), ``E^-T``
    (``exponent=None``: inverse transpose) or ``E.^p`` (``elementwise``)."""

    arg: Node
    exponent: float | None
    elementwise: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Call(Node):
    """``func(arg)`` with ``func`` canonical: tr, inv, det, logdet, diag, log, exp, sum, norm."""

    func: str
    arg: Node
    arg2: Node | None = None  # the second argument of max(A, B), kron(A, B)

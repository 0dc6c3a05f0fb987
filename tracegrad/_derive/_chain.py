"""Matrix-chain ordering by a FLOP cost model, jointly over all the chains of a gradient.

A product ``F_1 F_2 ... F_k`` can be bracketed in Catalan-many ways with very different
costs: ``A (B x)`` is O(n^2), ``(A B) x`` O(n^3).  The classic dynamic programme picks the
cheapest bracketing of one chain from the shapes.  A gradient is a *sum* of chains that share
sub-products (the four terms of the trace notes' eq. 21 share ``B C``, ``X^T X``, ``C A``, ...),
and a sub-product is computed once, so the best bracketing of each chain alone is not the best
for the sum.  ``plan_chains`` therefore

1. names every sub-chain canonically, identifying ``P`` with ``P^T`` (its factors reversed and
   transposed, which costs nothing to use: a transposed operand is folded into the product);
2. runs the dynamic programme with each product's cost divided by the number of times its
   sub-chain occurs in all chains (sharing amortised), with plain costs, and greedily
   chain by chain with already planned sub-products free;
3. keeps the plan whose *actual* cost, each distinct product counted once, is lowest.

Costs (multiply-adds count 2): dense ``p x q`` times ``q x r`` is ``2 p q r``; a diagonal
factor scales rows or columns (``p r``); an all-ones vector sums rows or columns or
broadcasts (``p q`` or ``p r``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import Any

Tree = int | tuple  # a factor index, or (left tree, right tree)


@dataclasses.dataclass(frozen=True)
class Factor:
    """One factor of a chain.

    Attributes:
        key: identifies the factor (equal keys are equal matrices); must be orderable.
        tkey: the key of the factor's transpose (``== key`` for a symmetric factor).
        shape: ``(rows, cols)``, integers.
        kind: ``"dense"``, ``"diag"`` (a diagonal matrix) or ``"ones"`` (all ones).
    """

    key: Hashable
    tkey: Hashable
    shape: tuple[int, int]
    kind: str = "dense"

    def transposed(self) -> Factor:
        return Factor(self.tkey, self.key, (self.shape[1], self.shape[0]), self.kind)


def flops(left: tuple[int, int], right: tuple[int, int], lkind="dense", rkind="dense") -> float:
    """Cost of one product of a ``left``-shaped by a ``right``-shaped operand."""
    p, q = left
    q2, r = right
    if q != q2:
        raise ValueError(f"non-conforming product {left} x {right}")
    if lkind == "diag" or rkind == "diag":
        return float(p * r)
    if rkind == "ones":
        return float(p * q + (p * r if r > 1 else 0))
    if lkind == "ones":
        return float(q * r + (p * r if p > 1 else 0))
    return 2.0 * p * q * r


def chain_cost(shapes: Sequence[tuple[Any, Any]]) -> float:
    """The cheapest cost of multiplying dense factors of these shapes (classic DP)."""
    factors = [Factor(i, -1 - i, s) for i, s in enumerate(shapes)]
    (tree,) = _plans([factors], mode="plain")
    return _tree_cost(factors, tree)[0]


def _tree_cost(
    factors: Sequence[Factor], tree: Tree
) -> tuple[float, tuple[int, int], str, int, int]:
    """(cost, shape, kind, first, last) of a bracketing of ``factors``, shared sub-trees counted
    every time (used for single chains)."""
    if isinstance(tree, int):
        f = factors[tree]
        return 0.0, f.shape, f.kind, tree, tree
    lc, ls, lk, lo, _ = _tree_cost(factors, tree[0])
    rc, rs, rk, _, hi = _tree_cost(factors, tree[1])
    return lc + rc + flops(ls, rs, lk, rk), (ls[0], rs[1]), "dense", lo, hi


def _mirror(tree: Tree, n: int) -> Tree:
    """The bracketing of the transposed chain (indices reversed, children swapped)."""
    if isinstance(tree, int):
        return n - 1 - tree
    return (_mirror(tree[1], n), _mirror(tree[0], n))


def _shift(tree: Tree, s: int) -> Tree:
    if isinstance(tree, int):
        return tree + s
    return (_shift(tree[0], s), _shift(tree[1], s))


class _Planner:
    """Dynamic programme over canonical sub-chains for one costing mode."""

    def __init__(self, counts: dict, mode: str):
        self.counts = counts
        self.mode = mode
        self.memo: dict = {}
        self.fixed: dict = {}  # greedy mode: canonical sub-chain -> tree, already paid for

    def solve(self, fs: Sequence[Factor]) -> tuple[float, Tree]:
        n = len(fs)
        if n == 1:
            return 0.0, 0
        key = tuple(f.key for f in fs)
        tkey = tuple(f.tkey for f in reversed(fs))
        if tkey < key:
            cost, tree = self.solve([f.transposed() for f in reversed(fs)])
            return cost, _mirror(tree, n)
        if key in self.fixed:
            return 0.0, self.fixed[key]
        if key in self.memo:
            return self.memo[key]
        best_cost, best_tree = math.inf, None
        share = self.counts.get(key, 1) if self.mode == "amortized" else 1
        for s in range(1, n):
            lc, lt = self.solve(fs[:s])
            rc, rt = self.solve(fs[s:])
            left = (fs[0].shape[0], fs[s - 1].shape[1])
            right = (fs[s].shape[0], fs[-1].shape[1])
            lkind = fs[0].kind if s == 1 else "dense"
            rkind = fs[s].kind if s == n - 1 else "dense"
            cost = lc + rc + flops(left, right, lkind, rkind) / share
            if cost < best_cost:
                best_cost, best_tree = cost, (lt, _shift(rt, s))
        assert best_tree is not None  # n >= 2: the loop ran
        self.memo[key] = (best_cost, best_tree)
        return best_cost, best_tree

    def fix(self, fs: Sequence[Factor], tree: Tree) -> None:
        """Mark every product of ``tree`` as computed (greedy mode)."""
        if isinstance(tree, int):
            return
        lo, hi = _span(tree)
        sub = fs[lo : hi + 1]
        key = tuple(f.key for f in sub)
        tkey = tuple(f.tkey for f in reversed(sub))
        local = _shift(tree, -lo)
        if tkey < key:
            self.fixed[tkey] = _mirror(local, len(sub))
        else:
            self.fixed[key] = local
        self.fix(fs, tree[0])
        self.fix(fs, tree[1])
        self.memo.clear()


def _span(tree: Tree) -> tuple[int, int]:
    if isinstance(tree, int):
        return tree, tree
    return _span(tree[0])[0], _span(tree[1])[1]


def _canonical(fs: Sequence[Factor]) -> tuple:
    key = tuple(f.key for f in fs)
    tkey = tuple(f.tkey for f in reversed(fs))
    return min(key, tkey)


def _counts(chains: Sequence[Sequence[Factor]]) -> dict:
    counts: dict = {}
    for fs in chains:
        for i in range(len(fs)):
            for j in range(i + 2, len(fs) + 1):
                c = _canonical(fs[i:j])
                counts[c] = counts.get(c, 0) + 1
    return counts


def _plans(chains, mode: str) -> list[Tree]:
    planner = _Planner(_counts(chains) if mode == "amortized" else {}, mode)
    trees = []
    for fs in chains:
        _, tree = planner.solve(fs)
        trees.append(tree)
        if mode == "greedy":
            planner.fix(fs, tree)
    return trees


def total_cost(chains: Sequence[Sequence[Factor]], trees: Sequence[Tree]) -> float:
    """Cost of evaluating all ``chains`` bracketed by ``trees``, each distinct product
    (canonically, up to transposition) computed once."""
    seen: set = set()
    total = 0.0

    def visit(fs, tree) -> tuple[tuple[int, int], str]:
        nonlocal total
        if isinstance(tree, int):
            return fs[tree].shape, fs[tree].kind
        ls, lk = visit(fs, tree[0])
        rs, rk = visit(fs, tree[1])
        lo, hi = _span(tree)
        key = _canonical(fs[lo : hi + 1])
        if key not in seen:
            seen.add(key)
            total += flops(ls, rs, lk, rk)
        return (ls[0], rs[1]), "dense"

    for fs, tree in zip(chains, trees, strict=True):
        visit(fs, tree)
    return total


def plan_chains(chains: Sequence[Sequence[Factor]]) -> tuple[list[Tree], float]:
    """Bracket every chain (each a sequence of at least two ``Factor``\\ s) to minimise the
    total cost with shared sub-products computed once.

    Returns:
        One bracketing per chain (nested pairs of factor indices) and the total cost.
    """
    chains = [list(fs) for fs in chains]
    if not chains:
        return [], 0.0
    best = None
    for mode in ("amortized", "plain", "greedy"):
        trees = _plans(chains, mode)
        cost = total_cost(chains, trees)
        if best is None or cost < best[1]:
            best = (trees, cost)
    return best

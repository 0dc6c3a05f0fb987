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


LONG_CHAIN = 24
"""Chains with more factors than this are bracketed greedily, in O(n^2), instead of by the
O(n^3) dynamic programme (a 300-factor product would take minutes in Python)."""


def _dense_table(shapes: Sequence[tuple[int, int]]) -> list[list[float]]:
    """``cost[i][j]``: the cheapest cost of the dense sub-chain ``i..j`` (classic DP,
    bottom-up by length, O(n^3))."""
    n = len(shapes)
    cost = [[0.0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            rows, cols = shapes[i][0], shapes[j][1]
            cost[i][j] = min(
                cost[i][s] + cost[s + 1][j] + 2.0 * rows * shapes[s][1] * cols for s in range(i, j)
            )
    return cost


def chain_cost(shapes: Sequence[tuple]) -> float:
    """The cheapest cost of multiplying dense factors of these shapes (classic DP; a greedy
    bracketing's cost beyond ``LONG_CHAIN`` factors)."""
    dims = [(int(s[0]), int(s[1])) for s in shapes]
    if len(dims) <= 1:
        return 0.0
    if len(dims) > LONG_CHAIN:
        factors = [Factor(i, -1 - i, s) for i, s in enumerate(dims)]
        return _tree_cost(factors, _greedy_tree(factors))[0]
    return _dense_table(dims)[0][-1]


def best_split(shapes: Sequence[tuple], prefer_last: bool = False) -> int:
    """The ``j`` (``1 <= j < n``) minimising ``chain_cost(shapes[:j]) + chain_cost(shapes[j:])``
    (ties to the first, or with ``prefer_last`` the last).  Beyond ``LONG_CHAIN`` factors: the
    split at the smallest inner dimension (ties to the middle), in O(n)."""
    n = len(shapes)
    order = range(n - 1, 0, -1) if prefer_last else range(1, n)
    if n > LONG_CHAIN:
        return min(order, key=lambda j: (shapes[j][0], abs(2 * j - n)))
    cost = _dense_table([(int(s[0]), int(s[1])) for s in shapes])
    return min(order, key=lambda j: cost[0][j - 1] + cost[j][n - 1])


def _greedy_tree(fs: Sequence[Factor]) -> Tree:
    """A bracketing in O(n^2): repeatedly multiply the adjacent pair that costs least, ties to
    the pair of fewest factors (so equal square factors pair up into a balanced tree)."""
    items: list[tuple[Tree, tuple[int, int], str, int]] = [
        (i, f.shape, f.kind, 1) for i, f in enumerate(fs)
    ]
    while len(items) > 1:
        best = min(
            range(len(items) - 1),
            key=lambda k: (
                flops(items[k][1], items[k + 1][1], items[k][2], items[k + 1][2]),
                items[k][3] + items[k + 1][3],
            ),
        )
        (lt, ls, _, ln), (rt, rs, _, rn) = items[best], items[best + 1]
        items[best : best + 2] = [((lt, rt), (ls[0], rs[1]), "dense", ln + rn)]
    return items[0][0]


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


class _Chain:
    """One chain's factors, with an interned id for every sub-chain ``[i, j)`` (``fid``) and
    for its transpose, the sub-chain reversed with each factor transposed (``rid``): equal
    sub-chains get equal ids, in any chain, in O(1) per look-up."""

    def __init__(self, fs: Sequence[Factor], intern: dict):
        n = len(fs)
        self.fs = list(fs)
        self.intern = intern
        self.fid = [[0] * (n + 1) for _ in range(n)]
        self.rid = [[0] * (n + 1) for _ in range(n)]
        for i in range(n):
            prev = None
            for j in range(i + 1, n + 1):
                prev = intern.setdefault((prev, fs[j - 1].key), len(intern))
                self.fid[i][j] = prev
        for j in range(1, n + 1):
            prev = None
            for i in range(j - 1, -1, -1):
                prev = intern.setdefault((prev, fs[i].tkey), len(intern))
                self.rid[i][j] = prev
        self._reversed: _Chain | None = None

    @property
    def reversed(self) -> _Chain:
        """The transposed chain: factors reversed and transposed."""
        if self._reversed is None:
            self._reversed = _Chain([f.transposed() for f in reversed(self.fs)], self.intern)
            self._reversed._reversed = self
        return self._reversed

    def canonical(self, i: int, j: int) -> int:
        """The id naming sub-chain ``[i, j)`` and its transpose alike."""
        return min(self.fid[i][j], self.rid[i][j])


class _Planner:
    """Dynamic programme over canonical sub-chains for one costing mode."""

    def __init__(self, counts: dict, mode: str):
        self.counts = counts
        self.mode = mode
        self.memo: dict = {}  # canonical id -> (cost, split offset) in canonical orientation
        self.fixed: dict = {}  # greedy mode: canonical id -> relative tree, already paid for

    def solve(self, ch: _Chain, i: int, j: int) -> float:
        """The cheapest cost of sub-chain ``[i, j)`` (recursion depth <= ``LONG_CHAIN``)."""
        if j - i == 1:
            return 0.0
        f, r = ch.fid[i][j], ch.rid[i][j]
        if r < f:
            n = len(ch.fs)
            return self.solve(ch.reversed, n - j, n - i)
        if f in self.fixed:
            return 0.0
        if f in self.memo:
            return self.memo[f][0]
        fs = ch.fs
        best_cost, best_split = math.inf, 1
        share = self.counts.get(f, 1) if self.mode == "amortized" else 1
        for s in range(i + 1, j):
            left = (fs[i].shape[0], fs[s - 1].shape[1])
            right = (fs[s].shape[0], fs[j - 1].shape[1])
            lkind = fs[i].kind if s == i + 1 else "dense"
            rkind = fs[s].kind if s == j - 1 else "dense"
            cost = self.solve(ch, i, s) + self.solve(ch, s, j)
            cost += flops(left, right, lkind, rkind) / share
            if cost < best_cost:
                best_cost, best_split = cost, s - i
        self.memo[f] = (best_cost, best_split)
        return best_cost

    def tree(self, ch: _Chain, i: int, j: int) -> Tree:
        """The bracketing ``solve`` chose for ``[i, j)``, with absolute factor indices."""
        if j - i == 1:
            return i
        f, r = ch.fid[i][j], ch.rid[i][j]
        if r < f:
            n = len(ch.fs)
            return _mirror(self.tree(ch.reversed, n - j, n - i), n)
        if f in self.fixed:
            return _shift(self.fixed[f], i)
        s = i + self.memo[f][1]
        return (self.tree(ch, i, s), self.tree(ch, s, j))

    def fix(self, ch: _Chain, tree: Tree) -> None:
        """Mark every product of ``tree`` as computed (greedy mode)."""
        if isinstance(tree, int):
            return
        lo, hi = _span(tree)
        f, r = ch.fid[lo][hi + 1], ch.rid[lo][hi + 1]
        local = _shift(tree, -lo)
        if r < f:
            self.fixed[r] = _mirror(local, hi + 1 - lo)
        else:
            self.fixed[f] = local
        self.fix(ch, tree[0])
        self.fix(ch, tree[1])
        self.memo.clear()


def _span(tree: Tree) -> tuple[int, int]:
    """The first and last factor index of a bracketing."""
    lo = hi = tree
    while not isinstance(lo, int):
        lo = lo[0]
    while not isinstance(hi, int):
        hi = hi[1]
    return lo, hi


def _counts(chains: Sequence[_Chain]) -> dict:
    counts: dict = {}
    for ch in chains:
        n = len(ch.fs)
        if n > LONG_CHAIN:
            continue
        for i in range(n):
            for j in range(i + 2, n + 1):
                c = ch.canonical(i, j)
                counts[c] = counts.get(c, 0) + 1
    return counts


def _plans(chains: Sequence[_Chain], mode: str, greedy: dict) -> list[Tree]:
    planner = _Planner(_counts(chains) if mode == "amortized" else {}, mode)
    trees = []
    for k, ch in enumerate(chains):
        n = len(ch.fs)
        if n > LONG_CHAIN:
            if k not in greedy:
                greedy[k] = _greedy_tree(ch.fs)
            tree = greedy[k]
        else:
            planner.solve(ch, 0, n)
            tree = planner.tree(ch, 0, n)
        trees.append(tree)
        if mode == "greedy" and n <= LONG_CHAIN:
            planner.fix(ch, tree)
    return trees


def total_cost(chains: Sequence[_Chain], trees: Sequence[Tree]) -> float:
    """Cost of evaluating all ``chains`` bracketed by ``trees``, each distinct product
    (canonically, up to transposition) computed once."""
    seen: set = set()
    total = 0.0
    for ch, tree in zip(chains, trees, strict=True):
        fs = ch.fs
        # post-order without recursion: (shape, kind, lo, hi) of every sub-tree
        stack: list = [(tree, False)]
        out: list = []
        while stack:
            node, done = stack.pop()
            if isinstance(node, int):
                out.append((fs[node].shape, fs[node].kind, node, node))
            elif not done:
                stack += [(node, True), (node[1], False), (node[0], False)]
            else:
                rs, rk, _, hi = out.pop()
                ls, lk, lo, _ = out.pop()
                key = ch.canonical(lo, hi + 1)
                if key not in seen:
                    seen.add(key)
                    total += flops(ls, rs, lk, rk)
                out.append(((ls[0], rs[1]), "dense", lo, hi))
    return total


def plan_chains(chains: Sequence[Sequence[Factor]]) -> tuple[list[Tree], float]:
    """Bracket every chain (each a sequence of at least two ``Factor``\\ s) to minimise the
    total cost with shared sub-products computed once.

    Chains of more than ``LONG_CHAIN`` factors are bracketed greedily (``_greedy_tree``).

    Returns:
        One bracketing per chain (nested pairs of factor indices) and the total cost.
    """
    if not chains:
        return [], 0.0
    intern: dict = {}
    prepared = [_Chain(list(fs), intern) for fs in chains]
    greedy: dict = {}
    best = None
    for mode in ("amortized", "plain", "greedy"):
        trees = _plans(prepared, mode, greedy)
        cost = total_cost(prepared, trees)
        if best is None or cost < best[1]:
            best = (trees, cost)
    return best

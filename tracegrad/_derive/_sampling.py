"""Sample inputs in the objective's domain, for the check against ``jax.grad``.

Each symbol is drawn according to where it appears:

* under a ``log`` or ``sqrt`` (a function with ``domain = "positive"``), in the denominator
  of ``⊘`` or ``/``, or in the base of a negative or fractional power: positive entries,
  uniform in ``[0.5, 1.5)`` (so products and sums of such symbols stay positive, as in the
  trace notes' ``log(A X B)``, eq. 25);
* as the argument itself of ``inv``, ``det`` or ``logdet`` (``domain = "invertible"``,
  possibly transposed or scaled): a well-conditioned *non-symmetric* matrix ``U diag(s) V^T``
  with ``s`` spread geometrically over ``[1/2, 2]`` (condition number 4, determinant 1 in
  magnitude at every size), so that a transposed gradient (``X^-1`` for ``X^-T``) cannot
  pass by symmetry;
* a square symbol deeper inside such an argument (``P`` and ``R`` in ``inv(H P H' + R)``): a
  symmetric positive-definite matrix with eigenvalues spread the same way;
* anything else: standard normal entries.

Draws whose objective is not finite, or where an inverted matrix is ill-conditioned
(condition number above 1e8), are repaired (``repair``) and otherwise rejected and redrawn
with the next seed.

Drawing each symbol alone cannot satisfy a constraint between symbols: in the log barrier
``-sum(log(b - A x))`` the entries of ``b - A x`` are positive only if ``b`` exceeds ``A x``.
``repair`` therefore solves for admissible inputs, constraint by constraint, innermost first:
for each domain-constrained argument (of ``log``, a denominator, a fractional or negative
power: positive; of ``inv``, ``det``, ``logdet``: well-conditioned) that is a sum with a *free
additive leaf* -- a term ``k V``, ``V`` a symbol of the argument's shape that the other terms
do not contain -- it evaluates the other terms at the drawn values and sets
``V = (target - others) / k``, the target drawn positive in ``[0.5, 1.5)`` or as a
well-conditioned matrix.  For the log barrier that is ``b = A x + u`` with ``u`` positive.
The repaired draw is vetted like any other.
"""

from __future__ import annotations

import numpy as np

from . import _ast as E

_COND_LIMIT = 1e8


def _domain(e: E.Expr) -> tuple[str, E.Expr]:
    """``(domain, argument)`` of a named function (``Function.domain``), else ``("", e)``."""
    return (e.domain, e.arg) if isinstance(e, E.Function) else ("", e)


def symbol_needs(expr: E.Expr) -> dict[str, set[str]]:
    """``{name: {"positive", "invertible", "spd"}}``: how each symbol must be drawn."""
    needs: dict[str, set[str]] = {name: set() for name in E.variables(expr)}
    seen: set = set()

    def visit(e: E.Expr, positive: bool, inside_inverse: bool) -> None:
        key = (e, positive, inside_inverse)
        if key in seen:
            return
        seen.add(key)
        if isinstance(e, E.Var):
            if positive:
                needs[e.name].add("positive")
            if inside_inverse and e.shape[0] == e.shape[1] and e.shape != (1, 1):
                needs[e.name].add("spd")
            return
        domain, arg = _domain(e)
        if domain == "invertible":
            direct = _strip(arg)
            if isinstance(direct, E.Var) and direct.shape != (1, 1):
                needs[direct.name].add("invertible")
            visit(arg, positive, True)
            return
        if domain == "positive":
            visit(arg, True, inside_inverse)
            return
        if isinstance(e, E.EDiv):
            visit(e.num, positive, inside_inverse)
            visit(e.den, True, inside_inverse)
            return
        if isinstance(e, E.Pow) and (e.p < 0 or not float(e.p).is_integer()):
            visit(e.arg, True, inside_inverse)
            return
        for c in e.children:
            visit(c, positive, inside_inverse)

    visit(expr, False, False)
    return needs


def _strip(e: E.Expr) -> E.Expr:
    while isinstance(e, (E.Transpose, E.Scale)):
        e = e.arg
    return e


def _orthogonal(rng, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diagonal(r))


def _balanced_spectrum(rng, n: int) -> np.ndarray:
    """``n`` values spread geometrically over ``[1/2, 2]``: condition number 4 and product 1,
    so a determinant neither overflows nor underflows at any size (values in ``[1, 4]`` give
    ``det ~ e^(0.85 n)``, beyond float64 from n ~ 830)."""
    return rng.permutation(np.exp(np.linspace(-np.log(2.0), np.log(2.0), n)))


def draw(needs: set[str], shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One symbol's values (float64) according to ``needs``."""
    rows, cols = shape
    square = rows == cols and rows > 1
    if "positive" in needs:
        values = rng.uniform(0.5, 1.5, shape)
        if square and needs & {"invertible", "spd"}:
            values = values + rows * np.eye(rows)  # diagonally dominant: invertible
        return values
    if square and "invertible" in needs:
        s = _balanced_spectrum(rng, rows)
        return (_orthogonal(rng, rows) * s) @ _orthogonal(rng, rows).T
    if square and "spd" in needs:
        q = _orthogonal(rng, rows)
        m = (q * _balanced_spectrum(rng, rows)) @ q.T
        return 0.5 * (m + m.T)
    return rng.standard_normal(shape)


def inverted_arguments(expr: E.Expr) -> list[E.Expr]:
    """The distinct arguments of ``inv``, ``det`` and ``logdet`` in ``expr``."""
    out: list[E.Expr] = []
    for e in E.walk(expr):
        domain, arg = _domain(e)
        if domain == "invertible" and arg not in out:
            out.append(arg)
    return out


def acceptable(objective_value, inverted_values) -> bool:
    """Whether a draw is in the domain: finite objective, well-conditioned inverses."""
    if not np.isfinite(np.asarray(objective_value)).all():
        return False
    for m in inverted_values:
        m = np.asarray(m, np.float64)
        if not np.isfinite(m).all() or np.linalg.cond(m) > _COND_LIMIT:
            return False
    return True


def _constraints(expr: E.Expr) -> list[tuple[E.Expr, str]]:
    """``(argument, "positive" | "invertible")`` for each domain-constrained argument in
    ``expr``, innermost first."""
    out: list[tuple[E.Expr, str]] = []
    for e in reversed(list(E.distinct_nodes([expr]))):  # children before parents
        domain, arg = _domain(e)
        if domain == "positive":
            out.append((arg, "positive"))
        elif isinstance(e, E.EDiv):
            out.append((e.den, "positive"))
        elif isinstance(e, E.Pow) and (e.p < 0 or not float(e.p).is_integer()):
            out.append((e.arg, "positive"))
        elif domain == "invertible" and arg.shape != (1, 1):
            out.append((arg, "invertible"))
    return out


def _free_leaf(arg: E.Expr) -> tuple[E.Var, float] | None:
    """A term ``k V`` of the sum ``arg``: ``V`` a symbol of ``arg``'s shape that no other term
    contains (so that ``arg`` is affine in ``V`` with coefficient ``k``)."""
    terms = arg.args if isinstance(arg, E.Add) else (arg,)
    for i, t in enumerate(terms):
        k, base = (t.k, t.arg) if isinstance(t, E.Scale) else (1.0, t)
        if not (isinstance(base, E.Var) and base.shape == arg.shape and k != 0):
            continue
        others = terms[:i] + terms[i + 1 :]
        if not any(E.contains(o, base.name) for o in others):
            return base, k
    return None


def repair(expr: E.Expr, values: dict, shapes: dict, rng: np.random.Generator) -> dict:
    """``values`` with free additive leaves set so that each constrained argument is in its
    domain (see the module docstring); unchanged where no constraint has a free leaf."""
    from ._codegen import evaluate  # the host evaluator (imported late: codegen imports jax)

    values = dict(values)
    for arg, kind in _constraints(expr):
        leaf = _free_leaf(arg)
        if leaf is None:
            continue
        var, k = leaf
        shape = tuple(shapes[var.name])
        current = np.reshape(values[var.name], shape)
        (value,) = evaluate([arg], values)
        others = np.asarray(value, np.float64) - k * current
        if kind == "positive":
            target = rng.uniform(0.5, 1.5, shape)
        else:
            target = draw({"invertible"}, shape, rng)
        values[var.name] = (target - others) / k
    return values

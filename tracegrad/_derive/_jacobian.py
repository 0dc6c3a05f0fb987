"""``derive`` of a vector- or matrix-valued expression: its Jacobian, derived and checked.

For a column-valued expression and a vector (or 1x1) variable the Jacobian is a closed form
built by the rules of ``_forward.jacobian`` (``d(A x)/dx = A``, ``d exp(x)/dx = diag(exp(x))``,
``d (u ⊙ v)/dx = diag(v) du/dx + diag(u) dv/dx``).  Otherwise (a matrix-valued expression, a
matrix variable, or a node without a closed form) it is the differential ``d f`` in the
direction ``dX`` (``_forward.jvp``), evaluated along every unit direction.  Either way the
result is compared with ``jax.jacfwd`` of the expression, in float64 on sampled inputs, before
it is returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _ast as E
from ._arguments import eager, internal_shape
from ._codegen import build_function, evaluate
from ._errors import DeriveError, DeriveInternalError
from ._printing import to_latex, to_text
from ._sampling import acceptable, draw, inverted_arguments, symbol_needs
from ._second import assemble, direction_name, jacobian, tangent
from ._shapes import Elaboration
from ._simplify import simplify, tidy
from ._specialization import _natural_shape

_MAX_DRAWS = 20


class JacobianReport:
    """The check of a derived Jacobian against ``jax.jacfwd`` (float64, normwise)."""

    def __init__(self, ok: bool, max_rel_err: float, shape: tuple[int, ...]):
        self.ok = ok
        self.max_rel_err = max_rel_err
        self.shape = shape

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return f"check vs jax.jacfwd: {verdict} (float64, max rel err {self.max_rel_err:.1e})"


class _Compiled:
    """The Jacobian at one concrete shape signature: jitted function and its check."""

    def __init__(self, expr: E.Expr, closed: E.Expr | None, diff: E.Expr, wrt, direction, shapes,
                 argnames, seed: int):  # fmt: skip
        self.shapes = shapes
        out_natural = _natural_shape((int(expr.shape[0]), int(expr.shape[1])))
        wrt_natural = _natural_shape(shapes[wrt])
        value = build_function([tidy(expr)], argnames, shapes, optimize_=True, lu=False)
        self.value_fn = jax.jit(lambda *a: jnp.reshape(value(*a), out_natural))
        if closed is not None:
            fn = build_function([closed], argnames, shapes, optimize_=True)
            self.jacobian_fn = jax.jit(lambda *a: jnp.reshape(fn(*a), out_natural + wrt_natural))
        else:
            dfn = build_function(
                [diff], (*argnames, direction), {**shapes, direction: shapes[wrt]}, optimize_=True
            )

            def along(v, *a):
                return jnp.reshape(dfn(*a, v), out_natural)

            self.jacobian_fn = jax.jit(assemble(along, wrt_natural, argnames.index(wrt)))
        with jax.enable_x64(True):
            self.report = self._check(expr, wrt, argnames, seed)

    def _check(self, expr, wrt, argnames, seed) -> JacobianReport:
        needs = symbol_needs(expr)
        inverted = inverted_arguments(expr)
        args = None
        for attempt in range(_MAX_DRAWS):
            rng = np.random.default_rng([seed, attempt])
            values = {n: draw(needs[n], self.shapes[n], rng) for n in argnames}
            value, *inv = evaluate([expr, *inverted], values)
            if acceptable(value, inv):
                args = tuple(
                    jnp.asarray(values[n].reshape(_natural_shape(self.shapes[n])), jnp.float64)
                    for n in argnames
                )
                break
        if args is None:
            raise DeriveError(
                f"could not draw inputs where the expression is defined in {_MAX_DRAWS} tries, "
                f"so the derived Jacobian cannot be checked"
            )
        from .._check.references import reference_jit
        from .._check.tolerances import tolerances

        got = np.asarray(self.jacobian_fn(*args), np.float64)
        want = np.asarray(
            reference_jit(jax.jacfwd(self.value_fn, argnums=argnames.index(wrt)))(*args),
            np.float64,
        )
        rtol, atol = tolerances(jnp.float64)
        if got.shape != want.shape:
            return JacobianReport(False, math.inf, want.shape)
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        top = float(np.max(np.abs(want))) if want.size else 0.0
        ok = bool(np.isfinite(err) and err <= atol + rtol * top)
        return JacobianReport(ok, err / top if top > 0 else err, want.shape)


class Jacobian:
    """The Jacobian of a vector- or matrix-valued expression w.r.t. one symbol.

    Attributes:
        expression, wrt, argnames: as for ``Derivation``.
        shapes: ``{name: (rows, cols)}``, or ``None`` for a symbolic derivation.
        text, latex: the closed-form Jacobian (rows: the expression's entries, columns: the
            variable's), or ``None`` where there is none (a matrix-valued expression or a
            matrix variable): then ``differential_text`` is the result.
        differential_text, differential_latex: ``d f`` in the direction ``dX``.
        report: the check against ``jax.jacfwd`` (at ``check_shapes``).
    """

    def __init__(self, expression: str, wrt: str, elaboration: Elaboration, seed: int):
        self.expression = expression
        self.wrt = wrt
        self.argnames: tuple[str, ...] = tuple(elaboration.symbols)
        self._elaboration = elaboration
        self._seed = seed
        symbolic = not elaboration.concrete
        self.shapes = None if symbolic else elaboration.symbol_shapes()
        self.direction = direction_name(wrt, self.argnames)
        expr, _ = elaboration.build()
        wshape = elaboration.symbol_shapes()[wrt]
        closed = jacobian(expr, wrt, wshape)
        diff = simplify(tangent(expr, wrt, E.Var(self.direction, wshape)))
        self.text = None if closed is None else to_text(closed)
        self.latex = None if closed is None else to_latex(closed)
        self.differential_text = to_text(diff)
        self.differential_latex = to_latex(diff)
        self.objective_text = to_text(tidy(expr))
        if symbolic:
            sizes = {root: 3 + i for i, root in enumerate(elaboration.free_classes())}
            elaboration = elaboration.with_sizes(sizes)
        self._symbolic = symbolic
        self._compiled: dict[tuple, _Compiled] = {}
        default = self._at(elaboration)
        self.report = default.report
        self.check_shapes = dict(default.shapes)

    def _at(self, elaboration: Elaboration) -> _Compiled:
        shapes = {n: (int(r), int(c)) for n, (r, c) in elaboration.symbol_shapes().items()}
        key = tuple(shapes[n] for n in self.argnames)
        if key not in self._compiled:
            expr, _ = elaboration.build()
            closed = jacobian(expr, self.wrt, shapes[self.wrt])
            diff = simplify(tangent(expr, self.wrt, E.Var(self.direction, shapes[self.wrt])))
            with eager():
                compiled = _Compiled(
                    expr, closed, diff, self.wrt, self.direction, shapes, self.argnames,
                    self._seed,
                )  # fmt: skip
            if not compiled.report.ok:
                where = ", ".join(f"{n}={r}x{c}" for n, (r, c) in shapes.items())
                raise DeriveInternalError(
                    self.expression, self.wrt, self.text or self.differential_text,
                    compiled.report, where,
                )  # fmt: skip
            self._compiled[key] = compiled
        return self._compiled[key]

    def __call__(self, **arrays) -> jax.Array:
        """The Jacobian at the named arrays: shape ``f.shape + wrt.shape`` (vectors 1-D)."""
        missing = [n for n in self.argnames if n not in arrays]
        extra = [n for n in arrays if n not in self.argnames]
        if missing or extra:
            raise DeriveError(
                f"missing {', '.join(missing) or 'none'}, unexpected {', '.join(extra) or 'none'}"
                f": {self.expression!r} takes {', '.join(self.argnames)}"
            )
        args = tuple(jnp.asarray(arrays[n]) for n in self.argnames)
        for n, a in zip(self.argnames, args, strict=True):
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise DeriveError(f"{n} must be a floating-point array, got dtype {a.dtype}")
        shapes = {n: internal_shape(n, a) for n, a in zip(self.argnames, args, strict=True)}
        return self._at(self._elaboration.bind_arrays(shapes)).jacobian_fn(*args)

    def summary(self, latex: bool = False) -> str:
        lines = [f"f = {self.objective_text}"]
        if self.text is not None:
            lines.append(f"df/d{self.wrt} = {self.latex if latex else self.text}")
        lines.append(
            f"d f = {self.differential_latex if latex else self.differential_text}"
            f"  ({self.direction}: a direction shaped like {self.wrt})"
        )
        lines.append(str(self.report))
        return "\n".join(lines)

    def __repr__(self) -> str:
        result = self.text or self.differential_text
        return f"Jacobian({self.expression!r}, wrt={self.wrt!r}: {result})"


def is_scalar_expression(expression: str, shapes: Mapping | None) -> tuple[bool, Elaboration]:
    """Whether ``expression`` is 1x1 (then ``derive`` returns a ``Derivation``)."""
    from ._parser import parse

    return _elaborate(expression, shapes, parse)


def _elaborate(expression, shapes, parse):
    el = Elaboration(expression, parse(expression), shapes, scalar=False)
    return el.is_scalar, el

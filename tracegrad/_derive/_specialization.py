"""One derivation at one concrete shape signature: its code, and its check against jax.grad.

The check (``Specialization.check``): inputs are drawn in the objective's domain
(``_sampling``), then

* ``tracegrad.check_grad`` compares the compiled gradient with ``jax.grad``, ``jax.jvp`` and
  float64 finite differences of the objective, with an absolute tolerance scaled to the
  per-appearance terms (``_cancellation_atol``);
* where those finite differences would cost more than ``_FD_FLOP_BUDGET`` FLOPs (a large
  variable and an O(n^3) objective), the same expression is checked that way at small proxy
  shapes, and at the real shapes against ``jax.grad`` entry by entry and ``jax.jvp``;
* where a value of the check would hold more than ``_ENTRY_BUDGET`` entries (huge shapes),
  the check runs at the small proxy shapes only: the same expression structure, every
  distinct size renamed to a small one.

A failure raises ``DeriveInternalError``: an engine bug, never a result.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._check.diagnosis.grad import diagnose
from .._check.grad import FD_FULL_MAX_SIZE, check_grad
from .._check.references import forward_result, normwise, reference_jit
from .._check.report import GradReport, ReferenceResult, grad_report
from .._check.tolerances import PATTERN_TOL_FACTOR, tolerances
from .._utils import shape_str
from . import _ast as E
from ._codegen import build_function, evaluate, objective_flops
from ._errors import DeriveError, DeriveInternalError
from ._fdcheck import careful_fd
from ._parser import parse
from ._printing import to_text
from ._rules import appearance_terms
from ._sampling import acceptable, draw, inverted_arguments, repair, symbol_needs
from ._shapes import Elaboration
from ._simplify import simplify, tidy

_MAX_DRAWS = 20
_FD_FLOP_BUDGET = 1e9
"""Above this many FLOPs of finite differences, the check runs them at small proxy shapes
instead (``_Specialization._check_at_size``)."""
_ENTRY_BUDGET = 10_000_000
"""Above this many entries in one value the check's expression (as written, as the sampler
evaluates it) would hold (80 MB in float64; ``A X`` with ``A`` 100000x3 is 10^10), the whole
check runs at small proxy shapes (``_Specialization._check_at_proxy``): never a MemoryError."""
_DIRECTIONS = 2
_DIRECTIONS_SEED = 20260
_REVERSE_DETAIL = "jax.grad in float64, every entry"


def _natural_shape(shape: tuple[int, int]) -> tuple[int, ...]:
    """How a symbol of internal shape ``(r, c)`` is passed: a vector 1-D, a scalar 0-d."""
    r, c = shape
    if (r, c) == (1, 1):
        return ()
    if c == 1:
        return (r,)
    return (r, c)


class Specialization:
    """The derivation at one concrete shape signature: code, check report, term functions."""

    def __init__(
        self,
        elaboration: Elaboration,
        wrt: str,
        argnames: tuple[str, ...],
        seed: int,
        fallback: tuple | None = None,
        full_check: bool = False,
    ):
        self._full_check = full_check  # the proxy of _check_at_size: always check_grad
        self.shapes: dict[str, tuple[int, int]] = {
            n: (int(s[0]), int(s[1])) for n, s in elaboration.symbol_shapes().items()
        }
        self.wrt = wrt
        self.argnames = argnames
        self.objective_expr, _ = elaboration.build()
        raw = appearance_terms(self.objective_expr, wrt)
        self.term_exprs = [simplify(t) for t in raw]
        self.gradient_expr = simplify(raw[0] if len(raw) == 1 else E.Add(tuple(raw)))
        # the objective that jax.grad differentiates in the check, with products bracketed by
        # the cost model (its finite differences evaluate it thousands of times) but the
        # plain jnp.linalg matrix functions
        self.objective_fn = build_function(
            [tidy(self.objective_expr)], argnames, self.shapes, optimize_=True, lu=False
        )
        self.gradient_fn = build_function(
            [self.gradient_expr], argnames, self.shapes, optimize_=True, output_like=wrt
        )
        self._term_fns: dict[int, Callable] = {}
        self.report = self._check(elaboration.source, seed, fallback)

    def term_function(self, k: int) -> Callable:
        if k not in self._term_fns:
            self._term_fns[k] = build_function(
                [self.term_exprs[k]],
                self.argnames,
                self.shapes,
                optimize_=True,
                output_like=self.wrt,
            )
        return self._term_fns[k]

    def _term_values(self, *args) -> dict:
        return {
            f"[{k + 1}] {to_text(t)}": self.term_function(k)(*args)
            for k, t in enumerate(self.term_exprs)
        }

    def _sample(self, seed: int, fallback: tuple | None) -> tuple:
        """float64 arguments in the objective's domain (see ``_sampling``), drawn and vetted
        on the host; ``fallback`` (the caller's arrays) when no draw is acceptable."""
        needs = symbol_needs(self.objective_expr)
        inverted = inverted_arguments(self.objective_expr)
        for attempt in range(_MAX_DRAWS):
            rng = np.random.default_rng([seed, attempt])
            values = {n: draw(needs[n], self.shapes[n], rng) for n in self.argnames}
            objective, *inv_values = evaluate([self.objective_expr, *inverted], values)
            if not acceptable(objective, inv_values):
                # solve for admissible inputs (b = A x + u for log(b - A x)), see _sampling
                values = repair(self.objective_expr, values, self.shapes, rng)
                objective, *inv_values = evaluate([self.objective_expr, *inverted], values)
            if acceptable(objective, inv_values):
                return tuple(
                    jnp.asarray(values[n].reshape(_natural_shape(self.shapes[n])), jnp.float64)
                    for n in self.argnames
                )
        if fallback is not None:
            args = tuple(jnp.asarray(a, jnp.float64) for a in fallback)
            env = {
                n: np.reshape(a, self.shapes[n]) for n, a in zip(self.argnames, args, strict=True)
            }
            if np.isfinite(evaluate([self.objective_expr], env)[0]).all():
                return args
        raise DeriveError(
            f"could not draw inputs where the objective is defined (finite, with "
            f"well-conditioned inverses) in {_MAX_DRAWS} tries, so the derived gradient cannot "
            f"be checked; the objective may be undefined almost everywhere (log of a "
            f"non-positive expression? the inverse of a rank-deficient product?)"
        )

    def _cancellation_atol(self, args) -> float:
        """Absolute tolerance for the check: ``rtol`` times the largest entry of any
        per-appearance term.

        When terms cancel (``y' (X + A - X) x`` has the terms ``y x'`` and ``-y x'``) the
        gradient is far smaller than its summands, and every way of computing it (autodiff,
        finite differences, this code) carries rounding error of the summands' size, not of
        the result's.  Without cancellation the largest term is about the gradient's own
        scale, so this is no looser than the relative test.
        """
        env = {
            n: np.reshape(np.asarray(a), self.shapes[n])
            for n, a in zip(self.argnames, args, strict=True)
        }
        values = evaluate(self.term_exprs, env) if self.term_exprs else []
        scale = max((float(np.max(np.abs(v))) for v in values if v.size), default=0.0)
        rtol, atol = tolerances(jnp.float64)
        return max(atol, rtol * scale) if np.isfinite(scale) else atol

    def _proxy_shapes(self) -> dict[str, tuple[int, int]]:
        """The shapes with every distinct size renamed to a small one (1 stays 1): the same
        equalities between dimensions, so the same expression structure, checkable cheaply."""
        sizes = sorted({d for shape in self.shapes.values() for d in shape} - {1})
        small = {size: i + 3 for i, size in enumerate(sizes)}
        small[1] = 1
        return {n: (small[r], small[c]) for n, (r, c) in self.shapes.items()}

    def _largest_value(self) -> int:
        """The most entries of any value the check evaluates (objective, gradient and terms
        as written, which is how the sampler's host evaluation computes them)."""
        roots = [self.objective_expr, self.gradient_expr, *self.term_exprs]
        return max(
            (int(math.prod(e.shape)) for e in E.distinct_nodes(roots) if E.concrete(e.shape)),
            default=1,
        )

    def _proxy(self, source: str, seed: int) -> tuple[Specialization, dict]:
        proxy_shapes = self._proxy_shapes()
        proxy = Specialization(
            Elaboration(source, parse(source), proxy_shapes, quiet=True),
            self.wrt,
            self.argnames,
            seed,
            full_check=True,
        )
        return proxy, proxy_shapes

    def _check_at_proxy(self, source: str, seed: int) -> GradReport:
        """The check when the shapes are too large to evaluate here: all of it at the proxy
        shapes (``_proxy_shapes``), its report's references marked as such."""
        proxy, proxy_shapes = self._proxy(source, seed)
        where = ", ".join(f"{n}={shape_str(s)}" for n, s in proxy_shapes.items())
        refs = {
            name: dataclasses.replace(r, detail=f"{r.detail}, at the proxy shapes {where}")
            for name, r in proxy.report.references.items()
        }
        return dataclasses.replace(proxy.report, references=refs)

    def _check_at_size(self, args: tuple, atol: float, source: str, seed: int) -> GradReport:
        """The check when ``check_grad``'s finite differences would cost too much here.

        The same expression at small proxy shapes (every distinct size renamed, see
        ``_proxy_shapes``) passes the full ``check_grad`` first; at these shapes the compiled
        gradient is then compared with ``jax.grad`` entry by entry (reverse) and with
        ``jax.jvp`` along random directions (forward).  The report's ``fd64`` entry is the
        proxy's.
        """
        idx = self.argnames.index(self.wrt)
        proxy, proxy_shapes = self._proxy(source, seed)
        f, grad = self.objective_fn, self.gradient_fn
        x = args[idx]
        rtol = tolerances(jnp.float64)[0]
        candidate = np.asarray(grad(*args), np.float64)
        truth = np.asarray(reference_jit(jax.grad(f, argnums=idx))(*args), np.float64)
        refs = {"reverse": normwise("reverse", candidate, truth, rtol, atol, _REVERSE_DETAIL)}

        def along(v, *args):
            return jax.jvp(lambda w: f(*args[:idx], w, *args[idx + 1 :]), (args[idx],), (v,))[1]

        rng = np.random.default_rng(_DIRECTIONS_SEED)
        jvp = reference_jit(along)
        v = rng.standard_normal((_DIRECTIONS, *x.shape))
        refs["forward"] = forward_result(
            v.reshape(_DIRECTIONS, -1) @ candidate.ravel(),
            np.array([float(jvp(jnp.asarray(d), *args)) for d in v]),
            float(np.linalg.norm(truth)),
            np.linalg.norm(v.reshape(_DIRECTIONS, -1), axis=1),
            rtol,
            atol,
            np.float64,
            f"jax.jvp along {_DIRECTIONS} random directions in float64",
        )
        fd = proxy.report.references["fd64"]
        where = ", ".join(f"{n}={shape_str(s)}" for n, s in proxy_shapes.items())
        refs["fd64"] = dataclasses.replace(
            fd, detail=f"{fd.detail}, at the proxy shapes {where} (same expression structure)"
        )
        diagnosis = "ok"
        if not all(r.ok for r in refs.values()):
            terms = {k: np.asarray(v, np.float64) for k, v in self._term_values(*args).items()}
            diagnosis = diagnose(candidate, truth, tol=PATTERN_TOL_FACTOR * rtol, terms=terms)
        return grad_report(
            refs,
            diagnosis=diagnosis,
            dtype="float64",
            shape=tuple(x.shape),
            candidate_shape=candidate.shape,
            candidate_dtype="float64",
            rtol=rtol,
            atol=atol,
        )

    def _finite_difference_cost(self) -> float:
        """FLOPs ``check_grad``'s finite differences would spend: 4 objective evaluations per
        entry of the variable (per direction beyond ``FD_FULL_MAX_SIZE`` entries)."""
        size = math.prod(self.shapes[self.wrt])
        evaluations = 4 * (size if size <= FD_FULL_MAX_SIZE else 4)
        return evaluations * objective_flops(self.objective_expr)

    def _check(self, source: str, seed: int, fallback) -> GradReport:
        if not self._full_check and self._largest_value() > _ENTRY_BUDGET:
            return self._check_at_proxy(source, seed)
        with jax.enable_x64(True):
            args = self._sample(seed, fallback)
            atol = self._cancellation_atol(args)
            if self._full_check or self._finite_difference_cost() <= _FD_FLOP_BUDGET:
                # the candidate as an array: computed by the jitted gradient itself (compiled
                # once, and reused when the caller passes float64 arrays of these shapes)
                candidate = self.gradient_fn(*args)
                report = check_grad(
                    self.objective_fn,
                    candidate,
                    *args,
                    argnum=self.argnames.index(self.wrt),
                    atol=atol,
                    argnames=self.argnames,
                    terms=self._term_values,
                )
                if _only_fd_failed(report):
                    # near a domain edge, or for a high-degree polynomial, the fixed stencil
                    # is the one in error: ask the careful one (_fdcheck)
                    idx = self.argnames.index(self.wrt)
                    fd = careful_fd(self.objective_fn, candidate, args, idx, report.rtol, atol)
                    if fd.ok:
                        report = _with_reference(report, fd)
            else:
                report = self._check_at_size(args, atol, source, seed)
        if not report.ok:
            shapes = ", ".join(f"{n}={shape_str(s)}" for n, s in self.shapes.items())
            raise DeriveInternalError(source, self.wrt, to_text(self.gradient_expr), report, shapes)
        return report


def _only_fd_failed(report: GradReport) -> bool:
    refs = report.references
    return (
        not report.ok
        and "fd64" in refs
        and not refs["fd64"].ok
        and all(r.ok for name, r in refs.items() if name != "fd64")
    )


def _with_reference(report: GradReport, fd: ReferenceResult) -> GradReport:
    """``report`` with its ``fd64`` reference replaced by ``fd`` (verdict recomputed)."""
    refs = {**report.references, "fd64": fd}
    ok = all(r.ok for r in refs.values())
    return dataclasses.replace(
        report,
        ok=ok,
        references=refs,
        max_abs_err=max(r.max_abs_err for r in refs.values()),
        max_rel_err=max(r.max_rel_err for r in refs.values()),
        diagnosis="ok" if ok else report.diagnosis,
    )

"""Shadow checking: audit a bridged closed form against autodiff while it runs, inside ``jit``.

``with_grad(..., check="every:N")`` calls ``Shadow.audit`` from the backward rule.  What it adds
to the compiled program:

1. an ``io_callback`` with no operands that increments a host-side counter and returns whether
   this backward pass is selected: the counter is Python state in
   this object, so "every N-th call" counts *executions* of the backward pass, across jitted
   calls, scans and retraces alike (one count per execution, also under ``vmap``);
2. a ``lax.cond`` on that bit whose taken branch computes the reverse-mode gradient of the
   objective (``jax.vjp``, in the same trace and dtype), compares it normwise with the closed
   form (``max|c - g| <= atol + rtol max|g|``, ``tracegrad.tolerances`` per dtype) and hands
   both to a host ``jax.debug.callback``.  Autodiff is only evaluated on selected passes.

The host side diagnoses a disagreement with the checker's own ``tracegrad.diagnose`` (scaled,
transposed, sign flipped, symmetrised...) and then raises, warns, records or calls the user's
function.

Where ``"raise"`` surfaces: on an eager backward pass (``jax.grad`` outside ``jit``) the values
are concrete, the comparison runs in Python and ``GradientMismatchError`` is raised directly,
catchable as such.  Inside ``jit`` the error is raised in a host callback, and JAX re-raises any
exception from a callback as its own ``JaxRuntimeError`` (it has no channel for a typed error);
the message carries the report, and ``f.shadow.mismatches`` holds it as a ``ShadowMismatch``.
Use ``on_mismatch="record"`` and ``f.shadow.raise_if_mismatched()`` after the step to get the
typed error from a jitted program.

With ``check=None`` none of this exists: ``make_shadow`` returns ``None`` and the backward rule
is a plain ``custom_vjp`` rule.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from .._check.diagnosis.grad import diagnose
from .._check.tolerances import PATTERN_TOL_FACTOR, tolerances
from .._utils import is_concrete

__all__ = [
    "GradientMismatchError",
    "GradientMismatchWarning",
    "Shadow",
    "ShadowMismatch",
    "make_shadow",
]


class GradientMismatchError(RuntimeError):
    """A bridged gradient disagreed with autodiff during a shadow check."""


class GradientMismatchWarning(UserWarning):
    """Warning category for shadow-check mismatches with ``on_mismatch="warn"``."""


@dataclasses.dataclass(frozen=True)
class ShadowMismatch:
    """One disagreement found by the shadow mode.

    Attributes:
        name: the bridged objective's name.
        call: 1-based index of the backward pass (execution) that was checked.
        argument: which argument (and pytree path) the gradient belongs to.
        dtype, shape: of that gradient.
        max_abs_err: ``max|closed form - autodiff|``.
        max_rel_err: ``max_abs_err / max|autodiff|``.
        rtol, atol: the tolerances it failed.
        diagnosis: the checker's sentence naming the likely mistake.
    """

    name: str
    call: int
    argument: str
    dtype: str
    shape: tuple[int, ...]
    max_abs_err: float
    max_rel_err: float
    rtol: float
    atol: float
    diagnosis: str

    def __str__(self) -> str:
        return (
            f"tracegrad shadow check: the hand-written gradient of {self.name!r} w.r.t. "
            f"{self.argument} disagrees with autodiff on backward pass #{self.call} "
            f"({self.dtype}, shape {self.shape}): max abs err {self.max_abs_err:.3e}, "
            f"normwise rel err {self.max_rel_err:.3e} > rtol {self.rtol:.1e}\n"
            f"  diagnosis: {self.diagnosis}"
        )


def _parse(check) -> int | None:
    """``None`` (off), ``0`` (first only) or ``N`` (every N-th)."""
    if check is None or check is False:
        return None
    if check == "first":
        return 0
    if isinstance(check, str) and check.startswith("every:"):
        try:
            n = int(check[len("every:") :])
        except ValueError:
            n = 0
        if n >= 1:
            return n
    raise ValueError(
        f"check must be None, 'first' or 'every:N' with an integer N >= 1, got {check!r}"
    )


def make_shadow(check, on_mismatch, *, rtol=None, atol=None, name="objective") -> Shadow | None:
    """The ``Shadow`` for a ``check`` spec, or ``None`` when checking is off."""
    every = _parse(check)
    if not (callable(on_mismatch) or on_mismatch in ("raise", "warn", "record")):
        raise ValueError(
            f"on_mismatch must be 'raise', 'warn', 'record' or a callable, got {on_mismatch!r}"
        )
    tolerances(jnp.float32, rtol, atol)  # ValueError/TypeError naming rtol or atol
    if every is None:
        return None
    return Shadow(every, on_mismatch, rtol=rtol, atol=atol, name=name)


class Shadow:
    """Host-side state and reporting of one bridged function's shadow checks.

    Attributes:
        every: check every ``every``-th backward pass (``0``: the first one only).
        calls: backward passes executed so far.
        checked: how many of them were compared with autodiff.
        mismatches: every ``ShadowMismatch`` found, in order.
    """

    def __init__(self, every: int, on_mismatch, *, rtol=None, atol=None, name="objective"):
        self.every = every
        self.on_mismatch = on_mismatch
        self.rtol = rtol
        self.atol = atol
        self.name = name
        self.calls = 0
        self.checked = 0
        self.mismatches: list[ShadowMismatch] = []
        self._selected = -1
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        spec = "first" if self.every == 0 else f"every:{self.every}"
        return (
            f"Shadow({self.name!r}, check={spec!r}, calls={self.calls}, checked={self.checked}, "
            f"mismatches={len(self.mismatches)})"
        )

    def raise_if_mismatched(self) -> None:
        """Raise ``GradientMismatchError`` for the first recorded mismatch, if any.

        The typed error for jitted programs: run with ``on_mismatch="record"`` and call this
        after the step (``jax.block_until_ready`` first, so the checks have run).
        """
        with self._lock:
            first = self.mismatches[0] if self.mismatches else None
        if first is not None:
            raise GradientMismatchError(str(first))

    def reset(self) -> None:
        """Forget the counts and recorded mismatches ("first" checks again)."""
        with self._lock:
            self.calls = 0
            self.checked = 0
            self.mismatches.clear()

    # -- host side --------------------------------------------------------------------------

    def _tick(self) -> np.ndarray:
        with self._lock:
            index = self.calls
            self.calls += 1
            selected = index == 0 if self.every == 0 else index % self.every == 0
            if selected:
                self.checked += 1
                self._selected = index
        return np.asarray(selected)

    def _report(self, labels: Sequence[str], bad, candidates, references) -> None:
        # the pass being checked: the selection made by _tick earlier in the same execution
        index = self._selected
        found = []
        for label, is_bad, c, g in zip(labels, bad, candidates, references, strict=True):
            if not bool(is_bad):
                continue
            c64 = np.asarray(c, np.float64)
            g64 = np.asarray(g, np.float64)
            rtol, atol = tolerances(np.asarray(c).dtype, self.rtol, self.atol)
            abs_err = float(np.max(np.abs(c64 - g64))) if c64.size else 0.0
            scale = float(np.max(np.abs(g64))) if g64.size else 0.0
            found.append(
                ShadowMismatch(
                    name=self.name,
                    call=int(index) + 1,
                    argument=label,
                    dtype=str(np.asarray(c).dtype),
                    shape=tuple(np.shape(c)),
                    max_abs_err=abs_err,
                    max_rel_err=abs_err / scale if scale > 0 else float("inf"),
                    rtol=rtol,
                    atol=atol,
                    diagnosis=diagnose(c64, g64, tol=PATTERN_TOL_FACTOR * rtol),
                )
            )
        if not found:
            return
        with self._lock:
            self.mismatches.extend(found)
        for mismatch in found:
            if self.on_mismatch == "raise":
                raise GradientMismatchError(str(mismatch))
            if self.on_mismatch == "warn":
                warnings.warn(str(mismatch), GradientMismatchWarning, stacklevel=2)
            elif callable(self.on_mismatch):
                self.on_mismatch(mismatch)

    # -- in the trace -----------------------------------------------------------------------

    def audit(
        self,
        candidates: Sequence[jax.Array],
        reference: Callable[[list], Sequence[jax.Array]],
        operands: Sequence[jax.Array],
        labels: Sequence[str],
    ) -> None:
        """Emit the counter and the conditional comparison into the backward rule's trace.

        Args:
            candidates: the closed-form gradient leaves.
            reference: ``reference(operands)`` computes the autodiff gradient leaves; it is
                called only inside the branch taken on selected passes.
            operands: the arrays ``reference`` needs.
            labels: a name per leaf for the report.
        """
        labels = tuple(labels)
        if all(is_concrete(a) for a in (*candidates, *operands)):
            # eager backward pass (jax.grad outside jit): compare here, in Python, so that
            # on_mismatch="raise" raises GradientMismatchError itself
            if bool(self._tick()):
                refs = reference(list(operands))
                bad = []
                for c, g in zip(candidates, refs, strict=True):
                    c64, g64 = np.asarray(c, np.float64), np.asarray(g, np.float64)
                    rtol, atol = tolerances(np.asarray(c).dtype, self.rtol, self.atol)
                    err = float(np.max(np.abs(c64 - g64))) if c64.size else 0.0
                    scale = float(np.max(np.abs(g64))) if g64.size else 0.0
                    bad.append(not err <= atol + rtol * scale)
                self._report(labels, bad, list(candidates), list(refs))
            return
        # The selection bit crosses into the program only as the predicate (not as a branch
        # operand): a host-placed operand inside the branch trips XLA's sharding verifier once
        # the branch's unused operands are pruned.
        selected = io_callback(self._tick, jax.ShapeDtypeStruct((), jnp.bool_), ordered=False)

        def compare(candidates, operands):
            # The barrier keeps XLA from hoisting the reference computation out of the branch
            # (conditional code motion shares it with the forward pass otherwise, and then it
            # runs on every call, checked or not).
            refs = reference(jax.lax.optimization_barrier(list(operands)))
            bad = []
            for c, g in zip(candidates, refs, strict=True):
                rtol, atol = tolerances(c.dtype, self.rtol, self.atol)
                err = jnp.max(jnp.abs(c - g)) if c.size else jnp.zeros((), c.dtype)
                scale = jnp.max(jnp.abs(g)) if g.size else jnp.zeros((), c.dtype)
                bad.append(~(err <= atol + rtol * scale))  # NaN counts as a mismatch
            jax.debug.callback(
                lambda b, cs, rs: self._report(labels, b, cs, rs), bad, list(candidates), list(refs)
            )

        def skip(candidates, operands):
            return None

        jax.lax.cond(selected, compare, skip, list(candidates), list(operands))

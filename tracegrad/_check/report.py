"""The checkers' verdicts: ``GradReport`` (first order) and ``HVPReport`` (second order).

Each holds one ``ReferenceResult`` per reference; ``HVPReport`` also one ``PropertyResult`` per
property every Hessian-vector product has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """How the candidate compares with one reference derivative.

    Attributes:
        name: ``"reverse"`` (``jax.grad``), ``"forward"`` (``jax.jvp`` along random directions)
            or ``"fd64"`` (central finite differences in float64).
        max_abs_err: the largest absolute discrepancy (for ``forward``, and ``fd64`` on large
            inputs, of the directional derivatives).
        max_rel_err: ``max_abs_err`` divided by the reference's scale (see ``check_grad``).
        rtol: the normwise relative tolerance this reference was held to.
        ok: whether the discrepancy is within tolerance.
        detail: how the reference was computed (directions, step, dtype).
    """

    name: str
    max_abs_err: float
    max_rel_err: float
    rtol: float
    ok: bool
    detail: str = ""


def _reference_lines(references: Mapping[str, ReferenceResult], width: int) -> list[str]:
    """One line a reference for a report's ``__str__``: verdict, name (padded to ``width``),
    errors, tolerance and how it was computed."""
    return [
        f"  {'ok  ' if ref.ok else 'FAIL'} {ref.name:<{width}} abs {ref.max_abs_err:.3e}"
        f"  rel {ref.max_rel_err:.3e}  (tol {ref.rtol:.1e}; {ref.detail})"
        for ref in references.values()
    ]


@dataclasses.dataclass(frozen=True)
class GradReport:
    """Result of ``check_grad``: whether a gradient is right and, if not, what is wrong.

    Attributes:
        ok: True when every reference agrees within tolerance.
        max_abs_err: the largest ``max_abs_err`` over the references.
        max_rel_err: the largest ``max_rel_err`` over the references.
        references: per-reference results, keyed by name.
        diagnosis: ``"ok"`` or a sentence naming the likely mistake.
        dtype: dtype of the differentiated argument.
        shape: shape of the differentiated argument (the expected gradient shape).
        candidate_shape: shape of the gradient that was checked.
        candidate_dtype: dtype of the gradient that was checked (a closed form should keep
            the dtype of its inputs).
        rtol, atol: tolerances used for the same-dtype references.
        noise: for float32 (and lower) checks, the measured normwise rounding noise of the
            computation in its own dtype (the evidence ``rtol`` was set from); ``None`` when
            the tolerance is fixed (float64, or ``rtol`` given).
        notes: remarks on how the check was run (a float64 scope entered, a tolerance
            capped, references that disagree with each other).
    """

    ok: bool
    max_abs_err: float
    max_rel_err: float
    references: Mapping[str, ReferenceResult]
    diagnosis: str
    dtype: str
    shape: tuple[int, ...]
    candidate_shape: tuple[int, ...]
    candidate_dtype: str
    rtol: float
    atol: float
    noise: float | None = None
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        lines = [
            f"gradient check {verdict}: shape {self.shape}, dtype {self.dtype}, "
            f"rtol {self.rtol:.1e}, atol {self.atol:.1e}"
            + ("" if self.noise is None else f" (set from measured noise {self.noise:.1e})"),
        ]
        lines.extend(_reference_lines(self.references, width=8))
        lines.append(f"  diagnosis: {self.diagnosis}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def grad_report(
    references: Mapping[str, ReferenceResult],
    *,
    diagnosis: str,
    dtype: str,
    shape: tuple[int, ...],
    candidate_shape: tuple[int, ...],
    candidate_dtype: str,
    rtol: float,
    atol: float,
    ok: bool | None = None,
    noise: float | None = None,
    notes: Sequence[str] = (),
) -> GradReport:
    """A ``GradReport`` over (non-empty) ``references``: the largest errors are theirs, and it
    passes when every reference does, unless ``ok`` gives a verdict that weighs more (the
    references disagreeing with each other)."""
    refs = references.values()
    return GradReport(
        ok=all(r.ok for r in refs) if ok is None else ok,
        max_abs_err=max(r.max_abs_err for r in refs),
        max_rel_err=max(r.max_rel_err for r in refs),
        references=references,
        diagnosis=diagnosis,
        dtype=dtype,
        shape=shape,
        candidate_shape=candidate_shape,
        candidate_dtype=candidate_dtype,
        rtol=rtol,
        atol=atol,
        noise=noise,
        notes=tuple(notes),
    )


@dataclasses.dataclass(frozen=True)
class PropertyResult:
    """One property every Hessian-vector product has, tested on the candidate alone.

    Attributes:
        name: ``"linearity"`` (``H(a u + b w) = a Hu + b Hw``), ``"symmetry"``
            (``<u, Hw> = <Hu, w>``) or ``"taylor"`` (the second-order Taylor remainder of f
            along v shrinks like ``t^3``).
        value: the measured quantity (a relative error, or for ``taylor`` the fitted order of
            the remainder, ``nan`` when the remainder is at rounding level).
        threshold: what ``value`` was held to (at most, or for ``taylor`` at least).
        ok: whether the property holds.
        detail: how it was measured.
    """

    name: str
    value: float
    threshold: float
    ok: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class HVPReport:
    """Result of ``check_hvp`` / ``check_hessian``: is the second derivative right, and if not, why.

    Attributes:
        ok: True when every reference and every property check passes.
        kind: ``"HVP"`` or ``"Hessian"``.
        max_abs_err, max_rel_err: the largest errors over the references.
        references: per-reference results (``fwd_rev``: ``jax.jvp`` of ``jax.grad``;
            ``rev_rev``: ``jax.grad`` of ``<jax.grad, v>``; ``fd64``: float64 central
            differences of the gradient; for ``check_hessian`` also ``dense``:
            ``jax.hessian`` entry by entry).
        properties: per-property results (linearity, symmetry, taylor).
        diagnosis: ``"ok"`` or a sentence naming the likely mistake.
        dtype, shape: of the differentiated argument.
        candidate_shape, candidate_dtype: of what the candidate returned.
        rtol, atol: tolerances of the same-dtype references.
    """

    ok: bool
    kind: str
    max_abs_err: float
    max_rel_err: float
    references: Mapping[str, ReferenceResult]
    properties: Mapping[str, PropertyResult]
    diagnosis: str
    dtype: str
    shape: tuple[int, ...]
    candidate_shape: tuple[int, ...]
    candidate_dtype: str
    rtol: float
    atol: float

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        lines = [
            f"{self.kind} check {verdict}: argument shape {self.shape}, dtype {self.dtype}, "
            f"rtol {self.rtol:.1e}, atol {self.atol:.1e}",
        ]
        lines.extend(_reference_lines(self.references, width=9))
        for prop in self.properties.values():
            mark = "ok  " if prop.ok else "FAIL"
            lines.append(
                f"  {mark} {prop.name:<9} {prop.value:.3g} (threshold {prop.threshold:.3g}; "
                f"{prop.detail})"
            )
        lines.append(f"  diagnosis: {self.diagnosis}")
        return "\n".join(lines)

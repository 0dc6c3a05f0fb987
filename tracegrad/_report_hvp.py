"""The second-order checker's verdict: an ``HVPReport`` of references and property checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ._report import ReferenceResult


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
        for ref in self.references.values():
            mark = "ok  " if ref.ok else "FAIL"
            lines.append(
                f"  {mark} {ref.name:<9} abs {ref.max_abs_err:.3e}  rel {ref.max_rel_err:.3e}"
                f"  (tol {ref.rtol:.1e}; {ref.detail})"
            )
        for prop in self.properties.values():
            mark = "ok  " if prop.ok else "FAIL"
            lines.append(
                f"  {mark} {prop.name:<9} {prop.value:.3g} (threshold {prop.threshold:.3g}; "
                f"{prop.detail})"
            )
        lines.append(f"  diagnosis: {self.diagnosis}")
        return "\n".join(lines)

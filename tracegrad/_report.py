"""The checker's verdict: a ``GradReport`` with one ``ReferenceResult`` per reference."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


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
        for ref in self.references.values():
            mark = "ok  " if ref.ok else "FAIL"
            lines.append(
                f"  {mark} {ref.name:<8} abs {ref.max_abs_err:.3e}  rel {ref.max_rel_err:.3e}"
                f"  (tol {ref.rtol:.1e}; {ref.detail})"
            )
        lines.append(f"  diagnosis: {self.diagnosis}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

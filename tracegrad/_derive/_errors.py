"""The engine's errors: bad input points at the source; an engine bug carries its report."""

from __future__ import annotations

_WINDOW = 100
"""Longer sources are shown as a window of about this many characters around the pointer."""


def pointer(source: str, start: int, end: int | None = None) -> str:
    """The source on one line and, under it, a caret (or ``^^^`` run) under ``[start, end)``.

    Both lines are indented by two spaces::

          tr(A X))
                 ^

    A source longer than ``_WINDOW`` characters is cut to a window around ``start``, with
    ``...`` marking the cuts (and the run of carets to the window).
    """
    end = start + 1 if end is None or end <= start else end
    if len(source) > _WINDOW:
        lo = max(0, min(start - _WINDOW // 2, len(source) - _WINDOW))
        hi = min(len(source), lo + _WINDOW)
        head = "..." if lo > 0 else ""
        tail = "..." if hi < len(source) else ""
        shift = len(head) - lo
        start, end = start + shift, min(end, hi) + shift
        source = f"{head}{source[lo:hi]}{tail}"
        end = max(end, start + 1)
    return f"  {source}\n  {' ' * start}{'^' * (end - start)}"


class DeriveError(ValueError):
    """Bad input to ``tracegrad.derive``: the expression, ``wrt``, ``shapes`` or the arrays."""


class DeriveSyntaxError(DeriveError):
    """The expression does not parse; the message ends with a caret under the bad token.

    Attributes:
        source: the expression.
        position: 0-based column of the offending token (``len(source)`` at the end).
        reason: the message without the pointer lines.
    """

    def __init__(self, reason: str, source: str, position: int, end: int | None = None):
        self.reason = reason
        self.source = source
        self.position = position
        super().__init__(f"{reason}\n{pointer(source, position, end)}")


class DeriveShapeError(DeriveError):
    """Shapes do not fit: names the offending sub-expression and underlines it in the source.

    Attributes:
        source: the expression.
        span: ``(start, end)`` of the offending sub-expression, or None when it is the arrays
            or ``shapes`` argument that are at fault.
        subexpression: the text of that sub-expression.
        reason: the message without the pointer lines.
    """

    def __init__(self, reason: str, source: str = "", span: tuple[int, int] | None = None):
        self.reason = reason
        self.source = source
        self.span = span
        self.subexpression = source[span[0] : span[1]] if span is not None else ""
        text = reason if span is None else f"{reason}\n{pointer(source, *span)}"
        super().__init__(text)


class DerivePrecedenceWarning(UserWarning):
    """The expression is read differently from how MATLAB or NumPy would read it.

    In the derive language ``⊙``/``.*`` and ``⊘``/``./`` bind more loosely than products, as in
    the trace notes (``y .* X w`` is ``y ⊙ (X w)``); MATLAB (``y .* X * w``) and NumPy
    (``y * X @ w``) read ``(y .* X) w``.  Bracket the product to silence the warning.
    """


class DeriveDomainError(DeriveShapeError):
    """A number outside float64 or a division by the literal 0: names and underlines the
    sub-expression (same attributes as ``DeriveShapeError``)."""


class DeriveInternalError(AssertionError):
    """A derived gradient disagreed with ``jax.grad``: a bug in the engine, never a result.

    Attributes:
        report: the ``GradReport`` of the failed check.
        expression, wrt: what was being differentiated.
        gradient: the derived formula that failed.
    """

    def __init__(self, expression: str, wrt: str, gradient: str, report, shapes=None):
        self.report = report
        self.expression = expression
        self.wrt = wrt
        self.gradient = gradient
        where = f" at shapes {shapes}" if shapes else ""
        super().__init__(
            f"tracegrad.derive produced a wrong gradient (an engine bug; please report it)\n"
            f"  objective: {expression}\n  wrt: {wrt}{where}\n  derived: {gradient}\n{report}"
        )

"""``cli_main``: the body of ``tracegrad derive "EXPR" --wrt X [--latex] [--shapes ...]
[--order 2]``."""

from __future__ import annotations

from ._derivation import derive
from ._shapes import parse_shape_spec


def cli_main(expr: str, wrt: str, latex: bool, shapes: str | None, order: int = 1) -> str:
    """Derive ``expr`` w.r.t. ``wrt`` and return the text the CLI prints.

    Output (plain text, or LaTeX formulas with ``latex``)::

        f = tr(A X X^T B C X^T X C)
        df/dX = A^T C^T X^T X C^T B^T X + B C X^T X C A X + ...
        terms (one per appearance of X, trace notes eq. 18):
          [1] X at column 5: A^T C^T X^T X C^T B^T X
          [2] X^T at column 7: B C X^T X C A X
          ...
        check vs jax.grad: PASS (float64, A=3x4, X=4x3, ...; max rel err 2.1e-16)

    The ``terms`` block appears when the variable appears more than once.  Without
    ``shapes`` the derivation is symbolic and the check runs at small distinct sizes, which
    the last line names.

    Args:
        expr: the objective.
        wrt: the variable.
        latex: print formulas in LaTeX.
        shapes: ``"A=3x4,x=5"`` (``NAME=ROWSxCOLS`` or ``NAME=N`` for a vector), or None.
        order: 2 adds the lines ``H[dX] = ...`` (the Hessian-vector product), the closed-form
            Hessian of a vector variable where there is one, and the second-order check.

    Raises:
        DeriveError (a ``ValueError``; also its ``DeriveSyntaxError``/``DeriveShapeError``
        subclasses): bad input, with a message for the user (exit status 2).
        DeriveInternalError (an ``AssertionError``): the engine's gradient failed its check.
    """
    parsed = parse_shape_spec(shapes) if shapes is not None else None
    return derive(expr, wrt=wrt, shapes=parsed, order=order).summary(latex=latex)

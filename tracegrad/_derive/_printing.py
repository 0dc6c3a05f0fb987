"""Plain text and LaTeX for expression nodes, with only the brackets the precedence needs.

Plain text is the input language (``A^T``, ``⊙``, ``⊘``, ``tr``, ``inv``, ``||E||_F``), so a
printed gradient with known sizes parses back to the same function: an all-ones vector is
``J`` (a row ``J^T``), its size inferred as the parser infers it, as in ``(A^T ⊙ B) J``
(the trace notes' ``(A^T ⊙ B) 1``, eq. 31; LaTeX keeps the notes' bold ``1``), and
``diag(M)`` of a square matrix is its diagonal as a vector.  A size the derivation leaves
symbolic prints as its name (``len(x)``, ``rows(X)``), which does not parse.
"""

from __future__ import annotations

import math

from . import _ast as E

# precedence levels, loosest first
_ADD, _NEG, _HAD, _MUL, _POST, _ATOM = 1, 2, 3, 4, 5, 6


def _number(v: float, latex: bool = False) -> str:
    if not math.isfinite(v):
        return repr(float(v))
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    for den in (1, 2, 3, 4, 6):  # a simple multiple of pi (from the constant pi)
        k = v * den / math.pi
        if abs(k - round(k)) < 1e-12 * max(1.0, abs(k)) and round(k) != 0:
            num = int(round(k))
            pi = "\\pi" if latex else "pi"
            head = "" if num == 1 else "-" if num == -1 else f"{num} "
            return f"{head}{pi}" + ("" if den == 1 else f"/{den}")
    return f"{v:.12g}"


def _dim(d, latex: bool) -> str | None:
    """A dimension: a number, or the name of a symbol's unknown size (``rows(Y)``); None for
    the unknown size of a constant (``I``, ``J``), which has no name worth printing."""
    if isinstance(d, int):
        return str(d)
    func, _, arg = d.partition("(")
    if func not in ("rows", "cols", "len"):
        return None
    return f"\\operatorname{{{func}}}({arg}" if latex else d


class _Printer:
    latex = False

    def wrap(self, text: str) -> str:
        return f"\\left({text}\\right)" if self.latex else f"({text})"

    def at(self, e: E.Expr, level: int) -> str:
        text, own = self.show(e)
        return self.wrap(text) if own < level else text

    # -- per node ------------------------------------------------------------------------
    def show(self, e: E.Expr) -> tuple[str, int]:
        return e.show(self)  # each node class prints itself (``Expr.show``)

    def _Var(self, e):
        name = e.name
        if self.latex and len(name) > 1:
            greek = {
                "alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "nu",
                "sigma", "tau", "phi", "psi", "omega", "Sigma", "Lambda", "Gamma", "Delta",
                "Phi", "Psi", "Omega", "Theta",
            }  # fmt: skip
            if name in greek:
                return f"\\{name}", _ATOM
            if "_" in name:
                base, _, sub = name.partition("_")
                return f"{base}_{{{sub}}}", _ATOM
            return f"\\mathit{{{name}}}", _ATOM
        return name, _ATOM

    def _Const(self, e):
        text = _number(e.value, self.latex)
        return text, (_NEG if e.value < 0 else _ATOM)

    def _Eye(self, e):
        return "I", _ATOM

    def _Ones(self, e):
        # plain text "J", not the notes' "1": the parser reads 1 as the number
        one = "\\mathbf{1}" if self.latex else "J"
        if e.cols == 1:
            return one, _ATOM
        if e.rows == 1:
            return (f"{one}^{{T}}" if self.latex else "J^T"), _POST
        return "J", _ATOM

    def _Zeros(self, e):
        return "0", _ATOM

    def _Add(self, e):
        parts = []
        args = []
        for a in e.args:  # sums are associative: nested ones print without brackets
            args.extend(a.args if isinstance(a, E.Add) else (a,))
        for i, term in enumerate(args):
            negative = (isinstance(term, E.Scale) and term.k < 0) or (
                isinstance(term, E.Const) and term.value < 0
            )
            if negative and i > 0:
                positive = (
                    E.Const(-term.value)
                    if isinstance(term, E.Const)
                    else E.Scale(-term.k, term.arg)
                )
                parts.append(" - " + self._term(positive))
            else:
                parts.append((" + " if i else "") + self._term(term))
        return "".join(parts), _ADD

    def _term(self, term):
        return self.at(term, _NEG)

    def _Scale(self, e):
        k = e.k
        if k == 1:
            return self.show(e.arg)
        if k == -1:
            return "-" + self.at(e.arg, _MUL), _NEG
        coef = self._coef(abs(k))
        if "pi" in coef and "/" in coef:
            coef = self.wrap(coef)
        body = self.at(e.arg, _MUL)
        sep = " " if not self.latex or not coef.startswith("\\frac") else " "
        text = f"{coef}{sep}{body}"
        return ("-" + text, _NEG) if k < 0 else (text, _MUL)

    def _coef(self, k: float) -> str:
        if self.latex and math.isfinite(k):
            for den in (2, 3, 4):
                num = k * den
                if abs(num - round(num)) < 1e-12 and not float(k).is_integer():
                    return f"\\tfrac{{{int(round(num))}}}{{{den}}}"
        return _number(k, self.latex)

    def _Mul(self, e):
        s = self.at(e.s, _POST)
        return f"{s} {self.at(e.arg, _MUL)}", _MUL

    def _MatMul(self, e):
        # products are associative: nested ones print without brackets
        return " ".join(
            self.show(a)[0] if isinstance(a, E.MatMul) else self.at(a, _POST) for a in e.args
        ), _MUL

    def _Transpose(self, e):
        arg = e.arg
        if isinstance(arg, E.Inv) and self.latex:
            return f"{self.at(arg.arg, _ATOM)}^{{-T}}", _POST
        if isinstance(arg, E.Inv):
            return f"{self.show(arg)[0]}^T", _POST
        base = self.at(arg, _ATOM)
        return (f"{base}^{{T}}" if self.latex else f"{base}^T"), _POST

    def _func(self, name: str, e, latex_name: str | None = None):
        inner = self.show(e.arg)[0]
        if self.latex:
            return f"{latex_name or name}\\left({inner}\\right)", _ATOM
        return f"{name}({inner})", _ATOM

    def _Trace(self, e):
        if isinstance(e.arg, E.Eye) and _dim(e.arg.n, self.latex) is not None:
            return _dim(e.arg.n, self.latex), _ATOM
        return self._func("tr", e, "\\operatorname{tr}")

    def _Sum(self, e):
        if isinstance(e.arg, E.Ones):  # sum(J) with symbolic sizes: the size itself
            dims = [_dim(d, self.latex) for d in e.arg.shape if d != 1]
            if len(dims) == 1 and dims[0] is not None:
                return dims[0], _ATOM
        return self._func("sum", e, "\\operatorname{sum}")

    def _Inv(self, e):
        if self.latex:
            return f"{self.at(e.arg, _ATOM)}^{{-1}}", _POST
        return self._func("inv", e)

    def _Det(self, e):
        return self._func("det", e, "\\det")

    def _LogDet(self, e):
        if self.latex:
            return f"\\log\\left\\lvert\\det {self.at(e.arg, _ATOM)}\\right\\rvert", _ATOM
        return self._func("logdet", e)

    def _Diag(self, e):
        return self._func("diag", e, "\\operatorname{diag}")

    def _DiagPart(self, e):
        return self._func("diag", e, "\\operatorname{diag}")

    def _Norm(self, e):
        inner = self.show(e.arg)[0]
        if self.latex:
            return f"\\left\\lVert {inner}\\right\\rVert_F", _ATOM
        return f"||{inner}||_F", _ATOM

    def _Log(self, e):
        return self._func("log", e, "\\log")

    def _Exp(self, e):
        return self._func("exp", e, "\\exp")

    def _Hadamard(self, e):
        op = " \\odot " if self.latex else " ⊙ "
        args = []
        for a in e.args:
            args.extend(a.args if isinstance(a, E.Hadamard) else (a,))
        # a matrix product after the first operand is bracketed: MATLAB and NumPy would read
        # A ⊙ B C as (A ⊙ B) C (the parser warns about it, see DerivePrecedenceWarning)
        return op.join(
            self.wrap(self.show(a)[0])
            if i > 0 and isinstance(a, E.MatMul) and not a.is_scalar
            else self.at(a, _MUL)
            for i, a in enumerate(args)
        ), _HAD

    def _EDiv(self, e):
        if e.is_scalar:
            if self.latex:
                return f"\\frac{{{self.show(e.num)[0]}}}{{{self.show(e.den)[0]}}}", _ATOM
            return f"{self.at(e.num, _MUL)} / {self.at(e.den, _POST)}", _MUL
        den = e.den
        # a product in the denominator is bracketed for the reader, as in the notes' V ⊘ (AXB)
        den_text = self.wrap(self.show(den)[0]) if isinstance(den, E.MatMul) else self.at(den, _MUL)
        op = " \\oslash " if self.latex else " ⊘ "
        return f"{self.at(e.num, _HAD)}{op}{den_text}", _HAD

    def _Pow(self, e):
        p = _number(e.p)
        if isinstance(e.arg, E.Norm) and e.p == 2:
            return (
                f"{self.show(e.arg)[0]}^{{2}}" if self.latex else f"{self.show(e.arg)[0]}^2"
            ), _POST
        base = self.at(e.arg, _ATOM)
        if e.arg.is_scalar:
            return (f"{base}^{{{p}}}" if self.latex else f"{base}^{p}"), _POST
        return (f"{base}^{{\\circ {p}}}" if self.latex else f"{base}.^{p}"), _POST


class _Latex(_Printer):
    latex = True


def to_text(e: E.Expr) -> str:
    """Plain-text form of ``e`` (``A^T B^T``, ``V ⊘ (A X B)``)."""
    return _Printer().show(e)[0]


def to_latex(e: E.Expr) -> str:
    """LaTeX form of ``e`` (``A^{T} B^{T}``, ``V \\oslash \\left(A X B\\right)``)."""
    return _Latex().show(e)[0]

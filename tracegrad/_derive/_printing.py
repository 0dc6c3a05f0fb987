"""Plain text and LaTeX for expression nodes, with only the brackets the precedence needs.

Plain text is the input language (``A^T``, ``⊙``, ``⊘``, ``tr``, ``inv``, ``||E||_F``), so a
printed gradient with known sizes parses back to the same function: an all-ones vector is
``J`` (a row ``J^T``), its size inferred as the parser infers it, as in ``(A^T ⊙ B) J``
(the trace notes' ``(A^T ⊙ B) 1``, eq. 31; LaTeX keeps the notes' bold ``1``), and
``diag(M)`` of a square matrix is its diagonal as a vector.  A size the derivation leaves
symbolic prints as its name (``len(x)``, ``rows(X)``), which does not parse.
"""

from __future__ import annotations

import functools
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

    def show(self, e: E.Expr) -> tuple[str, int]:
        return show(e, self)

    def _term(self, term):
        return self.at(term, _NEG)

    def _coef(self, k: float) -> str:
        if self.latex and math.isfinite(k):
            for den in (2, 3, 4):
                num = k * den
                if abs(num - round(num)) < 1e-12 and not float(k).is_integer():
                    return f"\\tfrac{{{int(round(num))}}}{{{den}}}"
        return _number(k, self.latex)

    def call(self, name: str, e, latex_name: str = ""):
        """``name(arg)`` (LaTeX: ``latex_name``, else ``\\operatorname{name}``)."""
        inner = self.show(e.arg)[0]
        if self.latex:
            op = latex_name or f"\\operatorname{{{name}}}"
            return f"{op}\\left({inner}\\right)", _ATOM
        return f"{name}({inner})", _ATOM


class _Latex(_Printer):
    latex = True


@functools.singledispatch
def show(e: E.Expr, p: _Printer) -> tuple[str, int]:
    """``(text, precedence level)`` of ``e`` for the printer ``p`` (``p.latex``: LaTeX)."""
    raise NotImplementedError(
        f"{type(e).__name__} has no printing: register one with @_printing.show.register"
    )


@show.register
def _(e: E.Var, p: _Printer):
    name = e.name
    if p.latex and len(name) > 1:
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


@show.register
def _(e: E.Const, p: _Printer):
    text = _number(e.value, p.latex)
    return text, (_NEG if e.value < 0 else _ATOM)


@show.register
def _(e: E.Eye, p: _Printer):
    return "I", _ATOM


@show.register
def _(e: E.Ones, p: _Printer):
    # plain text "J", not the notes' "1": the parser reads 1 as the number
    one = "\\mathbf{1}" if p.latex else "J"
    if e.cols == 1:
        return one, _ATOM
    if e.rows == 1:
        return (f"{one}^{{T}}" if p.latex else "J^T"), _POST
    return "J", _ATOM


@show.register
def _(e: E.Zeros, p: _Printer):
    return "0", _ATOM


@show.register
def _(e: E.Add, p: _Printer):
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
                E.Const(-term.value) if isinstance(term, E.Const) else E.Scale(-term.k, term.arg)
            )
            parts.append(" - " + p._term(positive))
        else:
            parts.append((" + " if i else "") + p._term(term))
    return "".join(parts), _ADD


@show.register
def _(e: E.Scale, p: _Printer):
    k = e.k
    if k == 1:
        return p.show(e.arg)
    if k == -1:
        return "-" + p.at(e.arg, _MUL), _NEG
    coef = p._coef(abs(k))
    if "pi" in coef and "/" in coef:
        coef = p.wrap(coef)
    body = p.at(e.arg, _MUL)
    sep = " " if not p.latex or not coef.startswith("\\frac") else " "
    text = f"{coef}{sep}{body}"
    return ("-" + text, _NEG) if k < 0 else (text, _MUL)


@show.register
def _(e: E.Mul, p: _Printer):
    s = p.at(e.s, _POST)
    return f"{s} {p.at(e.arg, _MUL)}", _MUL


@show.register
def _(e: E.MatMul, p: _Printer):
    # products are associative: nested ones print without brackets
    return " ".join(
        p.show(a)[0] if isinstance(a, E.MatMul) else p.at(a, _POST) for a in e.args
    ), _MUL


@show.register
def _(e: E.Transpose, p: _Printer):
    arg = e.arg
    if isinstance(arg, E.Inv) and p.latex:
        return f"{p.at(arg.arg, _ATOM)}^{{-T}}", _POST
    if isinstance(arg, E.Inv):
        return f"{p.show(arg)[0]}^T", _POST
    base = p.at(arg, _ATOM)
    return (f"{base}^{{T}}" if p.latex else f"{base}^T"), _POST


@show.register
def _(e: E.Trace, p: _Printer):
    if isinstance(e.arg, E.Eye) and (n := _dim(e.arg.n, p.latex)) is not None:
        return n, _ATOM
    return p.call(e.name, e)


@show.register
def _(e: E.Sum, p: _Printer):
    if isinstance(e.arg, E.Ones):  # sum(J) with symbolic sizes: the size itself
        dims = [_dim(d, p.latex) for d in e.arg.shape if d != 1]
        if len(dims) == 1 and dims[0] is not None:
            return dims[0], _ATOM
    return p.call(e.name, e)


@show.register
def _(e: E.Inv, p: _Printer):
    if p.latex:
        return f"{p.at(e.arg, _ATOM)}^{{-1}}", _POST
    return p.call(e.name, e)


@show.register
def _(e: E.LogDet, p: _Printer):
    if p.latex:
        return f"\\log\\left\\lvert\\det {p.at(e.arg, _ATOM)}\\right\\rvert", _ATOM
    return p.call(e.name, e)


@show.register(E.Diag)
@show.register(E.DiagPart)
def _(e, p: _Printer):
    return p.call("diag", e)


@show.register
def _(e: E.Norm, p: _Printer):
    inner = p.show(e.arg)[0]
    if p.latex:
        return f"\\left\\lVert {inner}\\right\\rVert_F", _ATOM
    return f"||{inner}||_F", _ATOM


@show.register
def _(e: E.Function, p: _Printer):
    return p.call(e.name, e, e.latex_name)


@show.register
def _(e: E.Sqrt, p: _Printer):
    if p.latex:
        return f"\\sqrt{{{p.show(e.arg)[0]}}}", _ATOM
    return p.call(e.name, e)


@show.register
def _(e: E.Hadamard, p: _Printer):
    op = " \\odot " if p.latex else " ⊙ "
    args = []
    for a in e.args:
        args.extend(a.args if isinstance(a, E.Hadamard) else (a,))
    # a matrix product after the first operand is bracketed: MATLAB and NumPy would read
    # A ⊙ B C as (A ⊙ B) C (the parser warns about it, see DerivePrecedenceWarning)
    return op.join(
        p.wrap(p.show(a)[0])
        if i > 0 and isinstance(a, E.MatMul) and not a.is_scalar
        else p.at(a, _MUL)
        for i, a in enumerate(args)
    ), _HAD


@show.register
def _(e: E.EDiv, p: _Printer):
    if e.is_scalar:
        if p.latex:
            return f"\\frac{{{p.show(e.num)[0]}}}{{{p.show(e.den)[0]}}}", _ATOM
        return f"{p.at(e.num, _MUL)} / {p.at(e.den, _POST)}", _MUL
    den = e.den
    # a product in the denominator is bracketed for the reader, as in the notes' V ⊘ (AXB)
    den_text = p.wrap(p.show(den)[0]) if isinstance(den, E.MatMul) else p.at(den, _MUL)
    op = " \\oslash " if p.latex else " ⊘ "
    return f"{p.at(e.num, _HAD)}{op}{den_text}", _HAD


@show.register
def _(e: E.Pow, p: _Printer):
    k = _number(e.p)
    if isinstance(e.arg, E.Norm) and e.p == 2:
        return (f"{p.show(e.arg)[0]}^{{2}}" if p.latex else f"{p.show(e.arg)[0]}^2"), _POST
    base = p.at(e.arg, _ATOM)
    if e.arg.is_scalar:
        return (f"{base}^{{{k}}}" if p.latex else f"{base}^{k}"), _POST
    return (f"{base}^{{\\circ {k}}}" if p.latex else f"{base}.^{k}"), _POST


def _pair(p: _Printer, x: E.Expr, y: E.Expr) -> str:
    return f"{p.show(x)[0]}, {p.show(y)[0]}"


@show.register
def _(e: E.Max, p: _Printer):
    args = _pair(p, e.left, e.right)
    return (f"\\max\\left({args}\\right)" if p.latex else f"max({args})"), _ATOM


@show.register
def _(e: E.Kron, p: _Printer):
    if not p.latex:
        return f"kron({_pair(p, e.left, e.right)})", _ATOM
    a, b = (p.show(x)[0] for x in (e.left, e.right))
    return f"{p.wrap(a) if ' ' in a else a} \\otimes {p.wrap(b) if ' ' in b else b}", _MUL


@show.register
def _(e: E.KronCut, p: _Printer):
    name = "kron\\_adj" if p.latex else "kron_adj"
    return f"{name}_{1 if e.first else 2}({_pair(p, e.g, e.m)})", _ATOM


def to_text(e: E.Expr) -> str:
    """Plain-text form of ``e`` (``A^T B^T``, ``V ⊘ (A X B)``)."""
    return _Printer().show(e)[0]


E.Expr.text_form = to_text  # a node's repr shows its text


def to_latex(e: E.Expr) -> str:
    """LaTeX form of ``e`` (``A^{T} B^{T}``, ``V \\oslash \\left(A X B\\right)``)."""
    return _Latex().show(e)[0]

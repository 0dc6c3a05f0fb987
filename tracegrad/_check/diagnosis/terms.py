"""Per-appearance terms of an objective, found from its jaxpr: the diagnosis without ``terms=``.

Trace notes eq. 18: when ``X`` appears ``k`` times in ``f``, the gradient is the sum of ``k``
terms, each the gradient with ``X`` held fixed in every other appearance.  The jaxpr of ``f``
lists the appearances: every operand slot that reads the differentiated input.  Giving each slot
its own copy ``X_1 ... X_k`` of the input (``f_split(X_1, ..., X_k)`` with
``f_split(X, ..., X) = f(X)``), the term of appearance ``i`` is ``d f_split / d X_i`` at
``X_i = X``, and the terms sum to the gradient by the chain rule.

What counts as one appearance:

* calls of nested jaxprs (``jit``-decorated helpers such as ``jnp.trace``) are inlined, so an
  appearance is an operation, not a helper call;
* a view of ``X`` (transpose, reshape, dtype conversion, squeeze, expand_dims, copy) is not an
  appearance of its own: each *use* of the view is, so ``Xt = X.T; Xt @ Xt`` has two;
* other higher-order primitives (``scan``, ``cond``, custom derivative rules) read ``X`` once per
  operand slot.

Appearances whose terms are equal (``X^T A X`` with symmetric ``A``) are merged into one term,
and terms that vanish at the point are dropped, so the diagnosis fits a basis of distinct terms.
Each term is named by its operation and, where ``jax`` recorded it, the user's source line.
"""

from __future__ import annotations

import dataclasses
import linecache
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.extend import core as jex_core

_VIEWS = frozenset(
    {"transpose", "reshape", "convert_element_type", "squeeze", "expand_dims", "copy", "copy_p"}
)
_INLINE = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr"}
MAX_APPEARANCES = 16
"""Beyond this many appearances the terms are not computed (the fit would not be unique)."""

_SYMBOLS = {
    "dot_general": "@",
    "mul": "*",
    "add": "+",
    "sub": "-",
    "div": "/",
    "neg": "-",
    "transpose": "^T",
}


@dataclasses.dataclass(frozen=True)
class _Alias:
    """A value that is ``X`` seen through a chain of view equations."""

    chain: tuple = ()


@dataclasses.dataclass
class _Appearance:
    primitive: str
    operand: int
    n_operands: int
    views: tuple[str, ...]
    where: str  # "file.py:12" or ""
    line: str  # the source text of that line, or ""


def _frame(eqn) -> tuple[str, str]:
    try:
        from jax._src import source_info_util  # the public jaxpr API has no user-frame helper

        frame = source_info_util.user_frame(eqn.source_info.traceback)
    except Exception:  # noqa: BLE001 - source information is optional
        return "", ""
    if frame is None:
        return "", ""
    text = linecache.getline(frame.file_name, frame.start_line).strip()
    short = frame.file_name.rsplit("/", 1)[-1]
    return f"{short}:{frame.start_line}", text


def _apply_views(value, chain):
    for eqn in chain:
        value = eqn.primitive.bind(value, **eqn.params)
    return value


def _evaluate(jaxpr, consts, invals, take: Callable, log: list | None):
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, val in zip(jaxpr.constvars, consts, strict=True):
        env[v] = val
    for v, val in zip(jaxpr.invars, invals, strict=True):
        env[v] = val
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        has_alias = any(isinstance(i, _Alias) for i in ins)
        if has_alias and name in _VIEWS and len(ins) == 1:
            env[eqn.outvars[0]] = _Alias((*ins[0].chain, eqn))
            continue
        if has_alias and name in _INLINE and _INLINE[name] in eqn.params:
            closed = eqn.params[_INLINE[name]]
            inner = getattr(closed, "jaxpr", closed)
            inner_consts = getattr(closed, "consts", ())
            outs = _evaluate(inner, inner_consts, ins, take, log)
            for v, o in zip(eqn.outvars, outs, strict=True):
                env[v] = o
            continue
        if has_alias:
            n = len(ins)
            for pos, i in enumerate(ins):
                if isinstance(i, _Alias):
                    if log is not None:
                        where, line = _frame(eqn)
                        log.append(
                            _Appearance(
                                name,
                                pos,
                                n,
                                tuple(e.primitive.name for e in i.chain),
                                where,
                                line,
                            )
                        )
                    ins[pos] = _apply_views(take(), i.chain)
        params = eqn.primitive.get_bind_params(eqn.params)
        out = eqn.primitive.bind(*ins, **params)
        if eqn.primitive.multiple_results:
            for v, o in zip(eqn.outvars, out, strict=True):
                env[v] = o
        else:
            env[eqn.outvars[0]] = out
    outs = []
    for v in jaxpr.outvars:
        val = read(v)
        if isinstance(val, _Alias):  # f returns (a view of) X itself
            if log is not None:
                log.append(_Appearance("output", 0, 1, (), "", ""))
            val = _apply_views(take(), val.chain)
        outs.append(val)
    return outs


def _describe(k: int, app: _Appearance, name: str) -> str:
    via = "".join("^T" if v == "transpose" else f".{v}" for v in app.views)
    if app.primitive == "output":
        return f"{name}#{k}: the returned {name}"
    sym = _SYMBOLS.get(app.primitive)
    if app.n_operands == 2 and sym in ("@", "*", "+", "-", "/"):
        expr = f"{name}{via} {sym} ·" if app.operand == 0 else f"· {sym} {name}{via}"
    else:
        slot = f", operand {app.operand + 1}" if app.n_operands > 1 else ""
        expr = f"{app.primitive}({name}{via}{slot})"
    return f"{name}#{k} [{expr}]"


_PROGRAMS: dict = {}


def _split_program(f: Callable, argnum: int, avals: tuple):
    """``(jitted terms function, appearances)`` for ``f`` at these shapes, cached; or None."""
    cache_key = (f, argnum, avals)
    try:
        if cache_key in _PROGRAMS:
            return _PROGRAMS[cache_key]
    except TypeError:  # an unhashable callable: no cache
        cache_key = None
    specs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in avals]
    closed = jax.make_jaxpr(f)(*specs)
    jaxpr, consts = closed.jaxpr, closed.consts
    program = None
    if len(jaxpr.invars) == len(specs):  # pytree arguments are not split
        log: list[_Appearance] = []

        def with_alias(args):
            vals = list(args)
            vals[argnum] = _Alias()
            return vals

        jax.eval_shape(
            lambda *a: _evaluate(jaxpr, consts, with_alias(a), lambda: a[argnum], log), *specs
        )
        k = len(log)
        if 1 <= k <= MAX_APPEARANCES:

            def terms(*args):
                def split(*xs):
                    it = iter(xs)
                    return _evaluate(jaxpr, consts, with_alias(args), lambda: next(it), None)[0]

                return jax.grad(split, argnums=tuple(range(k)))(*([args[argnum]] * k))

            program = (jax.jit(terms), log)
    if cache_key is not None:
        if len(_PROGRAMS) > 256:
            _PROGRAMS.clear()
        _PROGRAMS[cache_key] = program
    return program


_DEGREE_STEPS = (0.0, 1.0, -1.0, 2.0)
_DEGREE_CHECK = 0.5
_DEGREE_WORDS = {
    0: "independent of {x}",
    1: "linear in {x}",
    2: "quadratic in {x}",
    3: "cubic in {x}",
}


def _group(raw: list[np.ndarray]) -> list[list[int]]:
    """Indices of equal terms grouped together; vanishing terms left out."""
    scale = max((float(np.linalg.norm(t)) for t in raw), default=0.0)
    groups: list[list[int]] = []
    for i, t in enumerate(raw):
        if float(np.linalg.norm(t)) <= 1e-12 * scale:
            continue
        for members in groups:
            ref = raw[members[0]]
            if float(np.linalg.norm(t - ref)) <= 1e-9 * float(np.linalg.norm(ref)):
                members.append(i)
                break
        else:
            groups.append([i])
    return groups


def _degree_parts(values: dict[float, np.ndarray]) -> list[np.ndarray] | None:
    """Parts ``C_d`` (d = 0..3) with ``T(s x) = sum_d s^d C_d``, when T is such a polynomial."""
    steps = np.asarray(_DEGREE_STEPS)
    vander = steps[:, None] ** np.arange(len(steps))[None, :]
    stack = np.stack([values[s].ravel() for s in _DEGREE_STEPS])
    if not np.isfinite(stack).all() or not np.isfinite(values[_DEGREE_CHECK]).all():
        return None
    comps = np.linalg.solve(vander, stack)
    predicted = sum(_DEGREE_CHECK**d * comps[d] for d in range(len(steps)))
    scale = max(float(np.linalg.norm(values[1.0])), 1e-300)
    if float(np.linalg.norm(predicted - values[_DEGREE_CHECK].ravel())) > 1e-7 * scale:
        return None
    shape = values[1.0].shape
    return [c.reshape(shape) for c in comps]


def appearance_terms(
    f: Callable, argnum: int, args64: Sequence, argnames: Sequence[str] | None = None
) -> list[tuple[dict[str, np.ndarray], str]]:
    """Bases of labelled terms of ``d f / d args[argnum]`` at ``args64`` (float64), in order.

    1. The per-appearance terms (equal ones merged, vanishing ones dropped), when there are two
       or more.
    2. When the terms are polynomials of degree <= 3 in the argument (quadratic objectives such
       as ``||X - W H||^2`` or a Gaussian log-likelihood in its mean, whose gradient has one
       appearance but two parts), each term split into its parts of each degree: the
       ``W``-independent ``-2 X H^T`` and the linear ``2 W H H^T``.

    Each basis is ``(terms, where)``: ``terms`` maps a label such as ``"X#2 [· @ X^T]"`` to a
    float64 array, and ``where`` gives the appearances' source lines.  The list is empty when
    ``f`` cannot be split (the diagnosis then uses only the patterns that need no terms).
    """
    name = argnames[argnum] if argnames is not None and argnum < len(argnames) else "x"
    try:
        avals = tuple((tuple(a.shape), str(a.dtype)) for a in args64)
        program = _split_program(f, argnum, avals)
        if program is None:
            return []
        compiled, log = program

        def at(step: float) -> list[np.ndarray]:
            args = list(args64)
            args[argnum] = args64[argnum] * step
            return [np.asarray(g, np.float64) for g in compiled(*args)]

        raw = at(1.0)
        groups = _group(raw)
        if not groups:
            return []
        scaled = {s: at(s) for s in (*_DEGREE_STEPS, _DEGREE_CHECK) if s != 1.0}
        scaled[1.0] = raw
    except Exception:  # noqa: BLE001 - the diagnosis is best effort; the verdict does not use it
        return []

    labels = [_describe(i + 1, app, name) for i, app in enumerate(log)]
    at_lines: dict[tuple[str, str], list[str]] = {}
    for members in groups:
        for m in members:
            if log[m].where:
                at_lines.setdefault((log[m].where, log[m].line), []).append(f"{name}#{m + 1}")
    where = ""
    if at_lines:
        where = "; source: " + "; ".join(
            f"{', '.join(ids)} at {loc}: {line}" for (loc, line), ids in at_lines.items()
        )
    bases: list[tuple[dict[str, np.ndarray], str]] = []
    group_labels = [" = ".join(labels[m] for m in members) for members in groups]
    if len(groups) >= 2:
        bases.append(
            (
                {lab: raw[ms[0]] * len(ms) for lab, ms in zip(group_labels, groups, strict=True)},
                where,
            )
        )
    refined: dict[str, np.ndarray] = {}
    for lab, members in zip(group_labels, groups, strict=True):
        parts = _degree_parts({s: v[members[0]] * len(members) for s, v in scaled.items()})
        if parts is None:
            return bases
        nonzero = [
            d
            for d, p in enumerate(parts)
            if np.linalg.norm(p) > 1e-9 * np.linalg.norm(raw[members[0]])
        ]
        for d in nonzero:
            part = _DEGREE_WORDS[d].format(x=name)
            key = f"the part of {lab} {part}" if len(groups) > 1 else f"the part {part}"
            refined[key] = parts[d]
    if len(refined) >= 2 and len(refined) > len(groups):
        bases.append((refined, where))
    return bases

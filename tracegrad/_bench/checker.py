"""The checker's own benchmark: seeded wrong gradients (mutants), false alarms, and cost.

* ``mutation_rows``: for each identity of the registry plus a few Cookbook-style identities with
  several appearances of the argument (``EXTRA``), the mistakes people really make, applied to
  the closed form's value at sampled inputs: transposed, x2, x1/2, negated, x(1 + 1e-3), one
  per-appearance term dropped, a symmetrisation slip (one appearance counted twice, its partner
  dropped: ``A`` where ``A + A^T`` is right), one wrong entry (+5% of the largest), and
  ``+ 1e-3 X``.  Each mutant is checked with ``check_grad`` *without* ``terms=``; a row
  records whether it was rejected and whether the diagnosis names the slip.
* ``false_alarm_rows``: right closed forms on fresh float32 draws, as functions (the checker
  can re-evaluate them in float64) and as arrays (it cannot); every rejection is a false alarm.
* ``cost_rows``: seconds per float32 ``check_grad`` at a large size against one ``jax.grad`` plus
  one ``jax.jvp`` of the same objective, all compiled, medians of alternating runs.

Mutants are arrays, so no mutant needs a compilation of its own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from .._check.grad import check_grad
from .._check.references import evaluate
from .._registry.identity import Identity
from .._registry.registry import registry

KINDS = (
    "transposed",
    "doubled",
    "halved",
    "negated",
    "scaled_1e-3",
    "dropped_term",
    "symmetrisation",
    "wrong_entry",
    "plus_1e-3_x",
)

_NAMES = {  # what a diagnosis must contain to count as naming the slip
    "transposed": ("transposed",),
    "doubled": ("= 2 x",),
    "halved": ("= 1/2 x",),
    "negated": ("sign flipped",),
    "scaled_1e-3": ("1.001 x",),
    "dropped_term": ("missing",),
    "symmetrisation": ("counted twice", "symmetri"),
    "wrong_entry": ("index",),
    "plus_1e-3_x": (),
}


def _rect(key, dtype, shapes):
    keys = jax.random.split(key, len(shapes))
    return tuple(jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=True))


def _extra() -> list[Identity]:
    """Cookbook-style identities with two or more appearances of the argument."""

    def s_xax(key, dtype=jnp.float64, n=None):
        return _rect(key, dtype, [(5, 5), (5,)])

    def s_tr_xtax(key, dtype=jnp.float64, n=None):
        return _rect(key, dtype, [(5, 5), (5, 3)])

    def s_axbxt(key, dtype=jnp.float64, n=None):
        return _rect(key, dtype, [(4, 4), (4, 3), (3, 3)])

    def s_xax_sq(key, dtype=jnp.float64, n=None):
        return _rect(key, dtype, [(4, 4), (4, 4)])

    def s_bilinear(key, dtype=jnp.float64, n=None):
        return _rect(key, dtype, [(4,), (6, 4), (4,)])

    return [
        Identity(
            name="cookbook.xtAx",
            source="Matrix Cookbook eq. 81",
            objective=lambda A, x: x @ A @ x,
            gradient=lambda A, x: (A + A.T) @ x,
            sample=s_xax,
            argnames=("A", "x"),
            wrt=1,
            terms=lambda A, x: {"A x": A @ x, "A^T x": A.T @ x},
        ),
        Identity(
            name="cookbook.tr_XtAX",
            source="Matrix Cookbook eq. 107",
            objective=lambda A, X: jnp.trace(X.T @ A @ X),
            gradient=lambda A, X: (A + A.T) @ X,
            sample=s_tr_xtax,
            argnames=("A", "X"),
            wrt=1,
            terms=lambda A, X: {"A X": A @ X, "A^T X": A.T @ X},
        ),
        Identity(
            name="cookbook.tr_AXBXt",
            source="Matrix Cookbook eq. 113",
            objective=lambda A, X, B: jnp.trace(A @ X @ B @ X.T),
            gradient=lambda A, X, B: A @ X @ B + A.T @ X @ B.T,
            sample=s_axbxt,
            argnames=("A", "X", "B"),
            wrt=1,
            terms=lambda A, X, B: {"A X B": A @ X @ B, "A^T X B^T": A.T @ X @ B.T},
        ),
        Identity(
            name="cookbook.tr_XAX",
            source="Matrix Cookbook eq. 106",
            objective=lambda A, X: jnp.trace(X @ A @ X),
            gradient=lambda A, X: (A @ X + X @ A).T,
            sample=s_xax_sq,
            argnames=("A", "X"),
            wrt=1,
            terms=lambda A, X: {"(A X)^T": (A @ X).T, "(X A)^T": (X @ A).T},
        ),
        Identity(
            name="cookbook.bilinear_XtX",
            source="Matrix Cookbook eq. 77",
            objective=lambda a, X, b: a @ X.T @ X @ b,
            gradient=lambda a, X, b: X @ (jnp.outer(a, b) + jnp.outer(b, a)),
            sample=s_bilinear,
            argnames=("a", "X", "b"),
            wrt=1,
            terms=lambda a, X, b: {"X b a^T": X @ jnp.outer(b, a), "X a b^T": X @ jnp.outer(a, b)},
        ),
    ]


EXTRA: tuple[Identity, ...] = tuple(_extra())


def identities(names: list[str] | None = None) -> list[Identity]:
    """The registry's identities plus ``EXTRA``, optionally only those named."""
    every = list(registry().values()) + list(EXTRA)
    if names is not None:
        every = [i for i in every if i.name in names]
    return sorted(every, key=lambda i: i.name)


@dataclasses.dataclass(frozen=True)
class Mutant:
    kind: str
    detail: str
    value: np.ndarray  # float64 values of the mutant (cast to the check's dtype when checked)


def mutants(ident: Identity, args: tuple, seed: int) -> Iterator[Mutant]:
    """The seeded wrong variants of ``ident``'s closed form at ``args``."""
    g = np.asarray(evaluate(ident.gradient, *args), np.float64)
    x = np.asarray(args[ident.wrt], np.float64)
    terms = {}
    if ident.terms is not None:
        terms = {k: np.asarray(v, np.float64) for k, v in evaluate(ident.terms, *args).items()}
    rng = np.random.default_rng(seed)
    if g.ndim == 2 and (g.shape[0] != g.shape[1] or not np.allclose(g, g.T, rtol=1e-3)):
        yield Mutant("transposed", "", g.T)
    yield Mutant("doubled", "", 2.0 * g)
    yield Mutant("halved", "", 0.5 * g)
    yield Mutant("negated", "", -g)
    yield Mutant("scaled_1e-3", "", g * (1.0 + 1e-3))
    labels = list(terms)
    for label in labels:
        yield Mutant("dropped_term", label, g - terms[label])
    if len(labels) >= 2:
        for i, j in ((0, 1), (1, 0)):
            yield Mutant(
                "symmetrisation",
                f"{labels[i]} twice, {labels[j]} dropped",
                g - terms[labels[j]] + terms[labels[i]],
            )
    wrong = g.copy().ravel()
    k = int(rng.integers(wrong.size))
    wrong[k] += 0.05 * float(np.max(np.abs(g)))
    yield Mutant("wrong_entry", f"flat index {k}", wrong.reshape(g.shape))
    if x.shape == g.shape:
        yield Mutant("plus_1e-3_x", "", g + 1e-3 * x)


def mutation_rows(
    dtypes=("float32", "float64"),
    seeds=(0,),
    names: list[str] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Check every mutant; one row per (identity, dtype, seed, mutant), plus the true gradient."""
    rows = []
    for ident in identities(names):
        for dtype in dtypes:
            with jax.enable_x64(True):
                for seed in seeds:
                    args = ident.arguments(seed, jnp.dtype(dtype))
                    # the true gradient (a function) must pass
                    truth = check_grad(
                        ident.objective,
                        ident.gradient,
                        *args,
                        argnum=ident.wrt,
                        argnames=ident.argnames,
                    )
                    rows.append(_row(ident, dtype, seed, "true", "", truth))
                    for m in mutants(ident, args, seed):
                        c = jnp.asarray(m.value, jnp.dtype(dtype))
                        report = check_grad(
                            ident.objective, c, *args, argnum=ident.wrt, argnames=ident.argnames
                        )
                        rows.append(_row(ident, dtype, seed, m.kind, m.detail, report))
                        if progress is not None:
                            progress(rows[-1])
    return rows


def _row(ident, dtype, seed, kind, detail, report) -> dict:
    named = None
    if kind != "true":
        words = _NAMES.get(kind, ())
        named = bool(words) and any(w in report.diagnosis for w in words)
        if kind in ("dropped_term", "symmetrisation"):
            named = named and "per-appearance" in report.diagnosis
    return {
        "identity": ident.name,
        "dtype": dtype,
        "seed": seed,
        "kind": kind,
        "detail": detail,
        "rejected": not report.ok,
        "named": named,
        "rtol": report.rtol,
        "noise": report.noise,
        "max_rel_err": report.max_rel_err,
        "diagnosis": report.diagnosis,
    }


def summarize_mutations(rows: list[dict]) -> dict:
    """Detection per dtype and kind, false alarms, and the naming rate of term slips."""
    out: dict = {}
    for dtype in sorted({r["dtype"] for r in rows}):
        rs = [r for r in rows if r["dtype"] == dtype]
        mut = [r for r in rs if r["kind"] != "true"]
        true = [r for r in rs if r["kind"] == "true"]
        per_kind = {}
        for kind in KINDS:
            k = [r for r in mut if r["kind"] == kind]
            if k:
                per_kind[kind] = {
                    "n": len(k),
                    "detected": sum(r["rejected"] for r in k),
                    "named": sum(bool(r["named"]) for r in k),
                }
        slips = [r for r in mut if r["kind"] in ("dropped_term", "symmetrisation")]
        out[dtype] = {
            "mutants": len(mut),
            "detected": sum(r["rejected"] for r in mut),
            "true_gradients": len(true),
            "false_alarms": sum(r["rejected"] for r in true),
            "term_slips": len(slips),
            "term_slips_named": sum(bool(r["named"]) for r in slips),
            "per_kind": per_kind,
        }
    return out


def false_alarm_rows(
    draws_per_identity: int, progress: Callable[[dict], None] | None = None
) -> list[dict]:
    """Right float32 closed forms on fresh draws: as a function and as an array."""
    rows = []
    for ident in sorted(registry().values(), key=lambda i: i.name):
        for seed in range(draws_per_identity):
            args = ident.arguments(1000 + seed, jnp.float32)
            as_fn = check_grad(
                ident.objective, ident.gradient, *args, argnum=ident.wrt, argnames=ident.argnames
            )
            arr = evaluate(ident.gradient, *args)
            as_arr = check_grad(
                ident.objective, arr, *args, argnum=ident.wrt, argnames=ident.argnames
            )
            for mode, rep in (("function", as_fn), ("array", as_arr)):
                row = {
                    "identity": ident.name,
                    "seed": 1000 + seed,
                    "mode": mode,
                    "rejected": not rep.ok,
                    "rtol": rep.rtol,
                    "noise": rep.noise,
                    "err": rep.references["reverse64"].max_rel_err,
                }
                rows.append(row)
            if progress is not None:
                progress(rows[-1])
    return rows


def _median_alternating(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm up (compiles)
        jax.block_until_ready(fn())
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def cost_rows(n: int = 1024, rounds: int = 5) -> list[dict]:
    """float32 ``check_grad`` on an ``n x n`` argument vs one ``jax.grad`` + one ``jax.jvp``."""
    rng = np.random.default_rng(0)
    A = jnp.asarray(rng.standard_normal((n, n)) / np.sqrt(n), jnp.float32)
    X = jnp.asarray(rng.standard_normal((n, n)), jnp.float32)
    V = jnp.asarray(rng.standard_normal((n, n)), jnp.float32)
    cases = {
        "tr(X^T A X)": (
            lambda A, X: jnp.trace(X.T @ A @ X),
            lambda A, X: (A + A.T) @ X,
        ),
        "sum(sin(X) * X)": (
            lambda A, X: jnp.sum(jnp.sin(X) * X),
            lambda A, X: jnp.cos(X) * X + jnp.sin(X),
        ),
    }
    rows = []
    for name, (f, grad) in cases.items():
        g = jax.jit(jax.grad(f, argnums=1))
        jvp = jax.jit(lambda A, X, V, f=f: jax.jvp(lambda X: f(A, X), (X,), (V,))[1])
        c = jax.jit(grad)(A, X)
        fns = {
            "grad": lambda g=g: g(A, X),
            "jvp": lambda jvp=jvp: jvp(A, X, V),
            "check_fn": lambda f=f, grad=grad: check_grad(f, grad, A, X, argnum=1).ok,
            "check_array": lambda f=f, c=c: check_grad(f, c, A, X, argnum=1).ok,
        }
        assert check_grad(f, grad, A, X, argnum=1).ok  # correctness before timing
        t = _median_alternating(fns, rounds)
        base = t["grad"] + t["jvp"]
        rows.append(
            {
                "objective": name,
                "n": n,
                "grad_s": t["grad"],
                "jvp_s": t["jvp"],
                "check_fn_s": t["check_fn"],
                "check_array_s": t["check_array"],
                "ratio_fn": t["check_fn"] / base,
                "ratio_array": t["check_array"] / base,
                "rounds": rounds,
            }
        )
    return rows

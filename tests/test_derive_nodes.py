"""Every expression node class through every pass: a forgotten rule fails here.

``SAMPLES`` holds one example per node class (built on a 3x3 variable ``X``); the test walks
``Expr.__subclasses__`` recursively, so a new node class without a sample fails, and each
sample goes through shape inference, the reverse rule (gradient vs finite differences), the
forward rule (``jvp``, and ``jvp`` of the gradient: the second order), simplification (same
value), lowering to JAX (same value as NumPy) and printing (text and LaTeX; text parsed back to
the same value, for the nodes of the input language).
"""

import ast
import inspect
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from tracegrad._derive import _ast as E
from tracegrad._derive._codegen import _Evaluator, evaluate, lower
from tracegrad._derive._forward import jvp
from tracegrad._derive._parser import parse
from tracegrad._derive._printing import show, to_latex, to_text
from tracegrad._derive._rules import adjoints, appearance_terms
from tracegrad._derive._second import tangent
from tracegrad._derive._shapes import Elaboration
from tracegrad._derive._simplify import rebuilt, simplify

# internals: derive's node classes, rules and printers, walked one node class at a time
pytestmark = pytest.mark.internals

X = E.Var("X", (3, 3))
A = E.Var("A", (3, 3))
B = E.Var("B", (2, 2))
u = E.Var("u", (3, 1))
XD = E.Add((X, E.Scale(3.0, E.Eye(3))))  # diagonally dominant: invertible
MIXED = E.Add((X, E.Scale(-1.0, A)))  # entries of both signs

SAMPLES: dict[type, E.Expr] = {
    E.Var: X,
    E.Const: E.Const(2.0),
    E.Eye: E.Eye(3),
    E.Ones: E.Ones(3, 3),
    E.Zeros: E.Zeros(3, 3),
    E.Add: E.Add((X, A)),
    E.Scale: E.Scale(2.0, X),
    E.Mul: E.Mul(E.Trace(X), A),
    E.MatMul: E.MatMul((A, X, X)),
    E.Transpose: E.Transpose(E.MatMul((A, X))),
    E.Trace: E.Trace(E.MatMul((A, X))),
    E.Sum: E.Sum(E.Hadamard((X, X))),
    E.Inv: E.Inv(XD),
    E.Det: E.Det(XD),
    E.LogDet: E.LogDet(XD),
    E.Diag: E.Diag(E.MatMul((X, u))),
    E.DiagPart: E.DiagPart(E.MatMul((A, X))),
    E.Norm: E.Norm(X),
    E.Hadamard: E.Hadamard((X, A, X)),
    E.EDiv: E.EDiv(A, X),
    E.Log: E.Log(X),
    E.Exp: E.Exp(X),
    E.Pow: E.Pow(X, 3.0),
    E.Max: E.Max(X, A),
    E.Kron: E.Kron(X, B),
    E.KronCut: E.KronCut(E.Kron(X, B), B, True),
}
"""One example per node class; elementwise functions get ``f(X)`` or ``f(X - A)`` below."""

ABSTRACT = {E.Leaf, E.Function, E.Elementwise}  # bases (``_ast._abstract``): no value of their own
NOT_IN_LANGUAGE = {E.KronCut}  # printed for the reader (kron_adj_1), not parsed back


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _sample(cls) -> E.Expr:
    if cls in SAMPLES:
        return SAMPLES[cls]
    if issubclass(cls, E.Elementwise):
        return cls(X if cls.domain == "positive" else MIXED)
    raise AssertionError(
        f"node class {cls.__name__} has no sample in tests/test_derive_nodes.py: add one, so "
        f"that every pass is run on it"
    )


NODE_CLASSES = sorted(
    (c for c in set(_all_subclasses(E.Expr)) if c not in ABSTRACT), key=lambda c: c.__name__
)


def _env(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "X": rng.uniform(0.5, 1.5, (3, 3)),
        "A": rng.standard_normal((3, 3)),
        "B": rng.standard_normal((2, 2)),
        "u": rng.standard_normal((3, 1)),
    }


def _value(e: E.Expr, env: dict) -> np.ndarray:
    return evaluate([e], env)[0]


def test_every_node_class_has_a_sample():
    for cls in NODE_CLASSES:
        assert isinstance(_sample(cls), cls)


@pytest.mark.parametrize("cls", NODE_CLASSES, ids=lambda c: c.__name__)
def test_node_through_every_pass(cls):
    e = _sample(cls)
    env = _env()
    W = E.Var("W", e.shape)  # shape rule
    env["W"] = np.random.default_rng(1).standard_normal(e.shape)
    objective = E.Sum(E.Hadamard((W, e)))
    value = _value(e, env)
    assert value.shape == e.shape and np.isfinite(value).all()

    # lowering: the JAX evaluation equals the NumPy one
    ev = _Evaluator({n: jnp.asarray(v) for n, v in env.items()}, jnp.float64, False, set())
    np.testing.assert_allclose(np.asarray(lower(e, ev)), value, rtol=1e-12, atol=1e-12)

    # rebuild: the node on its own children is itself; simplification keeps the value
    assert e.replace(e.children) == e
    np.testing.assert_allclose(_value(simplify(e), env), value, rtol=1e-12, atol=1e-12)

    # first order, reverse (adjoints) and forward (jvp), against central differences
    terms = appearance_terms(objective, "X")
    gradient = simplify(E.Add(tuple(terms))) if terms else E.Zeros(3, 3)
    G = _value(gradient, env)
    V = np.random.default_rng(2).standard_normal((3, 3))
    h = 1e-6

    def f(x):
        return float(_value(objective, {**env, "X": x}).reshape(()))

    fd = (f(env["X"] + h * V) - f(env["X"] - h * V)) / (2 * h)
    scale = max(1.0, np.linalg.norm(G) * np.linalg.norm(V))
    assert abs(np.vdot(G, V) - fd) <= 1e-6 * scale
    dX = E.Var("dX", (3, 3))
    jvp = _value(simplify(tangent(objective, "X", dX)), {**env, "dX": V})
    assert abs(float(jvp.reshape(())) - fd) <= 1e-6 * scale

    # second order: the forward derivative of the gradient against differences of it
    hvp = _value(simplify(tangent(gradient, "X", dX)), {**env, "dX": V})
    g_plus = _value(gradient, {**env, "X": env["X"] + h * V})
    g_minus = _value(gradient, {**env, "X": env["X"] - h * V})
    np.testing.assert_allclose(hvp, (g_plus - g_minus) / (2 * h), rtol=1e-5, atol=1e-5)

    # printing: text and LaTeX, and the text parses back to the same value
    assert to_text(e) and to_latex(e)
    if cls in NOT_IN_LANGUAGE:
        return
    source = f"sum(W ⊙ ({to_text(e)}))"
    shapes = {n: s for n, s in E.variables(objective).items()}
    elaboration = Elaboration(source, parse(source), shapes)
    reread = _value(elaboration.build()[0], env)
    np.testing.assert_allclose(reread, _value(objective, env), rtol=1e-12, atol=1e-12)


PASSES = {
    "reverse rule (_rules.adjoints)": adjoints,
    "forward rule (_forward.jvp)": jvp,
    "rebuild (_simplify.rebuilt)": rebuilt,
    "lowering (_codegen.lower)": lower,
    "printing (_printing.show)": show,
}


@pytest.mark.parametrize("rule", PASSES.values(), ids=PASSES.keys())
def test_every_node_class_has_a_rule_in_every_pass(rule):
    # each pass is one table keyed by node class; its base implementation raises
    base = rule.dispatch(E.Expr)
    assert [c.__name__ for c in NODE_CLASSES if rule.dispatch(c) is base] == []
    with pytest.raises(NotImplementedError, match="register one with"):
        base(X, *[None] * (len(inspect.signature(base).parameters) - 1))


def test_node_classes_are_final_and_complete():
    with pytest.raises(TypeError, match="final"):
        type("SubAdd", (E.Add,), {})
    with pytest.raises(TypeError, match="does not implement derivative"):
        E._node(type("Half", (E.Elementwise,), {"apply": lambda self, xp, a: a}))


def _derive_imports() -> dict[str, set[str]]:
    """Module -> the ``tracegrad._derive`` modules it imports, at module level or lazily in a
    function (every import statement in the file)."""
    package = Path(E.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        edges = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                edges.update(n.split(".")[0] for n in names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "tracegrad._derive."
            ):
                edges.add(node.module.split(".")[2])  # type: ignore[union-attr]
    return graph


def test_derive_modules_import_without_cycles():
    graph = _derive_imports()
    assert graph["_ast"] == set(), "the node module is a leaf"
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, module]))
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])

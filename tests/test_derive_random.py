"""Random well-typed expressions from a small grammar: the derived gradient is jax.grad's."""

import re

import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tracegrad as tg

# fixed rectangular shapes (3 != 4, so a transposed gradient cannot pass by symmetry)
SHAPES = {"A": (3, 4), "B": (4, 3), "C": (3, 3), "D": (4, 4), "X": (3, 4), "x": (4, 1), "y": (3, 1)}
DIMS = (3, 4)
RESERVED = {"tr", "sum", "log", "exp", "inv", "diag", "logdet", "I"}
"""Function and constant names in the grammar's expressions (not symbols)."""
NUMBERS = ("2", "0.5", "(-1)", "3")  # (-1): "y' -1 M x" would read y' - M x
# square matrices that are safe to invert: symmetric positive definite plus a Gram matrix
INVERTIBLE = {3: ("C", "C + X X'"), 4: ("D", "D + X' X")}


def _leaves(shape):
    out = [n for n, s in SHAPES.items() if s == shape]
    out += [f"{n}'" for n, s in SHAPES.items() if s == shape[::-1] and s != shape]
    return out


@st.composite
def positive(draw, shape, depth):
    """Expressions with positive entries when the symbols are positive (logs, denominators)."""
    leaves = [n for n, s in SHAPES.items() if s == shape]
    kinds = ["leaf"] if depth == 0 or not leaves else ["leaf", "prod", "sum", "had", "exp"]
    if not leaves:
        kinds = ["prod", "exp"]
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return draw(st.sampled_from(leaves))
    if kind == "prod":
        k = draw(st.sampled_from(DIMS))
        return f"{draw(positive((shape[0], k), max(depth - 1, 0)))} " + (
            f"{draw(positive((k, shape[1]), max(depth - 1, 0)))}"
        )
    if kind == "exp":
        return f"exp({draw(matrix(shape, max(depth - 1, 0)))})"
    op = {"sum": "+", "had": "⊙"}[kind]
    a = draw(positive(shape, depth - 1))
    b = draw(positive(shape, depth - 1))
    return f"({a} {op} {b})"


@st.composite
def matrix(draw, shape, depth):
    """A well-typed expression of the given shape."""
    leaves = _leaves(shape)
    kinds = ["prod", "sum", "had", "scale", "transpose", "log", "ediv"]
    if shape[0] == shape[1]:
        kinds += ["inv", "diag", "shift"]
    if depth == 0:
        if leaves:
            return draw(st.sampled_from(leaves))
        kinds = ["prod"]
    elif leaves:
        kinds.append("leaf")
    kind = draw(st.sampled_from(kinds))
    sub = max(depth - 1, 0)
    if kind == "leaf":
        return draw(st.sampled_from(leaves))
    if kind == "prod":
        k = draw(st.sampled_from(DIMS))
        return f"{draw(matrix((shape[0], k), sub))} {draw(matrix((k, shape[1]), sub))}"
    if kind in ("sum", "had"):
        op = draw(st.sampled_from(["+", "-"] if kind == "sum" else ["⊙", ".*"]))
        return f"({draw(matrix(shape, sub))} {op} {draw(matrix(shape, sub))})"
    if kind == "scale":
        return f"{draw(st.sampled_from(NUMBERS))} ({draw(matrix(shape, sub))})"
    if kind == "transpose":
        return f"({draw(matrix(shape[::-1], sub))})'"
    if kind == "log":
        return f"log({draw(positive(shape, sub))})"
    if kind == "ediv":
        return f"({draw(matrix(shape, sub))} ⊘ {draw(positive(shape, sub))})"
    if kind == "shift":  # the identity, its size inferred from the other term
        return f"({draw(matrix(shape, sub))} - 2 I)"
    if kind == "inv":
        return f"inv({draw(st.sampled_from(INVERTIBLE[shape[0]]))}) {draw(matrix(shape, sub))}"
    # diag of a vector: x (4), y (3), or a matrix-vector product
    vec = {4: ["x", "A' y", "B y"], 3: ["y", "A x", "X x"]}[shape[0]]
    return f"diag({draw(st.sampled_from(vec))})"


@st.composite
def objective(draw):
    """A scalar objective."""
    n = draw(st.sampled_from(DIMS))
    shape = (draw(st.sampled_from(DIMS)), draw(st.sampled_from(DIMS)))
    kind = draw(st.sampled_from(["tr", "sum", "frob", "bilinear", "logdet", "two"]))
    if kind == "tr":
        return f"tr({draw(matrix((n, n), 3))})"
    if kind == "sum":
        return f"sum({draw(matrix(shape, 3))})"
    if kind == "frob":
        return f"||{draw(matrix(shape, 3))}||_F^2"
    if kind == "bilinear":
        return f"y' {draw(matrix((3, 4), 3))} x"
    if kind == "logdet":
        return f"logdet({draw(st.sampled_from(INVERTIBLE[n]))}) + tr({draw(matrix((n, n), 1))})"
    k = draw(st.sampled_from(NUMBERS))
    return f"{k} tr({draw(matrix((n, n), 1))}) + sum({draw(matrix(shape, 1))})"


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(objective())
def test_random_expressions_match_jax_grad(source):
    names = set(re.findall(r"(?<![_\w])[A-Za-z]\w*", source)) - RESERVED
    assume(len(re.findall(r"\bX\b", source)) >= 2)  # several appearances: eq. (18)
    shapes = {n: SHAPES[n] for n in names}
    d = tg.derive(source, wrt="X", shapes=shapes)  # checked against jax.grad inside ...
    assert d.report.ok, d.report
    # ... and once more, with check_grad, at a second sample of the domain
    args = d._default_spec._sample(seed=1, fallback=None)
    atol = d._default_spec._cancellation_atol(args)  # terms may cancel: X - X
    report = tg.check_grad(d.objective, d.function, *args, argnum=d.argnames.index("X"), atol=atol)
    assert report.ok, f"{source}\n{d.gradient}\n{report}"
    # float32 in, float32 out
    assert d.function(*(a.astype(jnp.float32) for a in args)).dtype == jnp.float32

"""The CLI, run in-process: tables, exit codes, clear errors for bad input."""

import json
import textwrap

import pytest
from helpers import cli_main

from tracegrad._cli._config import Key, load_config, validate
from tracegrad._cli._errors import CLIError

# internals: the config loader with the test's own schema (each key type, choices)
pytestmark = pytest.mark.internals


def test_check_passes_and_writes_json(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert cli_main(["check", "--only", r"^traa\.eq9$", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "traa.eq9" in text and "pass" in text and "2/2 checks passed" in text
    rows = json.loads(out.read_text())
    assert [r["dtype"] for r in rows] == ["float32", "float64"]
    assert all(r["ok"] for r in rows)


def test_check_single_dtype(capsys):
    assert cli_main(["check", "--only", r"eq12", "--dtype", "float32"]) == 0
    assert "1/1 checks passed" in capsys.readouterr().out


def test_check_fails_with_exit_1_on_a_wrong_user_gradient(tmp_path, monkeypatch, capsys):
    module = tmp_path / "user_grads_wrong.py"
    module.write_text(
        textwrap.dedent(
            """
            import jax, jax.numpy as jnp
            import tracegrad

            def sample(key, dtype=jnp.float64, n=None):
                k1, k2 = jax.random.split(key)
                return (jax.random.normal(k1, (3, 4), dtype), jax.random.normal(k2, (4, 3), dtype))

            @tracegrad.register("user.wrong_trace", objective=lambda A, B: jnp.trace(A @ B),
                                source="user notes (1)", sample=sample, argnames=("A", "B"),
                                replace=True)
            def grad(A, B):
                return 2 * B.T
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert cli_main(["check", "--module", "user_grads_wrong"]) == 1
        out = capsys.readouterr().out
        assert "user.wrong_trace" in out and "FAIL" in out
        assert "2 x gradient" in out
    finally:
        import tracegrad

        tracegrad.unregister("user.wrong_trace")


def test_check_unknown_module_and_bad_regex_exit_2(capsys):
    assert cli_main(["check", "--module", "no_such_module_xyz"]) == 2
    assert "cannot import module" in capsys.readouterr().err
    assert cli_main(["check", "--only", "("]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err
    assert cli_main(["check", "--only", "zzz_nothing"]) == 2


def test_list_plain_and_latex(capsys):
    assert cli_main(["list", "--only", "eq24"]) == 0
    out = capsys.readouterr().out
    assert "traa.eq24_W" in out and "-2 X H^T + 2 W H H^T" in out
    assert cli_main(["list", "--latex", "--only", "eq24_W"]) == 0
    assert r"\frac{\partial" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli_main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


SCHEMA = {"nmf": {"rank": Key(int, 4, "rank"), "loss": Key(str, "kl", "loss", ("kl", "frobenius"))}}


def test_config_defaults_and_values(tmp_path):
    assert load_config(None, SCHEMA) == {"nmf": {"rank": 4, "loss": "kl"}}
    path = tmp_path / "c.toml"
    path.write_text("[nmf]\nrank = 7\n")
    assert load_config(path, SCHEMA)["nmf"] == {"rank": 7, "loss": "kl"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nmf]\nrnk = 3\n", "unknown key 'nmf.rnk'"),
        ("[nfm]\nrank = 3\n", "unknown section [nfm]"),
        ("[nmf]\nrank = 'three'\n", "'nmf.rank' must be an integer"),
        ("[nmf]\nrank = true\n", "'nmf.rank' must be an integer"),
        ("[nmf]\nloss = 'l2'\n", "must be one of 'kl', 'frobenius'"),
        ("[nmf\nrank = 3\n", "not valid TOML"),
        ("nmf = 3\n", "must be a table"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CLIError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path, SCHEMA)


def test_missing_config_file_is_an_error():
    with pytest.raises(CLIError, match="config file not found"):
        load_config("/nonexistent/x.toml", SCHEMA)


def test_validate_accepts_int_for_float():
    schema = {"s": {"tol": Key(float, 1e-4, "tol")}}
    assert validate({"s": {"tol": 1}}, schema, "x")["s"]["tol"] == 1

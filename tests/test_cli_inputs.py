"""The CLI refuses bad input before any work: exit 2, one line on stderr naming the culprit.

Each case replaces the command's work (the fit, the suites, the checks) by a function that
fails the test, so a destination or input checked only after the work is caught here.
"""

import os
import stat

import numpy as np
import pytest
from helpers import cli_main

from tracegrad._cli import _bench_cmd, _check_cmd, _demo_cmd, _nmf_cmd

# internals: the commands' work functions, replaced to show a bad input fails before any work
pytestmark = pytest.mark.internals


@pytest.fixture
def no_work(monkeypatch):
    def work(*args, **kwargs):
        raise AssertionError("the command started work before refusing its input")

    monkeypatch.setattr(_nmf_cmd, "fit_config", work)
    monkeypatch.setattr(_demo_cmd, "fit_config", work)
    monkeypatch.setattr(_demo_cmd, "check_rows", work)
    monkeypatch.setattr(_bench_cmd, "run_suite", work)
    monkeypatch.setattr(_check_cmd, "check_rows", work)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.npz").mkdir()
    (tmp_path / "adir").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "grads.json").mkdir()
    np.savez("ok.npz", V=np.ones((4, 3)))
    np.savez("cplx.npz", V=np.ones((4, 3)) + 1j)
    np.save("text.npy", np.array([["a", "b"]]))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n[nmf]\nrank = 2\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('broken on import')\n")
    for name in ("ok", "cplx", "text", "corrupt"):
        ext = "npy" if name == "text" else "npz"
        (tmp_path / f"{name}.toml").write_text(
            f'[data]\nsource = "file"\npath = "{name}.{ext}"\n[nmf]\nrank = 2\nmax_iter = 2\n'
        )
    (tmp_path / "nomatch.toml").write_text('[grads]\nonly = "^no-such-identity$"\n')
    (tmp_path / "negtime.toml").write_text("[derive]\nmin_time = -0.5\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


NMF = ["nmf", "--config", "ok.toml", "--quiet"]
CASES = [
    # output destinations
    (NMF + ["--output", "afile/r.npz"], "afile"),
    (NMF + ["--output", "adir.npz"], "adir.npz"),
    (NMF + ["--output", "r.txt"], "--output"),
    (NMF + ["--output", ""], "--output"),
    (NMF + ["--output", "afile/sub/r.npz"], "afile is a file"),
    (["check", "--json", "adir"], "--json"),
    (["check", "--json", "afile/c.json"], "afile"),
    (["bench", "--out-dir", "afile"], "--out-dir"),
    (["bench", "--out-dir", "out"], "grads.json"),
    (["demo", "--plot", "adir"], "--plot"),
    # input files
    (["nmf", "--config", "corrupt.toml", "--output", "r.npz"], "corrupt.npz"),
    (["nmf", "--config", "cplx.toml", "--output", "r.npz"], "complex"),
    (["nmf", "--config", "text.toml", "--output", "r.npz"], "text.npy"),
    (["nmf", "--config", "latin1.toml"], "latin1.toml"),
    (["nmf", "--config", "adir"], "adir"),
    (["check", "--module", "raises"], "raises"),
    (["bench", "--config", "nomatch.toml", "--out-dir", "b"], "grads.only"),
    (["bench", "--config", "negtime.toml", "--out-dir", "b"], "derive.min_time"),
    # flags, checked by the config's schema
    (NMF + ["--replicates", "0"], "--replicates"),
    (NMF + ["--replicates", "-4"], "--replicates"),
    (NMF + ["--seed", "1180591620717411303424"], "--seed"),
    (NMF + ["--tol", "nan"], "--tol"),
    (NMF + ["--max-iter", "1e3"], "--max-iter"),
    (["check", "--seed", "1180591620717411303424"], "--seed"),
    (["demo", "--replicates", "0"], "--replicates"),
]


@pytest.mark.parametrize(("argv", "names"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_exits_2_with_one_line_before_any_work(argv, names, files, no_work, capsys):
    code = _run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert names in lines[0], lines[0]
    assert not (files / "r.npz").exists() and not (files / "b").exists()


def _run(argv) -> int:
    try:
        return cli_main(argv)
    except SystemExit as exit_:  # argparse's errors: one line, status 2
        return int(exit_.code or 0)


def test_debug_shows_the_traceback(files, capsys):
    assert _run(["--debug", "check", "--module", "raises"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert _run(["check", "--module", "raises", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_missing_parents_are_created_and_files_get_the_umask_mode(files, capsys):
    old = os.umask(0o027)
    try:
        assert cli_main(["check", "--only", r"^traa\.eq9$", "--dtype", "float64",
                         "--json", "new/deeper/c.json"]) == 0  # fmt: skip
    finally:
        os.umask(old)
    mode = stat.S_IMODE((files / "new" / "deeper" / "c.json").stat().st_mode)
    assert mode == 0o640, oct(mode)

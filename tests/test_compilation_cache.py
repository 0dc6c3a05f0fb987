"""The persistent compilation cache: a second process loads what the first compiled.

Turning the cache on changes JAX's configuration for the whole process, so the tests that
turn it on run in subprocesses or restore the configuration afterwards
(``restore_cache_settings``); the tests of unusable directories run in this process, as
nothing there may change the configuration.
"""

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import cli_main
from jax.experimental.compilation_cache import compilation_cache as jax_cache

import tracegrad

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (
    "jax_enable_compilation_cache",
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)

# Run twice on one cache directory: the README's own call turns the cache on (the directory
# from $TRACEGRAD_CACHE_DIR), then a jitted function and a small fit. JAX records a
# `cache_misses` event for each program it writes and a `cache_hits` event for each it loads.
CHILD = """
import json, sys
import jax, jax.numpy as jnp
events = {"/jax/compilation_cache/cache_hits": 0, "/jax/compilation_cache/cache_misses": 0}
def count(event, **kwargs):
    if event in events:
        events[event] += 1
jax.monitoring.register_event_listener(count)
exec(sys.argv[1])  # the README block; it binds `path` and imports tracegrad
y = jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.arange(12.0).reshape(3, 4))
V = jax.random.uniform(jax.random.key(0), (20, 15))
result = tracegrad.nmf.fit(V, 3, max_iter=20, key=jax.random.key(1))
print(json.dumps({
    "path": str(path),
    "hits": events["/jax/compilation_cache/cache_hits"],
    "misses": events["/jax/compilation_cache/cache_misses"],
    "y": y.tolist(),
    "W": result.W.tolist(),
}))
"""


def _settings() -> dict[str, object]:
    return {name: getattr(jax.config, name) for name in SETTINGS}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACEGRAD_", "JAX_"))}
    return env | extra


def _readme_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (block,) = [b for b in blocks if "enable_compilation_cache" in b]
    return block


@pytest.fixture
def restore_cache_settings():
    """Put JAX's cache settings back, and forget the cache JAX opened, after the test."""
    before = _settings()
    yield
    for name, value in before.items():
        jax.config.update(name, value)
    jax_cache.reset_cache()


def test_a_second_process_loads_every_program_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, _readme_block()],
            env=_env(TRACEGRAD_CACHE_DIR=str(cache)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    first, second = run(), run()
    assert first["path"] == second["path"] == str(cache.resolve())
    assert first["hits"] == 0 and first["misses"] > 0, first
    assert any(cache.iterdir())
    # hits, not merely no error: some jaxlib versions reject CPU entries without a word
    assert second["hits"] > 0 and second["misses"] == 0, second
    assert second["y"] == first["y"] and second["W"] == first["W"]


def test_importing_tracegrad_leaves_the_cache_off():
    code = (
        "import jax, tracegrad; print(jax.config.jax_compilation_cache_dir, "
        "jax.config.jax_persistent_cache_min_compile_time_secs)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "1.0"]


def _unusable_paths(tmp_path: Path) -> dict[str, Path]:
    # chmod cannot stand in: the tests run as root in CI, and root writes anywhere chmod allows
    (tmp_path / "a-file").write_text("not a directory")
    paths = {"parent is a file": tmp_path / "a-file" / "cache", "is a file": tmp_path / "a-file"}
    if Path("/proc/self").is_dir():  # Linux: nothing can be created under /proc, not by root
        paths["under /proc"] = Path("/proc/tracegrad-cache/jax")
    return paths


@pytest.mark.parametrize("kind", ["parent is a file", "is a file", "under /proc"])
def test_an_unusable_directory_warns_once_and_the_fit_runs_uncached(tmp_path, kind):
    paths = _unusable_paths(tmp_path)
    if kind not in paths:
        pytest.skip("no /proc here")
    before = _settings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = tracegrad.enable_compilation_cache(paths[kind])
        V = jax.random.uniform(jax.random.key(0), (20, 15))
        result = tracegrad.nmf.fit(V, 3, max_iter=20, key=jax.random.key(1))
    ours = [w for w in caught if issubclass(w.category, tracegrad.CompilationCacheWarning)]
    assert len(ours) == 1 and str(paths[kind]) in str(ours[0].message)
    assert issubclass(tracegrad.CompilationCacheWarning, RuntimeWarning)
    assert path == paths[kind].resolve()
    assert _settings() == before
    assert np.isfinite(np.asarray(result.W)).all() and np.asarray(result.W).shape == (20, 3)


def test_a_failed_write_later_is_a_warning_not_an_error(tmp_path, restore_cache_settings):
    cache = tmp_path / "cache"
    assert tracegrad.enable_compilation_cache(cache) == cache.resolve()
    x = jnp.arange(6.0)
    assert jax.jit(lambda x: x * 3.0 + 1.0)(x)[1] == 4.0  # opens the cache, writes an entry
    assert any(cache.iterdir())
    for entry in cache.iterdir():
        entry.unlink()
    cache.rmdir()
    cache.write_text("the directory was replaced by a file")  # every later write fails
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = jax.jit(lambda x: jnp.cos(x) * 5.0 - 2.0)(x)
    np.testing.assert_allclose(y, np.cos(np.arange(6.0)) * 5.0 - 2.0)
    assert any("persistent compilation cache" in str(w.message) for w in caught)


def test_enabling_after_a_first_compile_and_moving_the_directory(tmp_path, restore_cache_settings):
    jax.jit(lambda x: x - 7.0)(jnp.ones(3)).block_until_ready()  # compiled before any cache
    first, second = tmp_path / "first", tmp_path / "second"
    tracegrad.enable_compilation_cache(first)
    jax.jit(lambda x: x * 11.0)(jnp.ones(3)).block_until_ready()
    tracegrad.enable_compilation_cache(second)
    jax.jit(lambda x: x * 13.0)(jnp.ones(3)).block_until_ready()
    assert any(first.iterdir()) and any(second.iterdir())
    assert _settings() == {
        "jax_enable_compilation_cache": True,
        "jax_compilation_cache_dir": str(second.resolve()),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": -1,
    }


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout")
def test_the_default_directory(tmp_path, monkeypatch, restore_cache_settings):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "mine"))
    assert tracegrad.enable_compilation_cache() == tmp_path / "mine"  # $TRACEGRAD_CACHE_DIR wins
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", "")  # empty is unset
    assert tracegrad.enable_compilation_cache() == tmp_path / "xdg" / "tracegrad" / "jax"
    monkeypatch.delenv("TRACEGRAD_CACHE_DIR")
    assert tracegrad.enable_compilation_cache() == tmp_path / "xdg" / "tracegrad" / "jax"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in ("relative/cache", ""):  # a relative XDG_CACHE_HOME is invalid, as is empty
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert (
            tracegrad.enable_compilation_cache()
            == tmp_path / "home" / ".cache" / "tracegrad" / "jax"
        )


# A command that refuses its input at once: the cache is turned on before any command runs.
NO_SUCH_CONFIG = ["nmf", "--config", "no-such-config.toml"]


def test_the_cli_turns_the_cache_on_and_debug_prints_where(
    tmp_path, monkeypatch, capsys, restore_cache_settings
):
    monkeypatch.delenv("TRACEGRAD_NO_COMPILE_CACHE")  # set for the test session by conftest
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    assert cli_main(["--debug", *NO_SUCH_CONFIG]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "compilation cache" in line]
    assert lines == [f"tracegrad: compilation cache: {(tmp_path / 'cache').resolve()}"]
    assert _settings()["jax_compilation_cache_dir"] == str((tmp_path / "cache").resolve())


@pytest.mark.parametrize(
    "argv",
    [["--no-compile-cache", "--debug", *NO_SUCH_CONFIG], [*NO_SUCH_CONFIG, "--no-compile-cache"]],
    ids=["before", "after"],
)
def test_the_cli_flag_no_compile_cache(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.delenv("TRACEGRAD_NO_COMPILE_CACHE")
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    before = _settings()
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert ("tracegrad: compilation cache: off" in err) == ("--debug" in argv)
    assert not (tmp_path / "cache").exists()
    assert _settings() == before


def test_the_cli_warns_in_one_line_when_the_directory_is_unusable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TRACEGRAD_NO_COMPILE_CACHE")
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    before = _settings()
    assert cli_main(NO_SUCH_CONFIG) == 2  # the command's own error, not the cache's
    warned = [line for line in capsys.readouterr().err.splitlines() if "cache" in line]
    assert len(warned) == 1 and warned[0].startswith("tracegrad: warning: compilation cache")
    assert str(tmp_path / "a-file" / "cache") in warned[0]
    assert _settings() == before

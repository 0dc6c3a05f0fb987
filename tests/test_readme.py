"""The README's promises: CI runs its test command, and its Python examples run as written."""

import re
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    block = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    command = [line for line in block.splitlines() if "pytest" in line][0]
    install_and_test = command.split("&& ", 2)[-1]  # after venv creation and activation
    assert install_and_test in (ROOT / ".ci" / "run").read_text()


def test_readme_check_example_runs_and_prints_its_diagnosis(capsys):
    code = _python_blocks()[0]
    with jax.enable_x64(False):  # as a user runs it: float32 defaults (the suite enables x64)
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    printed = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert printed and all(line.strip() in out for line in printed)


@pytest.mark.parametrize("index", [2], ids=["bridge"])
def test_readme_bridge_example_runs(index):
    ns: dict = {}
    exec(compile(_python_blocks()[index], "README.md", "exec"), ns)
    assert ns["g"].shape == ns["W"].shape

"""The numbers in the NMF pages are the code's: ``docs/nmf-extending.md``'s tables are read
and compared with the solver objects of ``SOLVERS`` and the module constants they name, so the
page cannot drift from the code again (it once gave ``"apg"`` 40 Nesterov steps and a
``gamma`` of 1.01); the check interval and the loss record's limit are checked wherever the
NMF pages state them."""

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from tracegrad.nmf import SOLVERS
from tracegrad.nmf._constants import CHECK_EVERY
from tracegrad.nmf._loop import history_layout

# internals: the NMF check interval and loss-history layout the docs quote have no public name
pytestmark = pytest.mark.internals

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "nmf-extending.md"


def _tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table of a markdown page, as rows keyed by the header cells."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|(\s*-+\s*\|)+", lines[i + 1].strip()):
            header = _cells(line)
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, _cells(row), strict=True)))
            tables.append(rows)
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(*columns: str) -> list[dict[str, str]]:
    matches = [t for t in _tables(PAGE.read_text()) if t and all(c in t[0] for c in columns)]
    assert len(matches) == 1, f"{PAGE.name}: expected one table with columns {columns}"
    return matches[0]


def _solver(cell: str):
    name = cell.strip("`").split("`")[0].strip('"')
    assert name in SOLVERS, f"{PAGE.name} names solver {cell}, not in SOLVERS"
    return name, SOLVERS[name]


def test_solver_table_lists_every_solver_and_its_losses():
    rows = _table("solver", "losses", "stop rule")
    documented = dict(_solver(row["solver"]) for row in rows)
    assert list(documented) == list(SOLVERS)
    for row in rows:
        name, solver = _solver(row["solver"])
        assert (row["losses"] == "Frobenius") == solver.frobenius_only, name


def test_extrapolated_solver_table_is_the_solvers_defaults():
    rows = _table("solver", "`inner` (default)", "`gamma`", "`gamma_bar`")
    assert rows
    for row in rows:
        name, solver = _solver(row["solver"])
        default = next(f.default for f in dataclasses.fields(solver) if f.name == "inner")
        assert int(row["`inner` (default)"]) == default == solver.inner, name
        assert row["one inner update"] == solver.inner_unit, name
        assert float(row["`gamma`"]) == solver.gamma, name
        assert float(row["`gamma_bar`"]) == solver.gamma_bar, name


def test_constants_table_is_the_code():
    rows = _table("value", "in the code (`tracegrad.nmf.`)")
    assert rows
    for row in rows:
        path = row["in the code (`tracegrad.nmf.`)"].strip("`")
        module, _, attr = path.rpartition(".")
        value = getattr(importlib.import_module(f"tracegrad.nmf.{module}"), attr)
        assert float(row["value"]) == value, f"{PAGE.name}: {path} is {value}, not {row['value']}"


NMF_PAGES = [*ROOT.glob("docs/nmf*.md"), ROOT / "docs" / "howto" / "nmf.md"]


def test_check_interval_in_the_nmf_pages():
    for page in NMF_PAGES:
        for n in re.findall(r"every (\d+) iterations", page.read_text()):
            assert int(n) == CHECK_EVERY, f"{page.name}: every {n} iterations"


def test_full_loss_record_limit_in_the_nmf_pages():
    """``max_iter = N`` where the pages say the loss record starts thinning: the last run
    that keeps every check."""
    found = 0
    for page in NMF_PAGES:
        for n in map(int, re.findall(r"max_iter = (\d+)`", page.read_text())):
            found += 1
            assert history_layout(n)[0] == 1 < history_layout(n + CHECK_EVERY)[0], page.name
    assert found

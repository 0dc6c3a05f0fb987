"""mkdocs hooks: the benchmark page shows the plots and tables the benchmarks wrote.

The charts stay where ``tracegrad bench`` writes them (``benchmarks/results/latest/*.png``) and
the tables in ``benchmarks/RESULTS.md``; the site copies the one and includes the other, so
each has one source.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
PLOTS = ROOT / "benchmarks" / "results" / "latest"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
MARKER = "<!-- include: benchmarks/RESULTS.md -->"


def on_files(files: Files, config) -> Files:
    """Serve each latest chart as ``benchmarks/<suite>.png``."""
    for png in sorted(PLOTS.glob("*.png")):
        files.append(File.generated(config, f"benchmarks/{png.name}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker with RESULTS.md, its headings one level down, its links re-rooted."""
    if MARKER not in markdown:
        return markdown
    text = RESULTS.read_text(encoding="utf-8")
    text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)  # under the page's own title
    # links written relative to benchmarks/ point into docs/ or the repository
    text = re.sub(r"\]\(\.\./docs/([^)]+)\)", r"](\1)", text)
    return markdown.replace(MARKER, text)

"""Cut cells' outputs out of an executed notebook's HTML record: their tables as Markdown, their figures as files.

The workbook's GPU runs are kept as executed notebooks rendered to HTML (`benchmarks/results/workbook-gpu-*/`);
the notebooks show some of those outputs again as recorded evidence (`helpers.records.evidence`). This writes them
as files of their own, unchanged: `PREFIX.md` (each table, with the text around it) and `PREFIX-figN.jpg`/`.png`. Each
`--cell` names one code cell by a piece of its source; `--take K` keeps only the first K outputs of each (a cell that
also showed an older record after its own result).

    python benchmarks/cut_outputs.py benchmarks/results/workbook-gpu-h200/05_monitoring.html \
        --cell "timing = timer.summary()" --out benchmarks/results/workbook-gpu-h200/05-monitor

An executed notebook (`.ipynb`) may stand for its page: it is rendered with nbconvert first. `--text-only` keeps
such a notebook whole instead, small enough to commit: every cell, its text outputs and Papermill's timing of it,
without figures or large HTML. `--seconds` writes that timing as a Markdown table, every code cell slowest first
(`helpers.workbook.runner.cell_seconds`).

    python benchmarks/cut_outputs.py RUN/02_train_b256.ipynb --text-only --out benchmarks/results/step-h200/nb02-call5.ipynb
    python benchmarks/cut_outputs.py benchmarks/results/step-h200/nb02-call5.ipynb --seconds --out benchmarks/results/step-h200/nb02-call5-cells
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import bs4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.core.tables import markdown  # noqa: E402


def cell_outputs(page: str, marker: str) -> list[bs4.Tag]:
    """The output areas of the one code cell whose source contains `marker`."""
    soup = bs4.BeautifulSoup(page, "html.parser")
    cells = [c for c in soup.select("div.jp-CodeCell") if marker in (c.select_one(".jp-InputArea") or c).get_text()]
    if len(cells) != 1:
        raise SystemExit(f"{len(cells)} code cells contain {marker!r}: give a marker that names one")
    return cells[0].select(".jp-OutputArea-output")


def markdown_table(table: bs4.Tag) -> str:
    """An HTML table as a Markdown table of its cells' text, short rows padded to the widest."""
    rows = [[c.get_text(" ", strip=True) for c in tr.select("th, td")] for tr in table.select("tr")]
    rows = [r for r in rows if r]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    return markdown(rows[0], rows[1:])


def cut(page: str, marker: str, take: int | None = None) -> tuple[str, list[tuple[str, bytes]]]:
    """(the cell's text outputs as Markdown, its figures as (file suffix, bytes)) in the order the page shows them."""
    parts, figures = [], []
    for out in cell_outputs(page, marker)[:take]:
        for img in out.select("img"):
            head, _, data = img.get("src", "").partition(",")
            if head.startswith("data:image/") and head.endswith(";base64"):
                kind = head.removeprefix("data:image/").removesuffix(";base64")
                figures.append(("jpg" if kind == "jpeg" else kind, base64.b64decode(data)))
        for node in out.find_all(["p", "table", "pre", "b"], recursive=True):
            if node.name == "table":
                caption = node.find("caption")
                parts.append((f"**{caption.get_text(strip=True)}**\n\n" if caption else "") + markdown_table(node))
            elif node.find_parent("table") is None and node.find_parent(["p", "pre"]) is None:
                text = node.get_text(" ", strip=True)
                if text:
                    parts.append(f"**{text}**" if node.name == "b" else text)
    return "\n\n".join(parts) + "\n", figures


TEXT = ("text/plain", "text/markdown")  # what --text-only keeps of a rich output, with HTML under HTML_MAX characters
HTML_MAX = 20_000


def text_only(nb: dict) -> dict:
    """An executed notebook with its figures and large HTML outputs dropped (streams, errors and text kept)."""
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if "data" in out:
                out["data"] = {k: v for k, v in out["data"].items()
                               if k in TEXT or (k == "text/html" and len("".join(v)) < HTML_MAX)}
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path, help="an executed notebook's HTML page (its .ipynb with --text-only)")
    ap.add_argument("--cell", action="append", help="text of a code cell's source that names it")
    ap.add_argument("--text-only", action="store_true", help="write the whole notebook without figures (see above)")
    ap.add_argument("--seconds", action="store_true", help="write PREFIX.md: each code cell's seconds (Papermill)")
    ap.add_argument("--take", type=int, default=None, help="only the first K outputs of each cell")
    ap.add_argument("--out", required=True, type=Path, help="path prefix of the files written")
    a = ap.parse_args(argv)
    if a.text_only:
        nb = text_only(json.loads(a.html.read_text()))
        a.out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(a.out)
        return 0
    if a.seconds:
        import nbformat

        from helpers.workbook.runner import cell_seconds

        cells = cell_seconds(nbformat.read(a.html, as_version=4), top=10_000)
        rows = [(c["cell"], f"{c['seconds']:.1f}", f"`{c['source']}`") for c in cells]
        head = (f"Each code cell of `{a.html.name}` by Papermill's timing, slowest first ({len(rows)} cells, "
                f"{sum(c['seconds'] for c in cells):.1f} s together):\n\n")
        a.out.with_suffix(".md").write_text(head + markdown(("code cell", "seconds", "first line"), rows) + "\n")
        print(f"{a.out}.md")
        return 0
    if not a.cell:
        ap.error("--cell is needed (or --text-only, --seconds)")
    page, texts, figures = a.html.read_text(), [], []
    if a.html.suffix == ".ipynb":
        from nbconvert import HTMLExporter

        page = HTMLExporter().from_filename(str(a.html))[0]
    for marker in a.cell:
        text, figs = cut(page, marker, a.take)
        texts.append(text)
        figures += figs
    named = ", ".join(f"`{m}`" for m in a.cell)
    a.out.with_suffix(".md").write_text(f"Cut from `{a.html.name}` (the cells containing {named}):\n\n" + "\n".join(texts))
    written = [f"{a.out}-fig{i}.{suffix}" for i, (suffix, _) in enumerate(figures, 1)]
    for path, (_, data) in zip(written, figures):
        Path(path).write_bytes(data)
    print(f"{a.out}.md", *written)
    return 0


if __name__ == "__main__":
    sys.exit(main())

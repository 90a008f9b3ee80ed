"""Cut cells' outputs out of an executed notebook's HTML record: their tables as Markdown, their figures as files.

The workbook's GPU runs are kept as executed notebooks rendered to HTML (`benchmarks/results/workbook-gpu-*/`);
the notebooks show some of those outputs again as recorded evidence (`helpers.records.evidence`). This writes them
as files of their own, unchanged: `PREFIX.md` (each table, with the text around it) and `PREFIX-figN.jpg`/`.png`. Each
`--cell` names one code cell by a piece of its source; `--take K` keeps only the first K outputs of each (a cell that
also showed an older record after its own result).

    python benchmarks/cut_outputs.py benchmarks/results/workbook-gpu-h200/05_monitoring.html \
        --cell "timing = timer.summary()" --out benchmarks/results/workbook-gpu-h200/05-monitor
"""

from __future__ import annotations

import argparse
import base64
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--cell", required=True, action="append", help="text of a code cell's source that names it")
    ap.add_argument("--take", type=int, default=None, help="only the first K outputs of each cell")
    ap.add_argument("--out", required=True, type=Path, help="path prefix of the files written")
    a = ap.parse_args(argv)
    page, texts, figures = a.html.read_text(), [], []
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

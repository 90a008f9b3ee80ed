"""Small tables that render as HTML in JupyterLab and as Markdown in summaries and terminals."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any


MD_SPECIAL = "\\`*_{}[]<>()#+-.!|~"


def md_escape(text: str) -> str:
    """Text shown as written in Markdown: every character Markdown or HTML would interpret is escaped."""
    return "".join(f"\\{c}" if c in MD_SPECIAL else c for c in str(text))


def md_text(text: str) -> str:
    """Markdown for text whose `code spans` are commands: the spans kept verbatim, everything else escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: no code spans at all
        return md_escape(text)
    return "".join(f"`{p}`" if i % 2 else md_escape(p) for i, p in enumerate(parts))


def markdown(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table ('|' inside cells escaped)."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def html_text(text: Any) -> str:
    """HTML for text whose `code spans` are code: the spans as <code>, everything escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return html.escape(str(text))
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], colours: Sequence[str | None] | None = None) -> str:
    """An HTML table; `colours` optionally tints the first cell of each row; `code spans` become <code>."""
    head = "".join(f"<th style='text-align:left'>{html_text(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        tint = colours[i] if colours else None
        cells = [
            f"<td style='text-align:left{';color:' + tint if tint and j == 0 else ''}'>{html_text(v)}</td>"
            for j, v in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Table:
    """A titled table object: rich HTML in notebooks, Markdown as text."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "",
                 colours: Sequence[str | None] | None = None):
        self.headers, self.rows, self.title, self.colours = list(headers), [list(r) for r in rows], title, colours
        wrong = [i for i, r in enumerate(self.rows) if len(r) != len(self.headers)]
        if wrong:  # a value without a header, or a header without values, misreads every column after it
            raise ValueError(f"table {title!r}: {len(self.headers)} headers {self.headers} but row {wrong[0]} has "
                             f"{len(self.rows[wrong[0]])} values")

    def _repr_html_(self) -> str:
        title = f"<p><b>{html_text(self.title)}</b></p>" if self.title else ""
        return title + html_table(self.headers, self.rows, self.colours)

    def to_markdown(self) -> str:
        title = f"**{self.title}**\n\n" if self.title else ""
        return title + markdown(self.headers, self.rows)

    def __repr__(self) -> str:
        return self.to_markdown()


def small_image(path: str | Path, max_px: int = 900):
    """An image for display, scaled down to at most `max_px` wide and JPEG-encoded, so an executed notebook (and its
    HTML) stays small."""
    import io

    from IPython.display import Image
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_px, max_px * 4))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
    return Image(data=buf.getvalue(), format="jpeg")


def listing(items: Sequence[Any] | Any, last: str = "and") -> str:
    """Items as prose: 'a', 'a and b', 'a, b and c' ('' for none)."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else (", ".join(words[:-1]) + f" {last} " + words[-1] if words else "")

"""The headless runner: execute the notebooks in order with Papermill and write a summary (Markdown, HTML, JSON).

Each notebook runs in a fresh kernel in its own process group, so a per-notebook time-out can stop it and its kernel.
A failing notebook is reported with its failing cell, and the rest still run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers.core import paths, profiles
from helpers.workbook.record import read_records
from helpers.core.tables import html_table, markdown

GLOB = "[0-9][0-9]*_*.ipynb"  # 02_train_b256, then 02b_when_b256_pays, then 03_...
KERNEL = "yolo-b256"  # registered by `make setup`; falls back to the current Python's own kernel


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok" | "failed" | "timeout"
    seconds: float
    output: str
    html: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # {"cell": n, "ename": ..., "evalue": ..., "source": first line}
    slowest: list[dict[str, Any]] = field(default_factory=list)  # cell_seconds(): where its time went


def discover(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The workbook's notebooks (NN_name.ipynb, NNb_name.ipynb for a chapter placed after NN) in order; `only` keeps
    those whose number ('2', '02', '02b') or name is listed."""
    folder = folder or paths.NOTEBOOKS
    found = sorted(p for p in folder.glob(GLOB))
    if not only:
        return found
    keep = [p for p in found if any(p.stem == o or p.stem.split("_", 1)[0] == o.zfill(2) for o in only)]
    unknown = [o for o in only if not any(p.stem == o or p.stem.split("_", 1)[0] == o.zfill(2) for p in found)]
    if unknown:
        raise ValueError(f"No notebook matches {unknown}; have: {[p.stem for p in found]}")
    return keep


def kernel_name() -> str:
    """The workbook's registered kernel if it exists, else the running Python's own ('python3')."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def code_cells(nb: Any) -> Iterator[tuple[int, Any, str]]:
    """(its number among code cells, the cell, its first non-blank source line) for each code cell but Papermill's
    injected parameters: the numbering a reader counts in the notebook."""
    n = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        n += 1
        yield n, cell, next((ln for ln in cell["source"].splitlines() if ln.strip()), "")


def first_error(nb: Any) -> dict[str, Any] | None:
    """The first cell with an error output: its number among code cells, exception name, message, first source line."""
    for n, cell, src in code_cells(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return {"cell": n, "ename": out.get("ename", ""), "evalue": str(out.get("evalue", ""))[:500],
                        "source": src[:120]}
    return None


def cell_seconds(nb: Any, top: int = 5) -> list[dict[str, Any]]:
    """The `top` slowest code cells by Papermill's own timing: their number among code cells, seconds, first line."""
    cells = [{"cell": n, "seconds": round(float(sec), 1), "source": src[:100]} for n, cell, src in code_cells(nb)
             if isinstance(sec := cell.get("metadata", {}).get("papermill", {}).get("duration"), (int, float))]
    return sorted(cells, key=lambda c: -c["seconds"])[:top]


def _to_html(nb_path: Path) -> Path | None:
    """An HTML rendering of an executed notebook, for reading without Jupyter."""
    try:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_filename(str(nb_path))
    except Exception:  # a broken partial notebook after a time-out: the .ipynb is still there
        return None
    out = nb_path.with_suffix(".html")
    out.write_text(compact_images(body), encoding="utf-8")
    return out


def compact_images(page: str, max_px: int = 900, min_bytes: int = 40_000) -> str:
    """Embedded PNG figures larger than `min_bytes` re-encoded as JPEG of at most `max_px` wide, so an executed
    notebook's HTML stays small enough to keep (figures are plots and photos; JPEG at quality 80 reads the same)."""
    import base64
    import io
    import re

    from PIL import Image

    def shrink(m: re.Match) -> str:
        raw = base64.b64decode(m.group(1))
        if len(raw) < min_bytes:
            return m.group(0)
        with Image.open(io.BytesIO(raw)) as im:
            im = im.convert("RGB")
            im.thumbnail((max_px, max_px * 8))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()

    return re.sub(r"data:image/png;base64,([A-Za-z0-9+/=]+)", shrink, page)


def run_one(nb: Path, out_dir: Path, profile: str, parameters: dict[str, Any], timeout_s: float,
            kernel: str | None = None, html: bool = True, env: dict[str, str] | None = None) -> NotebookResult:
    """Execute one notebook with Papermill in a fresh kernel (`env`: further environment variables, e.g. its own
    runs folder); never raises for the notebook's own failures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    log = out_dir / f"{nb.stem}.log"
    cmd = [sys.executable, "-m", "papermill", str(nb), str(out), "-k", kernel or kernel_name(),
           "--cwd", str(nb.parent), "-y", yaml.safe_dump({"profile": profile, **parameters}),
           "--no-progress-bar", "--log-output"]
    env = dict(os.environ, **{profiles.ENV_VAR: profile, "PYTHONUNBUFFERED": "1", "WORKBOOK_HEADLESS": "1"},
               **(env or {}))
    start = time.monotonic()
    status = "ok"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # papermill and its kernel share the group
            proc.wait()
            rc, status = -9, "timeout"
    seconds = time.monotonic() - start
    res = NotebookResult(nb.stem, status, seconds, str(out))
    if not out.exists():
        res.status = "failed" if status == "ok" else status
        res.error = {"cell": None, "ename": "PapermillError", "evalue": _tail(log), "source": ""}
        return res
    executed = nbformat.read(out, as_version=4)
    res.records = read_records(executed)
    res.error = first_error(executed)
    res.slowest = cell_seconds(executed)
    if status == "timeout":
        res.error = res.error or {"cell": None, "ename": "Timeout", "evalue": f"stopped after {timeout_s:.0f} s", "source": ""}
    elif rc != 0 or res.error:
        res.status = "failed"
        res.error = res.error or {"cell": None, "ename": "PapermillError", "evalue": _tail(log), "source": ""}
    if html:
        h = _to_html(out)
        res.html = str(h) if h else None
    return res


def _die_with_parent() -> None:
    """In the child before Papermill starts: it is killed when the runner dies, even by kill -9 (its kernel then
    exits too, as ipykernel does when its parent goes), so nothing goes on writing into a run that is resumed."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the time-out still stops it


def _tail(log: Path, n: int = 5) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    return " / ".join(lines[-n:])[:500]


def _records_text(records: list[dict[str, Any]]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return "; ".join(f"{r['name']} = {fmt(r['value'])}{(' ' + r['unit']) if r.get('unit') else ''}" for r in records)


def error_text(e: dict[str, Any] | None) -> str:
    """A notebook's failure in one line (its cell, the exception's name and message), for summaries and sweeps."""
    if not e:
        return ""
    where = f"cell {e['cell']}: " if e.get("cell") else ""
    return f"{where}{e['ename']}: {e['evalue']}".strip()


def write_summary(results: list[NotebookResult], out_dir: Path, profile: str) -> dict[str, Path]:
    """summary.md, summary.html and summary.json in `out_dir`; returns their paths."""
    headers = ("notebook", "status", "seconds", "key figures", "failure")
    rows = [(r.name, r.status.upper(), f"{r.seconds:.1f}", _records_text(r.records), error_text(r.error)) for r in results]
    ok = sum(r.status == "ok" for r in results)
    title = f"Workbook run: profile '{profile}', {ok}/{len(results)} notebooks ok"
    slow = [(r.name, c["cell"], f"{c['seconds']:.1f}", f"`{c['source']}`") for r in results for c in r.slowest]
    md = (f"# {title}\n\n{markdown(headers, rows)}\n\n## The slowest cells (Papermill's timing)\n\n"
          f"{markdown(('notebook', 'code cell', 'seconds', 'first line'), slow)}\n\nExecuted notebooks: `{out_dir}`\n")
    colours = ["#1e8449" if r.status == "ok" else "#c0392b" for r in results]
    links = "".join(
        f"<li><a href='{Path(r.html).name}'>{r.name}</a></li>" for r in results if r.html
    )
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h1>{title}</h1>{html_table(headers, rows, colours)}<h2>Executed notebooks</h2><ul>{links}</ul></body></html>")
    files = {"md": out_dir / "summary.md", "html": out_dir / "summary.html", "json": out_dir / "summary.json"}
    files["md"].write_text(md)
    files["html"].write_text(page, encoding="utf-8")
    files["json"].write_text(json.dumps({"profile": profile, "results": [asdict(r) for r in results]}, indent=2))
    return files


def run(profile: str | None = None, only: list[str] | None = None, out: str | Path | None = None,
        parameters: dict[str, Any] | None = None, timeout_s: float | None = None, html: bool = True,
        progress: bool = True) -> list[NotebookResult]:
    """Run the workbook headless; returns one result per notebook (see write_summary for the files)."""
    from tqdm.auto import tqdm

    from helpers.workbook import params

    prof = profiles.get(profile)
    out_dir = Path(out) if out else paths.runs_dir() / f"workbook-{prof.name}"
    notebooks = discover(only)
    given = params.check(parameters or {}, notebooks)  # before anything runs: unknown or mistyped -> error
    kernel = kernel_name()
    results = []
    bar = tqdm(notebooks, desc=f"workbook ({prof.name})", unit="nb", disable=not progress)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        r = run_one(nb, out_dir, prof.name, given[nb], timeout_s or prof.notebook_timeout_s, kernel, html)
        results.append(r)
        bar.write(f"{r.status.upper():8s} {r.name} ({r.seconds:.0f} s) {error_text(r.error)}")
    files = write_summary(results, out_dir, prof.name)
    if progress:
        print(f"Summary: {files['md']}  |  {files['html']}")
    return results


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def freeze(executed_dir: str | Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Refresh the committed notebooks from an executed run: outputs kept only for NBVAL_CHECK_OUTPUT cells.

    nbval (`--nbval-lax`) compares exactly those cells, so their outputs must be committed; every other output is
    dropped to keep the repository small.
    """
    written = []
    for src in notebooks or discover():
        ran = Path(executed_dir) / src.name
        if not ran.exists():
            continue
        executed = {c["source"]: c for c in nbformat.read(ran, as_version=4)["cells"] if c["cell_type"] == "code"}
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            done = executed.get(cell.source)
            keep = cell.source.lstrip().startswith(CHECK_MARK) and done is not None
            cell.outputs = [o for o in done["outputs"] if o.get("output_type") != "display_data"] if keep else []
            cell.execution_count = done.get("execution_count") if keep else None  # nbval skips unrun cells
            cell.metadata.pop("execution", None)
            cell.metadata.pop("papermill", None)
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, src)
        written.append(src)
    return written

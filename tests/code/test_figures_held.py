"""Every figure the README and the results README state is held by a record the section cites (or a section above
it), at the precision shown; what is a setting rather than a measurement is listed here with where it is checked.
Notebooks print their measured figures through the record readers, so their Markdown may state only figures that
the workbook's own settings and constants give, each recomputed here."""

import functools
import re
from pathlib import Path

from helpers.core import paths, profiles
from helpers.train import lr

ROOT = paths.ROOT
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ("README.md", "benchmarks/results/README.md")
UNIT = r"(?:\s?(?:img/s|images/s|s\b|ms\b|GiB|GB|MB|%|x\b|×|min\b|minutes|seconds))"
# a decimal, or a whole number with a unit of measurement; not part of a version, a date, a path or a name, and not
# a target or a requirement (">= 2.0x", "≥ 3.10"); in a table, a whole number alone in its cell too
FIGURE = re.compile(r"(?<![\w.$/-])(?<![<>]= )(?<![≥≤] )(\d+\.\d+|\d+(?=" + UNIT + r"))(?![\w.]*\d)")
# settings and requirements, not measurements: (document, the sentence's words around the figure), and where checked
NOT_MEASURED = {
    ("README.md", "(0.04 at 256 from 0.01 at 64)"): "the linear rule (test_the_lr_rule_as_the_readme_states_it)",
}


def entries() -> dict[str, set[Path]]:
    """benchmarks/results' entries by name and, for files, by stem (`realtrain-h200`: the folder and the .json)."""
    found: dict[str, set[Path]] = {}
    for p in RESULTS.iterdir():
        for key in {p.name, p.stem if p.is_file() else p.name}:
            found.setdefault(key, set()).add(p)
    return found


@functools.cache
def numbers(entry: Path) -> set[float]:
    """Every number a record holds (a folder's files; a rendered .md with its .json)."""
    files = [f for f in entry.rglob("*") if f.is_file()] if entry.is_dir() else [entry]
    if entry.suffix == ".md" and entry.with_suffix(".json").exists():
        files.append(entry.with_suffix(".json"))
    text = " ".join(f.read_text(errors="ignore") for f in files if f.suffix in {".json", ".md", ".txt", ".csv"})
    return {float(t) for t in re.findall(r"\d+(?:\.\d+)?", text)}


def cited(section: str, by_name: bool) -> set[Path]:
    """The records a section names: `benchmarks/results/X`, and in the results README also X alone."""
    known = entries()
    names = re.findall(r"benchmarks/results/([\w.-]+)", section)
    if by_name:
        names += [t for t in re.findall(r"[\w.-]+", section) if "-" in t]
    return set().union(*(known[n.rstrip(".")] for n in names if n.rstrip(".") in known))


def half_unit(figure: str) -> float:
    """Half the last shown digit: how far the rounded figure may be from the recorded value."""
    return 0.5 * 10 ** -(len(figure.split(".")[1]) if "." in figure else 0) + 1e-9


def held(figure: str, records: set[Path]) -> bool:
    return any(abs(n - float(figure)) <= half_unit(figure) for r in records for n in numbers(r))


def a_ratio_of(figure: str, stated: list[str]) -> bool:
    """A ratio (1.65x) of two held figures the same document states, within what their rounding allows."""
    r = float(figure)
    def near(a: str, b: str) -> bool:
        slack = half_unit(figure) + r * (half_unit(a) / float(a) + half_unit(b) / float(b))
        return abs(float(a) / float(b) - r) <= slack

    return any(near(a, b) for a in stated for b in stated if float(a) > 0 and float(b) > 0 and a != b)


def unheld(name: str, text: str) -> list[str]:
    """The figures of a document that no record its section cites holds, each with its words around it."""
    text = re.sub(r"<!-- ledger:start -->.*?<!-- ledger:end -->", "", text, flags=re.S)  # generated, test_ledger
    exempt = [words for doc, words in NOT_MEASURED if doc == name]
    for words in exempt:
        text = text.replace(words, "")
    found, above = [], []  # above: (level, records) of the enclosing sections
    for section in re.split(r"(?m)^(?=#{1,4} )", text):
        level = len(section) - len(section.lstrip("#"))
        while above and above[-1][0] >= level:
            above.pop()
        records = cited(section, by_name=name.startswith("benchmarks/results"))
        scope = records.union(*(r for _, r in above))
        above.append((level, records))
        prose = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", section, flags=re.S))
        if section.startswith("## Profiles"):
            prose = re.sub(r"(?m)^\|.*\|$", "", prose)  # the profiles table: test_the_profiles_table_is_the_profiles
        table_cells = re.finditer(r"(?m)(?<=\| )(\d+)(?= \|)", prose)  # a whole number alone in a table's cell
        for m in sorted([*FIGURE.finditer(prose), *table_cells], key=lambda m: m.start()):
            ratio = re.match(r"(?:[-–][\d.]+)?\s?[x×]", prose[m.end():]) is not None  # 1.5x, 1.5-1.9x
            words = " ".join(prose[max(0, m.start() - 60):m.end() + 15].split())
            found.append((m.group(1), held(m.group(1), scope), ratio, words))
    stated = [f for f, ok, _, _ in found if ok]
    return [words for f, ok, ratio, words in found if not ok and not (ratio and a_ratio_of(f, stated))]


def test_every_figure_is_held_by_a_record_its_section_cites():
    for name in DOCS:
        missing = unheld(name, (ROOT / name).read_text())
        assert not missing, f"{name}: figures no cited record holds:\n" + "\n".join(missing)


def test_a_changed_figure_or_a_lost_citation_is_caught():
    text = (ROOT / "README.md").read_text()
    assert "1648.8" in text or "1649" in text
    changed = text.replace("1648.8", "1648.1").replace("1649", "1641")
    assert unheld("README.md", changed)
    uncited = text.replace("benchmarks/results/", "")
    assert len(unheld("README.md", uncited)) > len(unheld("README.md", text))


def test_the_profiles_table_is_the_profiles():
    text = (ROOT / "README.md").read_text()
    for name in ("quick", "gpu", "full"):
        prof = profiles.get(name)
        p = lambda k: getattr(prof, k)  # noqa: E731
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        steps = max(round(p("nbs") / p("batch")), 1)
        assert cells[2:5] == [str(p("imgsz")), str(p("epochs")), f"{p('batch')} × {steps}"]
        assert cells[5].startswith(f"{p('n_train')} ") and cells[5].endswith(f" {p('n_val')} val" if name == "quick"
                                                                             else f" {p('n_val')}")


def test_the_lr_rule_as_the_readme_states_it():
    assert lr.scale_lr(0.01, 64, 256, "linear") == 0.04
    assert "(0.04 at 256 from 0.01 at 64)" in (ROOT / "README.md").read_text()


# Figures a notebook's Markdown may state: arithmetic of the workbook's own settings and constants, each recomputed
# here (so a changed constant fails), keyed by (notebook prefix, the figure as written). Anything else with a unit of
# measurement in notebook prose is a measurement typed by hand: a notebook prints those from its records.
def _parameter_default(notebook: str, name: str) -> float:
    """A notebook parameter's default as its parameters cell writes it."""
    import ast

    from helpers.workbook import params, runner

    (nb,) = runner.discover([notebook])
    for node in ast.parse(params.parameters_cell(nb)).body:
        if isinstance(node, ast.AnnAssign) and node.target.id == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def derived() -> dict[tuple[str, str], tuple[float, float]]:
    """(notebook, figure) -> (the value it states, the value recomputed from its source)."""
    import inspect

    from helpers.pipeline import store
    from helpers.records import results, shown
    from helpers.train import memory
    from helpers.tricks import schedule

    label = "yolo12n b64x4 fp16 stock"  # one configuration in two runs on the same kind of machine
    runs = [next(r["img_s"] for r in results.load(n).rows if r["label"] == label) for n in (shown.THROUGHPUT, shown.LEAN)]
    return {
        ("02", "20%"): (20, 100 * inspect.signature(lr.warmup_epochs).parameters["max_fraction"].default),
        ("02", "10%"): (10, 100 * memory.MARGIN),
        ("03", "20%"): (20, 100 * (1 - min(runs) / max(runs))),
        ("03", "14.9 GiB"): (14.9, memory.card_gib(16)),
        ("03", "7 GiB"): (7, store.decoded_bytes(6144, 640) / 2**30),
        ("03", "135 GiB"): (135, store.decoded_bytes(118_000, 640) / 2**30),
        ("03", "35%"): (35, 100 * store.GPU_SHARE),
        ("04", "0.5×"): (0.5, 300 / 600),  # the tutorials' restart: at 300 of 600 epochs, to half of lr0
        ("04", "0.505×"): (0.505, schedule.ultralytics_lf(300, 600)),
        ("04", "0.7×"): (0.7, _parameter_default("04", "restart_fraction")),
        ("04", "60%"): (60, 100 * _parameter_default("04", "restart_at")),
    }


NOTEBOOK_FIGURE = re.compile(r"(?<![\w.$/-])(\d+(?:\.\d+)?)(\s?)(GiB|MB|img/s|ms\b|s\b|%|×|x\b)")
NOT_FIGURES = {"95%", "90%", "100%"}  # shares of a target or of a chart's axis, named in their own sentences


def notebook_figures() -> list[tuple[str, str, str]]:
    """(notebook prefix, figure, its sentence) for every figure with a unit in a notebook's Markdown; code spans are
    left out (commands and arguments are settings), and so are a product like "64 × 4" (micro-batch × accumulation)
    and a machine like "2x H200"."""
    import json

    out = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = re.sub(r"`[^`]*`", "", "".join(cell["source"]))
            for m in NOTEBOOK_FIGURE.finditer(text):
                if m.group(3) in "×x" and re.match(r"\s?(\d|[A-Z]\d)", text[m.end():]):
                    continue  # "64 × 4", or a machine: "2x H200"
                out.append((nb.name.split("_")[0], f"{m.group(1)}{m.group(2)}{m.group(3)}",
                            text[max(0, m.start() - 60):m.end() + 20].replace("\n", " ")))
    return out


def test_notebook_prose_types_only_figures_its_sources_recompute():
    """A measured figure typed into a notebook's Markdown fails here: notebooks print those from their records."""
    known = derived()
    for stated, recomputed in known.values():
        assert abs(stated - recomputed) <= half_unit(f"{stated:g}") + 0.01 * (stated >= 1), (stated, recomputed)
    typed = [(nb, fig, where) for nb, fig, where in notebook_figures()
             if (nb, fig) not in known and fig not in NOT_FIGURES and not re.fullmatch(r"\d+×", fig)]
    assert typed == [], typed

"""The workbook as a learner meets it: every "Try this" exercise runs headless, recorded GPU evidence exists for every
section that shows it, the own-dataset notebook runs without ../shared, and Markdown built from text renders as
written (a doctor's finding in the executed HTML)."""

import html
import re
import shlex

import nbformat
import pytest

from helpers.data import faults, synthetic
from helpers.records import evidence
from helpers.workbook import params, runner

COMMAND = re.compile(r"`(python -m helpers run [^`]+)`")


def exercises() -> list[tuple[str, str]]:
    """(notebook, command) for every command in a notebook's "Try this" cell."""
    out = []
    for nb in runner.discover():
        for cell in nbformat.read(nb, as_version=4).cells:
            if cell.cell_type == "markdown" and "### Try this" in cell.source:
                out += [(nb.stem, " ".join(m.split())) for m in COMMAND.findall(cell.source)]
    return out


def parse(command: str, sweep: bool = False) -> tuple[str | None, list[str], dict]:
    """(profile, only, parameters) of a `python -m helpers run ...` command; with `sweep`, of a `run` or `sweep`
    command too, whose grid's first value stands for its values (`--seeds` skipped)."""
    from helpers.core import profiles

    words = shlex.split(command)[4:]
    profile, only, sets = None, [], []
    while words:
        flag, value = words.pop(0), words.pop(0)
        if flag == "--profile":
            profile = value
        elif flag == "--only":
            only = value.split(",")
        elif flag == "--set":
            sets.append(value)
        elif sweep and flag == "--grid":
            sets.append(value.split(",")[0])
        elif not (sweep and flag == "--seeds"):
            raise AssertionError(f"unexpected {flag} in {command!r}")
    return profile, only, profiles.parse_assignments(sets)


def test_every_notebook_has_two_or_three_exercises():
    per = {}
    for nb, _ in exercises():
        per[nb] = per.get(nb, 0) + 1
    assert set(per) == {nb.stem for nb in runner.discover()}
    assert all(1 <= n <= 4 for n in per.values()), per


def test_every_exercise_names_real_parameters_of_its_notebook():
    for nb, command in exercises():
        profile, only, values = parse(command)
        assert only and all(nb.startswith(o) for o in only), command
        params.check(values, runner.discover(only))  # raises on an unknown name or a wrong type


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """Stand-ins for the placeholder paths of notebook 10's exercises: a small dataset and a broken copy of it."""
    root = tmp_path_factory.mktemp("own")
    good = synthetic.generate(root / "good", synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64, seed=5))
    return {"path/to/your/data.yaml": str(good),
            "path/to/copy": str(faults.with_fault(good, "bad-line", root / "copy").parent)}


@pytest.mark.slow
@pytest.mark.parametrize("nb,command", exercises(), ids=[f"{n[:2]}-{i}" for i, (n, _) in enumerate(exercises())])
def test_the_exercise_runs_headless(nb, command, own_data, tmp_path, runs):
    for placeholder, real in own_data.items():
        command = command.replace(placeholder, real)
    profile, only, values = parse(command)
    (res,) = runner.run(profile or "quick", only, tmp_path, values, 600, html=False, progress=False)
    assert res.status == "ok", res.error


@pytest.mark.slow
def test_own_dataset_notebook_without_shared_generates_a_dataset(tmp_path, runs, monkeypatch):
    monkeypatch.setenv("WORKBOOK_SHARED_DATASETS", str(tmp_path / "nowhere"))
    (res,) = runner.run("quick", ["10"], tmp_path / "out", {}, 600, html=False, progress=False)
    assert res.status == "ok", res.error
    rec = {r["name"]: r["value"] for r in res.records}
    assert rec["dataset"] == "own-dataset-shapes" and rec["classes"] == 5 and rec["validation_errors"] == 0
    assert rec["onnx_box_rel_diff"] < 1e-4


def test_every_recorded_evidence_file_exists_and_is_labelled():
    for key, rec in evidence.RECORDS.items():
        assert rec.paths() and all(p.exists() for p in rec.paths()), key
        label = rec.label()
        assert rec.device in html.unescape(label) and rec.date in label and f"`{rec.command}`" in label


def test_notebooks_show_only_evidence_that_exists():
    keys = set()
    for nb in runner.discover():
        src = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code")
        keys |= set(re.findall(r"evidence\.(?:show|figures_table|get)\(\"([0-9a-z._]+)\"", src))
    assert keys and keys <= set(evidence.RECORDS), keys - set(evidence.RECORDS)


@pytest.mark.slow
def test_a_findings_commands_render_exactly_in_the_html(tmp_path, runs):
    (res,) = runner.run("quick", ["07"], tmp_path, {}, 600, html=True, progress=False)
    assert res.status == "ok", res.error
    page = (tmp_path / "07_troubleshooting.html").read_text()
    assert "<code>pkill -f _temp_</code>" in page  # not "pkill -f" + an italic "temp"
    assert "<code>ss -ltnp | grep &lt;port&gt;</code>" in page  # <port> kept, not swallowed as a tag
    assert "batch=&lt;half&gt;" in page or "batch=128" in page


@pytest.mark.parametrize("key", sorted(evidence.RECORDS))
def test_a_records_command_runs_today_and_trains_at_the_recorded_lr(key, capsys):
    """Its names pass today's parameter check (a renamed parameter fails here), and the lr0 the command's plan gets
    today is the lr0 the record ran at (a changed profile default the command does not set fails here)."""
    from helpers.__main__ import main
    from helpers.core import profiles
    from helpers.train import launch, planner
    from helpers.train.plan import TrainPlan

    rec = evidence.get(key)
    *before, command = rec.command.split(" && ")
    for part in before:  # what the command prepares first, e.g. `python -m helpers synth ...`: its options exist
        words = shlex.split(part)
        assert words[:3] == ["python", "-m", "helpers"], part
        with pytest.raises(SystemExit):
            main([words[3], "--help"])
        shown = capsys.readouterr().out
        assert all(w in shown for w in words[4:] if w.startswith("--")), part
    if command.startswith("python -m helpers train "):
        launch.add_launcher_options(launch.parser()).parse_args(shlex.split(command)[4:])
        return
    assert shlex.split(command)[3] in ("run", "sweep"), rec.command
    profile, only, values = parse(command, sweep=True)
    assert only, rec.command
    params.check(values, runner.discover(only))
    summaries = [p for p in rec.paths() if p.name.endswith("-summary.json")]
    recorded = evidence.summary_figures(summaries[0]).get("lr0") if summaries else None
    if recorded is not None:
        fields = {f for f in TrainPlan.__dataclass_fields__}
        given = {**planner.profile_values(profiles.get(profile)), **{k: v for k, v in values.items() if k in fields}}
        given.pop("workers", None)  # -1: sized from the cores by the planner; no part of lr0
        plan = TrainPlan(data="d.yaml", **given)
        assert plan.lr0 == pytest.approx(recorded, rel=1e-3), (rec.command, plan.lr0, recorded)

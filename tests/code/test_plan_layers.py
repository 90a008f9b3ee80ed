"""The plan's layers (issue 26): the value object imports no dataset, probe or table module; planner and view do."""

import subprocess
import sys

from helpers.core import paths

FORBIDDEN = ("helpers.data", "helpers.train.probe", "helpers.train.memory", "helpers.core.tables",
             "helpers.train.planner", "helpers.train.plan_view")


def loaded_by(module: str) -> list[str]:
    """The helpers modules a fresh interpreter holds after importing `module` (a fresh one: this one has them all)."""
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('helpers')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    return eval(out.strip().splitlines()[-1])


def test_importing_the_plan_loads_no_dataset_probe_or_table_module():
    loaded = loaded_by("helpers.train.plan")
    assert "helpers.train.plan" in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, bad


def test_the_tricks_the_plan_takes_its_fields_from_load_neither_torch_nor_ultralytics():
    code = ("import sys, helpers.train.plan as p; from helpers.tricks import registry; "
            "print(len(registry.tricks()), 'torch' in sys.modules, 'ultralytics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=120,
                         check=True).stdout.split()
    assert int(out[0]) >= 3 and out[1:] == ["False", "False"], out


def test_the_plan_names_neither_its_planner_nor_its_view_so_no_import_circle_remains():
    """plan.py imports neither neighbour (not even inside a function): they import it, never the other way."""
    import ast

    tree = ast.parse((paths.ROOT / "helpers" / "train" / "plan.py").read_text())
    named = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {f"helpers.train.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "helpers.train"
         for a in n.names}
    assert not named & {"helpers.train.planner", "helpers.train.plan_view"}, named
    from helpers.train.plan import TrainPlan

    gone = ("from_profile", "fit_memory", "translated", "probe_config", "with_memory", "rows", "explain", "summary",
            "scaling_table")
    assert not [m for m in gone if hasattr(TrainPlan, m)]


def test_planner_and_view_build_and_read_a_plan():
    for module in ("helpers.train.planner", "helpers.train.plan_view"):
        assert module in loaded_by(module)
    from helpers.train import plan, plan_view, planner

    p = plan.TrainPlan(train_images=1000, clip_norm=5.0, nan_guard=True)
    rows = {r[0]: r[1] for r in plan_view.rows(p)}
    assert rows["effective batch"] == "256" and rows["gradient clip"] == "norm 5" and rows["NaN guard"] == "on"
    assert "| NaN guard | on |" in plan_view.explain(p).to_markdown()
    assert "256 x 1 = 256 per step" in plan_view.summary(p)
    assert planner.auto_workers("0,1", cpus=16) == 7
    moved, _ = planner.translated(p, {"close_mosaic": 5})
    assert moved.extra == {"close_mosaic": 5} and p.extra == {}


def test_the_memory_probe_reads_every_field_it_shares_with_the_plan():
    """The plan is the one source: a field that changes a step's memory or speed reaches the probe as the plan has
    it (the SDPA kernel, compile and cuDNN's benchmark included), not as the probe's own default."""
    import dataclasses

    from helpers.train import plan, planner, probe

    p = plan.TrainPlan(model="yolo12s.yaml", imgsz=320, attention="sdpa", sdpa_kernel="efficient", checkpoint="all",
                       compile=True, deterministic=False, cudnn_benchmark=True)
    cfg = planner.probe_config(p)
    shared = {f.name for f in dataclasses.fields(probe.ProbeConfig)} & {f.name for f in dataclasses.fields(plan.TrainPlan)}
    assert {"model", "imgsz", "attention", "sdpa_kernel", "checkpoint", "compile", "deterministic",
            "cudnn_benchmark"} <= shared
    for name in shared - {"batch", "nbs", "seed", "amp"}:
        assert getattr(cfg, name) == getattr(p, name), name

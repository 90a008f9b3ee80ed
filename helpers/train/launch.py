"""`python -m helpers train`: the plan from the command line, then the one `train()`; on several GPUs too.

Every field of `TrainPlan` is an option (`--lr-rule sqrt`, `--attention sdpa` ...), `--data` takes a dataset name,
yaml or folder, `--recipe` the stability recipe as JSON and `--set NAME=VALUE` any further Ultralytics argument;
`command(plan)` writes the same line back for a plan, so a notebook can print (and stream) exactly its own run.
With `--device 0,1` Ultralytics starts one worker process per GPU from a script it generates; the plan reaches them
in $WORKBOOK_PLAN (see `helpers.train.run`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from helpers.core import profiles
from helpers.train.plan import TrainPlan, profile_values
from helpers.tricks.recipe import Recipe

SKIP = ("data", "train_images", "recipe", "extra")  # set through --data, derived, --recipe, --set
FLAGS = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(TrainPlan) if f.name not in SKIP}


def _value(text: str) -> Any:
    """A command-line value as YAML reads it: 64 -> int, 0.01 -> float, false -> False, ram -> 'ram'."""
    import yaml

    return yaml.safe_load(text) if text.strip() else ""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m helpers train", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="quick | gpu | full: the defaults (default: gpu with CUDA)")
    ap.add_argument("--data", default="synthetic", help="synthetic | coco8 | coco128 | path/to/data.yaml | a folder")
    for f in dataclasses.fields(TrainPlan):
        if f.name in FLAGS:
            ap.add_argument(FLAGS[f.name], dest=f.name, type=_value, default=None, metavar="VALUE",
                            help=f"TrainPlan.{f.name} (default: the profile's, else {f.default!r})")
    ap.add_argument("--recipe", type=json.loads, default=None, metavar="JSON",
                    help='the stability recipe, e.g. \'{"clip_norm": 3.0, "nan_guard": true}\' (RecipeTrainer)')
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a further real Ultralytics argument, e.g. close_mosaic=15 (repeatable)")
    ap.add_argument("--drop-bad", action="store_true", help="leave out images the validator rejects (listed)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the command, train nothing")
    return ap


def plan_from_args(a: argparse.Namespace) -> TrainPlan:
    """The plan the parsed options describe: the profile's defaults, the dataset resolved, then the options."""
    overrides = {name: getattr(a, name) for name in FLAGS if getattr(a, name) is not None}
    if a.recipe is not None:
        overrides["recipe"] = Recipe.from_dict(a.recipe)
    extra = {}
    for item in a.set:
        if "=" not in item:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        extra[k.strip()] = _value(v)
    if extra:
        overrides["extra"] = extra
    return TrainPlan.from_profile(profiles.get(a.profile), dataset=a.data, **overrides)


def command(plan: TrainPlan, profile: str | None = None) -> list[str]:
    """The `python -m helpers train ...` line that trains exactly `plan` (its dataset, weights, tricks, recipe)."""
    profile = profile or profiles.default_name()  # the command names its profile: the defaults it leaves out
    cmd = [sys.executable, "-m", "helpers", "train", "--profile", profile]
    cmd += ["--data", plan.data]
    base = {**{f.name: f.default for f in dataclasses.fields(TrainPlan) if f.name in FLAGS},
            **profile_values(profiles.get(profile))}
    for name, flag in FLAGS.items():
        value = getattr(plan, name)
        if value != base[name] or name in ("model", "imgsz", "epochs", "batch", "nbs", "device"):
            cmd += [flag, _text(value)]
    if plan.recipe is not None:
        base_recipe = dataclasses.asdict(Recipe())
        diff = {k: v for k, v in json.loads(plan.recipe.to_json()).items() if v != base_recipe[k]}
        cmd += ["--recipe", json.dumps(diff)]
    for k, v in plan.extra.items():
        cmd += ["--set", f"{k}={_text(v)}"]
    return cmd


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "''" if value == "" else str(value)


def shell(cmd: Sequence[str]) -> str:
    """The command as one line to paste into a terminal."""
    return " ".join(["python", *(shlex.quote(c) for c in cmd[1:])]) if cmd and cmd[0] == sys.executable else \
        " ".join(shlex.quote(c) for c in cmd)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the plan from the options, print it, and train (one process per GPU when there are several)."""
    from helpers.train.run import train

    a = parser().parse_args(argv)
    plan = plan_from_args(a)
    print(f"{plan.world} process(es): global batch {plan.batch} -> {plan.per_gpu_batch} per GPU, accumulate "
          f"{plan.accumulate}, effective {plan.effective_batch}, lr0 {plan.lr0:g} ({plan.lr_rule})", flush=True)
    print(plan.summary(), flush=True)
    if a.dry_run:
        print(plan.explain().to_markdown())
        print("\n" + shell(command(plan, a.profile)))
        return 0
    result = train(plan, drop_bad=a.drop_bad)
    print("saved to", result.save_dir, flush=True)
    return 0

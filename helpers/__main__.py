"""Command line: `python -m helpers run|sweep|env|profiles|synth|validate|freeze|pretrain|ledger|train ...` (see
--help)."""

from __future__ import annotations

import argparse
import sys


def _cmd_run(a: argparse.Namespace) -> int:
    from helpers.core import profiles
    from helpers.workbook import runner

    results = runner.run(a.profile, a.only.split(",") if a.only else None, a.out,
                         profiles.parse_assignments(a.set), a.timeout, html=not a.no_html)
    return 0 if all(r.status == "ok" for r in results) else 1


def _cmd_sweep(a: argparse.Namespace) -> int:
    from helpers.core import profiles
    from helpers.workbook import sweep

    done = sweep.sweep(a.only, sweep.parse_grid(a.grid, a.seeds), a.profile, profiles.parse_assignments(a.set),
                       a.out, a.timeout, a.gpus)
    return 0 if all(p.status == "ok" for p in done) else 1


def _cmd_env(a: argparse.Namespace) -> int:
    from helpers.workbook import envcheck

    env = envcheck.collect()
    for table in (env.facts(), env.gpu_table(), envcheck.verdict_table(env)):
        print(table.to_markdown(), end="\n\n")
    return 0


def _cmd_profiles(a: argparse.Namespace) -> int:
    from helpers.core import profiles
    from helpers.core.tables import markdown
    from helpers.train import lr

    names = list(profiles.PROFILES)
    chosen = {k for n in names for k in profiles.PROFILES[n].overrides}  # the TrainPlan fields some profile sets
    keys = [k for k in profiles.Profile.own() if k != "name"] + [k for k in profiles.plan_fields() if k in chosen]
    rows = [(k, *(getattr(profiles.PROFILES[n], k) for n in names)) for k in keys]
    rows.append(("effective_batch", *(lr.effective_batch(profiles.PROFILES[n].batch, profiles.PROFILES[n].nbs)
                                      for n in names)))
    print(markdown(("field", *names), rows))
    print("\nThe TrainPlan fields no profile sets keep the plan's own defaults.")
    print(f"Default here: {profiles.default_name()}")
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from helpers.data import synthetic

    spec = synthetic.SynthSpec(n_train=a.n_train, n_val=a.n_val, imgsz=a.imgsz, seed=a.seed)
    print(synthetic.generate(a.out, spec, progress=True))
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from helpers.data import sources, validate

    rep = validate.validate(sources.dataset_yaml(a.data))  # a folder holding one yaml, as `train` accepts
    print(rep.to_markdown(limit=a.limit))
    return 0 if rep.ok else 1


def _cmd_ledger(a: argparse.Namespace) -> int:
    from helpers.records import ledger

    rows = ledger.claims()
    print(ledger.table(rows).to_markdown())
    print("\n" + ", ".join(f"{k}: {v}" for k, v in ledger.counts(rows).items()))
    if a.write_readme:
        print("README.md", "updated" if ledger.write_readme(rows=rows) else "already up to date")
    return 0


def _cmd_freeze(a: argparse.Namespace) -> int:
    from helpers.core import paths
    from helpers.workbook import runner

    for p in runner.freeze(a.executed or paths.runs_dir() / "workbook-quick"):
        print("refreshed", p)
    return 0


BAD_INPUT = ("ParameterError", "PlanError", "DatasetError", "WeightsError", "KeyError", "ValueError",
             "FileNotFoundError", "TypeError", "OfflineError", "FlashAttnUnavailable")


def _fail(e: BaseException) -> int:
    """One clear message and the doctor's finding; exit 2 for bad input, 1 for a run that failed."""
    from helpers.diagnose import doctor

    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e) or type(e).__name__
    print(f"error: {text}", file=sys.stderr)
    finding = doctor.diagnose(e)
    if finding:
        print(finding, file=sys.stderr)
    print("(--debug shows the traceback)", file=sys.stderr)
    bad_input = any(c.__name__ in BAD_INPUT for c in type(e).__mro__)
    return 2 if bad_input else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every command's failure: one message, the finding, an exit code
        if debug:
            raise
        return _fail(e)


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["pretrain"]:  # its own parser (helpers.train.pretrain)
        from helpers.train import pretrain

        return pretrain.main(argv[1:])
    if argv[:1] == ["train"]:  # its own parser, built from the TrainPlan's fields (helpers.train.launch)
        from helpers.train import launch

        return launch.main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m helpers", description="yolo-b256-workbook command line "
                                "(add --debug to any command for the traceback of a failure)")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run the notebooks headless with Papermill and write a summary")
    r.add_argument("--profile", help="quick | gpu | full (default: gpu with CUDA, quick without)")
    r.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 00,01")
    r.add_argument("--out", help="output folder (default runs/workbook-PROFILE)")
    r.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a notebook parameter (repeatable); checked against the parameters cells first")
    r.add_argument("--timeout", type=float, help="seconds per notebook (default: the profile's)")
    r.add_argument("--no-html", action="store_true", help="skip the HTML renderings of executed notebooks")
    r.set_defaults(fn=_cmd_run)

    sw = sub.add_parser("sweep", help="run one notebook over a grid of parameters (Papermill, resumable) and report")
    sw.add_argument("--only", required=True, help="the notebook, e.g. 02")
    sw.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                    help="a parameter and its values (repeatable: every combination runs)")
    sw.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1 (the notebook's `seed` parameter)")
    sw.add_argument("--profile", help="quick | gpu | full (default: gpu with CUDA, quick without)")
    sw.add_argument("--set", action="append", metavar="NAME=VALUE", help="a parameter fixed for every point")
    sw.add_argument("--out", help="the sweep folder (default runs/sweep-NN-PROFILE); finished points are skipped")
    sw.add_argument("--timeout", type=float, help="seconds per point (default: the profile's notebook limit)")
    sw.add_argument("--gpus", type=int, help="points run side by side, one per GPU (default: the GPUs here)")
    sw.set_defaults(fn=_cmd_sweep)

    sub.add_parser("train", help="train with the recipe, on several GPUs too (see train --help)")
    sub.add_parser("pretrain", help="train a starter checkpoint into data/weights (see pretrain --help)")
    sub.add_parser("env", help="print the environment check").set_defaults(fn=_cmd_env)
    sub.add_parser("profiles", help="print the profiles side by side").set_defaults(fn=_cmd_profiles)

    s = sub.add_parser("synth", help="generate the synthetic shapes dataset")
    s.add_argument("--out", required=True)
    s.add_argument("--n-train", type=int, default=32)
    s.add_argument("--n-val", type=int, default=8)
    s.add_argument("--imgsz", type=int, default=128)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=_cmd_synth)

    v = sub.add_parser("validate", help="validate a YOLO dataset yaml (or the folder holding it); exit 1 on errors")
    v.add_argument("data")
    v.add_argument("--limit", type=int, default=50)
    v.set_defaults(fn=_cmd_validate)

    lg = sub.add_parser("ledger", help="the claims ledger from benchmarks/results (and regenerate the README table)")
    lg.add_argument("--write-readme", action="store_true")
    lg.set_defaults(fn=_cmd_ledger)

    f = sub.add_parser("freeze", help="refresh committed notebooks from a quick run (keeps NBVAL_CHECK_OUTPUT outputs)")
    f.add_argument("executed", nargs="?", default=None, help="an executed run's folder (default: the runs folder's "
                   "workbook-quick, where `make workbook` writes)")
    f.set_defaults(fn=_cmd_freeze)

    a = p.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())

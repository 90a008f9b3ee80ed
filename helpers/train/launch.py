"""`python -m helpers train`: the plan from the command line, then the one `train()`; on several GPUs too.

Every field of `TrainPlan` is an option (`--lr-rule sqrt`, `--attention sdpa` ...), `--data` takes a dataset name,
yaml or folder, each trick's option its own flag (`--clip-norm 3`, `--nan-guard true`) and `--set NAME=VALUE` any
further Ultralytics argument;
`command(plan)` writes the same line back for a plan, so a notebook can print (and stream) exactly its own run.
With `--device 0,1` Ultralytics starts one worker process per GPU from a script it generates; the plan reaches them
in $WORKBOOK_PLAN (see `helpers.train.run`). With `--nnodes N` (several hosts) it prints the torchrun command each
host runs (`helpers.train.worker`), the plan as JSON in that same variable at its front, and `--run` starts this
host's share: every process of a run reads the plan built here, once.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers.core import profiles
from helpers.core.names import closest
from helpers.train.plan import ENV_VAR, TrainPlan
from helpers.train.planner import profile_values
from helpers.train import plan_view
from helpers.train import planner

SKIP = ("data", "train_images", "fitted_from", "extra")  # set through --data, derived, derived, --set
FLAGS = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(TrainPlan) if f.name not in SKIP}
PLAN_OPTIONS = {"profile": "--profile", "data": "--data", **FLAGS, "set": "--set"}


class _Parser(argparse.ArgumentParser):
    """argparse that names the nearest option for one it does not know (`--attenton` -> `--attention`)."""

    def error(self, message: str):  # noqa: ANN201 - argparse's signature
        unknown = re.match(r"unrecognized arguments: (.*)", message)
        if unknown:
            options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            near = [(w, closest(w, options)) for w in unknown.group(1).split() if w.startswith("--")]
            message += "".join(f"\n  {w}{hint}" for w, hint in near if hint)
        super().error(message)


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m helpers train", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="quick | gpu | full: the defaults (default: gpu with CUDA)")
    ap.add_argument("--data", default=None,
                    help="synthetic | coco8 | coco128 | path/to/data.yaml | a folder (default: synthetic)")
    for f in dataclasses.fields(TrainPlan):
        if f.name in FLAGS:
            ap.add_argument(FLAGS[f.name], dest=f.name, type=profiles.parse_value, default=None, metavar="VALUE",
                            help=f"TrainPlan.{f.name} (default: the profile's, else {f.default!r})")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a further real Ultralytics argument, e.g. close_mosaic=15 (repeatable)")
    ap.add_argument("--drop-bad", action="store_true", help="leave out images the validator rejects (listed)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the command, train nothing")
    ap.add_argument("--resume", nargs="?", const="", default=None, metavar="RUN_DIR|last.pt",
                    help="continue an interrupted run: its folder or a checkpoint (alone: the newest last.pt of the "
                         "plan's name, NAME2, NAME3 ...); the run's own plan.json is used when it has one")
    return ap


def resume_target(where: str, plan: TrainPlan) -> tuple[TrainPlan, Path]:
    """(the plan to resume with, the checkpoint) for --resume: a run folder (its weights/last.pt and plan.json),
    a .pt file (its run folder's plan.json when there is one), or '' (the plan's own last.pt)."""

    from helpers.train.run import newest_checkpoint

    if not where:
        ckpt = newest_checkpoint(plan)
        saved = ckpt.parent.parent / "plan.json"
        return (TrainPlan.from_json(saved.read_text()) if saved.exists() else plan), ckpt
    path = Path(where).expanduser()
    ckpt = path / "weights" / "last.pt" if path.is_dir() else path
    if not ckpt.exists():
        raise FileNotFoundError(f"nothing to resume: {ckpt} does not exist (give a run folder, e.g. runs/train/NAME, "
                                "or its weights/last.pt)")
    saved = ckpt.parent.parent / "plan.json"
    return (TrainPlan.from_json(saved.read_text()) if saved.exists() else plan), ckpt


def add_launcher_options(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of a launch over several hosts (torchrun's), beside the plan's own --nnodes."""
    g = ap.add_argument_group("several hosts (with --nnodes N > 1: torchrun, helpers.train.worker)")
    g.add_argument("--master-addr", default=None, help="address of the host that holds the rendezvous (all reach it)")
    g.add_argument("--master-port", type=int, default=29500, help="its port (default 29500)")
    g.add_argument("--node-rank", type=int, default=0, help="this host's number, 0 .. nnodes-1 (static rendezvous)")
    g.add_argument("--rdzv", choices=RENDEZVOUS, default="c10d",
                   help="c10d (default: hosts may start in any order; rank 0 is assigned) | static (--node-rank 0 "
                        "holds global rank 0 and its checkpoints)")
    g.add_argument("--max-restarts", type=int, default=0,
                   help="torchrun restarts after a failure (they resume from last.pt; c10d rendezvous)")
    g.add_argument("--run", action="store_true", help="start this host's processes (otherwise print the command)")
    return ap


RENDEZVOUS = ("c10d", "static")
# torchrun's workers share the agent's rendezvous store by default; after a restart a rank can then read a peer's
# address from the failed attempt and wait on it until the timeout (pytorch/pytorch#135712). With this set, each
# rendezvous round gets a fresh store. Only the c10d rendezvous honours it; the static one always shares.
FRESH_STORE = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def torchrun_command(plan: TrainPlan, master_addr: str, master_port: int = 29500, node_rank: int = 0,
                     rdzv: str = "c10d", max_restarts: int = 0, worker_args: Sequence[str] = ()) -> list[str]:
    """`env WORKBOOK_PLAN=<plan JSON> torchrun ... -m helpers.train.worker` for one host: its ranks read that plan."""
    if rdzv not in RENDEZVOUS:
        raise ValueError(f"rdzv={rdzv!r}: choose one of {RENDEZVOUS}")
    if not master_addr:
        raise ValueError("--master-addr is needed with --nnodes > 1: the address of the host that holds the "
                         "rendezvous (node rank 0), reachable from every host")
    if not 0 <= node_rank < plan.nnodes:
        raise ValueError(f"--node-rank {node_rank}: choose 0 .. {plan.nnodes - 1} (one number per host)")
    if rdzv == "static" and max_restarts:
        raise ValueError("--max-restarts needs --rdzv c10d: the static rendezvous keeps torchrun's store across "
                         "restarts and restarted processes would wait on the failed ones' addresses")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(plan.nnodes),
           "--nproc-per-node", str(plan.per_host)]
    if rdzv == "c10d":
        cmd += ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"{master_addr}:{master_port}", "--rdzv-id", plan.name]
    else:
        cmd += ["--node-rank", str(node_rank), "--master-addr", master_addr, "--master-port", str(master_port)]
    if max_restarts:
        cmd += ["--max-restarts", str(max_restarts)]
    env = {**(FRESH_STORE if rdzv == "c10d" else {}), ENV_VAR: plan.to_json()}  # the variable every process reads
    return ["env", *(f"{k}={v}" for k, v in env.items()), *cmd, "-m", "helpers.train.worker", *worker_args]


def environment(cmd: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(the variables an `env VAR=value ... program` command sets, the program's own command); ({}, cmd) otherwise."""
    cmd = list(cmd)
    if not cmd or cmd[0] != "env":
        return {}, cmd
    n = 1
    while n < len(cmd) and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", cmd[n]):
        n += 1
    return dict(a.split("=", 1) for a in cmd[1:n]), cmd[n:]


def world_line(plan: TrainPlan) -> str:
    """How the plan's global batch splits over its processes, with the accumulation and lr0 that follow."""
    where = (f"{plan.world} processes ({plan.nnodes} hosts x {plan.per_host})" if plan.nnodes > 1
             else f"{plan.world} process(es)")
    unit = "process" if plan.nnodes > 1 else "GPU"
    return (f"{where}: global batch {plan.batch} -> {plan.per_gpu_batch} per {unit}, accumulate {plan.accumulate}, "
            f"effective {plan.effective_batch}, lr0 {plan.lr0:g} ({plan.lr_rule})")


def check_port(addr: str, port: int) -> None:
    """Refuse a rendezvous port that another process on this host already listens on (a busy port would otherwise
    make this host a client of whatever holds it, and the launch hang); other hosts' addresses are not checked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((socket.gethostbyname(addr), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(errno.EADDRINUSE, f"port {port} on {addr} is already in use (another run, or the "
                                                "workers of a crashed one): choose another --master-port, or stop "
                                                "that process") from None
            # EADDRNOTAVAIL: the address belongs to another host, whose port is its own business


def given_plan_options(a: argparse.Namespace) -> list[str]:
    """The plan options the command line set (--epochs, --data ...): a second source beside $WORKBOOK_PLAN."""
    return [flag for name, flag in PLAN_OPTIONS.items() if getattr(a, name) not in (None, [])]


def plan_from_args(a: argparse.Namespace) -> TrainPlan:
    """The plan the parsed options describe: the profile's defaults, the dataset resolved, then the options."""
    overrides = {name: getattr(a, name) for name in FLAGS if getattr(a, name) is not None}
    extra = profiles.parse_assignments(a.set)  # --set NAME=VALUE, values as YAML reads them
    if extra:
        overrides["extra"] = extra
    return planner.from_profile(profiles.get(a.profile), dataset="synthetic" if a.data is None else a.data,
                                **overrides)


def command(plan: TrainPlan, profile: str | None = None) -> list[str]:
    """The `python -m helpers train ...` line that trains exactly `plan` (its dataset, weights, tricks)."""
    profile = profile or profiles.default_name()  # the command names its profile: the defaults it leaves out
    cmd = [sys.executable, "-m", "helpers", "train", "--profile", profile]
    cmd += ["--data", plan.data]
    base = {**{f.name: f.default for f in dataclasses.fields(TrainPlan) if f.name in FLAGS},
            **profile_values(profiles.get(profile))}
    for name, flag in FLAGS.items():
        value = getattr(plan, name)
        if value != base[name] or name in ("model", "imgsz", "epochs", "batch", "nbs", "device"):
            cmd += [flag, _text(value)]
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
    """The command as one line to paste into a terminal: its variables in front, `torchrun` / `python` for short."""
    env, cmd = environment(cmd)
    if cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]:
        words = ["torchrun", *(shlex.quote(c) for c in cmd[3:])]
    elif cmd and cmd[0] == sys.executable:
        words = ["python", *(shlex.quote(c) for c in cmd[1:])]
    else:
        words = [shlex.quote(c) for c in cmd]
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *words])


def main(argv: Sequence[str] | None = None) -> int:
    """Build the plan from the options, print it, and train (one process per GPU when there are several)."""
    from helpers.train.run import train

    a = add_launcher_options(parser()).parse_args(argv)
    plan = plan_from_args(a)
    if plan.nnodes > 1:
        return _several_hosts(plan, a)
    print(world_line(plan), flush=True)
    print(plan_view.summary(plan), flush=True)
    if a.resume is not None:
        from helpers.train.run import resume

        plan, ckpt = resume_target(a.resume, plan)
        print(f"resuming {ckpt}", flush=True)
        if a.dry_run:
            return 0
        result = resume(plan, ckpt)
        print("saved to", result.save_dir, flush=True)
        return 0
    if a.dry_run:
        print(plan_view.explain(plan).to_markdown())
        print("\n" + shell(command(plan, a.profile)))
        return 0
    result = train(plan, drop_bad=a.drop_bad)
    print("saved to", result.save_dir, flush=True)
    return 0


def _several_hosts(plan: TrainPlan, a: argparse.Namespace) -> int:
    """Print each host's torchrun line, plan included; with --run start this host's and return its exit code."""
    print(world_line(plan), flush=True)
    print(plan_view.summary(plan), flush=True)
    resume = [] if a.resume is None else ["--resume", a.resume] if a.resume else ["--resume"]
    mine = torchrun_command(plan, a.master_addr, a.master_port, a.node_rank, a.rdzv, a.max_restarts, resume)
    if a.rdzv == "c10d":
        print(f"\non each of the {plan.nnodes} hosts (the same line; the rendezvous at {a.master_addr}:{a.master_port} "
              "assigns the ranks):")
        print(shell(mine))
    else:
        print(f"\non host k of {plan.nnodes} (k = 0 .. {plan.nnodes - 1}; host 0 is {a.master_addr}):")
        for k in range(plan.nnodes):
            line = torchrun_command(plan, a.master_addr, a.master_port, k, a.rdzv, a.max_restarts, resume)
            print(f"  host {k}: {shell(line)}")
    if not a.run or a.dry_run:
        print(f"\n(--run starts this host's processes; copy the whole line, ${ENV_VAR} included, to the others)")
        return 0
    if a.node_rank == 0:
        check_port(a.master_addr, a.master_port)
    env, program = environment(mine)
    return subprocess.call(program, env={**os.environ, **env})

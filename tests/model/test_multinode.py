"""Several hosts, tested as two nodes on one host: two torchrun invocations (--nnodes 2, one process each, gloo on the
CPU, rendezvous on 127.0.0.1) train a short run of a tiny generated dataset through `helpers.train.worker`, the plan
built once here and carried in $WORKBOOK_PLAN as the launcher's line carries it. Each rank reports what it did (steps,
a digest of its final weights, the checkpoints it wrote). Also: the command the launcher prints, the one channel every
process kind reads its plan from, a busy rendezvous port, a plan that disagrees with torchrun's world, SyncBatchNorm
as a plan option."""

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.core import profiles
from helpers.data import synthetic
from helpers.train import launch, planner, worker
from helpers.train.plan import ENV_VAR, PlanError, TrainPlan

ROOT = Path(__file__).resolve().parents[2]  # tests/model/ -> the repo
FAULTY = str(Path(__file__).with_name("torchrun_worker.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("shapes"), synthetic.SynthSpec(n_train=32, n_val=8, imgsz=64))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def options(data: Path, name: str) -> list[str]:
    """A plan for 2 hosts x 1 CPU process: 32 images, global batch 8 (4 per rank) -> 4 optimizer steps per epoch."""
    return ["--profile", "quick", "--data", str(data), "--imgsz", "64", "--epochs", "2", "--batch", "8", "--nbs", "8",
            "--device", "cpu", "--nnodes", "2", "--weights", "", "--name", name, "--nan-guard", "true", "--workers", "0",
            "--plots", "false"]


def plan_of(opts: list[str]) -> TrainPlan:
    """The plan the launching host builds from `python -m helpers train` options."""
    return launch.plan_from_args(launch.parser().parse_args(opts))


def two_nodes_env(runs: Path) -> dict[str, str]:
    """This environment for a 'node', without what the commands bring themselves (the plan, a fresh store)."""
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, *launch.FRESH_STORE)}
    return dict(env, WORKBOOK_RUNS=str(runs), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def two_nodes(cmds: list[list[str]], runs: Path, env_extra: dict[str, str] | None = None,
              timeout: int = 600) -> list[subprocess.CompletedProcess]:
    """Start one command per 'node' (the first holds the rendezvous), wait for both."""
    env = {**two_nodes_env(runs), **(env_extra or {})}
    procs = [subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for c in cmds]
    try:
        return [subprocess.CompletedProcess(p.args, p.wait(timeout), p.stdout.read(), "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def with_script(cmd: list[str], script: str) -> list[str]:
    """A line of `launch.torchrun_command` running the test's worker script instead of `-m helpers.train.worker`."""
    i = cmd.index("helpers.train.worker")
    assert cmd[i - 1] == "-m"
    return [*cmd[:i - 1], script, *cmd[i + 1:]]


def faulty_run(data: Path, runs: Path, name: str, env: dict[str, str], max_restarts: int = 0) -> list[dict]:
    report = runs / f"report-{name}"
    line = launch.torchrun_command(plan_of(options(data, name)), "127.0.0.1", free_port(), max_restarts=max_restarts,
                                   worker_args=["--report", str(report)])
    cmd = with_script(line, FAULTY)
    done = two_nodes([cmd, cmd], runs, env)
    assert all(d.returncode == 0 for d in done), "\n".join(d.stdout[-3000:] for d in done)
    return [json.loads((report / f"rank-{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_a_nan_on_one_rank_is_skipped_on_both_and_the_ranks_stay_identical(data, tmp_path):
    runs = tmp_path / "runs"
    r0, r1 = faulty_run(data, runs, "nan", {"NAN_RANK": "1"})
    assert (r0["rank"], r1["rank"], r0["world_size"], r1["world_size"]) == (0, 1, 2, 2)
    assert r0["optimizer_steps"] == r1["optimizer_steps"] == 7 and r0["skipped_steps"] == r1["skipped_steps"] == 1
    assert [e["step"] for e in r0["guard_events"]] == [e["step"] for e in r1["guard_events"]] == [1]
    assert r0["lr_scale"] == r1["lr_scale"] == 0.5
    assert r0["params_sha256"] == r1["params_sha256"]  # identical weights on both ranks
    assert r0["buffers_sha256"] != r1["buffers_sha256"]  # BatchNorm statistics stay per rank (no SyncBatchNorm)
    assert r0["checkpoints_written"] >= 1 and r1["checkpoints_written"] == 0  # only global rank 0 saves
    assert (runs / "train" / "nan" / "weights" / "last.pt").exists()
    # the control: each rank deciding alone, only rank 1 lowers its lr and the weights drift apart
    c0, c1 = faulty_run(data, runs, "ctl", {"NAN_RANK": "1", "NO_AGREEMENT": "1"})
    assert (c0["lr_scale"], c1["lr_scale"]) == (1.0, 0.5) and c0["params_sha256"] != c1["params_sha256"]


@pytest.mark.slow
def test_torchrun_restarts_the_ranks_and_they_resume_from_last_pt(data, tmp_path):
    runs = tmp_path / "runs"
    r0, r1 = faulty_run(data, runs, "crash", {"CRASH_AFTER_EPOCH": "1"}, max_restarts=1)
    for r in (r0, r1):
        assert (r["restart"], r["start_epoch"], r["epochs_done"], r["optimizer_steps"]) == (1, 1, 2, 4)
    assert r0["params_sha256"] == r1["params_sha256"]
    rows = (runs / "train" / "crash" / "results.csv").read_text().splitlines()[1:]
    assert [int(float(r.split(",")[0])) for r in rows] == [1, 2]  # epoch 1 once, epoch 2 after the restart


@pytest.mark.slow
def test_the_launcher_prints_and_runs_the_torchrun_command_on_each_host(data, tmp_path):
    runs, port = tmp_path / "runs", free_port()
    cmd = [sys.executable, "-m", "helpers", "train", *options(data, "cli"), "--epochs", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(port), "--run"]
    done = two_nodes([[*cmd, "--node-rank", "0"], [*cmd, "--node-rank", "1"]], runs)
    assert all(d.returncode == 0 for d in done), "\n".join(d.stdout[-3000:] for d in done)
    out = done[0].stdout + done[1].stdout
    assert f"torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:{port}" in out
    assert "2 processes (2 hosts x 1): global batch 8 -> 4 per process" in out and "saved to" in out
    assert (runs / "train" / "cli" / "weights" / "best.pt").exists()


def test_a_busy_rendezvous_port_is_one_clear_error(data, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "helpers", "train", *options(data, "busy"), "--master-addr", "127.0.0.1",
               "--master-port", str(port), "--run"]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, WORKBOOK_RUNS=str(tmp_path / "runs")))
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in p.stderr and "--master-port" in p.stderr
    assert not (tmp_path / "runs" / "train" / "busy").exists()


def _plan(**kw) -> TrainPlan:
    return planner.from_profile(profiles.get("quick").replace(imgsz=64, n_train=8, n_val=4), **kw)


def _pasted(line: str) -> tuple[dict[str, str], list[str]]:
    """(the variables, the words) of a printed line as a shell reads it when a user pastes it on another host."""
    words = shlex.split(line)
    n = next(i for i, w in enumerate(words) if "=" not in w)
    return dict(w.split("=", 1) for w in words[:n]), words[n:]


def test_the_torchrun_command_carries_the_plan_to_every_host(runs):
    plan = _plan(device="0,1,2,3,4,5,6,7", nnodes=2, batch=256, nbs=256, attention="sdpa", sync_bn=True,
                 name="it's b256", extra={"close_mosaic": 3})
    assert (plan.world, plan.per_host, plan.per_gpu_batch) == (16, 8, 16)
    c10d = launch.torchrun_command(plan, "10.0.0.1", 29400)
    env, program = launch.environment(c10d)
    assert env == {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", ENV_VAR: plan.to_json()}  # one variable for the plan
    assert program[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert program[-2:] == ["-m", "helpers.train.worker"]
    line = launch.shell(c10d)
    assert line.startswith("TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 WORKBOOK_PLAN='")
    assert line.endswith(" torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint 10.0.0.1:29400 "
                         "--rdzv-id 'it'\"'\"'s b256' -m helpers.train.worker")  # no plan options after it
    pasted_env, words = _pasted(line)
    assert pasted_env == env and words[0] == "torchrun"  # the quoting survives a shell, the apostrophe included
    opts = words[words.index("helpers.train.worker") + 1:]
    rebuilt = worker.plan_of(worker.parser().parse_args(opts), pasted_env)
    assert rebuilt == plan and rebuilt.to_json() == plan.to_json()  # the worker rebuilds exactly the plan
    for k in (0, 1):  # every host's line carries the plan (the static rendezvous: one line per host)
        static = launch.torchrun_command(plan, "10.0.0.1", 29400, node_rank=k, rdzv="static")
        env, program = launch.environment(static)
        assert env == {ENV_VAR: plan.to_json()}  # the static rendezvous ignores the fresh-store setting
        assert program[3:13] == ["--nnodes", "2", "--nproc-per-node", "8", "--node-rank", str(k), "--master-addr",
                                 "10.0.0.1", "--master-port", "29400"]
        assert _pasted(launch.shell(static))[0] == env
    with pytest.raises(ValueError, match="--max-restarts needs --rdzv c10d"):
        launch.torchrun_command(plan, "10.0.0.1", rdzv="static", max_restarts=1)
    with pytest.raises(ValueError, match="--master-addr"):
        launch.torchrun_command(plan, "")
    with pytest.raises(ValueError, match="0 .. 1"):
        launch.torchrun_command(plan, "10.0.0.1", node_rank=2)


def test_every_process_kind_reads_the_one_plan_built_at_launch(tmp_path, runs):
    """This process (applied), a trainer built in it, and both ranks of a two-host torchrun launch started from the
    printed line rebuild exactly the launch's plan from $WORKBOOK_PLAN; the ranks look up no profile and resolve and
    count no dataset (it is gone when they start). The control: a rank planning from options does all three."""
    from helpers.train.run import applied
    from helpers.train.trainer import WorkbookTrainer

    data = synthetic.generate(tmp_path / "planned", synthetic.SynthSpec(n_train=8, n_val=4, imgsz=64))
    opts = [*options(data, "channel"), "--attention", "sdpa", "--clip-norm", "3.0", "--lr-fixed", "0.003",
            "--set", "close_mosaic=1"]
    plan = plan_of(opts)
    assert (plan.train_images, plan.clip_norm, plan.extra, plan.world) == (8, 3.0, {"close_mosaic": 1}, 2)
    with applied(plan):  # in process: the trainer and Ultralytics' own DDP workers read this variable
        assert TrainPlan.from_env().to_json() == plan.to_json()
        trainer = WorkbookTrainer(overrides=dict(model=plan.model, **plan.ultralytics_args()))
    assert trainer.plan.to_json() == plan.to_json()
    spy = tmp_path / "spy"

    # the control: a worker started by hand with plan options (no variable) plans from them, as the launcher does
    hand = [*options(data, "hand"), "--nnodes", "1"]
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", FAULTY,
                        *hand], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**two_nodes_env(runs), "PLAN_SPY": str(spy / "hand")})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    got = json.loads((spy / "hand" / "rank-0.json").read_text())
    assert got["env"] is None and got["plan"] == plan_of(hand).to_json()
    assert got["profiles"] >= 1 and got["resolved"] >= 1 and got["counted"] >= 1  # the spy sees a rank that plans

    line = launch.shell(launch.torchrun_command(plan, "127.0.0.1", free_port()))
    assert line.count(" -m helpers.train.worker") == 1 and line.endswith(" -m helpers.train.worker")
    line = line.replace(" -m helpers.train.worker", " " + shlex.quote(FAULTY))
    shutil.rmtree(data.parent)  # planned: from here on, a rank that resolved or counted the dataset would fail
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `torchrun`, as the printed line says
    done = two_nodes([["bash", "-c", line]] * 2, runs, {"PLAN_SPY": str(spy / "launch"), "PATH": path})
    assert all(d.returncode == 0 for d in done), "\n".join(d.stdout[-3000:] for d in done)
    for rank in (0, 1):
        got = json.loads((spy / "launch" / f"rank-{rank}.json").read_text())
        assert got["plan"] == got["env"] == plan.to_json()  # what the rank trains is the launch's plan, whole
        assert (got["profiles"], got["resolved"], got["counted"]) == (0, 0, 0)
        assert (got["resumed_from"], got["restart"]) == (None, 0)


def test_the_worker_reads_the_variable_and_refuses_plan_options_beside_it(runs, monkeypatch):
    import re

    from helpers.train.run import last_checkpoint
    from helpers.train.distributed import WORKER_ENV

    plan = _plan(device="cpu", nnodes=2, batch=8, epochs=1, name="one")
    env = {ENV_VAR: plan.to_json()}
    assert worker.plan_of(worker.parser().parse_args([]), env).to_json() == plan.to_json()
    assert worker.plan_of(worker.parser().parse_args(["--resume", "--report", "r"]), env) == plan  # not the plan's
    for opts in (["--epochs", "3"], ["--data", "synthetic"], ["--profile", "quick"], ["--set", "close_mosaic=1"],
                 ["--nan-guard", "true"], ["--device", "cpu", "--name", "one"]):  # even a value the plan already has
        with pytest.raises(PlanError, match=re.escape(f"${ENV_VAR} already holds the whole plan") + ".*sets "
                           + re.escape(", ".join(o for o in opts if o.startswith("--")))):
            worker.plan_of(worker.parser().parse_args(opts), env)
    by_hand = worker.parser().parse_args(launch.command(plan, "quick")[4:])
    assert worker.plan_of(by_hand, {"OTHER": "1"}) == worker.plan_of(by_hand, {ENV_VAR: ""}) == plan  # options alone

    calls = []
    monkeypatch.setattr(worker, "train", lambda p, **k: calls.append(("train", p, None)) or _Done(p))
    monkeypatch.setattr(worker, "resume", lambda p, ckpt, **k: calls.append(("resume", p, ckpt)) or _Done(p))
    monkeypatch.setenv(WORKER_ENV, "")  # main sets it; setenv (not delenv of an absent name) restores it afterwards
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    for k, v in {**env, "WORLD_SIZE": "2", "RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    assert worker.main([]) == 0 and worker.main(["--resume"]) == 0
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert worker.main([]) == 0  # a restart without a checkpoint yet starts over
    last_checkpoint(plan).parent.mkdir(parents=True)
    last_checkpoint(plan).write_bytes(b"")
    assert worker.main([]) == 0  # a restart with one resumes from it
    assert [(kind, p.to_json(), ckpt) for kind, p, ckpt in calls] == [
        ("train", plan.to_json(), None), ("resume", plan.to_json(), last_checkpoint(plan)),
        ("train", plan.to_json(), None), ("resume", plan.to_json(), last_checkpoint(plan))]
    with pytest.raises(PlanError, match="--epochs"):
        worker.main(["--epochs", "2"])
    assert len(calls) == 4


class _Done:
    """What worker.main reads of a finished run."""

    def __init__(self, plan: TrainPlan):
        self.save_dir, self.trainer = plan.run_dir, None


def test_the_launcher_passes_resume_to_every_hosts_worker(data, runs, capsys):
    for resume, tail in ((["--resume"], "--resume"), (["--resume", "runs/train/x"], "--resume runs/train/x")):
        assert launch.main([*options(data, "again"), "--master-addr", "127.0.0.1", "--rdzv", "static", *resume]) == 0
        lines = [x for x in capsys.readouterr().out.splitlines() if "torchrun" in x]
        assert len(lines) == 2 and all(x.endswith(f"-m helpers.train.worker {tail}") for x in lines)
        assert all(_pasted(x.split(": ", 1)[1])[0][ENV_VAR] == plan_of(options(data, "again")).to_json()
                   for x in lines)


def test_restarts_with_torchruns_shared_store_are_refused_before_training():
    shared = {"TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_MAX_RESTARTS": "3"}
    with pytest.raises(PlanError, match="TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in torchrun's environment"):
        worker.check_restartable(shared)
    worker.check_restartable(dict(shared, TORCHELASTIC_MAX_RESTARTS="0"))  # no restart, nothing stale to read
    worker.check_restartable(dict(shared, TORCHELASTIC_USE_AGENT_STORE="False"))  # a fresh store per round


def test_a_plan_that_disagrees_with_torchruns_world_is_refused(runs):
    plan = _plan(device="cpu", nnodes=2, batch=8)
    assert worker.check_world(plan, {"WORLD_SIZE": "2"}) == 2
    with pytest.raises(PlanError, match="torchrun started 4 process"):
        worker.check_world(plan, {"WORLD_SIZE": "4"})
    with pytest.raises(PlanError, match="prints the torchrun command"):
        worker.check_world(plan, {})
    with pytest.raises(PlanError, match=r"batch=6: does not split evenly over 4 processes \(2 hosts x 2\)"):
        _plan(device="0,1", nnodes=2, batch=6)
    with pytest.raises(PlanError, match="sync_bn.*GPUs only"):
        _plan(device="cpu", sync_bn=True)


def test_sync_bn_converts_every_batchnorm_when_the_world_is_larger_than_one(runs):
    import torch

    from helpers.train.run import applied
    from helpers.train.trainer import WorkbookTrainer
    from helpers.tricks.translate import translate

    plan = _plan(sync_bn=True, device="", epochs=1)
    with applied(plan):
        t = WorkbookTrainer(overrides=dict(model="yolo12n.yaml", **plan.ultralytics_args()))
    t.world_size = 1
    model = t.get_model(cfg="yolo12n.yaml", verbose=False)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert n_bn > 50 and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())  # one process
    t.world_size = 2
    synced = t.get_model(cfg="yolo12n.yaml", verbose=False)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == n_bn
    synced.eval()
    with torch.no_grad():  # a checkpoint of it predicts without a process group (eval uses the running statistics)
        assert torch.isfinite(synced(torch.zeros(1, 3, 64, 64))[0]).all()
    assert translate({"sync_bn": True}).tricks == {"sync_bn": True}


def _worker_plan(argv: list[str], data: Path) -> tuple[list[str], TrainPlan]:
    """(torchrun's own options, the plan the worker builds) from a launch line written by hand (plan options, no
    $WORKBOOK_PLAN); the dataset swapped for the test's."""
    i = argv.index("helpers.train.worker")
    opts = argv[i + 1:]
    opts[opts.index("--data") + 1] = str(data)
    return argv[:i - 1], worker.plan_of(worker.parser().parse_args(opts), {})


def test_the_slurm_example_starts_the_worker_with_a_plan_for_its_allocation(data, tmp_path, runs):
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "scontrol").write_text("#!/bin/sh\nprintf 'gpu-a\\ngpu-b\\n'\n")
    (stub / "srun").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/srun.args\n"
                               f"echo \"$TORCH_DISABLE_SHARE_RDZV_TCP_STORE\" > {tmp_path}/srun.env\n")
    for f in stub.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}", SLURM_JOB_NODELIST="gpu-[a-b]", SLURM_NNODES="2",
               SLURM_JOB_ID="42", SLURM_SUBMIT_DIR=str(ROOT), DATA=str(data))
    subprocess.run(["bash", str(ROOT / "examples" / "slurm" / "train.sbatch")], env=env, check=True, timeout=60)
    argv = (tmp_path / "srun.args").read_text().splitlines()
    torchrun_opts, plan = _worker_plan(argv, data)
    assert argv[1].endswith("torchrun") and "--rdzv-endpoint" in torchrun_opts
    assert torchrun_opts[torchrun_opts.index("--rdzv-endpoint") + 1] == "gpu-a:29500"
    nnodes, nproc = (int(torchrun_opts[torchrun_opts.index(k) + 1]) for k in ("--nnodes", "--nproc-per-node"))
    assert (nnodes, nproc) == (2, 8) and (plan.nnodes, plan.per_host, plan.per_gpu_batch) == (2, 8, 16)
    assert worker.check_world(plan, {"WORLD_SIZE": str(nnodes * nproc)}) == 16
    if "--max-restarts" in torchrun_opts:  # restarts need a fresh rendezvous store per round
        assert (tmp_path / "srun.env").read_text().strip() == "1"


def test_the_kubernetes_example_starts_the_worker_with_a_plan_for_its_pods(data, runs):
    import shlex

    import yaml

    job = yaml.safe_load((ROOT / "examples" / "kubernetes" / "pytorchjob.yaml").read_text())
    assert job["kind"] == "PyTorchJob"
    specs = job["spec"]["pytorchReplicaSpecs"]
    pods = sum(s["replicas"] for s in specs.values())
    container = specs["Worker"]["template"]["spec"]["containers"][0]
    assert container == specs["Master"]["template"]["spec"]["containers"][0]
    line = container["args"][0]
    for k, v in {"PET_NNODES": str(pods), "PET_NPROC_PER_NODE": job["spec"]["nprocPerNode"],
                 "MASTER_ADDR": "yolo-b256-master-0", "MASTER_PORT": "23456"}.items():
        line = line.replace(f"${k}", v)
    torchrun_opts, plan = _worker_plan(shlex.split(line), data)
    nproc = int(torchrun_opts[torchrun_opts.index("--nproc-per-node") + 1])
    assert nproc == int(container["resources"]["limits"]["nvidia.com/gpu"]) == plan.per_host == 8
    assert plan.nnodes == pods == 2 and worker.check_world(plan, {"WORLD_SIZE": str(pods * nproc)}) == 16
    assert "$" not in line  # every variable the command uses is one the operator sets
    env = {e["name"]: e["value"] for e in container["env"]}
    agent = {"TORCHELASTIC_USE_AGENT_STORE": "False" if env.get("TORCH_DISABLE_SHARE_RDZV_TCP_STORE") == "1" and
             "c10d" in torchrun_opts else "True", "TORCHELASTIC_MAX_RESTARTS":
             torchrun_opts[torchrun_opts.index("--max-restarts") + 1] if "--max-restarts" in torchrun_opts else "0"}
    worker.check_restartable(agent)  # what torchrun's environment would be in the pod

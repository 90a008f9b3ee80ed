"""The doctor: turn a training failure (an exception or pasted error text) into a finding — what happened, why,
and the fix as concrete arguments or commands — and wrap training so the finding prints under the traceback.

Each rule matches the real messages of PyTorch, Ultralytics and the workbook (see helpers/failures.py, which
reproduces every one of them, and tests/model/test_doctor.py)."""

from __future__ import annotations

import re
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.tables import md_text


@dataclass(frozen=True)
class Finding:
    kind: str
    what: str
    why: str
    fix: list[str] = field(default_factory=list)
    section: str = ""  # where the workbook explains it

    def __str__(self) -> str:
        lines = [f"[doctor] {self.kind}: {self.what}", f"  why: {self.why}"]
        lines += [f"  fix: {f}" for f in self.fix]
        if self.section:
            lines.append(f"  see: {self.section}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        """Markdown with every text escaped: code spans (commands) kept verbatim, the rest shown as written."""
        fixes = "\n".join(f"- {md_text(f)}" for f in self.fix)
        return (f"**{md_text(self.kind)}** — {md_text(self.what)}\n\n*Why:* {md_text(self.why)}\n\n*Fix:*\n{fixes}"
                f"\n\n*See:* {md_text(self.section)}")


def free_port() -> int:
    """A TCP port nobody listens on now, for MASTER_PORT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(exc_or_text: BaseException | str) -> str:
    if isinstance(exc_or_text, BaseException):
        parts = []
        e: BaseException | None = exc_or_text
        while e is not None:  # the whole chain: the cause often names the real problem
            parts.append(f"{type(e).__module__}.{type(e).__name__}: {e}")
            e = e.__cause__ or e.__context__
        return "\n".join(parts)
    return str(exc_or_text)


def _oom(t: str) -> Finding:
    m = re.search(r"batch=(\d+)", t)
    b = int(m.group(1)) if m else None
    half = f"batch={b // 2}" if b else "batch=<half>"
    return Finding("out-of-memory", "the GPU ran out of memory during a training step",
                   "activations grow with the micro-batch; at 640 px stock yolo12n needs ~48 GiB at batch 256",
                   [f"keep the effective batch, halve the micro-batch: `{half}` with the same nbs (accumulation doubles)",
                    "or let the planner choose: `plan, memory = planner.fit_memory(plan)`",
                    "`plan.replace(attention='sdpa', checkpoint='all')` (SDPA area attention + activation "
                    "checkpointing)",
                    "`doctor.train(plan, retry_oom=True)` retries with the micro-batch halved and nbs kept"],
                   "02_train_b256 §2, 03_memory_speed §1-2")


RULES: list[tuple[str, Callable[[str], Finding]]] = [
    (r"out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED", _oom),
    (r"NaN persisted|Loss NaN/Inf|non-finite|NaN/Inf", lambda t: Finding(
        "nan-loss", "the loss became NaN/Inf and stayed so",
        "too high a learning rate for the batch, fp16 overflow, or a bad input; Ultralytics reloads last.pt up to 3 "
        "times, then gives up",
        ["`plan.replace(nan_guard=True)` (the NaN guard): skip the bad step, halve lr, restore weights",
         "lower lr0 (square-root rule instead of linear): `plan.replace(lr_rule='sqrt')`",
         "`plan.replace(amp='bf16')` where the GPU has bf16 tensor cores (no overflow), else `amp='fp32'` to test",
         "`python -m helpers validate data.yaml` to rule out bad labels"], "04_stability_recipe §3")),
    (r"flash_attn|flash-attn|FlashAttention", lambda t: Finding(
        "flash-attn", "flash-attn is missing, was built for another torch/CUDA, or does not support this GPU",
        "it ships as CUDA source that must match torch's CUDA and ABI; FlashAttention-2 needs compute capability >= 8.0",
        ["`plan.replace(attention='sdpa')` — PyTorch's scaled_dot_product_attention picks a flash kernel itself on "
         "supported GPUs; `attention='auto'` falls back to it",
         "to install: `pip install -e '.[flash]' --no-build-isolation` (needs nvcc matching torch.version.cuda)"],
         "03_memory_speed §1")),
    (r"[Aa]ddress already in use|EADDRINUSE|server socket has failed to (listen|bind)", lambda t: Finding(
        "ddp-port", "the DDP rendezvous port is taken (another run, or stale workers of a crashed one)",
        "torch.distributed listens on MASTER_PORT; a second run or an orphaned worker still holds it",
        [f"`export MASTER_PORT={free_port()}` (`doctor.free_port()` picks a free one)",
         "find the holder: `ss -ltnp | grep <port>` (or `lsof -i :<port>`); stop stale workers: `pkill -f _temp_`"],
        "02_train_b256 §6")),
    (r"collective operation timeout|Timed out waiting \d+ ?ms for|Watchdog caught collective|NCCL.*[Tt]imeout|"
     r"ProcessGroup\w* .*timed out", lambda t: Finding(
        "collective-hang", "a training process waited in a collective (DDP's gradient all-reduce) until it timed out",
        "another process never reached it: it stopped or crashed, is stuck (its loader, validation, a file lock), or "
        "runs a different number of steps (uneven batches, a branch only some ranks take)",
        ["see where each process is: `py-spy dump --pid <pid>` on every worker (`pip install py-spy`)",
         "`NCCL_DEBUG=INFO TORCH_DISTRIBUTED_DEBUG=DETAIL` names the rank and the collective that did not match",
         "every rank must take the same number of steps: the same images per rank each epoch (the workbook's loaders "
         "split them so), no rank-dependent `if` around a forward/backward",
         "a process that died: its own error is higher up in the log; a run started through torchrun "
         "(`python -m helpers train ... --nnodes N --max-restarts N`) restarts the group, which resumes from last.pt"],
        "02_train_b256 §6")),
    (r"is not a valid YOLO argument|valid YOLO argument", lambda t: Finding(
        "unknown-argument", "Ultralytics rejected a training argument it does not have",
        "tutorials use names like accumulate, grad_clip_norm, mosaic_prob, amp_dtype that Ultralytics never had",
        ["`helpers.tricks.translate.translate(your_args).table()` maps each to real arguments, a trick's plan field, or "
         "says why not"], "04_stability_recipe §1")),
    (r"DataLoader worker .* (killed|exited unexpectedly)|[Bb]us error|shared memory|/dev/shm|shm_open", lambda t: Finding(
        "dataloader-workers", "a dataloader worker process died",
        "usually /dev/shm too small (Docker's default is 64 MB) or RAM exhausted by workers x prefetched batches",
        ["fewer workers: `workers=2` (or 0 to debug)", "`cache='disk'` instead of `'ram'`",
         "Docker: run with `--shm-size=8g` (or `--ipc=host`)"], "00_environment_check (shm row)")),
    (r"bf16 refused|no bf16 tensor cores|bfloat16.*not supported", lambda t: Finding(
        "bf16-unsupported", "bf16 was requested on a GPU without bf16 tensor cores",
        "bf16 tensor cores need compute capability >= 8.0 (A100, H100, RTX 30/40); a T4 (7.5) emulates it slowly",
        ["`plan.replace(amp='fp16')` (fp16 autocast + GradScaler); the plan's `amp_arg()` falls back by itself"],
        "03_memory_speed §3")),
    (r"'names' length \d+ and 'nc: ?\d+' must match|nc-names|but 'names:' lists \d+ classes", lambda t: Finding(
        "dataset-nc-names", "the dataset yaml's 'nc:' disagrees with the number of classes in 'names:'",
        "Ultralytics refuses such a yaml: it cannot tell which of the two is right",
        ["make `nc:` equal the length of `names:`, or delete `nc:` (the class count is read from `names:`)",
         "`python -m helpers validate path/to/data.yaml` reports it as `nc-names`"], "01_dataset_prep §3")),
    (r"No labels found|Labels are missing or empty|no-labels|has a label file", lambda t: Finding(
        "dataset-no-labels", "the images have no label files: the 'labels' folder is missing, empty or misplaced",
        "Ultralytics finds each image's labels by replacing the last '/images/' in its path with '/labels/' and the "
        "suffix with '.txt'; with no label at all it refuses to train",
        ["put one .txt per image in `labels/<split>/` beside `images/<split>/`, a line `class cx cy w h` (0..1) per box",
         "`python -m helpers validate path/to/data.yaml` names the folder it looked in"], "01_dataset_prep §3")),
    (r"YAML syntax error|while (parsing|scanning) a|mapping values are not allowed here|could not find expected",
     lambda t: _yaml_syntax(t)),
    (r"is not a loadable checkpoint|PytorchStreamReader failed|failed finding central directory|UnpicklingError|"
     r"invalid load key", lambda t: Finding(
        "checkpoint", f"the checkpoint {_quoted_path(t, '.pt')} cannot be read: empty, truncated or not a checkpoint",
        "a .pt file is a zip archive torch.save wrote; a run killed while writing it, a copy cut short or another "
        "program's file leaves one torch cannot open",
        ["resume from the other checkpoint of the run: `weights/best.pt` or an `epochN.pt` (save_period)",
         "or start again from the model yaml: `YOLO('yolo12n.yaml')` / `--weights ''`",
         "the workbook writes checkpoints atomically with `plan.replace(atomic_save=True)`, so a kill leaves the "
         "previous file whole"], "04_stability_recipe")),
    (r"'[^']+\.ya?ml' does not exist", lambda t: _missing_yaml(t)),
    (r"Dataset yaml not found|[Dd]ataset '.*' error .* does not exist|Error loading data from|images not found|"
     r"missing-split|Unknown dataset|FileNotFoundError.*\.ya?ml|is a folder; it should hold exactly one dataset",
     lambda t: Finding(
        "dataset-path", "the dataset yaml, or a split it names, does not exist",
        "a wrong path to the yaml, or 'train:'/'val:' (relative to the yaml's 'path:', else to its folder) "
        "pointing nowhere",
        ["check the path in the message; use an absolute `path:` in the yaml, or give the yaml's own path",
         "`python -m helpers validate path/to/data.yaml` lists every split that points nowhere",
         "`dataset='synthetic'` (or `'coco8'` when ../shared/datasets is present) to try the workbook's own data"],
        "01_dataset_prep §3")),
    (r"DatasetError|[Dd]ataset .*(not found|missing)|exceeds dataset class count|[Ll]abel class|cannot identify image|"
     r"corrupt|bad-line|zero-size-box|class-out-of-range", lambda t: Finding(
        "dataset", "files of the dataset are broken: a label line, a class id, a box or an image",
        "stock Ultralytics drops a whole image (all its boxes) for one bad line and lets zero-size boxes through, "
        "so the workbook stops before training instead",
        ["`python -m helpers validate path/to/data.yaml` — every problem with file and line; fix those files",
         "or train without them, listed: `train(plan, drop_bad=True)` / `python -m helpers train --drop-bad`"],
        "01_dataset_prep §3")),
    (r"OfflineError|offline|[Dd]ownload|urlopen|Connection(Error| refused)|Name or service not known", lambda t: Finding(
        "offline", "something tried to download (weights, a dataset or a font) and there is no network",
        "the workbook runs offline: YOLO_OFFLINE=1 and downloads are blocked so they fail at once",
        ["build models from yaml: `YOLO('yolo12n.yaml')` instead of `'yolo12n.pt'`",
         "use the synthetic dataset or a local yaml (`dataset='synthetic'` or a path); never `data='coco8.yaml'`",
         "fonts: `helpers.core.offline.install_fonts()` (done on import)"], "00_environment_check")),
]


def _quoted_path(t: str, suffix: str) -> str:
    m = re.search(r"(/[^\s'\"]+" + re.escape(suffix) + r")\b", t) or re.search(r"'([^']+" + re.escape(suffix) + "')", t)
    return m.group(1) if m else f"(a {suffix} file)"


def _yaml_syntax(t: str) -> Finding:
    where = re.findall(r"line (\d+), column (\d+)", t)
    line, col = where[-1] if where else ("?", "?")
    name = re.search(r"YAML syntax error in '([^']+)'", t)
    f = name.group(1) if name else "the yaml"
    return Finding("yaml-syntax", f"{f} is not valid YAML: line {line}, column {col}",
                   "a bracket or quote left open, a tab, or a 'key: value' indented under a list item; YAML stops at "
                   "the first such place (the line it names is where it noticed, the mistake can be just before)",
                   [f"open {f} at line {line} and check that line and the one before it",
                    "`python -c \"import yaml,sys; yaml.safe_load(open(sys.argv[1]))\" FILE` shows the same position"],
                   "01_dataset_prep §3")


def _missing_yaml(t: str) -> Finding | None:
    m = re.search(r"'([^']+\.ya?ml)' does not exist", t)
    name = m.group(1) if m else "the yaml"
    from pathlib import Path

    stem = Path(name).stem
    if re.match(r"^(yolo|rtdetr)", stem, re.I) or "/models/" in name:  # a model config, not a dataset
        return Finding("model-yaml", f"the model config {name} does not exist (neither a file nor one Ultralytics "
                       "ships)", "the name is misspelt, or the model is newer than this Ultralytics",
                       ["Ultralytics 8.4 ships e.g. `yolo12n.yaml` (n/s/m/l/x), `yolo11n.yaml`, `yolov9s.yaml`; the "
                        "size letter sets the scale", "or give the path of your own model yaml"],
                       "02_train_b256 §1")
    return Finding("dataset-path", "the dataset yaml, or a split it names, does not exist",
                   "a wrong path to the yaml, or 'train:'/'val:' pointing nowhere",
                   ["check the path in the message; `python -m helpers validate path/to/data.yaml`"],
                   "01_dataset_prep §3")


def read_run(run: str | Path) -> list[Finding]:
    """What a finished run's results.csv shows that no error says: mAP that never left 0, or a validated mAP that
    collapsed to under half its best while training went on. `run` is the run folder or its results.csv."""
    from helpers.train import curves, lr
    from helpers.train.plan import TrainPlan

    run = Path(run)
    folder = run if run.is_dir() else run.parent
    cols = curves.load(folder / "results.csv" if run.is_dir() else run)
    maps, epochs = cols.get(curves.MAP50_95, []), [int(e) for e in cols.get("epoch", [])]
    lrs = cols.get("lr/pg0", [])
    found = []
    if maps and curves.first_epoch_at(epochs, maps) is None:
        plan = TrainPlan.from_json((folder / "plan.json").read_text()) if (folder / "plan.json").exists() else None
        known = plan is not None and plan.train_images > 0
        steps = f" ({lr.total_steps(len(maps), plan.train_images, plan.effective_batch):.0f} optimizer steps)" \
            if known else ""
        more = lr.proposal(len(maps), plan.train_images, plan.nbs, plan.effective_batch) if known else ""
        found.append(Finding(
            "map-zero", f"mAP50-95 stayed below {curves.MAP_ZERO:g} in all {len(maps)} epochs{steps}",
            "a detector from scratch leaves 0 only after enough optimizer steps (notebook 02's sweep counts them per "
            "batch); fewer images per step, more epochs or starting weights get there; so do labels that match the "
            "images",
            [f"more optimizer steps: {more} would meet the workbook's step floor" if more else
             "more optimizer steps: a smaller effective batch (`nbs`) or more epochs; the plan's step floor row says "
             "what it misses",
             "start from weights: `plan.replace(weights='starter')` or your own `.pt`",
             "check the labels: `python -m helpers validate path/to/data.yaml`, and look at them drawn (notebook 01)"],
            "02_train_b256 §4, 02b_when_b256_pays"))
    for i in range(1, len(maps)):
        best = max(maps[:i])
        if best >= COLLAPSE_FROM and maps[i] < best / 2:
            top = maps.index(best)
            found.append(Finding(
                "map-collapse", f"the validated mAP50-95 fell from {best:.3f} (epoch {epochs[top]}) to {maps[i]:.3f} "
                f"(epoch {epochs[i]})",
                "validation uses BatchNorm's running statistics, which trail weights that large clipped steps move "
                "fast; the model itself often recovers the next epoch (a training loss that kept falling says so)",
                ["BatchNorm momentum that follows the batch: `plan.replace(bn_rule='linear')`",
                 (f"a lower learning rate: this run's peaked at {max(lrs):.3g}; e.g. half of it, "
                  f"`plan.replace(lr_fixed={max(lrs) / 2:.2g})`" if lrs else "a lower learning rate (`lr_fixed=`)"),
                 "count the collapses over a run, not one epoch: notebook 04 §2 and notebook 02b read them from "
                 "recorded runs"], "04_stability_recipe §2"))
            break
    return found


COLLAPSE_FROM = 0.1  # a collapse is counted once a run's mAP50-95 has reached this


def diagnose(exc_or_text: BaseException | str) -> Finding | None:
    """The first rule that matches the error (its whole exception chain), or None."""
    text = _text(exc_or_text)
    for pattern, build in RULES:
        if re.search(pattern, text):
            return build(text)
    return None


class Findings(dict):
    """The failures shown so far: name -> the kind of the doctor's finding (None: no rule matched), for a summary."""

    def show(self, name: str, error: BaseException | str) -> Finding | None:
        """Print the raw error's first line, then diagnose it and note the finding's kind under `name`."""
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"raw: {type(error).__name__ if isinstance(error, BaseException) else 'message'}: {first[:240]}")
        finding = diagnose(error)
        self[name] = finding.kind if finding else None
        return finding

    def read(self, name: str, run: str | Path) -> Finding | None:
        """A finished run that raised nothing: what `read_run` finds in its results.csv (the first finding)."""
        found = read_run(run)
        print(f"read: {Path(run).name}: {len(found)} finding(s)")
        self[name] = found[0].kind if found else None
        return found[0] if found else None


def train(plan: Any, retry_oom: bool = False, max_retries: int = 3, **kwargs: Any) -> Any:
    """`helpers.train.run.train(plan, **kwargs)` that prints the doctor's finding under a failure; with `retry_oom`,
    an out-of-memory failure is retried with the micro-batch halved and nbs kept (the same effective batch)."""
    from helpers.train.run import own_folder, train as run_train

    plan = own_folder(plan)  # one run folder for every attempt: a retry continues where the failed attempt wrote
    for attempt in range(max_retries + 1):
        try:
            return run_train(plan, **kwargs)
        except Exception as e:  # noqa: BLE001 - shown, explained, re-raised
            finding = diagnose(e)
            if finding and finding.kind == "out-of-memory" and retry_oom and attempt < max_retries and plan.batch > 1:
                import torch

                plan = plan.replace(batch=plan.batch // 2)
                print(f"[doctor] out of memory: retrying with batch={plan.batch}, nbs={plan.nbs} "
                      f"(effective batch {plan.effective_batch})")
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            traceback.print_exc()
            if finding:
                print(finding)
            raise

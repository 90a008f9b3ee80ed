"""The GPU records of single measurements that the notebooks, the ledger and the README read, by what each measured:
the one place that names them, so that a regenerated record (`benchmarks/regenerate.py`) is pointed at here, once."""

THROUGHPUT = "b256-h100"  # train_throughput.py --matrix b256: attention, checkpointing, bf16, autotuning; four models
LEAN = "ckpt-h100"  # --matrix ckpt --isolate: the leanest settings against stock, each in a fresh process
LARGE = "large-h100"  # --matrix large: yolo12l at micro-batches 16-64, stock and checkpointed
ATTENTION = "attention-h100-run1"  # attention_check.py: one area-attention layer per SDPA kernel, and parity
MEMORY = "memory-h100"  # memory_breakdown.py: what a training step saves for backward, by layer kind
EXPORT = "export-h100"  # export_latency.py: ONNX parity and latency against PyTorch
DOCTOR_OOM = "doctor-oom-h100"  # out-of-memory errors raised on the GPU machine, and the doctor's findings (.txt)

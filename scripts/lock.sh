#!/usr/bin/env bash
# Rewrite constraints.txt from the set-up environment: every installed package at its version, except PyTorch and its
# CUDA wheels (TORCH_SPEC pins those) and the workbook itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
{
    echo "# The versions the workbook's recorded results and tests ran with (a lock for 'make setup': pip -c constraints.txt)."
    echo "# PyTorch itself is pinned by TORCH_SPEC in scripts/setup.sh (CPU 2.14.1 here; the GPU machine's 2.11.0+cu130)."
    echo "# Regenerate after an upgrade: scripts/lock.sh"
    "$VENV/bin/python" -m pip freeze --exclude-editable | grep -viE "^(torch|torchvision|triton)==|^cuda-|^nvidia-" || true
    "$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE "^nvidia-ml-py==" || true
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"

#!/usr/bin/env bash
# Create or reuse the virtual environment, install torch, the workbook (editable, with the export and browser-test extras) and its
# Jupyter kernel. Idempotent: a second run with unchanged inputs returns at once and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=${EXTRAS:-export,browser}
KERNEL=yolo-b256

stamp="$VENV/.workbook-setup"
want=$( (cat pyproject.toml scripts/setup.sh; echo "$TORCH_SPEC $EXTRAS") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "import helpers, torch" 2>/dev/null; then
    echo "setup: $VENV is up to date"
    exit 0
fi

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip install --progress-bar off -q)
if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
    echo "setup: installing $TORCH_SPEC (a few GB the first time)"
    "${pip[@]}" $TORCH_SPEC
fi
echo "setup: installing the workbook and its dependencies (.[$EXTRAS])"
"${pip[@]}" -e ".[$EXTRAS]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" --display-name "Python (yolo-b256-workbook)" >/dev/null
echo "$want" > "$stamp"
echo "setup: done in $(( $(date +%s) - start )) s; kernel '$KERNEL' registered in $VENV"

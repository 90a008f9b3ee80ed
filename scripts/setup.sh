#!/usr/bin/env bash
# Create or reuse the virtual environment, install torch, the workbook (editable, with the export and browser-test
# extras, at the versions of constraints.txt) and its Jupyter kernel, and the system Chromium the browser test drives.
# Idempotent: a second run with unchanged inputs returns at once and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=${EXTRAS:-export,browser}
KERNEL=yolo-b256

# The browser test (tests/notebooks/test_browser.py) drives the distribution's Chromium; a fresh machine has none.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Chromium for the browser test (apt-get install chromium)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
            echo "setup: Chromium could not be installed; the browser test will fail with CI=true, skip otherwise" >&2
        fi
    else
        echo "setup: no Chromium and no root to install it (apt-get install chromium); the browser test will skip" >&2
    fi
fi

stamp="$VENV/.workbook-setup"
want=$( (cat pyproject.toml constraints.txt scripts/setup.sh; echo "$TORCH_SPEC $EXTRAS") | sha256sum | cut -d' ' -f1)
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
echo "setup: installing the workbook and its dependencies (.[$EXTRAS]) at the versions of constraints.txt"
"${pip[@]}" -c constraints.txt -e ".[$EXTRAS]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" --display-name "Python (yolo-b256-workbook)" >/dev/null
echo "$want" > "$stamp"
echo "setup: done in $(( $(date +%s) - start )) s; kernel '$KERNEL' registered in $VENV"

#!/usr/bin/env bash
# Run a command as on a new machine: a fresh, empty HOME (so no ~/.config/Ultralytics, no caches) of its own,
# removed afterwards. `make test` runs the tests through it, so a green run cannot depend on what earlier runs left.
set -euo pipefail
home=$(mktemp -d "${TMPDIR:-/tmp}/workbook-home.XXXXXX")
trap 'rm -rf "$home"' EXIT
export HOME="$home" YOLO_CONFIG_DIR="$home/.config/Ultralytics"
"$@"

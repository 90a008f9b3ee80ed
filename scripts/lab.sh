#!/usr/bin/env bash
# JupyterLab on the workbook's notebooks: it listens on localhost only and keeps its login token. As root (the
# default user of most containers) Jupyter refuses to start without --allow-root, so it is added then, and said.
set -euo pipefail
VENV=${VENV:-.venv}
args=(lab notebooks --ServerApp.ip=localhost)
if [ "$(id -u)" = 0 ]; then
  echo "lab: running as root, so --allow-root is added (Jupyter refuses root without it)"
  args+=(--allow-root)
fi
echo "lab: open the http://localhost:... URL Jupyter prints below (it carries the token; only this machine can reach it)"
exec "$VENV/bin/jupyter" "${args[@]}" "$@"

#!/usr/bin/env bash
# Install everything the tests need into .venv and run the whole suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# System tools some tests use (install.sh lint, network namespaces, unit checks).
# Only as root and only when missing; without them those tests skip with a reason.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
  command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
  command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
  command -v busybox >/dev/null 2>&1 || missing="$missing busybox"
  if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
      || echo "warning: could not install$missing; the tests that need them will skip"
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first and pinned: a looser requirement would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e '.[test,export,dashboard,sim]'
exec "$VENV/bin/python" -m pytest "$@"

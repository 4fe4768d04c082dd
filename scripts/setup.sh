#!/usr/bin/env bash
# Create .venv with Python 3.11 and install Runyard with the extras named in $1 (default: server).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-server}"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=".venv/.installed-$extras"
# (hatch_build.py pins the console's npm libraries: a new pin is installed too)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ hatch_build.py -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi

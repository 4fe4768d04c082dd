#!/usr/bin/env bash
# Set up and start Runyard with its embedded defaults (SQLite, local files, in-process workers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh server
scripts/sandbox-tool.sh
exec .venv/bin/runyard serve "$@"

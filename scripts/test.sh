#!/usr/bin/env bash
# Set up and run the whole test suite (PostgreSQL tests need the server binaries; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/sandbox-tool.sh
exec .venv/bin/pytest -q "$@"

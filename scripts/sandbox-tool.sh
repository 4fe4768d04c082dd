#!/usr/bin/env bash
# Make sure the run sandbox's tool (bubblewrap) is here: installed with apt-get when this is root on a
# Debian-like machine, else a clear word on what to do. Runyard does not start runs without it unless
# RUNYARD_SANDBOX=off (development only).
set -euo pipefail
command -v bwrap >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing bubblewrap (runs execute in its sandbox)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends bubblewrap >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends bubblewrap >/dev/null; }
  exit 0
fi
echo "bubblewrap (bwrap) is not installed: runs execute in its sandbox. Install it (Debian/Ubuntu:" >&2
echo "sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap), or set RUNYARD_SANDBOX=off" >&2
echo "to run apps unconfined (development only)." >&2
[ "${RUNYARD_SANDBOX:-on}" = off ]

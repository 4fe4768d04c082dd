#!/usr/bin/env bash
# The scaled shape on one machine, loopback only, for trying it out: PostgreSQL on 127.0.0.1, a
# SeaweedFS S3 server, a Ray head and worker nodes (separate `ray start` processes in a network
# namespace of their own, reaching S3 and the package index through loopback bridges) and N
# `runyard serve` replicas on consecutive ports, sharing the database, the bucket, the Ray cluster, one
# API key and one secrets key. Needs root (network namespaces, the run sandbox's cgroups).
#
#   scripts/cluster.sh [N]           start, print the URLs and the key, stop everything on Ctrl-C (N = 2)
#   scripts/cluster.sh up|start [N]  start in the background and return
#   scripts/cluster.sh status        which parts run; which replica dispatches
#   scripts/cluster.sh down|stop     stop the replicas (gracefully), then Ray and S3, then PostgreSQL
#
# Settings (environment): RUNYARD_CLUSTER_DIR (state: data, logs, pids; default $TMPDIR/runyard-cluster),
# RUNYARD_CLUSTER_PORT (first replica's port, default 8100), RUNYARD_CLUSTER_PG_PORT (default 55432),
# RUNYARD_CLUSTER_WORKERS (Ray worker nodes besides the head, default 2; each offers 1 CPU and a custom
# resource named w1, w2, … that execution classes can pin runs to).
# Every RUNYARD_* setting exported here reaches the replicas too (e.g. RUNYARD_EXECUTION__CLASSES).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
dir="${RUNYARD_CLUSTER_DIR:-${TMPDIR:-/tmp}/runyard-cluster}"
first_port="${RUNYARD_CLUSTER_PORT:-8100}"
pg_port="${RUNYARD_CLUSTER_PG_PORT:-55432}"
workers="${RUNYARD_CLUSTER_WORKERS:-2}"
python="$repo/.venv/bin/python"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
  if [ -n "${RUNYARD_PG_BINDIR:-}" ]; then echo "$RUNYARD_PG_BINDIR"; return; fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -z "$found" ] && command -v pg_ctl >/dev/null; then found="$(dirname "$(command -v pg_ctl)")"; fi
  [ -n "$found" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql (or set RUNYARD_PG_BINDIR)" >&2; exit 1; }
  echo "$found"
}

healthz() {  # healthz URL [ATTEMPTS] -> the JSON body, or nothing (a busy replica gets a few tries)
  "$python" - "$1" "${2:-1}" <<'EOF' 2>/dev/null || true
import json, sys, time, urllib.request
for attempt in range(int(sys.argv[2])):
    try:
        print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=5))))
        break
    except OSError:
        time.sleep(1)
EOF
}

start_postgres() {
  local bin; bin="$(pg_bindir)"
  mkdir -p "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg"
  chmod 0700 "$dir/pg"
  if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 >"$dir/pg/initdb.log"
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w start \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$dir/pg -c max_connections=500" >/dev/null
  fi
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'runyard'" \
    | grep -q 1 || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres runyard
}

secret() {  # a file under $dir holding a generated secret, made once
  [ -s "$dir/$1" ] || (umask 077 && "$python" -c "import secrets; print('$2' + secrets.token_urlsafe(24))" >"$dir/$1")
  cat "$dir/$1"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_engine() {  # SeaweedFS and the Ray cluster, held by one process (runyard.testing.scaled)
  if ! alive "$dir/engine.pid"; then
    rm -f "$dir/engine/engine.json"
    setsid "$python" -m runyard.testing.scaled --dir "$dir/engine" --workers "$workers" \
      >>"$dir/engine.log" 2>&1 </dev/null &
    echo $! >"$dir/engine.pid"
  fi
  echo "starting S3 and Ray (a head and $workers worker nodes; a minute or two)..."
  for _ in $(seq 1 1500); do
    [ -s "$dir/engine/engine.json" ] && return
    alive "$dir/engine.pid" || { echo "S3 and Ray did not start; see $dir/engine.log" >&2; tail -n 30 "$dir/engine.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "S3 and Ray did not start within 300 s; see $dir/engine.log" >&2
  exit 1
}

engine() {  # engine KEY -> a value of engine.json (executor, or an AWS_* setting)
  "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["executor"] if sys.argv[2] == "executor" else d["s3"][sys.argv[2]])' \
    "$dir/engine/engine.json" "$1"
}

up() {
  local n="${1:-2}"
  { [ -x "$repo/.venv/bin/ray" ] && [ -x "$repo/.venv/bin/weed" ]; } || scripts/setup.sh test
  scripts/sandbox-tool.sh
  mkdir -p "$dir"
  chmod 0755 "$dir"
  start_postgres
  start_engine
  export RUNYARD_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/runyard"
  export RUNYARD_BLOB_URL="s3://runyard/cluster?create=true"
  RUNYARD_EXECUTOR="$(engine executor)"; export RUNYARD_EXECUTOR
  local var
  for var in AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION; do
    export "$var=$(engine "$var")"
  done
  RUNYARD_API_KEY="$(secret api-key ry-)"; export RUNYARD_API_KEY
  RUNYARD_SECRETS_KEY="$(secret secrets-key "")"; export RUNYARD_SECRETS_KEY  # one key: any replica decrypts
  local i port
  for ((i = 0; i < n; i++)); do
    port=$((first_port + i))
    if [ -f "$dir/replica-$i.pid" ] && kill -0 "$(cat "$dir/replica-$i.pid")" 2>/dev/null; then continue; fi
    "$repo/.venv/bin/runyard" serve --host 127.0.0.1 --port "$port" --data-dir "$dir/replica-$i" \
      >>"$dir/replica-$i.log" 2>&1 </dev/null &
    echo $! >"$dir/replica-$i.pid"
  done
  local answered
  for ((i = 0; i < n; i++)); do
    port=$((first_port + i))
    answered=""
    for _ in $(seq 1 300); do
      [ -n "$(healthz "http://127.0.0.1:$port")" ] && { answered=1; break; }
      kill -0 "$(cat "$dir/replica-$i.pid")" 2>/dev/null || { echo "replica $i did not start; see $dir/replica-$i.log" >&2; tail -n 20 "$dir/replica-$i.log" >&2; exit 1; }
      sleep 0.2
    done
    [ -n "$answered" ] || { echo "replica $i (pid $(cat "$dir/replica-$i.pid")) never answered http://127.0.0.1:$port/healthz; see $dir/replica-$i.log" >&2; tail -n 20 "$dir/replica-$i.log" >&2; exit 1; }
  done
  status
  echo
  echo "export NEXTMV_ENDPOINT=http://127.0.0.1:$first_port   # any replica answers any request"
  echo "export NEXTMV_API_KEY=$RUNYARD_API_KEY"
  echo "database: $RUNYARD_DATABASE_URL   blobs: $RUNYARD_BLOB_URL at $AWS_ENDPOINT_URL"
  echo "runs: Ray at $RUNYARD_EXECUTOR   state and logs: $dir"
}

status() {
  local pidfile i port body
  if alive "$dir/engine.pid" && [ -s "$dir/engine/engine.json" ]; then
    echo "engine     S3 $(engine AWS_ENDPOINT_URL), Ray $(engine executor) (pid $(cat "$dir/engine.pid"))"
  elif alive "$dir/engine.pid"; then
    echo "engine     starting (pid $(cat "$dir/engine.pid"))"
  else
    echo "engine     not running"
  fi
  if [ -f "$dir/pg/data/postmaster.pid" ] && kill -0 "$(head -n1 "$dir/pg/data/postmaster.pid")" 2>/dev/null; then
    echo "postgresql 127.0.0.1:$pg_port"
  else
    echo "postgresql not running"
  fi
  for pidfile in "$dir"/replica-*.pid; do
    [ -e "$pidfile" ] || { echo "no replicas under $dir"; return; }
    i="${pidfile##*/replica-}"; i="${i%.pid}"
    port=$((first_port + i))
    if ! alive "$pidfile"; then
      echo "replica $i  http://127.0.0.1:$port  not running (see $dir/replica-$i.log)"
      continue
    fi
    body="$(healthz "http://127.0.0.1:$port" 3)"
    if [ -n "$body" ]; then
      echo "replica $i  http://127.0.0.1:$port  $("$python" -c 'import json, sys; d = json.loads(sys.argv[1])["dispatcher"]; print(d["role"], d["worker"])' "$body")"
    else
      echo "replica $i  http://127.0.0.1:$port  not answering (pid $(cat "$pidfile"); see $dir/replica-$i.log)"
    fi
  done
}

down() {
  local pidfile pid
  for pidfile in "$dir"/replica-*.pid; do
    [ -e "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  done
  if [ -f "$dir/engine.pid" ]; then  # Ray's nodes and S3 end with it (its own session)
    pid="$(cat "$dir/engine.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid"
    fi
    rm -f "$dir/engine.pid"
  fi
  if [ -f "$dir/pg/data/PG_VERSION" ]; then
    as_postgres "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  echo "stopped (data kept in $dir; remove it to start afresh)"
}

case "${1:-run}" in
  up | start) up "${2:-2}" ;;
  down | stop) down ;;
  status) status ;;
  run | [0-9]*)
    n="${2:-2}"; [ "${1:-run}" = run ] || n="$1"
    trap 'echo; down; exit 0' INT TERM
    up "$n"
    echo "Ctrl-C stops the cluster."
    while :; do sleep 3600 & wait $!; done
    ;;
  *) echo "usage: scripts/cluster.sh [N] | up [N] | status | down" >&2; exit 2 ;;
esac

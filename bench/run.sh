#!/usr/bin/env bash
# One command: bench/run.sh — the same access-check load against govern (production settings, on
# SQLite and on PostgreSQL), a constant-answer Flask app (the ceiling) and Cerbos with its decision
# log on, as single checks and as batches; prints the table and the targets and appends them, with
# the machine's facts, to bench/RESULTS.md. Installs wrk and Cerbos itself. See bench/README.md.
# It exits 0 whether the targets are met or not (it is a measurement; the lines say FAIL), and
# non-zero only when the benchmark itself could not run.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-3s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
BATCH=${BENCH_BATCH_SIZE:-10}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
WORKERS=${GOVERN_WORKERS:-$(nproc)}
THREADS=${GOVERN_THREADS:-8}
CERBOS_VERSION=0.55.0
CERBOS="$BENCH_DIR/.cerbos/node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64"
export BENCH_DIR
# The run measures govern's defaults: no other GOVERN_* setting of the calling shell applies.
for name in $(compgen -e | grep '^GOVERN_' || true); do unset "$name"; done

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v envsubst >/dev/null || missing+=(gettext-base)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$CERBOS" ] || npm install --silent --no-audit --no-fund --prefix "$BENCH_DIR/.cerbos" \
  "@cerbos/cerbos-linux-x64@$CERBOS_VERSION" >/dev/null
VENV="$ROOT/.venv"
[ -x "$VENV/bin/govern" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -e "$ROOT"; }
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)  # the newest, as the tests take

WORK=$(mktemp -d)
PG_ROOT=""
PG_PID=""
SERVER=""  # the pid of the one server running, if any
cleanup() {
  if [ -n "$SERVER" ]; then stop "$SERVER"; fi
  if [ -n "$PG_ROOT" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cut -d' ' -f1 /proc/loadavg >"$WORK/load-at-start"

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # url log
  for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server at $1 did not come up; the end of its log:" >&2; tail -n 5 "$2" >&2; return 1
}
stop() {  # pid
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null || true
  SERVER=""
}
# CPU seconds used so far by the server under load, all its processes (and PostgreSQL's, if running).
server_cpu() { "$VENV/bin/python" "$BENCH_DIR/cpu.py" "$SERVER" ${PG_PID:-}; }
load() {  # run script url [batch size]: warm-up, then the measured run; each appends a JSON line
  local run=$1 script=$2 url=$3 before
  BENCH_BATCH=${4:-} WRK_SUMMARY="$WORK/$run.warmup.json" \
    wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s "$BENCH_DIR/$script" "$url" >/dev/null
  before=$(server_cpu)
  BENCH_BATCH=${4:-} WRK_SUMMARY="$WORK/$run.json" \
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$BENCH_DIR/$script" "$url" >"$WORK/$run.txt"
  echo "$before $(server_cpu)" >"$WORK/$run.cpu"
}
as_postgres() {  # the server refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# -- the ceiling: same server, same settings, constant answer ------------------------------------
PORT=$(free_port)
"$VENV/bin/python" "$BENCH_DIR/ceiling.py" --port "$PORT" --workers "$WORKERS" --threads "$THREADS" >"$WORK/ceiling.log" 2>&1 &
SERVER=$!
wait_for "http://127.0.0.1:$PORT/healthz" "$WORK/ceiling.log"
echo "ceiling: $WORKERS workers x $THREADS threads, $CONNECTIONS connections, $DURATION" >&2
load ceiling-check ceiling.lua "http://127.0.0.1:$PORT"
stop "$SERVER"

# -- Cerbos with its decision log on: single checks, then batches ---------------------------------
cerbos() {  # workload [batch size]
  export CERBOS_HTTP_PORT CERBOS_GRPC_PORT CERBOS_POLICY_DIR="$BENCH_DIR/cerbos/policies"
  CERBOS_HTTP_PORT=$(free_port) CERBOS_GRPC_PORT=$(free_port)
  export CERBOS_AUDIT_FILE="$WORK/cerbos-$1.audit.log"
  envsubst <"$BENCH_DIR/cerbos/config.yaml" >"$WORK/cerbos.yaml"
  "$CERBOS" server --config="$WORK/cerbos.yaml" >"$WORK/cerbos-$1.log" 2>&1 &
  SERVER=$!
  wait_for "http://127.0.0.1:$CERBOS_HTTP_PORT/_cerbos/health" "$WORK/cerbos-$1.log"
  echo "cerbos $CERBOS_VERSION, $1" >&2
  load "cerbos-$1" cerbos.lua "http://127.0.0.1:$CERBOS_HTTP_PORT" "${2:-}"
  stop "$SERVER"
  wc -l <"$CERBOS_AUDIT_FILE" >"$WORK/cerbos-$1.audit"
}
cerbos check
cerbos batch "$BATCH"

# -- govern with production settings, on each database --------------------------------------------
decision_rows() {  # database URL: "rows rate_limited" in the decision log
  "$VENV/bin/python" - "$1" <<'EOF'
import sys
import sqlalchemy
engine = sqlalchemy.create_engine(sys.argv[1])
with engine.connect() as conn:
    rows, limited = conn.execute(sqlalchemy.text(
        "SELECT count(*), count(CASE WHEN reason = 'rate_limited' THEN 1 END) FROM decision")).one()
print(rows, limited)
EOF
}
govern_on() {  # backend database-URL: set up an instance, then each workload on a fresh server
  local backend=$1 url=$2
  export GOVERN_INSTANCE_PATH="$WORK/$backend" GOVERN_DATABASE_URL="$url"
  eval "$("$VENV/bin/python" "$BENCH_DIR/production.py" env)"  # production mode, access log on
  "$VENV/bin/govern" init >/dev/null
  GOVERN_BENCH_KEYS=$("$VENV/bin/govern" demo | awk '$1 ~ /^demo-/ {print $3}' | paste -sd, -)
  export GOVERN_BENCH_KEYS
  "$VENV/bin/python" "$BENCH_DIR/production.py" rate-limits  # on every tier, as an admin sets them
  for workload in check batch; do
    local run="$backend-$workload" before port rows limited
    before=$(decision_rows "$url")
    port=$(free_port)
    "$VENV/bin/govern" serve --port "$port" --workers "$WORKERS" --threads "$THREADS" >"$WORK/$run.log" 2>&1 &
    SERVER=$!
    wait_for "http://127.0.0.1:$port/readyz" "$WORK/$run.log"
    echo "govern on $backend, $workload: $WORKERS workers x $THREADS threads" >&2
    load "$run" govern.lua "http://127.0.0.1:$port" "$([ "$workload" = batch ] && echo "$BATCH")"
    stop "$SERVER"
    # Counted once the server has stopped: every decision it answered is in by then.
    read -r rows limited <<<"$(decision_rows "$url")"
    echo "$((rows - ${before% *})) $((limited - ${before#* }))" >"$WORK/$run.rows"
  done
  unset GOVERN_DATABASE_URL
}

govern_on sqlite "sqlite:///$WORK/sqlite/govern.db"

# A throwaway PostgreSQL cluster as the tests make one (tests/databases.py), but with the server's
# durable defaults: fsync and synchronous_commit on.
PG_ROOT=$(mktemp -d)
if [ "$(id -u)" = 0 ]; then chown postgres "$PG_ROOT"; fi
PG_PORT=$(free_port)
as_postgres "$PG_BIN/initdb" -D "$PG_ROOT/data" -A trust -U postgres >"$WORK/initdb.log"
as_postgres "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/log" -w start \
  -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses=127.0.0.1" >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres govern
PG_PID=$(head -1 "$PG_ROOT/data/postmaster.pid")  # its CPU is govern's on PostgreSQL: counted with it
pg_setting() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SHOW $1" govern; }
echo "PostgreSQL $(pg_setting server_version), a throwaway cluster with fsync $(pg_setting fsync)" \
  "and synchronous_commit $(pg_setting synchronous_commit)" >"$WORK/postgresql.facts"
govern_on postgresql "postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/govern"

"$VENV/bin/python" "$BENCH_DIR/report.py" --work "$WORK" --batch "$BATCH" --workers "$WORKERS" \
  --threads "$THREADS" --connections "$CONNECTIONS" --duration "$DURATION" --results "$RESULTS"

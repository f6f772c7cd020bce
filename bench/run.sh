#!/usr/bin/env bash
# One command: bench/run.sh — the same access-check load against govern, a constant-answer Flask
# app (the ceiling) and Cerbos with its decision log on; prints a table and appends it, with the
# machine's facts, to bench/RESULTS.md. Installs wrk and Cerbos itself. See bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-3s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
WORKERS=${GOVERN_WORKERS:-$(nproc)}
THREADS=${GOVERN_THREADS:-8}
CERBOS_VERSION=0.55.0
CERBOS="$BENCH_DIR/.cerbos/node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64"
export BENCH_DIR

command -v wrk >/dev/null && command -v envsubst >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk gettext-base >/dev/null; }
[ -x "$CERBOS" ] || npm install --silent --no-audit --no-fund --prefix "$BENCH_DIR/.cerbos" \
  "@cerbos/cerbos-linux-x64@$CERBOS_VERSION" >/dev/null
VENV="$ROOT/.venv"
[ -x "$VENV/bin/govern" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -e "$ROOT"; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # url
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server at $1 did not come up" >&2; return 1
}
stop() {  # pid
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
load() {  # name script url: warm-up, then the measured run; each run appends a JSON line
  WRK_SUMMARY="$WORK/$1.warmup.json" wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s "$BENCH_DIR/$2" "$3" >/dev/null
  WRK_SUMMARY="$WORK/$1.json" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$BENCH_DIR/$2" "$3" >"$WORK/$1.txt"
}

# govern with demo data
export GOVERN_INSTANCE_PATH="$WORK/instance"
"$VENV/bin/govern" init >/dev/null
GOVERN_BENCH_KEYS=$("$VENV/bin/govern" demo | awk '$1 ~ /^demo-/ {print $3}' | paste -sd, -)
export GOVERN_BENCH_KEYS
PORT=$(free_port)
"$VENV/bin/govern" serve --port "$PORT" --workers "$WORKERS" --threads "$THREADS" >"$WORK/govern.log" 2>&1 &
GOVERN_PID=$!; PIDS+=("$GOVERN_PID")
wait_for "http://127.0.0.1:$PORT/readyz"
echo "govern: $WORKERS workers x $THREADS threads, $CONNECTIONS connections, $DURATION" >&2
load govern govern.lua "http://127.0.0.1:$PORT"
stop "$GOVERN_PID"
ROWS=$("$VENV/bin/python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from decision').fetchone()[0])" "$WORK/instance/govern.db")

# the ceiling: same server, same settings, constant answer
PORT=$(free_port)
"$VENV/bin/python" "$BENCH_DIR/ceiling.py" --port "$PORT" --workers "$WORKERS" --threads "$THREADS" >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!; PIDS+=("$CEILING_PID")
wait_for "http://127.0.0.1:$PORT/healthz"
echo "ceiling" >&2
load ceiling ceiling.lua "http://127.0.0.1:$PORT"
stop "$CEILING_PID"

# Cerbos with its decision log on
export CERBOS_HTTP_PORT=$(free_port) CERBOS_GRPC_PORT=$(free_port)
export CERBOS_POLICY_DIR="$BENCH_DIR/cerbos/policies" CERBOS_AUDIT_FILE="$WORK/cerbos-audit.log"
envsubst <"$BENCH_DIR/cerbos/config.yaml" >"$WORK/cerbos.yaml"
"$CERBOS" server --config="$WORK/cerbos.yaml" >"$WORK/cerbos.log" 2>&1 &
CERBOS_PID=$!; PIDS+=("$CERBOS_PID")
wait_for "http://127.0.0.1:$CERBOS_HTTP_PORT/_cerbos/health"
echo "cerbos $CERBOS_VERSION" >&2
load cerbos cerbos.lua "http://127.0.0.1:$CERBOS_HTTP_PORT"
stop "$CERBOS_PID"
CERBOS_AUDIT_LINES=$(wc -l <"$WORK/cerbos-audit.log")

"$VENV/bin/python" "$BENCH_DIR/report.py" --work "$WORK" --rows "$ROWS" \
  --cerbos-audit-lines "$CERBOS_AUDIT_LINES" --workers "$WORKERS" --threads "$THREADS" \
  --connections "$CONNECTIONS" --duration "$DURATION" --results "$BENCH_DIR/RESULTS.md"

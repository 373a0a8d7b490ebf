#!/usr/bin/env bash
# Server benchmark (issue 6): durable check-ins per second on SQLite and PostgreSQL, one and two
# servers, with the no-op endpoint as the overhead baseline. Loopback only.
#
#   bash bench/serve.sh                  # every scenario
#   SCENARIOS="sqlite-100k pg-two" bash bench/serve.sh
#
# Scenarios: sqlite-2k sqlite-100k sqlite-full noop pg-one pg-two ledger-onoff
# ledger-onoff (issue 15): two servers side by side, one with the audit ledger's leaves off
# (INTERDICT_BENCH_NO_LEDGER=1, benchmarks only), the same workloads run alternately on each.
# Needs a release build (cargo build --release -p interdict-cli) and, for pg-*, Debian's
# postgresql package (a throwaway cluster is started under a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
B="${CARGO_TARGET_DIR:-target}/release/interdict"
[ -x "$B" ] || { echo "build first: cargo build --release -p interdict-cli" >&2; exit 2; }
SCENARIOS="${SCENARIOS:-sqlite-2k sqlite-100k sqlite-full noop pg-one pg-two}"
DUR="${DUR:-15}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${PGBIN:-}" ]; then
    "${PGRUN[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# start_server ARGS... → sets URL; the server is killed at exit.
start_server() {
  local port
  port="$(free_port)"
  "$B" serve --listen "127.0.0.1:$port" --rate-limit 0 --enroll-rate-limit 0 \
    --device-inventories-per-hour 0 --device-results-per-hour 0 --device-events-per-hour 0 "$@" >"$WORK/serve-$port.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  URL="http://127.0.0.1:$port"
}

publish() {
  curl -fsS -X PUT -H "Authorization: Bearer $ADMIN" --data-binary @examples/canada-gc-mobile-v2.toml \
    "$1/api/v1/policy" >/dev/null
}

init_sqlite() {
  local dir="$WORK/sqlite-$1"
  local out
  out="$("$B" init --data-dir "$dir" --json)"
  ADMIN="$(json_get admin_token <<<"$out")"
  SECRET="$(json_get enroll_secret <<<"$out")"
  DATA=(--data-dir "$dir")
}

row() { # label json
  python3 - "$1" "$2" <<'EOF'
import json, sys
label, j = sys.argv[1], json.loads(sys.argv[2])
print(f"| {label} | {j['checkins_per_s']:,.0f} | {j['p50_ms']:.1f} ms | {j['p99_ms']:.1f} ms | {j['errors']} |")
EOF
}

echo "| scenario | check-ins/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
for s in $SCENARIOS; do
  case "$s" in
    sqlite-2k)
      init_sqlite 2k; start_server "${DATA[@]}"; publish "$URL"
      j="$("$B" simulate --server "$URL" --enroll-secret "$SECRET" --devices 2000 --apps-per-device 50 \
        --duration "$DUR" --concurrency 32 --changed-percent 0 --warmup --json)"
      row "SQLite, 2,000 devices × 50 apps, unchanged, concurrency 32" "$j"
      j="$("$B" simulate --server "$URL" --enroll-secret "$SECRET" --devices 2000 --apps-per-device 50 \
        --duration "$DUR" --concurrency 32 --changed-percent 10 --warmup --json)"
      row "SQLite, 2,000 devices × 50 apps, 10% changed inventories, concurrency 32" "$j" ;;
    sqlite-100k)
      init_sqlite 100k; start_server "${DATA[@]}"; publish "$URL"
      j="$("$B" simulate --server "$URL" --enroll-secret "$SECRET" --devices 100000 --apps-per-device 50 \
        --duration "$DUR" --concurrency "${CONC:-64}" --changed-percent 0 --warmup --json)"
      row "SQLite, **100,000 devices** × 50 apps, unchanged, concurrency ${CONC:-64}" "$j"
      ;;
    sqlite-full)
      init_sqlite full; start_server "${DATA[@]}"; publish "$URL"
      j="$("$B" simulate --server "$URL" --enroll-secret "$SECRET" --devices 500 --apps-per-device 150 \
        --duration "$DUR" --concurrency 32 --full-inventory --json)"
      row "SQLite, 500 devices, full 150-app inventory every check-in, concurrency 32" "$j" ;;
    ledger-onoff)
      init_sqlite on; start_server "${DATA[@]}"; ON="$URL"; SON="$SECRET"; publish "$ON"
      init_sqlite off; INTERDICT_BENCH_NO_LEDGER=1 start_server "${DATA[@]}"; OFF="$URL"; SOFF="$SECRET"; publish "$OFF"
      echo "| workload (ledger on and off, alternating, ${DUR} s each) | ledger on, check-ins/s | ledger off | cost of the ledger | p99 on / off | errors |"
      echo "|---|---|---|---|---|---|"
      for pct in 100 10 0; do
        for round in 1 2; do
          for side in on off; do
            if [ "$side" = on ]; then u="$ON"; sec="$SON"; else u="$OFF"; sec="$SOFF"; fi
            "$B" simulate --server "$u" --enroll-secret "$sec" --devices 2000 --apps-per-device 50 \
              --duration "$DUR" --concurrency 32 --changed-percent "$pct" --warmup --json >"$WORK/$side-$pct-$round.json"
          done
        done
        python3 - "$pct" "$WORK" <<'EOF2'
import json, sys
pct, work = sys.argv[1], sys.argv[2]
r = {s: [json.load(open(f"{work}/{s}-{pct}-{i}.json")) for i in (1, 2)] for s in ("on", "off")}
rate = {s: sum(x["checkins_per_s"] for x in r[s]) / 2 for s in r}
p99 = {s: max(x["p99_ms"] for x in r[s]) for s in r}
err = sum(x["errors"] for s in r for x in r[s])
cost = (1 - rate["on"] / rate["off"]) * 100
print(f"| 2,000 devices × 50 apps, {pct}% changed inventories | {rate['on']:,.0f} | {rate['off']:,.0f} | {cost:+.1f}% | {p99['on']:.1f} / {p99['off']:.1f} ms | {err} |")
EOF2
      done ;;
    noop)
      init_sqlite noop; start_server "${DATA[@]}"
      j="$("$B" simulate --server "$URL" --enroll-secret "$SECRET" --devices 32 --duration "$DUR" \
        --concurrency 32 --noop --json)"
      row "no-op endpoint (GET /api/v1/noop), concurrency 32" "$j" ;;
    pg-one|pg-two)
      if [ -z "${PGBIN:-}" ]; then
        PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
        PGRUN=()
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; chmod 755 "$WORK"; PGRUN=(runuser -u postgres --); fi
        PGPORT="$(free_port)"
        "${PGRUN[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U interdict --auth=trust -E UTF8 >/dev/null
        "${PGRUN[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
          -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
      fi
      db="b_${s/-/_}"
      psql -h 127.0.0.1 -p "$PGPORT" -U interdict -d postgres -qc "CREATE DATABASE $db" >/dev/null
      PGURL="postgres://interdict@127.0.0.1:$PGPORT/$db"
      out="$("$B" init --database "$PGURL" --json)"
      ADMIN="$(json_get admin_token <<<"$out")"; SECRET="$(json_get enroll_secret <<<"$out")"
      start_server --database "$PGURL"; A="$URL"; publish "$A"
      if [ "$s" = pg-one ]; then
        j="$("$B" simulate --server "$A" --enroll-secret "$SECRET" --devices 4000 --apps-per-device 50 \
          --duration "$DUR" --concurrency 64 --changed-percent 10 --warmup --json)"
        row "PostgreSQL, one server, 4,000 devices, 10% changed, concurrency 64" "$j"
      else
        start_server --database "$PGURL"; Bsrv="$URL"
        "$B" simulate --server "$A" --enroll-secret "$SECRET" --devices 2000 --apps-per-device 50 \
          --duration "$DUR" --concurrency 32 --changed-percent 10 --warmup --json >"$WORK/a.json" &
        sa=$!
        "$B" simulate --server "$Bsrv" --enroll-secret "$SECRET" --devices 2000 --apps-per-device 50 \
          --duration "$DUR" --concurrency 32 --changed-percent 10 --warmup --json >"$WORK/b.json"
        wait "$sa"
        row "PostgreSQL, two servers (A), 2,000 devices each, 10% changed, concurrency 32 each" "$(cat "$WORK/a.json")"
        row "PostgreSQL, two servers (B)" "$(cat "$WORK/b.json")"
        python3 - "$WORK/a.json" "$WORK/b.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(f"| PostgreSQL, two servers together | {a['checkins_per_s'] + b['checkins_per_s']:,.0f} | | max {max(a['p99_ms'], b['p99_ms']):.1f} ms | {a['errors'] + b['errors']} |")
EOF
      fi ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
done

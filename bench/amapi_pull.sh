#!/usr/bin/env bash
# Connector benchmark (issue 17): `interdict connector sync` pulls DEVICES devices with APPS
# apps each from the AMAPI emulator (synthetic fleet, page size 100, every 10th device with
# WeChat) and stores them through the check-in evaluation, with the Canada policy active;
# prints wall time, peak RSS of the interdict process and the sync's report line.
#
#   bash bench/amapi_pull.sh                       # 100,000 devices × 150 apps
#   DEVICES=10000 bash bench/amapi_pull.sh
#
# Needs a release build (cargo build --release -p interdict-cli), openssl, and the MDM venv of
# scripts/test.sh ($INTERDICT_MDM_PYTHON or $CARGO_TARGET_DIR/mdm-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-target}"
B="$T/release/interdict"
PY="${INTERDICT_MDM_PYTHON:-$T/mdm-venv/bin/python}"
[ -x "$B" ] || { echo "build first: cargo build --release -p interdict-cli" >&2; exit 2; }
DEVICES="${DEVICES:-100000}"
APPS="${APPS:-150}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/sa.pem" 2>/dev/null
openssl pkey -in "$WORK/sa.pem" -pubout -out "$WORK/sa.pub"
EMAIL=bench@test-project.iam.gserviceaccount.com
"$PY" tests/mdm/amapi_emulator.py --public-key "$WORK/sa.pub" --client-email "$EMAIL" \
  --generate "$DEVICES" --apps "$APPS" >"$WORK/emu.out" &
PIDS+=("$!")
for _ in $(seq 100); do grep -q PORT "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
EPORT="$(awk '/PORT/{print $2}' "$WORK/emu.out")"
python3 - "$WORK" "$EPORT" "$EMAIL" <<'PY'
import json, sys
work, port, email = sys.argv[1:]
json.dump({"type": "service_account", "private_key": open(f"{work}/sa.pem").read(), "private_key_id": "k",
           "client_email": email, "token_uri": f"http://127.0.0.1:{port}/token"}, open(f"{work}/key.json", "w"))
PY
cat >"$WORK/server.toml" <<TOML
[[connector]]
name = "bench"
kind = "amapi"
enterprise = "enterprises/LC01test"
service_account_key_file = "$WORK/key.json"
base_url = "http://127.0.0.1:$EPORT"
push = "off"
groups = ["government-issued"]
TOML
out="$("$B" init --data-dir "$WORK/data" --json)"
ADMIN="$(json_get admin_token <<<"$out")"
SPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$B" serve --listen "127.0.0.1:$SPORT" --data-dir "$WORK/data" >"$WORK/serve.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$SPORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -X PUT -H "Authorization: Bearer $ADMIN" --data-binary @examples/canada-gc-mobile-v2.toml \
  "http://127.0.0.1:$SPORT/api/v1/policy" >/dev/null
kill "$SPID"; wait "$SPID" 2>/dev/null || true

echo "== $DEVICES devices × $APPS apps, first pull (every device new)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, sys %S s" \
  "$B" connector sync bench --config "$WORK/server.toml" --data-dir "$WORK/data"
echo "== second pull (inventories unchanged)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB, user %U s, sys %S s" \
  "$B" connector sync bench --config "$WORK/server.toml" --data-dir "$WORK/data"
du -sh "$WORK/data" | awk '{print "database: " $1}'

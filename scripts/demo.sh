#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs interdict's main job on samples, end to end:
#  1. assess: builds a sample APK with the project's fixture builder and assesses it;
#  2. decide + enforce: starts `interdict serve` on its embedded default (SQLite), publishes the
#     Canadian example policy, enrolls a device that holds WeChat, and shows the device told to
#     uninstall it and the fleet non-compliant.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(aapt zipalign apksigner libsmali-java android-framework-res python3 curl sqlite3)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo build --release -p interdict-cli -p apk-fixtures
target=${CARGO_TARGET_DIR:-target}
sample=$("$target/release/build-fixtures" trackers)
echo "==> interdict assess $sample"
"$target/release/interdict" assess "$sample"
"$target/release/interdict" assess --format json --output sample-report.json "$sample"
echo "==> full JSON report written to sample-report.json"

echo
echo "==> interdict serve on SQLite (data in a temporary directory)"
data=$(mktemp -d)
bin="$target/release/interdict"
"$bin" init --data-dir "$data/interdict-data" --json > "$data/init.json"
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$data/init.json")
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["enroll_secret"])' "$data/init.json")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$bin" serve --data-dir "$data/interdict-data" --listen "127.0.0.1:$port" > "$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done

echo "==> publish examples/canada-gc-mobile-v2.toml"
curl -fsS -X PUT -H "Authorization: Bearer $admin" --data-binary @examples/canada-gc-mobile-v2.toml "$url/api/v1/policy"; echo
echo "==> enroll a government-issued Android phone"
enrolled=$(curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"enroll_secret\":\"$secret\",\"device\":{\"name\":\"phone-1\",\"platform\":\"android\",\"serial\":\"R58N123\",\"ownership\":\"corporate\",\"groups\":[\"government-issued\"]}}" \
  "$url/api/v1/enroll")
echo "$enrolled"
device_token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["device_token"])' "$enrolled")
echo "==> check in with an inventory holding WeChat (com.tencent.mm)"
curl -fsS -X POST -H "Authorization: Bearer $device_token" -H 'Content-Type: application/json' \
  -d '{"inventory":{"apps":[{"id":"com.tencent.mm","version":"8.0.43"},{"id":"com.android.chrome","version":"120.0"}]}}' \
  "$url/api/v1/checkin"; echo
echo "==> fleet compliance"
curl -fsS -H "Authorization: Bearer $admin" "$url/api/v1/compliance"; echo
echo "==> who holds WeChat under ca-2023-10-wechat, since when, by which deadline"
curl -fsS -H "Authorization: Bearer $admin" "$url/api/v1/rules/ca-2023-10-wechat/exposure"; echo
echo "==> the point-in-time compliance report as of now, issued twice after more history: same bytes"
sleep 1
at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
curl -fsS -o "$data/report-1.json" -H "Authorization: Bearer $admin" "$url/api/v1/reports/compliance?at=$at"
curl -fsS -X POST -H "Authorization: Bearer $device_token" -H 'Content-Type: application/json' \
  -d '{"inventory":{"apps":[{"id":"com.android.chrome","version":"120.0"}]}}' "$url/api/v1/checkin" >/dev/null
curl -fsS -o "$data/report-2.json" -H "Authorization: Bearer $admin" "$url/api/v1/reports/compliance?at=$at"
curl -fsS -o "$data/report.html" -H "Authorization: Bearer $admin" "$url/api/v1/reports/compliance?at=$at&format=html"
cmp "$data/report-1.json" "$data/report-2.json" && echo "report as of $at: byte-identical, sha256 $(sha256sum < "$data/report-1.json" | cut -d' ' -f1)"

echo
echo "==> prove: sign a checkpoint of the audit ledger, export it, verify the copy offline"
curl -fsS -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{}' \
  "$url/api/v1/audit/checkpoint"; echo
"$bin" audit export --data-dir "$data/interdict-data" --out "$data/bundle"
cp -r "$data/bundle" "$data/auditor-copy"
"$bin" audit verify "$data/auditor-copy"
if command -v sqlite3 >/dev/null; then
  echo "==> tamper: rewrite the actor of one event (events.seq 2) with sqlite3, export again, verify"
  sqlite3 "$data/interdict-data/interdict.db" "UPDATE events SET actor = 'mallory' WHERE seq = 2"
  "$bin" audit export --data-dir "$data/interdict-data" --out "$data/bundle-2"
  if "$bin" audit verify --trusted "$data/auditor-copy/checkpoints/$(ls "$data/auditor-copy/checkpoints" | tail -n1)" "$data/bundle-2"; then
    echo "demo: the edit went unnoticed" >&2; exit 1
  fi
  echo "==> audit verify named the edited event (exit 1 above is the expected result)"
fi

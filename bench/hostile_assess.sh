#!/usr/bin/env bash
# Times `assess` on the tiny hostile APKs of issue 12 item 11 (apk_fixtures::hostile), one fresh
# process each, and prints wall time, peak RSS and report size.
# usage: bench/hostile_assess.sh [ASSESS_FILE_BINARY] [TIMEOUT_SECONDS]
# The binary defaults to a release build of the apk-analysis example `assess_file`; pass another
# build (e.g. of an older commit) to compare. A run that exceeds the timeout is reported as such.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bin="${1:-}"
limit="${2:-120}"
if [ -z "$bin" ]; then
  cargo build -q --release -p apk-analysis --example assess_file
  bin="$target/release/examples/assess_file"
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cargo run -q -p apk-fixtures --bin build-fixtures -- --hostile "$dir" >/dev/null
printf '| hostile APK | size | wall | peak RSS | report |\n|---|---|---|---|---|\n'
for apk in "$dir"/*.apk; do
  for extra in "" "--include-strings"; do
    [ -n "$extra" ] && [[ "$apk" != *dex_string_rescan* ]] && continue
    name="$(basename "$apk" .apk)${extra:+ $extra}"
    size="$(stat -c %s "$apk")"
    start=$(date +%s.%N)
    if out="$(timeout "$limit" /usr/bin/time -f 'maxrss=%M' "$bin" "$apk" $extra 2>&1)"; then
      wall="$(echo "$(date +%s.%N) - $start" | bc)"
      rss="$(echo "$out" | grep -o 'maxrss=[0-9]*' | awk -F= '{printf "%.0f MiB", $2/1024}')"
      report="$(echo "$out" | grep -o 'report [0-9]* bytes' | awk '{print $2}')"
      printf '| %s | %s B | %.2f s | %s | %s B |\n' "$name" "$size" "$wall" "$rss" "$report"
    else
      printf '| %s | %s B | > %s s (stopped) | – | – |\n' "$name" "$size" "$limit"
    fi
  done
done

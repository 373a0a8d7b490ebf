#!/usr/bin/env bash
# Issue 18 benchmark: a ~100 MB IPA whose fat main executable is ~60 MB (testdata/ipa/bench-large.toml),
# assessed by ipa-analysis (mmap, streaming hash, risk analysis) vs `unzip -p` inflating that executable.
# Prints wall time and peak RSS of both. Usage: bench/ipa.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p ipa-analysis --example ipa_bench
bin="$CARGO_TARGET_DIR/release/examples/ipa_bench"
ipa="$("$bin" build)"
ls -l "$ipa"
unzip -lv "$ipa" | grep -E 'Payload/Big.app/Big$'
for _ in $(seq "$runs"); do
  /usr/bin/time -f "unzip -p main executable: %e s, max RSS %M KB" unzip -p "$ipa" Payload/Big.app/Big >/dev/null
done
/usr/bin/time -f "ipa_bench process: %e s for $runs runs, max RSS %M KB" "$bin" assess "$ipa" "$runs"

#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, JOBS (default 2) at a time, from the seeds
# gathered by fuzz/seeds.sh, on inputs up to 64 KiB. Any input that panics, takes over 1 s or uses
# over 1 GiB is a finding:
# libFuzzer writes it to fuzz/artifacts/<target>/ and this script exits non-zero.
# usage: fuzz/run.sh [SECONDS] [JOBS]        (stable rustc: RUSTC_BOOTSTRAP=1 is set here)
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
jobs="${2:-2}"
export RUSTC_BOOTSTRAP=1
targets=(zip binxml arsc dex signing assess policy checkin)
[ -d seeds ] || ./seeds.sh
echo "==> building fuzz targets (sanitizer none, release + debug assertions)"
cargo fuzz build -s none || exit 1
run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
  if cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -max_len=65536 -timeout=1 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
      -print_final_stats=1 >"artifacts/$t.log" 2>&1; then
    echo "fuzz $t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "artifacts/$t.log" | grep -o '[0-9]*$') runs in ${secs}s)"
  else
    echo "fuzz $t: FINDING (see fuzz/artifacts/$t/ and fuzz/artifacts/$t.log)"
    tail -n 40 "artifacts/$t.log"
    return 1
  fi
}
export -f run_one
export secs
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

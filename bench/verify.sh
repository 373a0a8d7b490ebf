#!/bin/sh
# Signature verification throughput (issue 3): interdict's apk-signature vs sha256sum (the floor)
# and vs Debian's apksigner, on the large synthetic APK (100,000 classes + ~28 MB stored assets,
# v1+v2 signed). Medians of RUNS wall-clock runs, file in the page cache.
#
# Usage: bench/verify.sh [APK]      (default: builds/reuses the 100,000-class APK in /dev/shm)
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/targets/apk-signature}
if [ $# -ge 1 ]; then
    APK=$1
else
    mkdir -p /dev/shm/interdict-sigbench
    APK=$(cargo run -q --release -p apk-fixtures --bin build-fixtures -- --large 100000 /dev/shm/interdict-sigbench | tail -1)
fi
cargo build -q --release -p apk-signature --example bench_verify
BIN=$CARGO_TARGET_DIR/release/examples/bench_verify
cat "$APK" > /dev/null # warm the page cache
python3 - "$APK" "$BIN" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time
apk, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(apk)
def median(cmd):
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)
rows = [
    ("sha256sum (floor)", ["sha256sum", apk]),
    ("openssl dgst -sha256 (SHA-NI floor)", ["openssl", "dgst", "-sha256", apk]),
    ("interdict apk-signature: read + parse + verify v1 and v2", [binary, apk, "--min", "21"]),
    ("apksigner verify", ["apksigner", "verify", apk]),
]
res = [(n, median(c)) for n, c in rows]
floor = res[0][1]
print(f"APK: {apk} ({size/1e6:.1f} MB), {runs} runs each, {os.cpu_count()} CPUs")
print("| tool | median wall time | throughput | vs sha256sum |")
print("|---|---|---|---|")
for n, t in res:
    print(f"| {n} | {t*1e3:.0f} ms | {size/t/1e6:.0f} MB/s | {t/floor:.2f}x |")
PY

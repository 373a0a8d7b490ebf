#!/usr/bin/env bash
# The audit ledger benchmarks (issue 15); figures go to docs/BENCHMARKS.md.
#   1. `interdict audit verify` of a 1,000,000-event bundle on one core, beside `sha256sum`
#      over the same entry bytes (the hashing floor);
#   2. inclusion-proof reads from a 10,000,000-leaf ledger in SQLite;
#   3. tamper detection: 1,000 random cases per class on a 100,000-event bundle
#      (TAMPER_CASES, TAMPER_EVENTS), each checked by `interdict audit verify`.
# Usage: bench/audit.sh [EVENTS] [LEAVES]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
leaves="${2:-10000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p interdict-cli --bin interdict --example audit_bundle --example tamper_bench -p storage --example ledger_proof_bench
target="${CARGO_TARGET_DIR:-target}/release"
"$target/examples/audit_bundle" "$work/bundle" "$events"
du -h "$work/bundle/entries.jsonl"
one="taskset -c 0"
command -v taskset >/dev/null || one=""
echo "== sha256sum over the entry bytes (one core)"
/usr/bin/time -f "%e s elapsed, %M KB max RSS" $one sha256sum "$work/bundle/entries.jsonl"
echo "== interdict audit verify (one core; leaf hashes, tree, $(ls "$work/bundle/checkpoints" | wc -l) signed checkpoints)"
/usr/bin/time -f "%e s elapsed, %M KB max RSS" $one "$target/interdict" audit verify "$work/bundle"
echo "== inclusion proofs from a $leaves-leaf ledger"
"$target/examples/ledger_proof_bench" "$work/proofdb" "$leaves" 1000
echo "== tamper detection: ${TAMPER_CASES:-1000} cases per class on a ${TAMPER_EVENTS:-100000}-event bundle"
"$target/examples/audit_bundle" "$work/small" "${TAMPER_EVENTS:-100000}"
shm="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
"$target/examples/tamper_bench" "$target/interdict" "$work/small" "$shm" "${TAMPER_CASES:-1000}"
rm -rf "$shm"

#!/usr/bin/env bash
# Runs every test of interdict on a Debian machine: installs the Debian packages
# the tests need (when missing), then format, lint, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(aapt zipalign apksigner libsmali-java android-framework-res dexdump sqlite3 python3 unzip zip chromium)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked

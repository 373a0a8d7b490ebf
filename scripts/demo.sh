#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs interdict's main job on a sample:
# installs Debian's Android tools, builds interdict, builds a sample APK with the
# project's fixture builder, and assesses it (text for people, JSON for machines).
set -euo pipefail
cd "$(dirname "$0")/.."

need=(aapt zipalign apksigner libsmali-java android-framework-res python3)
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

#!/usr/bin/env bash
# Gathers fuzzing seeds into fuzz/seeds/<target>/ from the project's own fixtures:
# the fixture APKs built with Debian's tools (whole APKs, their manifests, XML resources,
# resources.arsc, DEX files and signature blocks), the hostile APKs, the example policies,
# check-in bodies, and the regression corpus.
# usage: fuzz/seeds.sh            (needs the Debian packages of scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/seeds
rm -rf "$out"
mkdir -p "$out"/{zip,binxml,arsc,dex,signing,assess,policy,checkin}

apks="$(mktemp -d)"
trap 'rm -rf "$apks"' EXIT
cargo run -q --locked -p apk-fixtures --bin build-fixtures > "$apks/list.tsv"
cargo run -q --locked -p apk-fixtures --bin build-fixtures -- --hostile "$apks/hostile" > /dev/null

python3 - "$apks" "$out" <<'PY'
import hashlib, os, sys, zipfile
apks, out = sys.argv[1], sys.argv[2]

def put(target, data, prefix=b""):
    data = prefix + data
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

paths = [line.split("\t")[1].strip() for line in open(os.path.join(apks, "list.tsv")) if "\t" in line]
hostile = os.path.join(apks, "hostile")
paths += [os.path.join(hostile, n) for n in sorted(os.listdir(hostile))]
for path in paths:
    data = open(path, "rb").read()
    # The fuzzers run with -max_len=65536 (the "any 64 KB input within 1 s" target of issue 12);
    # a longer seed would be cut, losing its central directory.
    if len(data) > 65536:
        continue
    put("zip", data)
    put("assess", data)
    put("signing", data, b"\x00")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        continue
    for info in z.infolist():
        name = info.filename
        if info.file_size > 1 << 20:
            continue
        body = z.read(info)
        if name == "AndroidManifest.xml" or (name.startswith("res/") and name.endswith(".xml")):
            put("binxml", body)
        elif name == "resources.arsc":
            put("arsc", body)
        elif name.endswith(".dex"):
            put("dex", body)
        elif name.startswith("META-INF/") and name.rsplit(".", 1)[-1] in ("RSA", "DSA", "EC"):
            put("signing", body, b"\x01")
PY

cp examples/*.toml "$out/policy/"
cat > "$out/checkin/full" <<'JSON'
{"inventory":{"apps":[{"id":"com.tencent.mm","version":"8.0.1","version_code":2000,"signers":["a1b2"],"installer":"com.android.vending"},{"id":"com.example.app"}]},"inventory_hash":"00","action_results":[{"id":"a1","app_id":"com.tencent.mm","kind":"uninstall","status":"done","detail":"","at_ms":1}],"seq":3}
JSON
cat > "$out/checkin/hash_only" <<'JSON'
{"inventory_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","seq":4}
JSON
cat > "$out/checkin/inventory" <<'JSON'
{"device":{"id":"d1","platform":"android","groups":["staff"],"ownership":"corporate"},"apps":[{"id":"com.kaspersky.security","signers":["ab"]}]}
JSON
for t in "$out"/*/; do
  t="$(basename "$t")"
  [ -d "fuzz/regressions/$t" ] && find "fuzz/regressions/$t" -type f ! -name '*.md' -exec cp {} "$out/$t/" \;
done
for t in "$out"/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done

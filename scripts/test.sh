#!/usr/bin/env bash
# Runs every test of interdict on a Debian machine: installs the Debian packages
# the tests need (when missing), then format, lint, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(aapt zipalign apksigner openjdk-17-jdk-headless libsmali-java android-framework-res dexdump sqlite3 python3 openssl unzip zip chromium postgresql clang-14 lld-14 llvm-14
      bind9 bind9-utils bind9-dnsutils unbound dnsmasq-base squid curl golang-go golang-golang-x-mod-dev)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the OpenID provider of the SSO tests: Debian's, unless a Node.js with its
# own npm (e.g. NodeSource's, which conflicts with Debian's npm package) is already there.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The policy-export tests parse Fleet YAML with PyYAML.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "==> installing PyYAML for python3"
  python3 -m pip install -q pyyaml || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"; $SUDO apt-get install -y -qq python3-yaml; }
fi

# The threat-intel tests (issue 19) use the OASIS reference tools as oracles: stix2-matcher,
# and the medallion TAXII server, pinned in testdata/intel/requirements.txt,
# in a venv under the target directory.
INTEL_VENV="${CARGO_TARGET_DIR:-target}/intel-venv"
if ! "$INTEL_VENV/bin/python" -c 'import stix2matcher, medallion, stix2validator' 2>/dev/null; then
  echo "==> installing the STIX/TAXII test oracles into $INTEL_VENV"
  dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  }
  python3 -m venv "$INTEL_VENV"
  "$INTEL_VENV/bin/pip" install -q -r testdata/intel/requirements.txt
fi
export INTERDICT_PYTHON="$PWD/$INTEL_VENV/bin/python"
case "$INTEL_VENV" in /*) export INTERDICT_PYTHON="$INTEL_VENV/bin/python" ;; esac

# The MDM connector tests (issue 17) run emulators built from the services' official
# descriptions: Google's discovery document from google-api-python-client, PyJWT for the token
# endpoint, aiosmtpd for e-mail, Microsoft's msgraph-beta-sdk models for the Graph emulator;
# pinned in tests/mdm/requirements.txt, in a venv of their own.
MDM_VENV="${CARGO_TARGET_DIR:-target}/mdm-venv"
if ! "$MDM_VENV/bin/python" -c 'import googleapiclient, jwt, cryptography, aiosmtpd, msgraph_beta' 2>/dev/null \
   || ! cmp -s tests/mdm/requirements.txt "$MDM_VENV/requirements.txt"; then
  echo "==> installing the MDM emulators' packages into $MDM_VENV"
  python3 -m venv "$MDM_VENV"
  "$MDM_VENV/bin/pip" install -q -r tests/mdm/requirements.txt
  cp tests/mdm/requirements.txt "$MDM_VENV/requirements.txt"
fi
export INTERDICT_MDM_PYTHON="$PWD/$MDM_VENV/bin/python"
case "$MDM_VENV" in /*) export INTERDICT_MDM_PYTHON="$MDM_VENV/bin/python" ;; esac

# A throwaway PostgreSQL cluster for the server tests (issue 6): a temp dir, an unprivileged
# user, loopback only, trust auth. The tests create one database per test.
start_postgres() {
  local bin port run=()
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -x "$bin/initdb" ] || { echo "==> no PostgreSQL binaries; skipping the PostgreSQL runs"; return 0; }
  PGTMP="$(mktemp -d)"
  chmod 755 "$PGTMP"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PGTMP"
    run=(runuser -u postgres --)
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "${run[@]}" "$bin/initdb" -D "$PGTMP/data" -U interdict --auth=trust -E UTF8 >"$PGTMP/initdb.log" 2>&1
  "${run[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w \
    -o "-p $port -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  trap 'stop_postgres' EXIT
  export TEST_POSTGRES_URL="postgres://interdict@127.0.0.1:$port/postgres"
  echo "==> PostgreSQL on 127.0.0.1:$port (TEST_POSTGRES_URL set)"
}
stop_postgres() {
  local bin run=()
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
# The single sign-on tests run a real OpenID Provider (oidc-provider, pinned by the lock file).
echo "==> npm ci (tests/oidc)"
(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
echo "==> npm ci (tests/dashboard)"
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
start_postgres
cargo test --workspace --locked

# The web dashboard in a real browser (issue 16): Debian's chromium, headless, driven by
# playwright-core against the `interdict` that cargo test built, with axe-core WCAG 2.1 AA
# scans in English and French; screenshots go to docs/screenshots/. A failure fails CI.
echo "==> browser tests (tests/dashboard)"
cargo build --locked -p interdict-cli
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
(cd tests/dashboard && INTERDICT_BIN="$TARGET/debug/interdict" CHROMIUM=/usr/bin/chromium node --test --test-concurrency=1)

# Fuzzing (issue 12): every libFuzzer target for 60 s, two at a time; a finding fails CI (docs/fuzzing.md).
if [ "${INTERDICT_SKIP_FUZZ:-0}" != 1 ]; then
  if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
    echo "==> installing cargo-fuzz 0.13.2"
    cargo install --locked cargo-fuzz --version 0.13.2
  fi
  echo "==> fuzzing (60 s per target)"
  fuzz/seeds.sh
  fuzz/run.sh 60 2
fi

#!/usr/bin/env python3
"""Risk assessment (issue 4): tracker detection and cost of `interdict assess` compared with exodus-core.

Usage (from the repository root):
    python3 bench/risk_vs_exodus.py [--classes 100000] [--runs 3] [--skip-large]

1. Agreement: builds every fixture in testdata/fixtures (apk-fixtures' build-fixtures), runs
   `interdict assess --format json` and exodus-core's static analysis (PyPI `exodus-core`, which runs
   Debian's `dexdump`) with the SAME tracker database (crates/apk-analysis/data/exodus-trackers.json, loaded
   into exodus-core instead of its network download), and compares the sets of tracker ids found in code.
2. Cost: on the large synthetic APK (build-fixtures --large N), the wall time of `interdict assess --no-risk`
   against `interdict assess` (risk on: capabilities, trackers, endpoints, vendor, verdict), and of
   exodus-core's class extraction plus tracker detection.

exodus-core is installed into $EXODUS_VENV (default /work/targets/risk/venv-exodus, else .venv-exodus)
with pip on first use; nothing is downloaded at test time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
VENV = Path(os.environ.get("EXODUS_VENV", "/work/targets/risk/venv-exodus" if Path("/work/targets/risk").is_dir() else ROOT / ".venv-exodus"))
WORK = Path(os.environ.get("BENCH_DIR", "/dev/shm/interdict-risk" if Path("/dev/shm").is_dir() else "/tmp/interdict-risk"))
DB = ROOT / "crates/apk-analysis/data/exodus-trackers.json"

EXODUS = r"""
import json, sys, time
from collections import namedtuple
from exodus_core.analysis.static_analysis import StaticAnalysis
db = json.load(open(sys.argv[1]))["trackers"]
Tracker = namedtuple("tracker", ["id", "name", "code_signature", "network_signature", "website", "categories"])
sigs = [Tracker(t["id"], t["name"], t["code_signature"], t["network_signature"], t["website"], t["categories"]) for t in db]
out = {}
for path in sys.argv[2:]:
    t0 = time.perf_counter()
    sa = StaticAnalysis()          # no APK load: only what tracker detection needs
    sa.apk_path = path
    sa.signatures = sigs
    sa._compile_signatures()
    classes = sa.get_embedded_classes()
    t1 = time.perf_counter()
    found = sa.detect_trackers_in_list(classes)
    t2 = time.perf_counter()
    out[path] = {"ids": sorted(t.id for t in found), "classes": len(classes), "extract_s": t1 - t0, "detect_s": t2 - t1}
print(json.dumps(out))
"""


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def ensure_venv():
    py = VENV / "bin/python"
    if not py.exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    if subprocess.run([str(py), "-c", "import exodus_core"], capture_output=True).returncode != 0:
        run([str(py), "-m", "pip", "install", "-q", "exodus-core"])
    return py


def build():
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    run(["cargo", "build", "--release", "-q", "-p", "interdict-cli", "-p", "apk-fixtures"], cwd=ROOT, env=env)
    return TARGET / "release/interdict", TARGET / "release/build-fixtures"


def interdict_ids(interdict, paths):
    out = run([str(interdict), "assess", "--format", "json", "--no-progress", *map(str, paths)], capture_output=True).stdout
    res = {}
    for rep in json.loads(out):
        if "trackers" not in rep:
            continue
        res[rep["file"]["path"]] = sorted(t["id"] for t in rep["trackers"] if any(e["kind"] == "code" for e in t["evidence"]))
    return res


def timed_pair(a, b, runs):
    """Runs a and b alternately `runs` times each (so load changes hit both alike); returns their wall times."""
    wa, wb = [], []
    for _ in range(runs):
        for cmd, out in ((a, wa), (b, wb)):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            out.append(time.perf_counter() - t0)
    return wa, wb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    py = ensure_venv()
    interdict, builder = build()
    WORK.mkdir(parents=True, exist_ok=True)

    listing = run([str(builder)], capture_output=True, text=True, env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET))).stdout
    fixtures = dict(line.split("\t", 1) for line in listing.splitlines() if "\t" in line)
    paths = [fixtures[n] for n in sorted(fixtures)]
    ours = interdict_ids(interdict, paths)
    theirs = json.loads(run([str(py), "-c", EXODUS, str(DB), *paths], capture_output=True, text=True).stdout)
    names = {t["id"]: t["name"] for t in json.load(open(DB))["trackers"]}
    print("## Tracker detection agreement (code signatures), every fixture\n")
    print("| fixture | interdict | exodus-core | agree |")
    print("|---|---|---|---|")
    agree = 0
    for n in sorted(fixtures):
        p = fixtures[n]
        a, b = ours.get(p), theirs.get(p, {}).get("ids")
        same = a == b
        agree += same
        def fmt(ids):
            if ids is None:
                return "-"
            if len(ids) > 8:
                return f"{len(ids)} trackers"
            return ", ".join(names.get(i, str(i)) for i in ids) or "none"
        if a or b or not same:
            print(f"| {n} | {fmt(a)} | {fmt(b)} | {'yes' if same else '**no**'} |")
    print(f"\n{agree} of {len(fixtures)} fixtures agree (fixtures where both find nothing are not listed).\n")

    if args.skip_large:
        return
    large = run([str(builder), "--large", str(args.classes), str(WORK)], capture_output=True, text=True,
                env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET))).stdout.strip()
    bw, rw = timed_pair([str(interdict), "assess", "--no-risk", "--format", "json", "--no-progress", large],
                        [str(interdict), "assess", "--format", "json", "--no-progress", large], args.runs)
    base, risk = statistics.median(bw), statistics.median(rw)
    t0 = time.perf_counter()
    ex = json.loads(run([str(py), "-c", EXODUS, str(DB), large], capture_output=True, text=True).stdout)[large]
    ex_wall = time.perf_counter() - t0
    size = Path(large).stat().st_size
    print(f"## Large APK: {Path(large).name}, {size / 1e6:.1f} MB, {args.classes} classes, {args.runs} alternating runs each\n")
    print("| what | median | min |")
    print("|---|---|---|")
    print(f"| interdict assess --no-risk | {base:.3f} s | {min(bw):.3f} s |")
    print(f"| interdict assess (risk on) | {risk:.3f} s | {min(rw):.3f} s |")
    print(f"| risk overhead | **{(risk / base - 1) * 100:+.1f}%** | {(min(rw) / min(bw) - 1) * 100:+.1f}% |")
    print(f"| exodus-core: dexdump + class regex ({ex['classes']} names) | {ex['extract_s']:.2f} s | |")
    print(f"| exodus-core: {len(json.load(open(DB))['trackers'])} signatures over the names | {ex['detect_s']:.2f} s | |")
    print(f"| exodus-core total (process) | {ex_wall:.2f} s | |")
    print(f"| exodus-core total / interdict assess (risk on) | **{ex_wall / risk:.0f}x** | |")
    ours = interdict_ids(interdict, [large]).get(large, [])
    print(f"| trackers found: interdict / exodus-core | {ours} / {ex['ids']} | |")


if __name__ == "__main__":
    main()

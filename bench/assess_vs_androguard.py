#!/usr/bin/env python3
"""Benchmark: `interdict assess` against androguard 4.x on the same APKs, as fresh processes.

Usage (from the repository root):
    python3 bench/assess_vs_androguard.py [--classes 100000] [--small 200] [--runs 5]

It builds interdict (release), the large synthetic APK and a directory of small APKs
with the project's fixture builder, installs androguard from PyPI into .venv-bench,
then runs each tool several times and prints medians and ratios of wall time and
peak memory (max RSS of the process) as a Markdown table.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench"
WORK = Path(os.environ.get("BENCH_DIR", "/dev/shm/interdict-bench" if Path("/dev/shm").is_dir() else "/tmp/interdict-bench"))

ANDROGUARD_LIST = r"""
import sys
from androguard.core.apk import APK
from androguard.core.dex import DEX
from loguru import logger
logger.remove()
n = 0
for path in sys.argv[1:]:
    a = APK(path)
    for raw in a.get_all_dex():
        n += len(DEX(raw).get_classes_names())
print(n)
"""


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def measure(cmd, runs):
    """Runs cmd `runs` times; returns (median wall s, median max RSS MiB, median cpu utilisation)."""
    walls, rss, cpu = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{cmd[0]} exited {code}: {err[-2000:]}")
        walls.append(wall)
        rss.append(usage.ru_maxrss / 1024.0)
        cpu.append((usage.ru_utime + usage.ru_stime) / wall)
    return statistics.median(walls), statistics.median(rss), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--androguard-runs", type=int, default=3)
    args = ap.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    run(["cargo", "build", "--release", "-p", "interdict-cli", "-p", "apk-fixtures"], cwd=ROOT)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    interdict = target / "release" / "interdict"
    builder = target / "release" / "build-fixtures"

    large = WORK / f"large-{args.classes}.apk"
    if not large.exists():
        out = subprocess.run([builder, "--large", str(args.classes), str(WORK)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        shutil.move(out, large)
    small_dir = WORK / "small"
    if not small_dir.exists() or len(list(small_dir.glob("*.apk"))) < args.small:
        paths = subprocess.run([builder], check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
        paths = [p for p in paths if p.endswith(".apk")]
        small_dir.mkdir(exist_ok=True)
        for i in range(args.small):
            shutil.copy(paths[i % len(paths)], small_dir / f"app-{i:04}.apk")
    smalls = sorted(str(p) for p in small_dir.glob("*.apk"))[: args.small]

    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(VENV)])
        run([VENV / "bin" / "pip", "install", "-q", "androguard>=4,<5"])
    ag_version = subprocess.run([VENV / "bin" / "python", "-c", "import importlib.metadata as m; print(m.version('androguard'))"],
                                capture_output=True, text=True).stdout.strip()
    script = WORK / "androguard_list.py"
    script.write_text(ANDROGUARD_LIST)

    size_mb = large.stat().st_size / 1e6
    rows = []
    cases = [
        (f"large APK ({args.classes} classes, {size_mb:.0f} MB): parse + list every class (same work as androguard)",
         [interdict, "assess", "--format", "json", "--include-classes", "--no-verify", "--no-risk", str(large)],
         [VENV / "bin" / "python", script, str(large)]),
        (f"large APK: full default assess (+ v1/v2 signatures verified, risk analysis)",
         [interdict, "assess", "--format", "json", "--include-classes", str(large)],
         [VENV / "bin" / "python", script, str(large)]),
        (f"{len(smalls)} small APKs, full default assess (one process)",
         [interdict, "assess", "--format", "jsonl", "--no-progress", str(small_dir)],
         [VENV / "bin" / "python", script, *smalls]),
    ]
    androguard_cache = {}
    for name, ours, theirs in cases:
        w1, m1, c1 = measure(ours, args.runs)
        key = tuple(map(str, theirs))
        if key not in androguard_cache:
            androguard_cache[key] = measure(theirs, args.androguard_runs)
        w2, m2, c2 = androguard_cache[key]
        rows.append((name, w1, m1, c1, w2, m2, c2))

    print()
    print(f"androguard {ag_version}; interdict release build; medians of {args.runs} (interdict) / "
          f"{args.androguard_runs} (androguard) fresh processes; {os.cpu_count()} cores")
    print()
    print("| case | interdict wall | interdict peak RSS | interdict CPU use | androguard wall | androguard peak RSS | speed-up | memory ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, w1, m1, c1, w2, m2, c2 in rows:
        print(f"| {name} | {w1*1000:.0f} ms | {m1:.0f} MiB | {c1:.2f} cores | {w2*1000:.0f} ms | {m2:.0f} MiB | "
              f"{w2/w1:.0f}× | {m2/m1:.1f}× |")


if __name__ == "__main__":
    main()

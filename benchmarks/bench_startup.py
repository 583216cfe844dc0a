"""Start-up cost: `import kanlab` plus the first forward of a [2,5,1] model, in a fresh process, with and without
the native kernels, side by side (alternating, repeated). Writes benchmarks/results/startup.md.

    python benchmarks/bench_startup.py [--repeats 5]

The kernels come from the per-user cache (kanlab._build); the first row builds them into an empty cache folder
once, which is what the very first process on a machine pays.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "startup.md"

CHILD = r"""
import json, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import kanlab
t2 = time.perf_counter()
model = kanlab.KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
y = model(torch.rand(100, 2))
y.sum().backward()
t3 = time.perf_counter()
print(json.dumps({"torch": t1 - t0, "kanlab": t2 - t1, "first_step": t3 - t2, "total": t3 - t0,
                  "native": kanlab.native.enabled()}))
"""


def run(native: bool, cache: str | None = None) -> dict:
    env = dict(os.environ, KANLAB_NATIVE="1" if native else "0")
    if cache is not None:
        env["KANLAB_CACHE_DIR"] = cache
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        first = run(True, empty)  # builds into an empty cache: once per machine and kanlab version
    run(True)  # make sure the default cache holds the build
    rows = {"kernels": [], "torch path": []}
    for _ in range(args.repeats):
        rows["kernels"].append(run(True))
        rows["torch path"].append(run(False))
    assert all(r["native"] for r in rows["kernels"]) and not any(r["native"] for r in rows["torch path"])
    med = {name: {key: statistics.median(r[key] for r in rs) for key in ("torch", "kanlab", "first_step", "total")}
           for name, rs in rows.items()}
    diffs = [a["total"] - b["total"] for a, b in zip(rows["kernels"], rows["torch path"])]
    lines = [
        "# Start-up benchmark",
        "",
        f"`python benchmarks/bench_startup.py` on {os.cpu_count()} cores: a fresh process imports torch and kanlab,",
        "builds KAN([2,5,1]) and runs one forward+backward (B=100). Medians over "
        f"{args.repeats} alternating runs; 'kernels - torch path' is the median of the paired differences.",
        "",
        "| path | import torch | import kanlab | model + first step | total |",
        "|---|---|---|---|---|",
    ]
    for name, m in med.items():
        lines.append(f"| {name} | {m['torch']:.3f} s | {m['kanlab']:.3f} s | {m['first_step']:.3f} s | "
                     f"{m['total']:.3f} s |")
    lines.append(f"| kernels, first process on the machine (empty cache: builds them) | {first['torch']:.3f} s | "
                 f"{first['kanlab']:.3f} s | {first['first_step']:.3f} s | {first['total']:.3f} s |")
    lines += ["", f"kernels - torch path, per pair: median {statistics.median(diffs):+.3f} s "
                  f"(target: within 0.2 s)", ""]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()

"""Step time with the machine shared: one process alone vs two processes side by side, kernels vs torch path.

Each worker process builds a model, warms up, reports ready, waits for the common start signal, then times
forward+backward steps (B=1000) for a fixed wall time and reports the median step. Repeated, because the effect of
oversubscription is bimodal from run to run. The figure is the ratio "two side by side / alone" (2x is the fair
share of a machine that both processes want whole). Writes benchmarks/results/contention.md.

    python benchmarks/bench_contention.py [--repeats 3] [--seconds 2] [--threads N]

``--threads`` sets torch.set_num_threads in every worker (default: torch's own default, what a user gets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "contention.md"

WORKER = r"""
import json, sys, time, statistics
import torch
from kanlab import KAN
width, seconds, threads = json.loads(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
if threads > 0:
    torch.set_num_threads(threads)
model = KAN(width=width, grid=5, k=3, seed=0)
x = torch.rand(1000, width[0]) * 2 - 1
def step():
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()
for _ in range(30):
    step()
print("ready", flush=True)
sys.stdin.readline()
times, end = [], time.perf_counter() + seconds
while time.perf_counter() < end:
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(json.dumps({"median_ms": 1e3 * statistics.median(times), "steps": len(times)}), flush=True)
"""


def run_group(n: int, width: list[int], native: bool, seconds: float, threads: int) -> list[float]:
    """Start n workers, release them together, return each one's median step time (ms)."""
    env = dict(os.environ, KANLAB_NATIVE="1" if native else "0")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(width), str(seconds), str(threads)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    for p in procs:
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"worker failed to start: {line!r}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    out = [json.loads(p.stdout.readline())["median_ms"] for p in procs]
    for p in procs:
        p.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads in each worker (0: default)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = []
    for width in ([2, 5, 1], [8, 64, 64, 1]):
        for native in (True, False):
            alone, shared, ratios = [], [], []
            for _ in range(args.repeats):
                a = run_group(1, width, native, args.seconds, args.threads)[0]
                s = run_group(2, width, native, args.seconds, args.threads)
                alone.append(a)
                shared.extend(s)
                ratios.append(max(s) / a)
            name = "kernels" if native else "torch path"
            row = (f"| {width} | {name} | {statistics.median(alone):.3f} ms | "
                   f"{', '.join(f'{t:.3f}' for t in shared)} ms | {', '.join(f'{r:.2f}x' for r in ratios)} | "
                   f"{max(ratios):.2f}x |")
            print(row, flush=True)
            rows.append(row)
    import torch

    threads = args.threads or torch.get_num_threads()
    text = (f"# Contention benchmark\n\n`python benchmarks/bench_contention.py` on {os.cpu_count()} cores, "
            f"{threads} torch thread(s) per process, torch {torch.__version__}, float32, [model] forward+backward "
            f"at B=1000, {args.repeats} repeats of {args.seconds:g} s. 'alone': one process; 'side by side': two "
            f"processes started together (every process's median step, every repeat); ratio: the slower of the "
            f"two over the time alone, per repeat (2x is the fair share; target <= 2.5x with the kernels).\n\n"
            "| model | path | alone | side by side | ratio per repeat | worst |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

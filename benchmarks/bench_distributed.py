"""Data-parallel throughput: one process against two ranks under torchrun (gloo), on this machine, idle and busy.

Each configuration trains the same model on the same rows: a warm-up fit, then a timed fit (Adam steps on the
whole set, and L-BFGS steps). The figure is rows per second relative to one process using every core. "Busy" runs
one extra process that spins on a core for the whole measurement. Configurations are interleaved and repeated;
the table reports medians. Writes benchmarks/results/distributed.md.

    python benchmarks/bench_distributed.py [--repeats 3] [--rows 40000] [--quick]
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

RESULTS = Path(__file__).parent / "results" / "distributed.md"

WORKER = r"""
import json, os, sys, time
import torch
from kanlab import KAN
rows, width, opt, steps, out = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
threads = int(sys.argv[6])
if threads:
    torch.set_num_threads(threads)
distributed = "RANK" in os.environ
g = torch.Generator().manual_seed(0)
x = torch.rand(rows, width[0], generator=g, dtype=torch.float64) * 2 - 1
y = torch.sin(3 * x).sum(dim=1, keepdim=True)
data = {"train_input": x, "train_label": y, "test_input": x[:100], "test_label": y[:100]}
model = KAN(width=width, grid=10, k=3, seed=0, dtype=torch.float64)
kw = dict(distributed=True, threads=None) if distributed else {}
lr = 1e-2 if opt == "Adam" else 1.0
model.fit(data, opt=opt, steps=1, lr=lr, update_grid=False, **kw)   # warm-up (and the process group)
if distributed:
    torch.distributed.barrier()
t0 = time.perf_counter()
model.fit(data, opt=opt, steps=steps, lr=lr, update_grid=False, **kw)
elapsed = time.perf_counter() - t0
if int(os.environ.get("RANK", 0)) == 0:
    with open(out, "w") as f:
        json.dump({"seconds": elapsed, "threads": torch.get_num_threads()}, f)
"""


def run(script: Path, nproc: int, threads: int, rows: int, width: list[int], opt: str, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        args = [str(script), str(rows), json.dumps(width), opt, str(steps), str(out), str(threads)]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=str(max(threads, 1)))
        if nproc == 1:
            cmd = [sys.executable, *args]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        return json.loads(out.read_text())["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 4000 rows, no results file")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.rows = 1, 4000
    cores = len(os.sched_getaffinity(0))
    width = [4, 8, 1]
    configs = [("1 process, all cores", 1, cores), ("1 process, 1 thread", 1, 1),
               (f"2 ranks x {max(1, cores // 2)} thread(s)", 2, max(1, cores // 2))]
    workloads = [("Adam", 20), ("LBFGS", 3)]
    lines = ["# Data-parallel training: 2 ranks vs 1 process", "",
             f"{cores} cores; KAN {width}, grid 10, {a.rows} rows (float64), full-batch steps, gloo on localhost; "
             f"median of {a.repeats} interleaved repeats. Throughput relative to one process using every core "
             "(above 1: faster).", "",
             "| machine | workload | " + " | ".join(c[0] for c in configs) + " |",
             "|---|---|" + "---|" * len(configs)]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        for machine in ("idle", "busy"):
            hog = None
            if machine == "busy":
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                for opt, steps in workloads:
                    times: dict[str, list[float]] = {c[0]: [] for c in configs}
                    for _ in range(a.repeats):
                        for name, nproc, threads in configs:
                            times[name].append(run(script, nproc, threads, a.rows, width, opt, steps))
                    base = statistics.median(times[configs[0][0]])
                    cells = [f"{base / statistics.median(times[c[0]]):.2f}" for c in configs]
                    lines.append(f"| {machine} | {opt} x {steps} | " + " | ".join(cells) + " |")
                    print(lines[-1], flush=True)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()

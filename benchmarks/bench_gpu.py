"""A KAN layer and a training step on CUDA, side by side with an equal-parameter MLP (and pykan when installed).

Without a CUDA device it says so and exits 0. ``--device cpu`` runs the same measurements on the CPU (a check of
the script itself; benchmarks/bench_layer.py is the CPU benchmark). It also runs the seed workflow (fit, prune,
refine, auto_symbolic) on the device to catch device mix-ups. Every row times the contenders in the same run,
interleaved, and reports the median ratio over repeats. Writes benchmarks/results/gpu.md (with --out).

    python benchmarks/bench_gpu.py [--quick] [--device cuda] [--out benchmarks/results/gpu.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from bench_layer import mlp_like  # the same equal-parameter MLP as the CPU benchmark
from kanlab import KAN, KANLayer, create_dataset


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def timer(device: torch.device):
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run(fn, reps: int) -> float:
        fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        return (time.perf_counter() - t0) / reps

    return run


def fwd_bwd(model: nn.Module, x: torch.Tensor):
    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    return step


def adam_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        ((model(x) - y) ** 2).mean().backward()
        opt.step()

    return step


def pykan_layer(n_in: int, n_out: int, grid: int, device: torch.device):
    try:
        from kan.KANLayer import KANLayer as PykanLayer
    except ImportError:
        return None
    layer = PykanLayer(in_dim=n_in, out_dim=n_out, num=grid, k=3, device=str(device))

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)[0]

    return Wrap()


def compare(device: torch.device, dtype: torch.dtype, quick: bool) -> list[tuple]:
    run = timer(device)
    rows = []
    shapes = [(64, 64, 5, 1024), (256, 256, 5, 4096)] if not quick else [(16, 16, 5, 256)]
    repeats, reps = (5, 20) if not quick else (2, 3)
    for n_in, n_out, grid, batch in shapes:
        kan = KANLayer(n_in, n_out, grid=grid, k=3, device=device, dtype=dtype)
        mlp = mlp_like(n_in, n_out, n_params(kan)).to(device=device, dtype=dtype)
        peer = pykan_layer(n_in, n_out, grid, device) if dtype == torch.float32 else None
        x = torch.rand(batch, n_in, device=device, dtype=dtype) * 2 - 1
        y = torch.rand(batch, n_out, device=device, dtype=dtype)
        for what, make in (("forward+backward", lambda m: fwd_bwd(m, x)), ("Adam step", lambda m: adam_step(m, x, y))):
            ratios, peer_ratios = [], []
            for _ in range(repeats):  # interleaved, so that both see the same machine state
                t_kan, t_mlp = run(make(kan), reps), run(make(mlp), reps)
                ratios.append(t_kan / t_mlp)
                if peer is not None and what == "forward+backward":
                    peer_ratios.append(run(make(peer), reps) / t_kan)
            rows.append((f"[{n_in}, {n_out}] G={grid}, batch {batch}", what, n_params(kan), n_params(mlp),
                         statistics.median(ratios), statistics.median(peer_ratios) if peer_ratios else None))
    return rows


def workflow(device: torch.device) -> str:
    """The seed workflow on the device: fit, prune, refine, auto_symbolic, formula."""
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    data = {k: v.double() for k, v in create_dataset(f, n_var=2, seed=0, device=device).items()}
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, device=device, dtype=torch.float64)
    model.fit(data, steps=20, lamb=0.01, lamb_entropy=10.0)
    model = model.prune()
    model.fit(data, steps=20)
    model = model.refine(10)
    model.fit(data, steps=20)
    model.auto_symbolic(lib=["x", "x^2", "exp", "sin"])
    model.fit(data, steps=20)
    (formula,), _ = model.symbolic_formula(simplify=True)
    return str(formula)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device on this machine; nothing to measure (use --device cpu to check the script)")
        return 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [f"# KAN layer on {name}", "",
             "Ratios of median times, both contenders timed in the same run (below 1: the KAN is faster).", "",
             "| shape | what | KAN params | MLP params | dtype | KAN / MLP | pykan / kanlab |", "|---|---|---|---|---|---|---|"]
    for dtype in (torch.float32, torch.float64):
        for shape, what, pk, pm, ratio, peer in compare(device, dtype, args.quick):
            peer_s = f"{peer:.2f}" if peer is not None else "-"
            lines.append(f"| {shape} | {what} | {pk} | {pm} | {str(dtype)[6:]} | {ratio:.2f} | {peer_s} |")
    formula = workflow(device)
    lines += ["", f"Seed workflow on {device.type}: `{formula}`"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

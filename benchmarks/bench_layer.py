"""KANLayer speed and memory, side by side with an equal-parameter MLP, an efficient-kan style layer and pykan.

Every row times both contenders in the same run, interleaved, and reports the median ratio over repeats (the
machine is shared and noisy, so only ratios are meaningful). Writes benchmarks/results/layer.md.

    python benchmarks/bench_layer.py [--quick] [--no-pykan]
    python benchmarks/bench_layer.py --crossover   # sparse vs dense native kernels (kanlab.native thresholds)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from kanlab import KAN, KANLayer, native
from kanlab.ops import layer_function

RESULTS = Path(__file__).parent / "results" / "layer.md"


# ---------------------------------------------------------------------------------------------------- contenders
def mlp_like(n_in: int, n_out: int, n_params: int) -> nn.Module:
    """Linear-SiLU-Linear with (about) n_params parameters, biases included."""
    hidden = max(1, round((n_params - n_out) / (n_in + n_out + 1)))
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class EfficientKANStyle(nn.Module):
    """The efficient-kan formulation: Cox-de Boor over the full grid, then two linears."""

    def __init__(self, n_in: int, n_out: int, grid: int, k: int = 3):
        super().__init__()
        h = 2 / grid
        knots = torch.arange(-k, grid + k + 1) * h - 1
        self.register_buffer("grid", knots.expand(n_in, -1).contiguous())
        self.k = k
        self.base_weight = nn.Parameter(torch.randn(n_out, n_in) / n_in**0.5)
        self.spline_weight = nn.Parameter(torch.randn(n_out, n_in, grid + k) * 0.1)
        self.spline_scaler = nn.Parameter(torch.ones(n_out, n_in))

    def b_splines(self, x: torch.Tensor) -> torch.Tensor:
        g = self.grid
        x = x.unsqueeze(-1)
        bases = ((x >= g[:, :-1]) & (x < g[:, 1:])).to(x.dtype)
        for d in range(1, self.k + 1):
            bases = (x - g[:, : -(d + 1)]) / (g[:, d:-1] - g[:, : -(d + 1)]) * bases[:, :, :-1] + (
                g[:, d + 1 :] - x
            ) / (g[:, d + 1 :] - g[:, 1:(-d)]) * bases[:, :, 1:]
        return bases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.linear(F.silu(x), self.base_weight)
        w = (self.spline_weight * self.spline_scaler.unsqueeze(-1)).view(self.spline_weight.shape[0], -1)
        return base + F.linear(self.b_splines(x).view(x.shape[0], -1), w)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------------- timing
def fwd_bwd(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        module.zero_grad(set_to_none=True)
        module(x).square().mean().backward()

    return run


def train_step(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        F.mse_loss(module(x), y).backward()
        opt.step()

    return run


def race(a: Callable[[], None], b: Callable[[], None], repeats: int, inner: int) -> tuple[float, float, float]:
    """Median seconds per call of a and b, and the median of per-repeat ratios a/b (interleaved)."""
    for _ in range(5):  # warm-up: allocator, thread pool, caches
        a(), b()
    ta, tb, ratios = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            a()
        da = (time.perf_counter() - t) / inner
        t = time.perf_counter()
        for _ in range(inner):
            b()
        db = (time.perf_counter() - t) / inner
        ta.append(da), tb.append(db), ratios.append(da / db)
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def saved_floats(fn: Callable[[], torch.Tensor]) -> int:
    """Number of elements autograd saves for backward while running fn (parameters and buffers excluded)."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor):
        nonlocal total
        if not isinstance(t, nn.Parameter) and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


class ForcedMode(nn.Module):
    """A KANLayer run through one given mode of the layer function ("sparse", "dense" or "torch")."""

    def __init__(self, layer: KANLayer, mode: str):
        super().__init__()
        self.layer, self.mode = layer, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.layer
        return layer_function(x, m.folded_weight(), m.grid, m.k, m.uniform, m.base_fun, mode=self.mode)


class ThroughOp(nn.Module):
    """A KANLayer called through the registered op ``kanlab::layer`` (the dispatcher, as under torch.compile),
    instead of the eager autograd Function that KANLayer.forward uses."""

    def __init__(self, layer: KANLayer):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.layer
        return torch.ops.kanlab.layer(x, m.mask, m.scale_base, m.scale_sp, m.coef, m.grid, m.k, m.base_fun, "sparse")


def crossover(reps: int, inner: int) -> int:
    """Time sparse against dense (x needing its gradient, as in a hidden layer) over outputs and grid sizes."""
    gen = torch.Generator().manual_seed(0)
    print(f"default mode: {native.DEFAULT_MODE}")
    print("| in | out | G | features/(k+2) | sparse | dense | sparse/dense |")
    print("|---|---|---|---|---|---|---|")
    for n_in, n_out in [(64, 1), (64, 2), (64, 4), (64, 8), (64, 16), (64, 32), (64, 64), (256, 128), (256, 256)]:
        for grid in (3, 5, 10, 20):
            m = KANLayer(n_in, n_out, grid=grid, k=3, generator=gen)
            x = (torch.rand(1000, n_in, generator=gen) * 2 - 1).requires_grad_(True)
            ts, td, r = race(fwd_bwd(ForcedMode(m, "sparse"), x), fwd_bwd(ForcedMode(m, "dense"), x), reps, inner)
            print(f"| {n_in} | {n_out} | {grid} | {(1 + m.n_basis) / 5:.1f} | {ts * 1e3:.2f} ms | {td * 1e3:.2f} ms "
                  f"| {r:.2f} |", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------------- rows
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--no-pykan", action="store_true", help="skip the pykan comparison")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crossover", action="store_true", help="time the native sparse against the dense mode")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    reps, inner = (3, 2) if args.quick else (9, 5)
    if args.crossover:
        return crossover(reps, inner)
    gen = torch.Generator().manual_seed(0)
    rows: list[tuple[str, str, str, str, str]] = []  # figure, kanlab, other, ratio, target

    def layer(n_in, n_out, grid, uniform=True):
        m = KANLayer(n_in, n_out, grid=grid, k=3, generator=gen)
        if not uniform:
            m.update_grid(torch.randn(2048, n_in, generator=gen) * 0.5)
        return m

    # a throwaway race first: the first timings of a process are slow (thread pool, allocator, lazy imports)
    warm = layer(64, 64, 5)
    xw = torch.rand(1024, 64, generator=gen)
    race(fwd_bwd(warm, xw), fwd_bwd(mlp_like(64, 64, n_params(warm)), xw), 2, inner)
    # 1. KANLayer vs equal-parameter MLP
    for width, batch in [(64, 1024), (256, 256), (256, 1024)]:
        for uniform in (True, False):
            kl = layer(width, width, 5, uniform)
            mlp = mlp_like(width, width, n_params(kl))
            x = torch.rand(batch, width, generator=gen) * 2 - 1
            tk, tm, r = race(fwd_bwd(kl, x), fwd_bwd(mlp, x), reps, inner)
            grid_kind = "uniform" if uniform else "adaptive"
            rows.append((f"KANLayer vs MLP (equal params), I=O={width}, G=5, B={batch}, {grid_kind} grid",
                         f"{tk * 1e3:.2f} ms", f"{tm * 1e3:.2f} ms", f"{r:.2f}x", "<= 1.2x"))
    # 1b. the pure torch path (what GPUs, other dtypes and KANLAB_NATIVE=0 get), for context
    kl = layer(256, 256, 5)
    mlp = mlp_like(256, 256, n_params(kl))
    x = torch.rand(1024, 256, generator=gen) * 2 - 1
    tt, tm, r = race(fwd_bwd(ForcedMode(kl, "torch"), x), fwd_bwd(mlp, x), reps, inner)
    rows.append(("torch path (no native kernels) vs MLP, I=O=256, G=5, B=1024, uniform grid", f"{tt * 1e3:.2f} ms",
                 f"{tm * 1e3:.2f} ms", f"{r:.2f}x", "-"))
    # 1c. what rebuilding the folded weight (mask and scales into one (in, 1+G+k, out) tensor) costs per step:
    # the layer against the same step on a ready-made weight leaf
    for batch in (256, 1024):
        kl = layer(256, 256, 5)
        x = torch.rand(batch, 256, generator=gen) * 2 - 1
        w = kl.folded_weight().detach().requires_grad_(True)

        def ready_weight() -> None:
            w.grad = None
            layer_function(x, w, kl.grid, kl.k, kl.uniform, kl.base_fun).square().mean().backward()

        tl, tw, r = race(fwd_bwd(kl, x), ready_weight, reps, inner)
        rows.append((f"layer step with the weight fold vs on a ready weight, I=O=256, G=5, B={batch}",
                     f"{tl * 1e3:.2f} ms", f"{tw * 1e3:.2f} ms", f"{r:.2f}x", "-"))
    # 1d. custom-op dispatch: the registered op (what torch.compile/export record) against the eager Function
    for n_in, n_out in ((2, 5), (256, 256)):
        kl = layer(n_in, n_out, 5)
        x = (torch.rand(1000, n_in, generator=gen) * 2 - 1).requires_grad_(True)
        to, te, r = race(fwd_bwd(ThroughOp(kl), x), fwd_bwd(kl, x), reps, inner * 4)
        rows.append((f"custom-op dispatch: layer step through kanlab::layer vs the eager Function, I={n_in}, "
                     f"O={n_out}, G=5, B=1000", f"{to * 1e3:.3f} ms", f"{te * 1e3:.3f} ms", f"{r:.2f}x", "-"))
    # 2. vs efficient-kan style, G=5 and G=50
    for grid, target in [(5, ">= 3x faster"), (50, ">= 4x faster")]:
        kl = layer(256, 256, grid)
        ek = EfficientKANStyle(256, 256, grid)
        x = torch.rand(1024, 256, generator=gen) * 2 - 1
        tk, te, r = race(fwd_bwd(kl, x), fwd_bwd(ek, x), reps, inner)
        rows.append((f"KANLayer vs efficient-kan style, I=O=256, G={grid}, B=1024", f"{tk * 1e3:.2f} ms",
                     f"{te * 1e3:.2f} ms", f"{1 / r:.2f}x faster", target))
    # 3. growth from G=5 to G=50
    for uniform in (True, False):
        k5, k50 = layer(64, 64, 5, uniform), layer(64, 64, 50, uniform)
        x = torch.rand(512, 64, generator=gen) * 2 - 1
        t50, t5, r = race(fwd_bwd(k50, x), fwd_bwd(k5, x), reps, inner)
        rows.append((f"cost growth G=5 -> G=50, I=O=64, B=512, {'uniform' if uniform else 'adaptive'} grid",
                     f"{t50 * 1e3:.2f} ms", f"{t5 * 1e3:.2f} ms", f"{r:.2f}x", "<= 3x"))
    # 4. saved memory per input feature
    kl = layer(256, 256, 10)
    mlp = mlp_like(256, 256, n_params(kl))
    x = torch.rand(1024, 256, generator=gen, requires_grad=False) * 2 - 1
    sk = saved_floats(lambda: kl(x).sum()) / x.numel()
    sm = saved_floats(lambda: mlp(x).sum()) / x.numel()
    rows.append(("autograd-saved floats per input feature, I=O=256, G=10, B=1024", f"{sk:.1f}", f"{sm:.1f} (MLP)",
                 f"{sk / sm:.2f}x", "<= 30 floats"))
    # 5. tiny nets: full training step
    x = torch.rand(1000, 2, generator=gen) * 2 - 1
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)
    tiny = KAN([2, 5, 1], grid=5, k=3, seed=0)
    tiny_mlp = mlp_like(2, 1, n_params(tiny))
    tk, tm, r = race(train_step(tiny, x, y), train_step(tiny_mlp, x, y), reps, inner * 4)
    rows.append(("tiny net [2,5,1] G=5 B=1000, Adam training step, vs equal-param MLP", f"{tk * 1e3:.3f} ms",
                 f"{tm * 1e3:.3f} ms", f"{r:.2f}x", "<= 3x"))
    # 6. vs pykan
    if not args.no_pykan:
        from bench_vs_pykan import step_row

        rows.append(step_row(reps, inner))

    lines = [
        "# KANLayer benchmark",
        "",
        f"`python benchmarks/bench_layer.py` on {args.threads} CPU thread(s), torch {torch.__version__}, float32, "
        "forward+backward unless stated; medians over repeats; the ratio is the median of per-repeat ratios.",
        "",
        "| figure | kanlab | other | ratio | target |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(r)} |" for r in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

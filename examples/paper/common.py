"""Shared pieces of the paper scripts: MLP baselines, training, log-log slopes, the results files.

Every script takes ``--quick`` (a small run, for the tests) and ``--out FOLDER`` (default: examples/paper/results
in full mode; quick runs write nothing unless given --out).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from kanlab.optim import LBFGS

RESULTS = Path(__file__).resolve().parent / "results"


def args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="a small run (under 2 minutes on 2 cores)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the markdown table and the figures")
    if extra:
        extra(ap)
    a = ap.parse_args()
    if a.out is None and not a.quick:
        a.out = RESULTS
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
    return a


def mlp(widths: Sequence[int], dtype=torch.float64, seed: int = 0) -> nn.Sequential:
    """Linear layers with SiLU between them; widths = [in, hidden..., out]."""
    torch.manual_seed(seed)  # these are scripts, not the library: seeding here is the scripts' own business
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b, dtype=dtype), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


def n_params(model: nn.Module) -> int:
    """Trainable parameters; for a KAN, those of its spline layers (coefficients and the two scales per edge; the
    symbolic layers' affine parameters are unused while every edge is numeric), as the paper counts them."""
    layers = getattr(model, "layers", None)
    if layers is not None and hasattr(model, "symbolic"):
        return sum(p.numel() for layer in layers for p in layer.parameters() if p.requires_grad)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def rmse(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.sqrt(torch.mean((pred.detach() - y) ** 2)))


def train_mlp(model: nn.Module, data: dict, steps: int) -> float:
    """Full-batch L-BFGS (kanlab's, the same optimizer the KANs use) on MSE; returns the test RMSE."""
    # stop a step once it no longer moves (kanlab's defaults, 1e-32, keep going for KANs that fit to 1e-12; an MLP
    # stuck on a plateau would otherwise spend every step on full line searches)
    opt = LBFGS(list(model.parameters()), lr=1.0, tolerance_change=1e-12, tolerance_grad=1e-12)
    x, y = data["train_input"], data["train_label"]

    def closure():
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            return math.inf
    with torch.no_grad():
        return rmse(model(data["test_input"]), data["test_label"])


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(lx, ly, 1)[0])


def table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if math.isfinite(v) else "diverged"
        return str(v)

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]


def comparison_figure(rows, title: str):
    """Bars of test RMSE (log scale), KAN against MLP, one pair per target; rows: (name, ..., kan_rmse at 4,
    mlp_rmse at 7)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.8 * len(rows)), 3.6))
    ax = fig.subplots()
    idx = np.arange(len(rows))
    ax.bar(idx - 0.2, [r[4] for r in rows], 0.4, label="KAN (smallest within 2x of best)")
    ax.bar(idx + 0.2, [r[7] for r in rows], 0.4, label="MLP (smallest within 2x of best)")
    ax.set_yscale("log")
    ax.set_xticks(idx, [r[0] for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("test RMSE")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def write(a: argparse.Namespace, name: str, lines: list[str], figure=None) -> None:
    """Print the lines; in an --out folder, write name.md (and name.png from a matplotlib Figure)."""
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out is None:
        return
    if figure is not None:
        figure.savefig(a.out / f"{name}.png", dpi=110, bbox_inches="tight")
        text += f"\n![{name}]({name}.png)\n"
    (a.out / f"{name}.md").write_text(text)


class Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.t0:.0f} s"


def fit_sweep(f, n_var: int, ranges, quick: bool, seed: int = 0) -> dict:
    """The paper's function-fitting protocol on one target: KANs of a few shapes, and a [n, 5, 1] sparsified and
    pruned first, each trained with grid extension, and MLPs of depth 2-3 and several widths, all with the same
    L-BFGS. Returns the rows and, per family, the
    smallest model whose test RMSE is within 2x of the family's best."""
    from kanlab import KAN, create_dataset

    data = {k: v.double() for k, v in create_dataset(f, n_var=n_var, ranges=ranges, train_num=1000, test_num=1000,
                                                      seed=seed).items()}
    lo = float(data["train_input"].min())
    hi = float(data["train_input"].max())
    shapes = [[n_var, 1], [n_var, 2, 1]] if quick else [[n_var, 1], [n_var, 2, 1], [n_var, 5, 1], [n_var, 5, 5, 1]]
    grids = [3, 10] if quick else [3, 5, 10, 20]
    steps = 20 if quick else 100
    kans = []
    for width in shapes + [None]:  # None: [n, 5, 1] sparsified and pruned first, then the same grid ladder
        if width is None:
            model = KAN(width=[n_var, 5, 1], grid=grids[0], k=3, seed=seed, dtype=torch.float64, grid_range=(lo, hi))
            model.fit(data, steps=steps // 2, lamb=0.01, lamb_entropy=2.0)
            model = model.prune()
            width = f"pruned {model.width}"
        else:
            model = KAN(width=width, grid=grids[0], k=3, seed=seed, dtype=torch.float64, grid_range=(lo, hi))
        for g in grids:
            if g != grids[0]:
                model = model.refine(g)
            hist = model.fit(data, steps=steps, update_grid=g == grids[0])
            err = hist["test_loss"][-1] if hist["test_loss"] else math.inf
            kans.append((f"KAN {width} G={g}", n_params(model), err))
    mlps = []
    for depth in ([2] if quick else [2, 3]):
        for w in ([5, 20] if quick else [5, 10, 20, 50]):
            net = mlp([n_var] + [w] * depth + [1], seed=seed)
            mlps.append((f"MLP depth {depth + 1} width {w}", n_params(net), train_mlp(net, data, steps)))

    def smallest_good(rows):
        best = min(r[2] for r in rows)
        return min((r for r in rows if r[2] <= 2 * best), key=lambda r: r[1])

    return {"kan": kans, "mlp": mlps, "kan_pick": smallest_good(kans), "mlp_pick": smallest_good(mlps)}

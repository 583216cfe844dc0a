"""KAN paper, Sec. 3.2 / Table 2: fitting special functions, KANs against MLPs of several sizes.

Nine two-argument functions from scipy.special on the ranges below. For each: KANs [2,1], [2,2,1], [2,5,1],
[2,5,5,1] and a [2,5,1] sparsified and pruned first, trained with grid extension G = 3, 5, 10, 20, and MLPs of depth
3-4 and width 5-50, all with the same L-BFGS (100 steps at every grid; 100 for an MLP). The table gives, per family,
the smallest model whose test RMSE is within 2x of the family's best (the paper's choice of a "Pareto-good" model).

    python examples/paper/special.py [--quick] [--out FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.special as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Clock, args, comparison_figure, fit_sweep, table, write  # noqa: E402


def numpy_fn(fn):
    def f(x):
        a, b = x[:, 0].numpy(), x[:, 1].numpy()
        return torch.from_numpy(np.asarray(fn(a, b), dtype=np.float64)).unsqueeze(1).to(x.dtype)

    return f


# name, function of (x, y), ranges (x first)
FUNCTIONS = [
    ("ellipj sn(x, y)", lambda x, y: sp.ellipj(x, y)[0], [[0, 1], [0, 1]]),
    ("ellipkinc(x, y)", lambda x, y: sp.ellipkinc(x, y), [[0, 1], [0, 1]]),
    ("ellipeinc(x, y)", lambda x, y: sp.ellipeinc(x, y), [[0, 1], [0, 1]]),
    ("jv(x, y)", lambda x, y: sp.jv(x, y), [[0, 1], [0, 1]]),
    ("yv(x, y)", lambda x, y: sp.yv(x, y), [[0, 1], [0.5, 1.5]]),
    ("kv(x, y)", lambda x, y: sp.kv(x, y), [[0, 1], [0.5, 1.5]]),
    ("iv(x, y)", lambda x, y: sp.iv(x, y), [[0, 1], [0, 1]]),
    ("lpmv(0, x, y)", lambda x, y: sp.lpmv(0, x, y), [[0, 1], [-1, 1]]),
    ("Re sph_harm(0, 1, x, y)", lambda x, y: np.real(sp.sph_harm_y(1, 0, y, x)) if hasattr(sp, "sph_harm_y")
     else np.real(sp.sph_harm(0, 1, x, y)), [[0, 2 * np.pi], [0, np.pi]]),
]


def main() -> None:
    a = args(__doc__.splitlines()[0])
    clock = Clock()
    chosen = FUNCTIONS[:1] if a.quick else FUNCTIONS
    rows, ratios = [], []
    for name, fn, ranges in chosen:
        r = fit_sweep(numpy_fn(fn), 2, ranges, a.quick)
        k, m = r["kan_pick"], r["mlp_pick"]
        rows.append((name, str(ranges), k[0], k[1], k[2], m[0], m[1], m[2]))
        ratios.append(k[2] / m[2])
        print(rows[-1], flush=True)
    lines = [f"# Special functions (KAN paper Table 2){' [quick]' if a.quick else ''}", "",
             f"Per family, the smallest model within 2x of its best test RMSE. {clock}.", ""]
    lines += table(["function", "ranges", "KAN", "params", "test RMSE", "MLP", "params", "test RMSE"], rows)
    wins = sum(1 for r in rows if r[4] <= r[7])
    lines += ["", f"The KAN's error is at most the MLP's on {wins} of {len(rows)} functions; median KAN/MLP error "
              f"ratio {float(np.median(ratios)):.2g}. Paper: KANs reach lower errors than MLPs with fewer "
              "parameters on most of these functions."]
    write(a, "special", lines, comparison_figure(rows, "Special functions") if a.out is not None else None)
    if a.quick:
        assert all(np.isfinite(r[4]) and r[4] < 0.1 for r in rows), rows


if __name__ == "__main__":
    main()

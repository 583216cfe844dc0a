"""KAN paper, Sec. 3.3 / Table 3: fitting Feynman equations, KANs against MLPs (test RMSE and parameters).

The ten equations of kanlab.feynman.QUICK on their ranges, with the protocol of special.py: KANs [n,1], [n,2,1], [n,5,1],
[n,5,5,1] and a pruned [n,5,1], with grid extension G = 3, 5, 10, 20; MLPs of depth 3-4 and width 5-50; the same
L-BFGS; per family the smallest model within 2x of its best test RMSE. Whether the exact formula is recovered is
another question, which benchmarks/bench_feynman.py answers (benchmarks/results/feynman.md).

    python examples/paper/feynman_fit.py [--quick] [--out FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Clock, args, comparison_figure, fit_sweep, table, write  # noqa: E402

from kanlab.feynman import EQUATIONS, QUICK  # noqa: E402


def main() -> None:
    a = args(__doc__.splitlines()[0])
    clock = Clock()
    names = list(QUICK)[1:2] if a.quick else list(QUICK)
    rows = []
    for name in names:
        eq = EQUATIONS[name]
        fn = eq.function()
        r = fit_sweep(lambda x: fn(x), eq.n_var, [list(rg) for rg in eq.ranges], a.quick)
        k, m = r["kan_pick"], r["mlp_pick"]
        rows.append((name, str(eq.expr), k[0], k[1], k[2], m[0], m[1], m[2]))
        print(rows[-1], flush=True)
    lines = [f"# Feynman equations (KAN paper Table 3){' [quick]' if a.quick else ''}", "",
             f"Per family, the smallest model within 2x of its best test RMSE. {clock}. Symbolic recovery: "
             "[feynman.md](../../../benchmarks/results/feynman.md).", ""]
    lines += table(["equation", "formula", "KAN", "params", "test RMSE", "MLP", "params", "test RMSE"], rows)
    wins = sum(1 for r in rows if r[4] <= r[7])
    fewer = sum(1 for r in rows if r[3] < r[6])
    lines += ["", f"The KAN's error is at most the MLP's on {wins} of {len(rows)} equations, with fewer parameters on "
              f"{fewer}; median KAN/MLP error ratio {float(np.median([r[4] / r[7] for r in rows])):.2g}. Paper: "
              "KANs match or beat MLPs with fewer parameters on most Feynman equations."]
    write(a, "feynman_fit", lines, comparison_figure(rows, "Feynman equations") if a.out is not None else None)
    if a.quick:
        assert all(np.isfinite(r[4]) for r in rows), rows


if __name__ == "__main__":
    main()

"""KAN paper, Sec. 3.3 / Table 3: fitting Feynman equations, KANs against MLPs (test RMSE and parameters).

Ten Feynman equations on positive ranges (defined below), with the protocol of special.py: KANs [n,1], [n,2,1], [n,5,1],
[n,5,5,1] and a pruned [n,5,1], with grid extension G = 3, 5, 10, 20; MLPs of depth 3-4 and width 5-50; the same
L-BFGS; per family the smallest model within 2x of its best test RMSE. Whether the exact formula is recovered is
another question, which benchmarks/bench_feynman.py answers on all 120 equations of kanlab.feynman.

    python examples/paper/feynman_fit.py [--quick] [--out FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Clock, args, comparison_figure, fit_sweep, table, write  # noqa: E402

import sympy  # noqa: E402

from kanlab.feynman import Equation  # noqa: E402


def _eq(name: str, source: str, names: str, ranges) -> Equation:
    syms = tuple(sympy.symbols(names, positive=True, seq=True))
    expr = sympy.sympify(source, locals={s.name: s for s in syms})
    return Equation(0, name, expr, syms, tuple((float(lo), float(hi)) for lo, hi in ranges))


# the ranges of the KAN paper's rerun: away from 0, so that every formula is smooth on them
EQUATIONS = {e.name: e for e in [
    _eq("I.6.2a", "exp(-theta**2/2)/sqrt(2*pi)", "theta", [(1, 3)]),
    _eq("I.6.2", "exp(-(theta/sigma)**2/2)/(sqrt(2*pi)*sigma)", "theta sigma", [(1, 3), (1, 3)]),
    _eq("I.12.1", "mu*N_n", "mu N_n", [(1, 5), (1, 5)]),
    _eq("I.14.4", "k_spring*x**2/2", "k_spring x", [(1, 5), (1, 5)]),
    _eq("I.25.13", "q/C", "q C", [(1, 5), (1, 5)]),
    _eq("I.29.4", "omega/c", "omega c", [(1, 10), (1, 10)]),
    _eq("I.39.1", "3*p_F*V/2", "p_F V", [(1, 5), (1, 5)]),
    _eq("II.3.24", "P/(4*pi*r**2)", "P r", [(1, 5), (1, 5)]),
    _eq("II.8.31", "epsilon*E_f**2/2", "epsilon E_f", [(1, 5), (1, 5)]),
    _eq("I.13.4", "m*(v**2 + u**2 + w**2)/2", "m v u w", [(1, 5)] * 4),
]}


def main() -> None:
    a = args(__doc__.splitlines()[0])
    clock = Clock()
    names = list(EQUATIONS)[1:2] if a.quick else list(EQUATIONS)
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
             "[benchmarks/bench_feynman.py](../../../benchmarks/bench_feynman.py).", ""]
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

"""How well the symmetry test of kanlab.discover (kanlab.discovery.symmetry) tells true symmetries from the rest, on
the surrogates of the Feynman equations: the source of symmetry.THRESHOLD.

For each equation with 2+ inputs: 750 rows (kanlab.feynman's ranges, seed 0), scaled as discover scales them (log
space where every value keeps its sign), the split candidate's surrogate KAN fitted with 100 steps per grid. Every
pair of inputs and kind (ratio, product, difference, sum) is scored twice on 300 rows: from the exact gradient
(central differences of the true formula), which says whether the symmetry holds (score below 1e-4), and from the
surrogate's gradient, which is what discover sees. The report counts, per threshold, the true symmetries caught and
the pairs without one that would pass, and lists the misses by kind.

    python benchmarks/bench_symmetry.py --jobs 2      # writes benchmarks/results/symmetry.md (about 4 min)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sympy  # noqa: E402
import torch  # noqa: E402

from kanlab.discovery import symmetry as S  # noqa: E402
from kanlab.discovery.data import Scaling, log_space_applies  # noqa: E402
from kanlab.discovery.split import _surrogate  # noqa: E402
from kanlab.feynman import EQUATIONS  # noqa: E402

ROWS, SCORED, STEPS, TRUE = 750, 300, 100, 1e-4
THRESHOLDS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.08)


def exact_gradient(eq, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the true formula at the rows of x (N, n): (N, n)."""
    f = sympy.lambdify(eq.variables, eq.expr, "numpy")
    n = x.shape[1]
    with np.errstate(all="ignore"):
        return np.stack([(f(*[x[:, k] + eps * (k == i) for k in range(n)])
                          - f(*[x[:, k] - eps * (k == i) for k in range(n)])) / (2 * eps) for i in range(n)], 1)


def scores(name: str) -> list[tuple]:
    """(equation, kind, a, b, exact score, surrogate score) for every pair and kind that applies."""
    eq = EQUATIONS[name]
    x, y = (t.numpy() for t in eq.sample(ROWS, seed=0))
    y = y[:, 0]
    scaling = Scaling.fit(x, y, log_space_applies(x, y))
    xt, yt = torch.tensor(scaling.x(x)), torch.tensor(scaling.y(y))[:, None]
    model = _surrogate(xt, yt, 0, STEPS, lambda *_: None)
    xs = x[:SCORED]
    g_true = exact_gradient(eq, xs)
    g_sur = S.user_gradient(model, xt[:SCORED], xs, scaling)
    v = [S.Variable(s, xs[:, i], x[:, i], i, np.ones(SCORED)) for i, s in enumerate(eq.variables)]
    out = []
    for i in range(eq.n_var):
        for j in range(i + 1, eq.n_var):
            for kind in S.KINDS:
                swap = S.oriented(kind, x[:, i], x[:, j])
                if swap is None:
                    continue
                p, q = (j, i) if swap else (i, j)
                out.append((name, kind.name, str(eq.variables[p]), str(eq.variables[q]),
                            S.pair_score(kind, v[p], v[q], g_true[:, p], g_true[:, q]),
                            S.pair_score(kind, v[p], v[q], g_sur[:, p], g_sur[:, q])))
    return out


def report(rows: list[tuple]) -> str:
    sym = [r for r in rows if np.isfinite(r[4]) and r[4] < TRUE]
    non = [r for r in rows if not (np.isfinite(r[4]) and r[4] < TRUE)]
    lines = ["# The symmetry test on the Feynman surrogates", "",
             f"`python benchmarks/bench_symmetry.py`: {len({r[0] for r in rows})} equations with 2+ inputs, {ROWS} "
             f"rows, the split candidate's surrogate ({STEPS} steps per grid), scores on {SCORED} rows. A pair has "
             f"a symmetry when its score from the exact gradient is below {TRUE:g}: {len(sym)} of {len(rows)} "
             f"pairs and kinds. discover's threshold: {S.THRESHOLD}.", "",
             "| threshold | true symmetries caught | pairs without one that pass |", "|---|---|---|"]
    for t in THRESHOLDS:
        lines.append(f"| {t} | {sum(r[5] < t for r in sym)} of {len(sym)} | {sum(r[5] < t for r in non)} of "
                     f"{len(non)} |")
    lines += ["", f"Pairs without a symmetry that score below {S.THRESHOLD} (near-symmetries: their exact scores are "
              "low too):", "", "| equation | kind | pair | exact score | surrogate score |", "|---|---|---|---|---|"]
    for r in sorted(non, key=lambda r: r[5]):
        if r[5] < S.THRESHOLD:
            lines.append(f"| {r[0]} | {r[1]} | {r[2]}, {r[3]} | {r[4]:.3f} | {r[5]:.3f} |")
    lines += ["", f"True symmetries missed (surrogate score at least {S.THRESHOLD}), by kind:", "",
              "| kind | true | missed | e.g. |", "|---|---|---|---|"]
    for kind in S.KINDS:
        k = [r for r in sym if r[1] == kind.name]
        missed = sorted((r for r in k if r[5] >= S.THRESHOLD), key=lambda r: -r[5])
        eg = ", ".join(f"{r[0]} ({r[2]}, {r[3]}: {r[5]:.2f})" for r in missed[:4])
        lines.append(f"| {kind.name} | {len(k)} | {len(missed)} | {eg} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--equations", nargs="*", help="names (default: all with 2+ inputs)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "symmetry.md")
    args = ap.parse_args()
    names = args.equations or [n for n, e in EQUATIONS.items() if e.n_var >= 2]
    with mp.get_context("spawn").Pool(args.jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        rows = [r for part in pool.imap(scores, names) for r in part]
    args.out.write_text(report(rows))
    print(args.out.read_text())


if __name__ == "__main__":
    main()

"""How often the seed workflow recovers each of tests/test_symbolic.py's formulas exactly, over model seeds 0-5.

The workflow is pykan's (fit 20 sparsified, prune, fit 50, refine(10), fit 50, auto_symbolic, fit 50). Exact: the
recovered formula matches the truth to 1e-6 on 500 fresh points. ``--extend`` chooses how update_grid places the
knots outside an adaptive grid: "ends" (kanlab's default, the end intervals' spacing) or "average" (pykan's rule,
what kanlab.pykan uses).

    python benchmarks/bench_recovery_seeds.py [--extend ends|average]   # writes results/recovery_seeds_<rule>.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_symbolic import CASES, seed_workflow_error  # noqa: E402


def recovered(case: int, seed: int, extend: str = "ends") -> bool:
    return seed_workflow_error(case, seed, extend)[1] < 1e-6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extend", choices=("ends", "average"), default="ends")
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, total = [], 0
    for case, (_, truth) in enumerate(CASES):
        ok = [recovered(case, s, args.extend) for s in range(args.seeds)]
        total += sum(ok)
        rows.append(f"| {truth} | {' '.join('yes' if v else 'no' for v in ok)} | {sum(ok)}/{len(ok)} |")
    text = "\n".join([
        f"# Exact recovery over model seeds (knots outside the grid: {args.extend} spacing)", "",
        f"`python benchmarks/bench_recovery_seeds.py --extend {args.extend}`; data seed 0, model seeds 0-"
        f"{args.seeds - 1}, float64.", "",
        "| formula | seeds 0.. | recovered |", "|---|---|---|", *rows, "",
        f"Total: {total}/{len(CASES) * args.seeds}.", ""])
    print(text)
    out = Path(__file__).parent / "results" / f"recovery_seeds_{args.extend}.md"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

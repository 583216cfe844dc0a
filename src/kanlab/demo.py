"""The seed workflow: train, prune, refine, snap to symbolic functions and read off the formula of
f(x1, x2) = exp(sin(pi x1) + x2^2).

Run with `make demo` (or `make demo OUT=some/folder`, or `kanlab demo --out folder`). Prints the width and test
RMSE after each stage (float64), the formula and its LaTeX, and saves the diagram of the pruned, symbolic network
as kanlab-demo.png and its interactive explorer page as kanlab-demo.html in the folder given by --out (default: the
current directory).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .data import create_dataset
from .model import KAN
from .symbolic.export import to_latex, to_torch_module

LIB = ["x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs"]


def target(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kanlab demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="folder for kanlab-demo.png (default: current directory)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out)
    if not out_dir.is_dir():
        print(f"error: --out {out_dir} is not a folder", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    dtype = torch.float64
    dataset = create_dataset(target, n_var=2, dtype=dtype, seed=0)
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0, dtype=dtype)

    hist = model.fit(dataset, opt="LBFGS", steps=20, lamb=0.01, lamb_entropy=10.0)
    print(f"sparsify    width {model.width}  test RMSE {hist['test_loss'][-1]:.3e}")
    model = model.prune()
    hist = model.fit(dataset, opt="LBFGS", steps=50)
    print(f"prune       width {model.width}  test RMSE {hist['test_loss'][-1]:.3e}")
    model = model.refine(10)
    hist = model.fit(dataset, opt="LBFGS", steps=50)
    rmse = hist["test_loss"][-1]
    print(f"refine(10)  width {model.width}  test RMSE {rmse:.3e}")
    if rmse >= 1e-3:
        print("FAIL: test RMSE is not below 1e-3", file=sys.stderr)
        return 1
    for (l, i, j), s in model.auto_symbolic(lib=LIB).items():
        print(f"  edge ({l},{i},{j}) -> {s.name:5s} r2={s.r2:.8f}")
    hist = model.fit(dataset, opt="LBFGS", steps=50)
    print(f"symbolic    width {model.width}  test RMSE {hist['test_loss'][-1]:.3e}")
    (formula,), variables = model.symbolic_formula(simplify=True)
    print(f"formula: {formula}")
    print(f"LaTeX:   {to_latex(formula)}")
    x = dataset["test_input"]
    err = (to_torch_module([formula], variables)(x) - target(x)).abs().max().item()
    print(f"max |formula - f| on the test set: {err:.2e}")
    png = out_dir / "kanlab-demo.png"
    model.plot(in_vars=variables, out_vars=["f"], title=f"${to_latex(formula)}$", path=str(png))
    print(f"diagram saved to {png.resolve()}")
    page = out_dir / "kanlab-demo.html"
    model.explore(dataset["train_input"], path=page, in_vars=[str(v) for v in variables], out_vars=["f"], lib=LIB)
    print(f"interactive explorer saved to {page.resolve()}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    if err >= 1e-6:
        print("FAIL: the formula does not match f", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

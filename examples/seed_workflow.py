"""The seed workflow: train, prune, refine and retrain a KAN on f(x1, x2) = exp(sin(pi x1) + x2^2).

Run with `make demo`. Prints the width after pruning and the test RMSE after each stage (float64).
"""

from __future__ import annotations

import sys
import time

import torch

from kanlab import KAN, create_dataset


def target(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def main() -> int:
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
    print(f"total {time.perf_counter() - t0:.1f} s")
    if rmse >= 1e-3:
        print("FAIL: test RMSE is not below 1e-3", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One physics-informed loss evaluation (pykan's Example_7: the Laplacian of a KAN [2,2,1] through nested
``autograd.functional.jacobian``, on a 51x51 mesh, then backward), kanlab against pykan 0.2.8, interleaved in one
process. This is where PDE notebooks spend their time: second derivatives of the model, then a third.

    python benchmarks/bench_pinn_step.py            # prints the table; writes benchmarks/results/pinn_step.md
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import autograd

RESULTS = Path(__file__).parent / "results" / "pinn_step.md"


def batch_jacobian(func, x, create_graph=False):
    return autograd.functional.jacobian(lambda z: func(z).sum(dim=0), x, create_graph=create_graph).permute(1, 0, 2)


def closure_for(model, x):
    def closure():
        model.zero_grad()
        d1 = lambda z: batch_jacobian(model, z, create_graph=True)[:, 0, :]  # noqa: E731
        d2 = batch_jacobian(d1, x, create_graph=True)
        lap = torch.diagonal(d2, dim1=1, dim2=2).sum(dim=1, keepdim=True)
        loss = torch.mean(lap ** 2) + torch.mean(model(x) ** 2)
        loss.backward()
        return float(loss)

    return closure


def main(reps: int = 7) -> None:
    from kan import KAN as PyKAN  # benchmark-only dependency

    from kanlab.pykan import KAN

    mesh = torch.linspace(-1, 1, 51)
    gx, gy = torch.meshgrid(mesh, mesh, indexing="ij")
    x = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        os.chdir(tmp)  # pykan writes ./model
        try:
            theirs = PyKAN(width=[2, 2, 1], grid=5, k=3, seed=1, auto_save=False)
        finally:
            os.chdir(cwd)
    ours = KAN(width=[2, 2, 1], grid=5, k=3, seed=1, auto_save=False)
    runs = {"kanlab": closure_for(ours, x), "pykan": closure_for(theirs, x)}
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(reps):  # interleaved, so that a busy moment hits both
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    row = (f"| PDE loss + backward, KAN [2,2,1] G=5, 2601 points | {med['kanlab'] * 1e3:.1f} ms | "
           f"{med['pykan'] * 1e3:.1f} ms | {med['pykan'] / med['kanlab']:.2f}x faster |")
    table = "| case | kanlab | pykan 0.2.8 | ratio |\n|---|---|---|---|\n" + row + "\n"
    print(table)
    RESULTS.write_text("# A physics-informed loss evaluation, kanlab vs pykan\n\nWritten by "
                       f"`benchmarks/bench_pinn_step.py` (medians of {reps}, interleaved, one process).\n\n" + table)


if __name__ == "__main__":
    main()

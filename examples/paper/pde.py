"""KAN paper, Sec. 3.4: a physics-informed KAN solves Poisson's equation more accurately than a large MLP.

Laplace(u) = f on [-1, 1]^2 with u = sin(pi x) sin(pi y) (so f = -2 pi^2 u) and u = 0 on the boundary. Loss, as in
pykan's Example_7: alpha * (mean squared residual of the Laplacian at interior points, by autograd) + mean u^2 on
the boundary; the grids follow the interior points during the first 20 steps at the first grid. KAN [2,10,1] with
grid extension (G = 5, 10, 20), against MLP [2,100,100,100,1]; both trained with the same L-BFGS. Reported: the L2
error squared, mean (u - u_true)^2 on a 101 x 101 test grid.

    python examples/paper/pde.py [--quick] [--out FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Clock, args, mlp, n_params, table, write  # noqa: E402

from kanlab import KAN  # noqa: E402
from kanlab.optim import LBFGS  # noqa: E402

PAPER = {"KAN": 1e-7, "MLP": 1e-5}  # the paper's Fig. 3.3 (L2 error squared, order of magnitude)
ALPHA = 0.01


def u_true(x):
    return torch.sin(torch.pi * x[:, [0]]) * torch.sin(torch.pi * x[:, [1]])


def points(n_side: int):
    s = torch.linspace(-1, 1, n_side, dtype=torch.float64)
    xx, yy = torch.meshgrid(s, s, indexing="ij")
    grid = torch.stack([xx.flatten(), yy.flatten()], dim=1)
    inside = (grid.abs() < 1).all(dim=1)
    return grid[inside], grid[~inside]


def laplacian(model, x):
    x = x.clone().requires_grad_(True)
    u = model(x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    lap = 0
    for d in range(2):
        (gg,) = torch.autograd.grad(g[:, d].sum(), x, create_graph=True)
        lap = lap + gg[:, [d]]
    return lap


def train(model, interior, boundary, steps: int, regrid: bool = False) -> None:
    f = -2 * torch.pi ** 2 * u_true(interior)
    opt = LBFGS([p for p in model.parameters() if p.requires_grad], lr=1.0)

    def closure():
        opt.zero_grad()
        loss = ALPHA * torch.mean((laplacian(model, interior) - f) ** 2) + torch.mean(model(boundary) ** 2)
        loss.backward()
        return loss

    for step in range(steps):
        if regrid and step % 5 == 0 and step < 20:
            model.update_grid(interior)
            opt.reset()
        opt.step(closure)


def l2_squared(model) -> float:
    test, _ = points(101)
    with torch.no_grad():
        return float(torch.mean((model(test) - u_true(test)) ** 2))


def main() -> None:
    a = args(__doc__.splitlines()[0])
    clock = Clock()
    n_side = 21 if a.quick else 31
    interior, boundary = points(n_side)
    grids, steps = ([5, 10], 10) if a.quick else ([5, 10, 20], 50)
    mlp_steps = 5 if a.quick else 100  # an L-BFGS step of the 20k-parameter MLP costs ~10x the KAN's here
    kan = KAN(width=[2, 10, 1], grid=grids[0], k=3, seed=0, dtype=torch.float64)
    kan_rows = []
    for g in grids:
        if g != grids[0]:
            kan = kan.refine(g)
        t = Clock()
        train(kan, interior, boundary, steps, regrid=g == grids[0])
        kan_rows.append((f"KAN [2,10,1], G={g}", n_params(kan), l2_squared(kan), str(t)))
    net = mlp([2, 100, 100, 100, 1])
    t = Clock()
    train(net, interior, boundary, mlp_steps)
    rows = kan_rows + [("MLP [2,100,100,100,1]", n_params(net), l2_squared(net), str(t))]
    kan_err, mlp_err = kan_rows[-1][2], rows[-1][2]
    lines = [f"# PDE: Poisson's equation (KAN paper Sec. 3.4){' [quick]' if a.quick else ''}", "",
             f"{len(interior)} interior and {len(boundary)} boundary points, alpha = {ALPHA}, L-BFGS {steps} steps per "
             f"grid for the KAN, {mlp_steps} for the MLP; float64. {clock}.", ""]
    lines += table(["model", "parameters", "L2 error squared", "time"], rows)
    lines += ["", f"KAN / MLP error: {kan_err / mlp_err:.2g} with {kan_rows[-1][1] / rows[-1][1]:.2g} times the "
              f"parameters. Paper: KAN about {PAPER['KAN']:.0e} against the MLP's {PAPER['MLP']:.0e} (100x "
              "more accurate, 100x fewer parameters)."]
    fig = None
    if a.out is not None:
        from matplotlib.figure import Figure

        test, _ = points(101)
        with torch.no_grad():
            err = (kan(test) - u_true(test)).reshape(99, 99)
        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        im = ax.imshow(err.numpy().T, origin="lower", extent=[-1, 1, -1, 1], cmap="RdBu")
        fig.colorbar(im, ax=ax)
        ax.set_title(f"KAN error u - u_true (L2^2 = {kan_err:.2g})")
    write(a, "pde", lines, fig)
    if a.quick:
        assert kan_err < 1e-3, kan_err


if __name__ == "__main__":
    main()

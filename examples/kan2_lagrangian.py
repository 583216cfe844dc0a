"""KAN 2.0: a pendulum's Lagrangian, learned from states and accelerations, read off as a formula.

Data: positions q, velocities q' and accelerations q'' = -sin(q) (a pendulum, g/l = 1), sampled on [-2, 2]^2. The
model is a [2, 1] KAN for L(q, q'). Nothing tells it L: the loss is the Euler-Lagrange equation,

    q'' = (dL/dq - d2L/dq'dq * q') / (d2L/dq'^2),

evaluated with second derivatives of the network (double backward through the layer). The q' edge starts as the
free-particle guess q'^2 (symbolic, with a spline beside it to correct it); the q edge is a plain spline. After
training, both edges snap to library functions, and the script checks the formula: its Euler-Lagrange equation must
give q'' = -sin(q) (a Lagrangian is only defined up to a factor and terms that do not change that equation: a
constant, or a term linear in q').

    python examples/kan2_lagrangian.py
"""

from __future__ import annotations

import sympy
import torch

from kanlab import KAN
from kanlab.symbolic.formula import ex_round, snap_constants


def euler_lagrange_qdd(model: KAN, x: torch.Tensor) -> torch.Tensor:
    """q'' predicted from L = model(q, q') at x = (q, q'): (N, 2) -> (N, 1), differentiable in the parameters."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)  # (N, 2): L_q, L_qd
    (row,) = torch.autograd.grad(grad[:, 1].sum(), x, create_graph=True)  # (N, 2): L_qd_q, L_qd_qd
    return ((grad[:, 0] - row[:, 0] * x[:, 1]) / row[:, 1]).unsqueeze(1)


def train(model: KAN, x: torch.Tensor, qdd: torch.Tensor, steps: int) -> float:
    opt = torch.optim.LBFGS([p for p in model.parameters() if p.requires_grad], lr=1.0, history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32)

    def closure():
        opt.zero_grad()
        loss = torch.mean((euler_lagrange_qdd(model, x) - qdd) ** 2)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = opt.step(closure)
    return float(loss.detach())


def run(seed: int = 0, verbose: bool = True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(1000, 2, generator=gen, dtype=torch.float64) * 4 - 2  # (q, q')
    qdd = -torch.sin(x[:, [0]])
    model = KAN(width=[2, 1], grid=5, k=3, seed=seed, grid_range=(-2, 2), dtype=torch.float64)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params=False)  # the guess L = q'^2 on the velocity edge ...
    model.set_mode(0, 1, 0, "ns")  # ... with its spline kept on, to correct it
    loss = train(model, x, qdd, steps=30)
    model.auto_symbolic(lib=["x", "x^2", "cos", "exp"], x=x)
    loss_symbolic = train(model, x, qdd, steps=10)  # refit the affine parameters of the formula
    q, v = sympy.symbols("q v")
    (L,), _ = model.symbolic_formula(var=[q, v], simplify=True, tol=1e-4)
    qdd_formula = snap_constants(sympy.simplify((sympy.diff(L, q) - sympy.diff(L, v, q) * v) / sympy.diff(L, v, 2)))
    ok = sympy.simplify(qdd_formula + sympy.sin(q)) == 0
    scale = L.coeff(sympy.cos(q))  # a Lagrangian's overall factor is free: show it with cos(q) at 1
    normalised = sympy.expand(L / scale) if scale else L
    out = {"L": L, "L_normalised": normalised, "qdd": qdd_formula, "loss": loss, "loss_symbolic": loss_symbolic,
           "euler_lagrange_ok": ok}
    if verbose:
        print(f"Euler-Lagrange loss: {loss:.2e} (splines), {loss_symbolic:.2e} (formula)")
        print(f"L(q, v) = {L}")
        print(f"        = {scale:.6g} * ({ex_round(normalised, 6)})")
        print(f"its Euler-Lagrange equation: q'' = {qdd_formula}    (q'' = -sin(q): {ok})")
    return out


if __name__ == "__main__":
    run()

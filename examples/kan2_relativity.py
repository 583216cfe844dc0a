"""KAN 2.0: relativistic velocity addition, found with an auxiliary variable (the rapidity).

Two velocities u, v (in units of c) add to w = (u + v) / (1 + u v). Given the rapidities atanh(u) and atanh(v) as
extra inputs (domain knowledge, :func:`kanlab.data.augment_input`), a [4, 1, 1] KAN finds that w = tanh(atanh(u) +
atanh(v)): rapidities add. The script sparsifies and prunes to two inputs, snaps the edges to symbolic functions
(library x, tanh, arctanh) and checks that the formula read off the network equals the law exactly.

Sparsification keeps one input per velocity, u or atanh(u): on [-0.9, 0.9] they are nearly collinear, and the
spline on u learns atanh(u) just as well. Either way the edges snap to the rapidity, and the formula is the same.

    python examples/kan2_relativity.py
"""

from __future__ import annotations

import sympy
import torch

from kanlab import KAN
from kanlab.data import augment_input, create_dataset


def run(seed: int = 0, verbose: bool = True) -> dict:
    u, v = sympy.symbols("u v")
    aux = [sympy.atanh(u), sympy.atanh(v)]
    law = lambda x: (x[:, [0]] + x[:, [1]]) / (1 + x[:, [0]] * x[:, [1]])  # noqa: E731
    data = create_dataset(law, n_var=2, ranges=[-0.9, 0.9], train_num=1000, test_num=1000, seed=seed)
    data = augment_input([u, v], aux, {k: t.double() for k, t in data.items()})
    names = [u, v, *aux]

    model = KAN(width=[4, 1, 1], grid=5, k=3, seed=seed, dtype=torch.float64)
    model.fit(data, steps=50, lamb=1e-2)
    model = model.prune(edge_th=5e-2)
    model.fit(data, steps=50)
    kept_inputs = sorted({i for i, _ in torch.nonzero(model.layers[0].mask).tolist()})
    model.auto_symbolic(lib=["x", "tanh", "arctanh"], weight_simple=0.5)
    hist = model.fit(data, steps=50)
    (formula,), _ = model.symbolic_formula(var=names, simplify=True, tol=1e-4)
    exact = sympy.simplify(sympy.expand_trig(formula) - (u + v) / (1 + u * v)) == 0
    out = {"formula": formula, "test_rmse": hist["test_loss"][-1], "inputs_used": [str(names[i]) for i in kept_inputs],
           "exact": exact}
    if verbose:
        print(f"inputs kept after pruning: {out['inputs_used']}")
        print(f"formula: w = {formula}    (test RMSE {out['test_rmse']:.2e})")
        print(f"equals (u + v)/(1 + u v) exactly: {exact}")
    return out


if __name__ == "__main__":
    run()

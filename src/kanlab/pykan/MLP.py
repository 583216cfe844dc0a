"""pykan's ``kan.MLP``: a SiLU multilayer perceptron with pykan's training loop, sparsity penalty and attribution,
for notebooks that compare a KAN with an MLP.

``MLP(width, seed=s)`` draws the same initial weights as pykan's with the same seed, but from a forked RNG: the
global generator is left as it was. Mini-batches come from a private generator.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..optim import LBFGS
from ..regularize import sparsity_penalty

__all__ = ["MLP"]


class MLP(nn.Module):
    """width: [n_in, hidden..., n_out]; SiLU between the linear layers. The last forward's input and activations
    are cached (``cache_data``, ``acts``) as in pykan."""

    def __init__(self, width: Sequence[int], act: str = "silu", save_act: bool = True, seed: int = 0,
                 device="cpu") -> None:
        super().__init__()
        if act != "silu":
            raise ValueError(f"pykan's MLP has the 'silu' activation only, got act={act!r}")
        self.width = [int(w) for w in width]
        if len(self.width) < 2 or min(self.width) < 1:
            raise ValueError(f"width needs at least two positive entries, got {list(width)}")
        self.depth = len(self.width) - 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.width[:-1], self.width[1:]))
        self.act_fun = nn.SiLU()
        self.save_act = bool(save_act)
        self.cache_data: Tensor | None = None
        self.acts: list[Tensor] | None = None
        self.to(device)

    @property
    def device(self) -> torch.device:
        return self.linears[0].weight.device

    @property
    def w(self) -> list[Tensor]:
        """The weight matrices, (out, in) each."""
        return [lin.weight for lin in self.linears]

    def forward(self, x: Tensor) -> Tensor:
        self.cache_data = x
        self.acts, self.acts_scale, self.wa_forward = [], [], []
        for i, lin in enumerate(self.linears):
            if self.save_act:
                scale = x.std(dim=0)
                self.acts.append(x.detach())
                if i > 0:
                    self.acts_scale.append(scale)
                self.wa_forward.append(scale[None, :] * lin.weight)
            x = lin(x)
            if i < self.depth - 1:
                x = self.act_fun(x)
            elif self.save_act:
                self.acts_scale.append(x.std(dim=0))
        return x

    def get_act(self, x=None) -> None:
        """Forward on x (a tensor or a dataset dict; default: the cached input) with activations saved."""
        if isinstance(x, dict):
            x = x["train_input"]
        if x is None:
            if self.cache_data is None:
                raise ValueError("get_act needs data: pass x or run a forward first")
            x = self.cache_data
        save, self.save_act = self.save_act, True
        try:
            self.forward(x)
        finally:
            self.save_act = save

    def attribute(self) -> None:
        """Backward scores: ``edge_scores[l]`` (out, in) and ``node_scores[l]``, from the cached activations."""
        if not self.acts:
            self.get_act()
        node = torch.ones(self.width[-1], device=self.device)
        nodes, edges = [node], []
        for l in range(self.depth, 0, -1):
            edge = self.wa_forward[l - 1].abs() * (node / (self.acts_scale[l - 1] + 1e-4))[:, None]
            node = edge.sum(dim=0) / math.sqrt(self.width[l - 1])
            edges.append(edge)
            nodes.append(node)
        self.node_scores, self.edge_scores = nodes[::-1], edges[::-1]
        self.wa_backward = self.edge_scores

    def reg(self, reg_metric: str, lamb_l1: float, lamb_entropy: float) -> Tensor:
        """L1 + entropy of |weights| ('w'), of weights times input spread ('act'), of backward scores ('fa'), or of
        the layers' output spreads ('a')."""
        if reg_metric == "fa":
            self.attribute()
        table = {"w": lambda: self.w, "act": lambda: self.wa_forward, "fa": lambda: self.wa_backward,
                 "a": lambda: self.acts_scale}
        if reg_metric not in table:
            raise ValueError(f"unknown reg_metric {reg_metric!r}; choose one of {', '.join(table)}")
        total = self.linears[0].weight.new_zeros(())
        for v in table[reg_metric]():
            v = v.abs()
            total = total + sparsity_penalty(v if v.ndim == 2 else v[None, :], lamb_l1, lamb_entropy)
        return total

    get_reg = reg

    def fit(self, dataset, opt: str = "LBFGS", steps: int = 100, log: int = 1, lamb: float = 0.0,
            lamb_l1: float = 1.0, lamb_entropy: float = 2.0, loss_fn: Callable | None = None, lr: float = 1.0,
            batch: int = -1, metrics=None, in_vars=None, out_vars=None, beta=3, device="cpu", reg_metric="w",
            display_metrics=None, seed: int = 0) -> dict[str, list]:
        """pykan's MLP training loop; returns lists of numpy scalars (RMSE for the default loss)."""
        if opt not in ("LBFGS", "Adam"):
            raise ValueError(f"opt must be 'LBFGS' or 'Adam', got {opt!r}")
        loss_fn = loss_fn or (lambda p, y: torch.mean((p - y) ** 2))
        params = list(self.parameters())
        optimizer = (LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe") if opt == "LBFGS"
                     else torch.optim.Adam(params, lr=lr))
        x_tr, y_tr = dataset["train_input"], dataset["train_label"]
        x_te, y_te = dataset["test_input"], dataset["test_label"]
        n_tr, n_te = x_tr.shape[0], x_te.shape[0]
        full = batch == -1 or batch > n_tr
        gen = torch.Generator().manual_seed(seed)
        history: dict[str, list] = {"train_loss": [], "test_loss": [], "reg": []}
        for m in metrics or []:
            history[m.__name__] = []
        old_save = self.save_act
        self.save_act = lamb > 0 and old_save
        state: dict[str, Tensor] = {}
        try:
            for _ in range(int(steps)):
                ids = slice(None) if full else torch.randperm(n_tr, generator=gen)[:batch]
                te = slice(None) if full else torch.randperm(n_te, generator=gen)[: min(batch, n_te)]

                def closure() -> Tensor:
                    optimizer.zero_grad()
                    state["loss"] = loss_fn(self.forward(x_tr[ids]), y_tr[ids])
                    state["reg"] = self.reg(reg_metric, lamb_l1, lamb_entropy) if self.save_act else \
                        state["loss"].new_zeros(())
                    objective = state["loss"] + lamb * state["reg"]
                    objective.backward()
                    return objective

                if opt == "LBFGS":
                    optimizer.step(closure)
                else:
                    closure()
                    optimizer.step()
                with torch.no_grad():
                    test_loss = loss_fn(self.forward(x_te[te]), y_te[te])
                for m in metrics or []:
                    history[m.__name__].append(np.float64(float(m())))
                history["train_loss"].append(np.float64(math.sqrt(float(state["loss"].detach()))))
                history["test_loss"].append(np.float64(math.sqrt(float(test_loss))))
                history["reg"].append(np.float64(float(state["reg"].detach())))
        finally:
            self.save_act = old_save
        return history

    @property
    def connection_cost(self) -> Tensor:
        """Sum of |w| times the distance between the connected nodes, nodes evenly spaced on [0, 1]."""
        with torch.no_grad():
            total = torch.zeros((), device=self.device)
            for lin in self.linears:
                n_out, n_in = lin.weight.shape
                pos_out = (torch.arange(n_out, device=self.device) + 0.5) / n_out
                pos_in = (torch.arange(n_in, device=self.device) + 0.5) / n_in
                total = total + ((pos_out[:, None] - pos_in[None, :]).abs() * lin.weight.abs()).sum()
        return total

    def swap(self, l: int, i1: int, i2: int) -> None:
        """Swap hidden nodes i1 and i2 of layer l (1 <= l < depth), in place; the function is unchanged."""
        if not 1 <= l < self.depth:
            raise IndexError(f"layer {l} has no hidden nodes to swap (hidden layers are 1..{self.depth - 1})")
        with torch.no_grad():
            for t in (self.linears[l - 1].weight, self.linears[l - 1].bias):
                t[[i1, i2]] = t[[i2, i1]]
            w = self.linears[l].weight
            w[:, [i1, i2]] = w[:, [i2, i1]]

    def auto_swap(self) -> None:
        """Greedily reorder each hidden layer's nodes to lower the connection cost."""
        for l in range(1, self.depth):
            for i in range(self.width[l]):
                costs = []
                for j in range(self.width[l]):
                    self.swap(l, i, j)
                    costs.append(float(self.connection_cost))
                    self.swap(l, i, j)
                self.swap(l, i, int(np.argmin(costs)))

    def plot(self, beta: float = 3, scale: float = 1.0, metric: str = "w"):
        """The network's weights as lines (blue positive, red negative, faded by tanh(beta |w|)); returns a
        matplotlib Figure (not shown, not saved)."""
        from matplotlib.figure import Figure

        if metric == "fa":
            self.attribute()
        mats = {"w": lambda: self.w, "act": lambda: self.wa_forward, "fa": lambda: self.wa_backward}
        if metric not in mats:
            raise ValueError(f"unknown metric {metric!r}; choose 'w', 'act' or 'fa'")
        fig = Figure(figsize=(3 * scale, 1.5 * self.depth * scale))
        ax = fig.subplots()
        y0 = 0.5
        for l, n in enumerate(self.width):
            ax.scatter((np.arange(n) + 0.5) / n, np.full(n, l * y0), s=5000 * scale**2 / max(self.width) ** 2,
                       color="black")
        for l, p in enumerate(mats[metric]()):
            p = p.detach().cpu().numpy()
            n_out, n_in = p.shape
            for o in range(n_out):
                for i in range(n_in):
                    ax.plot([(i + 0.5) / n_in, (o + 0.5) / n_out], [l * y0, (l + 1) * y0], lw=0.5 * scale,
                            alpha=float(np.tanh(beta * abs(p[o, i]))), color="blue" if p[o, i] > 0 else "red")
        ax.axis("off")
        return fig

    def tree(self, x=None, in_var=None, style="tree", sym_th=1e-3, sep_th=1e-1, skip_sep_test=False, verbose=False):
        """The tree converter on this MLP (data: x, default the last forward's input); see :mod:`kanlab.tree`."""
        from ..tree import plot_tree

        x = getattr(self, "cache_data", None) if x is None else x
        if x is None:
            raise ValueError("tree needs data: pass x, or run the model on some inputs first")
        return plot_tree(self, x, in_var=in_var, style=style, sym_th=sym_th, sep_th=sep_th,
                         skip_sep_test=skip_sep_test)

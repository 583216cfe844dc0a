"""Network surgery that keeps the function: reorder hidden nodes (``swap``, ``auto_swap``) and measure how tangled
the diagram is (``connection_cost``). Every edit returns a new model, as prune and refine do.

Nodes of a layer sit at evenly spaced positions (k + 0.5) / n on [0, 1]. The connection cost is the sum over edges
of the edge's attribution score times the distance between the positions of its two ends: a diagram whose strong
edges run straight scores low. Reordering a hidden layer permutes the scores with it, so ``auto_swap`` searches
orders on the score matrices alone and rebuilds the model once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._ints import as_int
from .model import KAN
from .prune import _rebuild, attribute

__all__ = ["swap", "connection_cost", "auto_swap"]


def _positions(n: int) -> Tensor:
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def _cost(scores: list[Tensor]) -> float:
    total = 0.0
    for s in scores:  # (in, out)
        dist = (_positions(s.shape[0])[:, None] - _positions(s.shape[1])[None, :]).abs()
        total += float((s.double().cpu() * dist).sum())
    return total


def connection_cost(model: KAN, x: Tensor | None = None) -> float:
    """Sum over edges of attribution score x distance between the edge's ends (data: x, default the fit inputs)."""
    return _cost(attribute(model, x).edge_scores)


def _check_hidden(model: KAN, l: int) -> int:
    l = as_int(l, "layer")
    if not 1 <= l < model.depth:
        raise IndexError(f"layer {l} has no hidden nodes to reorder (hidden layers are 1..{model.depth - 1})")
    return l


def swap(model: KAN, l: int, i1: int, i2: int) -> KAN:
    """A new model with hidden nodes i1 and i2 of layer l exchanged: the same function, drawn in another order."""
    l = _check_hidden(model, l)
    i1, i2 = as_int(i1, "i1"), as_int(i2, "i2")
    n, n_sum = model.width[l], model.nodes[l].n_sum
    if not (0 <= i1 < n and 0 <= i2 < n):
        raise IndexError(f"layer {l} has {n} nodes; cannot swap {i1} and {i2}")
    if (i1 < n_sum) != (i2 < n_sum):
        raise ValueError(f"layer {l}: node {i1 if i1 < n_sum else i2} is a sum node and node "
                         f"{i2 if i1 < n_sum else i1} a multiplication node; only nodes of the same kind swap "
                         f"(sum nodes are 0..{n_sum - 1})")
    order = [torch.arange(w) for w in model.width]
    order[l][[i1, i2]] = order[l][[i2, i1]]
    return _rebuild(model, order)


def auto_swap(model: KAN, x: Tensor | None = None, sweeps: int = 2) -> KAN:
    """A new model whose hidden nodes are reordered, layer by layer, to lower :func:`connection_cost`: for each
    position, the swap with the lowest cost is kept (greedy, ``sweeps`` passes). The function is unchanged."""
    scores = [s.detach().double().cpu() for s in attribute(model, x).edge_scores]
    order = [torch.arange(w) for w in model.width]

    def permuted() -> list[Tensor]:  # edges end on subnodes: a node's subnodes move with it
        subs = [[sub for node in order[l].tolist() for sub in spec.subnodes(node)] for l, spec in enumerate(model.nodes)]
        return [s[order[l]][:, subs[l + 1]] for l, s in enumerate(scores)]

    for _ in range(as_int(sweeps, "sweeps", minimum=1)):
        for l in range(1, model.depth):
            n_sum = model.nodes[l].n_sum
            for i in range(model.width[l]):
                costs = []
                same_kind = range(n_sum) if i < n_sum else range(n_sum, model.width[l])  # sums and products apart
                for j in same_kind:
                    order[l][[i, j]] = order[l][[j, i]]
                    costs.append(_cost(permuted()))
                    order[l][[i, j]] = order[l][[j, i]]
                j = same_kind[min(range(len(costs)), key=costs.__getitem__)]
                order[l][[i, j]] = order[l][[j, i]]
    return _rebuild(model, order)

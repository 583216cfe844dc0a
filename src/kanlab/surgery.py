"""Network surgery: reorder hidden nodes (``swap``, ``auto_swap``), measure how tangled the diagram is
(``connection_cost``), grow the network (``expand_width``, ``expand_depth``), wake switched-off edges (``perturb``)
and impose modules (``module``). Every edit returns a new model, as prune and refine do.

Growing keeps the function: new edges start switched off (numeric mask 0, symbolic off), so a compiled or trained
model computes exactly what it did. ``perturb`` then turns chosen edges on with a small mask for training.

Nodes of a layer sit at evenly spaced positions (k + 0.5) / n on [0, 1]. The connection cost is the sum over edges
of the edge's attribution score times the distance between the positions of its two ends: a diagram whose strong
edges run straight scores low. Reordering a hidden layer permutes the scores with it, so ``auto_swap`` searches
orders on the score matrices alone and rebuilds the model once.
"""

from __future__ import annotations

import torch
from torch import Tensor

import copy
import re

from ._ints import as_int
from .layer import KANLayer
from .model import KAN
from .nodes import Nodes
from .prune import _rebuild, attribute
from .symbolic.layer import SymbolicLayer

__all__ = ["swap", "connection_cost", "auto_swap", "expand_width", "expand_depth", "perturb", "module"]


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
        subs = [[sub for node in order[l].tolist() for sub in spec.subnodes(node)]
                for l, spec in enumerate(model.nodes)]
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


# ---------------------------------------------------------------------- growing
def _fresh_layer(model: KAN, in_dim: int, out_dim: int, like: KANLayer, seed: int) -> KANLayer:
    c = model.config
    return KANLayer(in_dim, out_dim, grid=like.num, k=like.k, noise_scale=c.noise_scale,
                    scale_base_mu=c.scale_base_mu, scale_base_sigma=c.scale_base_sigma, base_fun=like.base_fun,
                    grid_eps=like.grid_eps, grid_extend=like.grid_extend, grid_range=c.grid_range,
                    sp_trainable=like.scale_sp.requires_grad, sb_trainable=like.scale_base.requires_grad,
                    generator=torch.Generator().manual_seed(seed), device=model.device, dtype=model.dtype)


def _embed(model: KAN, l: int, in_pos: list[int], out_pos: list[int], in_dim: int, out_dim: int,
           seed: int) -> tuple[KANLayer, SymbolicLayer]:
    """Layer l inside a bigger one (in_dim, out_dim): old input i sits at in_pos[i], old output j at out_pos[j]; the
    new edges are switched off (numeric splines freshly initialised but masked, symbolic off)."""
    old, sym = model.layers[l], model.symbolic[l]
    new = _fresh_layer(model, in_dim, out_dim, old, seed)
    ii, oo = torch.tensor(in_pos), torch.tensor(out_pos)
    with torch.no_grad():
        new.mask.zero_()
        new.grid[ii] = old.grid
        for name in ("coef", "scale_base", "scale_sp", "mask"):
            target = getattr(new, name)
            target[ii[:, None], oo[None, :]] = getattr(old, name)
    new_sym = SymbolicLayer(in_dim, out_dim, sym.library, device=model.device, dtype=model.dtype)
    with torch.no_grad():
        new_sym.mask[ii[:, None], oo[None, :]] = sym.mask
        new_sym.affine[ii[:, None], oo[None, :]] = sym.affine
    new_sym.affine.requires_grad_(sym.affine.requires_grad)
    for i, pi in enumerate(in_pos):
        for j, pj in enumerate(out_pos):
            new_sym.names[pi][pj] = sym.names[i][j]
    return new, new_sym


def expand_width(model: KAN, layer_id: int, n_added_nodes: int, sum_bool: bool = True, mult_arity=2,
                 seed: int = 0) -> KAN:
    """A new model with ``n_added_nodes`` more nodes in hidden layer ``layer_id``: sum nodes (after the existing
    sum nodes) or, with ``sum_bool=False``, multiplication nodes of arity ``mult_arity`` (an int, or one per new
    node; after the existing ones). Their edges start switched off, so the function is unchanged. ``seed`` seeds
    the new (masked) splines."""
    l = _check_hidden(model, layer_id)
    n = as_int(n_added_nodes, "n_added_nodes", minimum=1)
    spec = model.nodes[l]
    if sum_bool:
        new_spec = Nodes(spec.n_sum + n, spec.arity)
        node_pos = list(range(spec.n_sum)) + list(range(spec.n_sum + n, spec.n_nodes + n))
    else:
        arity = [mult_arity] * n if not isinstance(mult_arity, (list, tuple)) else list(mult_arity)
        if len(arity) != n:
            raise ValueError(f"mult_arity lists {len(arity)} arities for {n} new multiplication nodes")
        new_spec = Nodes(spec.n_sum, spec.arity + tuple(as_int(a, "mult_arity", minimum=2) for a in arity))
        node_pos = list(range(spec.n_nodes))
    # where each old subnode lands in the new layer
    sub_pos = [t for old, new in enumerate(node_pos) for t in new_spec.subnodes(new)[: len(spec.subnodes(old))]]
    below, below_sym = _embed(model, l - 1, list(range(model.width[l - 1])), sub_pos, model.width[l - 1],
                              new_spec.n_sub, seed)
    above, above_sym = _embed(model, l, node_pos, list(range(model.layers[l].out_dim)), new_spec.n_nodes,
                              model.layers[l].out_dim, seed + 1)
    layers, symbolic = copy.deepcopy(list(model.layers)), copy.deepcopy(list(model.symbolic))  # nothing shared
    layers[l - 1], layers[l], symbolic[l - 1], symbolic[l] = below, above, below_sym, above_sym
    nodes = list(model.nodes)
    nodes[l] = new_spec
    return model._with_layers(layers, symbolic, nodes)


def expand_depth(model: KAN) -> KAN:
    """A new model with one more layer at the end: the identity, as symbolic edges 'x' from each output to itself
    (numeric edges switched off). The function is unchanged; the new layer can then be perturbed and trained."""
    n = model.width[-1]
    last = model.layers[-1]
    layer = _fresh_layer(model, n, n, last, 0)
    with torch.no_grad():
        layer.mask.zero_()
    sym = SymbolicLayer(n, n, model.symbolic[-1].library, device=model.device, dtype=model.dtype)
    for i in range(n):
        sym.set_edge(i, i, name="x", affine=[1.0, 0.0, 1.0, 0.0], active=True)
    layers = [copy.deepcopy(m) for m in model.layers] + [layer]
    symbolic = [copy.deepcopy(m) for m in model.symbolic] + [sym]
    return model._with_layers(layers, symbolic, list(model.nodes) + [Nodes(n)])


PERTURB_MODES = ("all", "non-intrusive", "minimal")


def perturb(model: KAN, mag: float = 1.0, mode: str = "non-intrusive") -> KAN:
    """A new model whose switched-off numeric edges are switched on with mask ``mag``, so training can use them.

    An edge's ends are active when they carry an active edge in that layer (numeric, or symbolic other than '0').
    The modes follow pykan: 'all' turns on every edge; 'minimal' only the active edges between active ends (adding
    a numeric part beside a symbolic one); 'non-intrusive' edges from active to inactive ends and between inactive
    ones, and in the last layer every edge not already numeric gets mask 1 with zero scales (a spline that starts at
    0 and can learn): the output does not change until trained.
    """
    if mode not in PERTURB_MODES:
        raise ValueError(f"mode must be one of {', '.join(PERTURB_MODES)}, got {mode!r}")
    mag = float(mag)
    new = model.copy()
    for l, (layer, sym) in enumerate(zip(new.layers, new.symbolic)):
        named = torch.tensor([[name != "0" for name in row] for row in sym.names], device=sym.mask.device)
        edge_on = (layer.mask > 0) | ((sym.mask > 0) & named)  # (in, out)
        in_on, out_on = edge_on.any(dim=1), edge_on.any(dim=0)
        both = in_on[:, None] & out_on[None, :]
        pick = {"all": torch.ones_like(edge_on),
                "minimal": both & edge_on,
                "non-intrusive": (in_on[:, None] & ~out_on[None, :]) | (~in_on[:, None] & ~out_on[None, :])}[mode]
        last = l == new.depth - 1
        with torch.no_grad():
            if last and mode == "non-intrusive":
                wake = layer.mask <= 0
                layer.mask[wake] = 1.0
                layer.scale_base[wake] = 0.0
                layer.scale_sp[wake] = 0.0
            else:
                layer.mask[pick] = mag
    return new


_GROUP = re.compile(r"^\[\s*-?\d+(\s*,\s*-?\d+)*\s*\]$")


def module(model: KAN, start_layer: int, chain: str) -> KAN:
    """A new model with a module imposed: ``chain`` like ``'[0,1]->[2]->[0]->[1]'`` names, layer by layer from
    ``start_layer``, a group of input nodes and the group of subnodes they feed (negative ids count from the end).
    Edges between the group and the rest of the layer are switched off, both ways, so the module's nodes talk only
    to each other."""
    groups = [g.strip() for g in chain.split("->")]
    if len(groups) < 2 or len(groups) % 2 or not all(_GROUP.match(g) for g in groups):
        raise ValueError(f"chain must be pairs of node lists like '[0,1]->[2]', got {chain!r}")
    start = as_int(start_layer, "start_layer", minimum=0)
    if start + len(groups) // 2 > model.depth:
        raise IndexError(f"the chain covers {len(groups) // 2} layers from layer {start}, but the network has "
                         f"{model.depth}")
    new = model.copy()
    for k in range(len(groups) // 2):
        l = start + k
        layer, sym = new.layers[l], new.symbolic[l]
        ids_in = _ids(groups[2 * k], layer.in_dim, f"layer {l} inputs")
        ids_out = _ids(groups[2 * k + 1], layer.out_dim, f"layer {l} outputs")
        inside_in = torch.zeros(layer.in_dim, dtype=torch.bool)
        inside_in[ids_in] = True
        inside_out = torch.zeros(layer.out_dim, dtype=torch.bool)
        inside_out[ids_out] = True
        cross = (inside_in[:, None] ^ inside_out[None, :]).to(layer.mask.device)  # (in, out): one end inside
        with torch.no_grad():
            layer.mask[cross] = 0.0
            sym.mask[cross] = 0.0
        sym._groups = None
    return new


def _ids(group: str, n: int, what: str) -> list[int]:
    ids = [int(v) for v in group.strip()[1:-1].split(",")]
    if any(not -n <= i < n for i in ids):
        raise IndexError(f"{what}: {group} names nodes outside 0..{n - 1}")
    return sorted({i % n for i in ids})

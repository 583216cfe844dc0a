"""Attribution scores and pruning. Every pruning function returns a new model; the input model is unchanged.

Scores follow KAN 2.0's backward attribution. With e_io the standard deviation over the data of edge (i -> o)'s
output and s_o that of node o's total input, an output node starts with score 1 and scores flow backward:
    edge_score[i, o] = e_io / (s_o + 1e-4) * node_score[o],   node_score[i] = sum_o edge_score[i, o].
This is done for each output separately and averaged over outputs.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ._ints import as_int
from .model import KAN

__all__ = ["Attribution", "attribute", "backward_scores", "node_scores", "edge_std", "prune", "prune_node",
           "prune_edge", "prune_input", "remove_edge", "remove_node", "node_attribution", "feature_interaction"]

log = logging.getLogger(__name__)


@dataclass
class Attribution:
    """node_scores[l]: (width[l],) for l = 0..L; edge_scores[l]: (width[l], width_out[l+1]) (edges end on
    subnodes; without multiplication nodes width_out = width).

    feature_score is node_scores[0], the inputs' scores."""

    node_scores: list[Tensor]
    edge_scores: list[Tensor]

    @property
    def feature_score(self) -> Tensor:
        return self.node_scores[0]


def _data(model: KAN, x: Tensor | None) -> Tensor:
    x = model.data_or_fit_input(x, "score the network")
    if x.shape[0] < 2:
        raise ValueError("attribution needs at least 2 samples to measure spread")
    return x


@torch.no_grad()
def attribute(model: KAN, x: Tensor | None = None) -> Attribution:
    """Backward attribution scores of nodes, edges and inputs on data x (default: the last fit's inputs)."""
    nodes, edges = backward_scores(model, model.layer_inputs(_data(model, x)))
    return Attribution(node_scores=[s.mean(dim=0) for s in nodes], edge_scores=[e.mean(dim=0) for e in edges])


def backward_scores(model: KAN, acts: list[Tensor], top: int | None = None,
                    start: Tensor | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Attribution per query node of layer ``top`` (default: the outputs), differentiable (the penalties use it).

    acts: :meth:`KAN.layer_inputs` on the data; start: each query node's own score (width[top],), default 1.
    Returns node scores (n_query, width[l]) for l = 0..top and edge scores (n_query, width[l], width_out[l+1]) for
    l = 0..top-1, where n_query = width[top]. A multiplication node passes its whole score to each of its
    subnodes, and s_o is then the subnode's spread (KAN 2.0's rule).
    """
    top = model.depth if top is None else top
    # (n_query, width[top])
    score = torch.eye(model.width[top], dtype=model.dtype, device=model.device) if start is None else torch.diag(start)
    nodes, edges = [score], []
    for l in range(top - 1, -1, -1):
        e = edge_std(model, l, acts[l])  # (in, out)
        spec = model.nodes[l + 1]
        sub = acts[l + 1] if spec.plain else model.layer_output(l, acts[l])  # (B, out)
        s = sub.std(dim=0)  # (out,)
        edge = e.unsqueeze(0) * (spec.to_subnodes(score) / (s + 1e-4)).unsqueeze(1)  # (n_query, in, out)
        score = edge.sum(dim=2)  # (n_query, in)
        edges.append(edge)
        nodes.append(score)
    return nodes[::-1], edges[::-1]


@torch.no_grad()
def node_attribution(model: KAN, x: Tensor | None = None) -> list[Tensor]:
    """For every layer l = 1..L, how each input feeds each node of layer l: (width[l], width[0]), row q being node
    q's own attribution score split over the inputs (KAN 2.0's node_attribute)."""
    return node_attribution_from_acts(model, model.layer_inputs(_data(model, x)))


def node_attribution_from_acts(model: KAN, acts: list[Tensor]) -> list[Tensor]:
    """:func:`node_attribution` from :meth:`KAN.layer_inputs`, differentiable (the node_backward penalty)."""
    node = [s.mean(dim=0) for s in backward_scores(model, acts)[0]]
    return [backward_scores(model, acts, top=l, start=node[l])[0][0] for l in range(1, model.depth + 1)]


def feature_interaction(model: KAN, l: int, neuron_th: float = 1e-2, feature_th: float = 1e-2,
                        x: Tensor | None = None) -> dict[tuple[int, ...], int]:
    """Which inputs act together through the nodes of layer l (1 <= l <= L): for each node whose largest input
    score exceeds ``neuron_th``, the inputs scoring above ``feature_th`` times that largest score; returns how
    many nodes each such input set has."""
    if not 1 <= l <= model.depth:
        raise IndexError(f"layer {l} has no incoming edges to attribute (layers with inputs are 1..{model.depth})")
    out: dict[tuple[int, ...], int] = {}
    for row in node_attribution(model, x)[l - 1]:
        top = float(row.max())
        if top > neuron_th:
            key = tuple(int(i) for i in torch.nonzero(row > top * feature_th).flatten())
            out[key] = out.get(key, 0) + 1
    return out


def edge_std(model: KAN, l: int, x: Tensor) -> Tensor:
    """Std over the batch of every edge's total output (numeric + symbolic) in layer l: (in, out)."""
    layer, sym = model.layers[l], model.symbolic[l]
    e = layer.edge_std(x)
    parts = sym.edge_values(x)
    if parts:
        feat = layer.features(x)  # (B, in, 1 + nb)
        w = layer.folded_weight()  # (in, 1 + nb, out)
        e = e.clone()
        for ii, oo, vals in parts:
            numeric = torch.einsum("bnc,nc->bn", feat[:, ii], w[ii, :, oo])
            e[ii, oo] = (numeric + vals).std(dim=0)
    return e


def _rebuild(model: KAN, keep: list[Tensor]) -> KAN:
    """New model keeping nodes keep[l] (index tensors, in the new order) at every layer boundary l = 0..L; a
    multiplication node keeps its subnodes."""
    specs = [n.subset(k.tolist()) for n, k in zip(model.nodes, keep)]  # (new Nodes, kept subnode ids)
    layers = [layer.subset(keep[l], torch.as_tensor(specs[l + 1][1]))  # int64: a layer keeps >= 1 subnode
              for l, layer in enumerate(model.layers)]
    symbolic = [sym.subset(keep[l].tolist(), specs[l + 1][1]) for l, sym in enumerate(model.symbolic)]
    return model._with_layers(layers, symbolic, [spec for spec, _ in specs])


def node_scores(model: KAN, x: Tensor | None = None, by: str = "attribution") -> list[Tensor]:
    """Node importance per layer. by='attribution': KAN 2.0 backward scores; by='activation': pykan 0.1's rule,
    the smaller of a node's largest incoming and largest outgoing edge std (inputs and outputs get their one side)."""
    if by == "attribution":
        return attribute(model, x).node_scores
    if by != "activation":
        raise ValueError(f"unknown pruning criterion by={by!r}; choose 'attribution' or 'activation'")
    with torch.no_grad():
        acts = model.layer_inputs(_data(model, x))
        stds = [edge_std(model, l, acts[l]) for l in range(model.depth)]
    incoming = [model.nodes[l + 1].reduce_to_nodes(s.amax(dim=0)) for l, s in enumerate(stds)]  # per node
    scores = [stds[0].amax(dim=1)]
    for l in range(1, model.depth):
        scores.append(torch.minimum(incoming[l - 1], stds[l].amax(dim=1)))
    scores.append(incoming[-1])
    return scores


def prune_node(model: KAN, threshold: float = 1e-2, x: Tensor | None = None,
               active_neurons_id: list | None = None, by: str = "attribution") -> KAN:
    """Remove hidden nodes whose score (see :func:`node_scores`) is at most ``threshold`` (or keep exactly
    ``active_neurons_id[l-1]`` at hidden layer l). A hidden layer never drops below one node."""
    width = model.width
    keep = [torch.arange(width[0])]
    if active_neurons_id is not None:
        if len(active_neurons_id) != model.depth - 1:
            raise ValueError(f"active_neurons_id needs one list per hidden layer ({model.depth - 1}), "
                             f"got {len(active_neurons_id)}")
        for l, ids in enumerate(active_neurons_id, start=1):
            ids_t = torch.as_tensor(sorted(set(int(i) for i in ids)))  # int64; [] is refused below
            if ids_t.numel() == 0 or ids_t.min() < 0 or ids_t.max() >= width[l]:
                raise ValueError(f"active_neurons_id[{l - 1}] must name nodes in [0, {width[l]}), got {list(ids)}")
            keep.append(ids_t)
    else:
        scores = node_scores(model, x, by)
        for l in range(1, model.depth):
            ids = torch.nonzero(scores[l] > threshold).flatten().cpu()
            if ids.numel() == 0:
                ids = scores[l].argmax().reshape(1).cpu()
                log.warning("prune_node: every node of hidden layer %d scored <= %g; keeping the best one", l,
                            threshold)
            keep.append(ids)
    keep.append(torch.arange(width[-1]))
    new = _rebuild(model, keep)
    log.info("prune_node: width %s -> %s", width, new.width)
    return new


def prune_edge(model: KAN, threshold: float = 3e-2, x: Tensor | None = None) -> KAN:
    """Mask out edges whose attribution score is below ``threshold``. Returns a new model.

    Never silently disconnects an output: if the threshold would cut every path from the inputs to an output, the
    strongest path to it is kept (edge by edge, the best-scoring incoming edge, back to a connected node) and a
    warning names its edges and scores.
    """
    scores = attribute(model, x).edge_scores
    keep = [(s >= threshold) & (layer.mask > 0) for layer, s in zip(model.layers, scores)]
    _keep_a_path_to_every_output(model, keep, scores, threshold)
    new = model.copy()
    with torch.no_grad():
        for layer, k in zip(new.layers, keep):
            layer.mask.mul_(k)
    return new


def _keep_a_path_to_every_output(model: KAN, keep: list[Tensor], scores: list[Tensor], threshold: float) -> None:
    """Turn back on (in ``keep``, in place) the strongest path to every output that ``keep`` would disconnect. A
    multiplication node carries a signal only when every one of its subnodes does, so each factor gets a path."""
    depth = model.depth

    def active(l: int) -> Tensor:
        return keep[l] | (model.symbolic[l].mask > 0)  # (in, out)

    def reachable() -> list[Tensor]:
        reach = [scores[0].new_ones(model.width[0], dtype=torch.bool)]
        for l in range(depth):
            sub = (reach[l][:, None] & active(l)).any(dim=0)  # (out,) subnodes fed from the inputs
            spec = model.nodes[l + 1]
            reach.append(torch.stack([sub[spec.subnodes(n)].all() for n in range(spec.n_nodes)]))
        return reach

    reach = reachable()
    cut = [o for o in range(model.width[-1]) if not bool(reach[-1][o])]
    if not cut:
        return
    restored: list[tuple[int, int, int, float]] = []

    def restore(l: int, node: int) -> None:  # node of node layer l >= 1: give each of its subnodes a path
        for s in model.nodes[l].subnodes(node):
            if bool((reach[l - 1] & active(l - 1)[:, s]).any()):
                continue
            i = int(torch.argmax(scores[l - 1][:, s]))
            keep[l - 1][i, s] = True
            restored.append((l - 1, i, s, float(scores[l - 1][i, s])))
            if not bool(reach[l - 1][i]):
                restore(l - 1, i)

    for o in cut:
        restore(depth, o)
        reach = reachable()
    warnings.warn(f"prune_edge: the threshold {threshold:g} would cut every path to output(s) {cut}; kept the "
                  "strongest path: " + ", ".join(f"edge {e[:3]} (score {e[3]:.3g})" for e in restored), stacklevel=3)


def remove_edge(model: KAN, l: int, i: int, j: int) -> KAN:
    """A new model with edge (l, i, j) (layer l, input i, output j) switched off: numeric and symbolic parts."""
    return _switch_off(model, [(l, i, j)])


def remove_node(model: KAN, l: int, i: int, mode: str = "all") -> KAN:
    """A new model with node i of layer l cut off: its incoming edges ('down'), outgoing edges ('up') or both
    ('all'). The width stays; :func:`prune_node` removes nodes that no longer matter."""
    if mode not in ("all", "up", "down"):
        raise ValueError(f"mode must be 'all', 'up' or 'down', got {mode!r}")
    l, i = as_int(l, "layer"), as_int(i, "node")
    if not 0 <= l <= model.depth or not 0 <= i < model.width[l]:
        raise IndexError(f"node ({l}, {i}) does not exist in a network of width {model.width}")
    edges = []
    if mode in ("all", "down") and l > 0:  # into each of the node's subnodes
        edges += [(l - 1, src, s) for s in model.nodes[l].subnodes(i) for src in range(model.width[l - 1])]
    if mode in ("all", "up") and l < model.depth:
        edges += [(l, i, dst) for dst in range(model.layers[l].out_dim)]
    return _switch_off(model, edges)


def _switch_off(model: KAN, edges: list[tuple[int, int, int]]) -> KAN:
    edges = [model.check_edge(*e) for e in edges]
    new = model.copy()
    with torch.no_grad():
        for l, i, j in edges:
            new.layers[l].mask[i, j] = 0.0
            new.symbolic[l].set_edge(i, j, active=False)
    return new


def prune_input(model: KAN, threshold: float = 1e-2, x: Tensor | None = None,
                active_inputs: list[int] | None = None) -> KAN:
    """Remove inputs scoring at most ``threshold`` (or keep exactly ``active_inputs``). The new model takes only
    the kept columns, in their original order; ``model.width[0]`` shrinks accordingly."""
    width = model.width
    if active_inputs is not None:
        ids = torch.as_tensor(sorted(set(int(i) for i in active_inputs)))  # int64; [] is refused below
        if ids.numel() == 0 or ids.min() < 0 or ids.max() >= width[0]:
            raise ValueError(f"active_inputs must name inputs in [0, {width[0]}), got {list(active_inputs)}")
    else:
        score = attribute(model, x).feature_score
        ids = torch.nonzero(score > threshold).flatten().cpu()
        if ids.numel() == 0:
            ids = score.argmax().reshape(1).cpu()
            log.warning("prune_input: every input scored <= %g; keeping the best one", threshold)
    keep = [ids] + [torch.arange(n) for n in width[1:]]
    new = _rebuild(model, keep)
    if new.fit_input_ is not None:
        new.fit_input_ = new.fit_input_[:, ids]
    log.info("prune_input: kept inputs %s", ids.tolist())
    return new


def prune(model: KAN, node_th: float = 1e-2, edge_th: float = 3e-2, x: Tensor | None = None,
          by: str = "attribution") -> KAN:
    """prune_node(node_th, by=by), then prune_edge(edge_th) with attribution scores of the smaller model."""
    return prune_edge(prune_node(model, node_th, x=x, by=by), edge_th, x=x)

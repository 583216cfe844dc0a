"""Sparsity penalties: pykan's L1 + entropy of per-edge activation scales, and coefficient penalties.

The default scale of edge (i -> o) ("edge_forward_spline_n") is std_batch(phi_io(x_i)) / (std_batch(x_i) + 0.1),
phi the numeric (spline + base) part. The standard deviations come from :meth:`KANLayer.edge_std`, exact on the
whole batch without forming the (batch, in, out) tensor. The other metrics (pykan's ``reg_metric`` names):

- "edge_forward_spline_u": std of the edge's whole output (numeric + symbolic), not divided by the input's spread;
- "edge_forward_sum": that std over (std_batch(x_i) + 0.1);
- "edge_backward": the edges' backward attribution scores (:func:`kanlab.prune.backward_scores`);
- "node_backward": for every layer l >= 1, each node's attribution score split over the inputs, (width[l], n_in).

All are differentiable. (pykan 0.2.8 detaches "edge_forward_sum", so there it reports a penalty but never trains
on it.)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .model import KAN
from .prune import backward_scores, edge_std, node_attribution_from_acts

__all__ = ["REG_METRICS", "edge_scales", "penalty_scales", "sparsity_penalty", "coef_penalty", "regularization"]

REG_METRICS = ("edge_forward_spline_n", "edge_forward_spline_u", "edge_forward_sum", "edge_backward",
               "node_backward")


def check_reg_metric(metric: str) -> str:
    if metric not in REG_METRICS:
        raise ValueError(f"unknown reg_metric {metric!r}; choose one of {', '.join(REG_METRICS)}")
    return metric


def edge_scales(model: KAN, acts: list[Tensor]) -> list[Tensor]:
    """Per-layer activation scales (out, in) from the layer inputs ``acts`` of :meth:`KAN.layer_inputs`."""
    scales = []
    for layer, x in zip(model.layers, acts):
        in_range = x.std(dim=0) + 0.1  # (in,)
        scales.append((layer.edge_std(x) / in_range.unsqueeze(1)).t())  # (out, in)
    return scales


def penalty_scales(model: KAN, acts: list[Tensor], metric: str = "edge_forward_spline_n") -> list[Tensor]:
    """The matrices the L1 + entropy penalty acts on, for ``metric`` (one of :data:`REG_METRICS`)."""
    check_reg_metric(metric)
    if metric == "edge_forward_spline_n":
        return edge_scales(model, acts)
    if metric in ("edge_forward_spline_u", "edge_forward_sum"):
        stds = [edge_std(model, l, acts[l]) for l in range(model.depth)]  # (in, out)
        if metric == "edge_forward_sum":
            stds = [e / (acts[l].std(dim=0) + 0.1).unsqueeze(1) for l, e in enumerate(stds)]
        return [e.t() for e in stds]
    if metric == "edge_backward":
        return [e.mean(dim=0).t() for e in backward_scores(model, acts)[1]]
    return node_attribution_from_acts(model, acts)  # node_backward: (width[l], n_in) per layer l >= 1


def sparsity_penalty(scale: Tensor, lamb_l1: float, lamb_entropy: float) -> Tensor:
    """L1 of the scales plus the entropy of their row- and column-normalised distributions. scale: (out, in).

    On the CPU, one autograd node whose value and gradient come from numpy (the op-by-op graph has about 25 small
    torch ops each way per layer, in every LBFGS evaluation: 2-9% of a sparsified [2,5,1] fit's evaluation); under
    create_graph, and on other devices, the op-by-op version.
    """
    if scale.device.type != "cpu":
        return _penalty_torch(scale, lamb_l1, lamb_entropy)
    return _SparsityPenalty.apply(scale, float(lamb_l1), float(lamb_entropy))


def _penalty_torch(scale: Tensor, lamb_l1: float, lamb_entropy: float) -> Tensor:
    """:func:`sparsity_penalty` op by op (the reference, and the create_graph path)."""
    l1 = scale.sum()
    p_row = scale / (scale.sum(dim=1, keepdim=True) + 1)
    p_col = scale / (scale.sum(dim=0, keepdim=True) + 1)
    ent_row = -(p_row * torch.log2(p_row + 1e-4)).sum(dim=1).mean()
    ent_col = -(p_col * torch.log2(p_col + 1e-4)).sum(dim=0).mean()
    return lamb_l1 * l1 + lamb_entropy * (ent_row + ent_col)


def _penalty_value_and_grad(s: Tensor, lamb_l1: float, lamb_entropy: float) -> tuple[Tensor, Tensor]:
    """The penalty and its gradient with respect to s (out, in), a CPU tensor, in numpy: the matrices are small and
    numpy's cost per operation is a fraction of torch's.

    With r_o = sum_i s_oi + 1, p = s / r and h(p) = p log2(p + eps), the row entropy -mean_o sum_i h(p_oi) has
    d/ds_oj = -(h'(p_oj) - sum_i h'(p_oi) p_oi) / (r_o * out); the column term is the same with the roles swapped.
    """
    value, grad = penalty_value_and_grad_np(s.numpy(), lamb_l1, lamb_entropy)
    return torch.tensor(value, dtype=s.dtype), torch.from_numpy(np.ascontiguousarray(grad, dtype=s.numpy().dtype))


def penalty_value_and_grad_np(a: np.ndarray, lamb_l1: float, lamb_entropy: float) -> tuple[float, np.ndarray]:
    """:func:`_penalty_value_and_grad` on a numpy array (out, in): (value, gradient)."""
    eps = 1e-4
    n_out, n_in = a.shape
    r = a.sum(axis=1, keepdims=True) + 1
    c = a.sum(axis=0, keepdims=True) + 1
    p, q = a / r, a / c
    lp, lq = np.log2(p + eps), np.log2(q + eps)
    value = lamb_l1 * a.sum() + lamb_entropy * (-(p * lp).sum(axis=1).mean() - (q * lq).sum(axis=0).mean())
    hp = lp + p / ((p + eps) * math.log(2.0))
    hq = lq + q / ((q + eps) * math.log(2.0))
    g_row = (hp - (hp * p).sum(axis=1, keepdims=True)) / (r * n_out)
    g_col = (hq - (hq * q).sum(axis=0, keepdims=True)) / (c * n_in)
    return float(value), lamb_l1 - lamb_entropy * (g_row + g_col)


class _SparsityPenalty(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scale: Tensor, lamb_l1: float, lamb_entropy: float) -> Tensor:
        value, grad = _penalty_value_and_grad(scale.detach(), lamb_l1, lamb_entropy)
        ctx.save_for_backward(scale, grad)
        ctx.lambs = (lamb_l1, lamb_entropy)
        return value

    @staticmethod
    def backward(ctx, g: Tensor):
        scale, grad = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate the op-by-op version
            value = _penalty_torch(scale, *ctx.lambs)
            (gs,) = torch.autograd.grad(value, scale, g, create_graph=True)
            return gs, None, None
        return g * grad, None, None


def coef_penalty(model: KAN, lamb_coef: float, lamb_coefdiff: float) -> Tensor:
    """Mean |coef| and mean |diff(coef)| over outputs, summed over inputs and bases."""
    total = model.layers[0].coef.new_zeros(())
    if lamb_coef == 0 and lamb_coefdiff == 0:
        return total
    for layer in model.layers:
        if lamb_coef:
            total = total + lamb_coef * layer.coef.abs().mean(dim=1).sum()
        if lamb_coefdiff:
            total = total + lamb_coefdiff * layer.coef.diff(dim=-1).abs().mean(dim=1).sum()
    return total


def regularization(model: KAN, acts: list[Tensor], lamb_l1: float = 1.0, lamb_entropy: float = 2.0,
                   lamb_coef: float = 0.0, lamb_coefdiff: float = 0.0,
                   reg_metric: str = "edge_forward_spline_n") -> Tensor:
    """The full penalty for one batch, given ``acts`` = model.layer_inputs(x)."""
    reg = sum(sparsity_penalty(s, lamb_l1, lamb_entropy) for s in penalty_scales(model, acts, reg_metric))
    return reg + coef_penalty(model, lamb_coef, lamb_coefdiff)

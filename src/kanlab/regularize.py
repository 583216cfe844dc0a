"""Sparsity penalties: pykan's L1 + entropy of per-edge activation scales, and coefficient penalties.

The activation scale of edge (i -> o) is std_batch(phi_io(x_i)) / (std_batch(x_i) + 0.1). The standard deviations
come from :meth:`KANLayer.edge_std`, which is exact on the whole batch without forming the (batch, in, out) tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import KAN

__all__ = ["edge_scales", "sparsity_penalty", "coef_penalty", "regularization"]


def edge_scales(model: KAN, acts: list[Tensor]) -> list[Tensor]:
    """Per-layer activation scales (out, in) from the layer inputs ``acts`` of :meth:`KAN.layer_inputs`."""
    scales = []
    for layer, x in zip(model.layers, acts):
        in_range = x.std(dim=0) + 0.1  # (in,)
        scales.append((layer.edge_std(x) / in_range.unsqueeze(1)).t())  # (out, in)
    return scales


def sparsity_penalty(scale: Tensor, lamb_l1: float, lamb_entropy: float) -> Tensor:
    """L1 of the scales plus the entropy of their row- and column-normalised distributions. scale: (out, in)."""
    l1 = scale.sum()
    p_row = scale / (scale.sum(dim=1, keepdim=True) + 1)
    p_col = scale / (scale.sum(dim=0, keepdim=True) + 1)
    ent_row = -(p_row * torch.log2(p_row + 1e-4)).sum(dim=1).mean()
    ent_col = -(p_col * torch.log2(p_col + 1e-4)).sum(dim=0).mean()
    return lamb_l1 * l1 + lamb_entropy * (ent_row + ent_col)


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
                   lamb_coef: float = 0.0, lamb_coefdiff: float = 0.0) -> Tensor:
    """The full penalty for one batch, given ``acts`` = model.layer_inputs(x)."""
    reg = sum(sparsity_penalty(s, lamb_l1, lamb_entropy) for s in edge_scales(model, acts))
    return reg + coef_penalty(model, lamb_coef, lamb_coefdiff)

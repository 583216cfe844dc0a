"""pykan's ``kan.hypothesis`` with pykan's signatures, over :mod:`kanlab.hypothesis` (float64 derivatives, median
scores, stated thresholds). The tree converter (``plot_tree`` and its helpers) is not in kanlab yet: those raise
NotImplementedError naming themselves."""

from __future__ import annotations

from typing import Any

import torch

from .. import hypothesis as _h

__all__ = ["detect_separability", "test_separability", "test_general_separability", "test_symmetry",
           "get_dependence", "batch_grad_normgrad", "plot_tree", "get_molecule", "get_tree_node", "test_Lagrangian"]


def detect_separability(model, x, mode="add", score_th=1e-2, res_th=1e-2, n_clusters=None, bias=0.0,
                        verbose=False) -> dict[str, Any]:
    """pykan's result dict: ``hessian`` (the (n, n) score matrix), ``groups``, ``n_groups`` and ``sep_bool``.
    Groups are the connected components of the scores at ``score_th`` (``n_clusters`` and ``res_th`` are not
    used: the components are the finest split the scores allow)."""
    found = _h.detect_separability(model, x, mode=mode, threshold=score_th, bias=bias)
    return {"hessian": found.scores, "groups": found.groups, "n_groups": len(found.groups),
            "sep_bool": found.separable}


def test_separability(model, x, groups, mode="add", threshold=1e-2, bias=0) -> bool:
    return _h.test_separability(model, x, groups, mode=mode, threshold=threshold, bias=bias)


def test_general_separability(model, x, groups, threshold=1e-2) -> bool:
    return _h.test_general_separability(model, x, groups, threshold=threshold)


def test_symmetry(model, x, group, dependence_th=1e-3) -> bool:
    return _h.test_symmetry(model, x, group, threshold=dependence_th)


def get_dependence(model, x, group) -> torch.Tensor:
    """(|group|, n - |group|): how much the gradient direction over ``group`` moves with each other input."""
    return _h.symmetry_scores(model, x, group)


def _missing(name: str):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"kan.hypothesis.{name} (the tree converter) is part of KAN 2.0 and not in "
                                  "kanlab yet")

    fn.__name__ = name
    return fn


batch_grad_normgrad = _missing("batch_grad_normgrad")
plot_tree = _missing("plot_tree")
get_molecule = _missing("get_molecule")
get_tree_node = _missing("get_tree_node")
test_Lagrangian = _missing("test_Lagrangian")

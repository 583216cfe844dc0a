"""pykan's ``kan.hypothesis`` with pykan's signatures, over :mod:`kanlab.hypothesis` (float64 derivatives, median
scores, stated thresholds) and :mod:`kanlab.tree` (the tree converter). ``batch_grad_normgrad`` and
``test_Lagrangian`` are not in kanlab: they raise NotImplementedError naming themselves."""

from __future__ import annotations

from typing import Any

import torch

from .. import hypothesis as _h
from .. import tree as _tree

__all__ = ["detect_separability", "test_separability", "test_general_separability", "test_symmetry",
           "get_dependence", "batch_grad_normgrad", "plot_tree", "get_molecule", "get_tree_node", "test_Lagrangian",
           "test_symmetry_var"]


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


def get_molecule(model, x, sym_th=1e-3, verbose=True) -> list[list[list[int]]]:
    """The groups of inputs at every level of the tree, single inputs first, the root last."""
    return _tree.find_tree(model, x, sym_th=sym_th, test_properties=False).levels


def get_tree_node(model, x, moleculess, sep_th=1e-2, skip_test=True) -> tuple[list[list[int]], list[list[str]]]:
    """(arities, properties) per level above the inputs, for the levels ``moleculess`` from get_molecule."""
    tree = _tree.Tree([[list(g) for g in level] for level in moleculess])
    _tree.label_tree(tree, _h._float64(model), _h._check(x), sep_th, test_properties=not skip_test)
    return tree.arities, tree.properties


def plot_tree(model, x, in_var=None, style="tree", sym_th=1e-3, sep_th=1e-1, skip_sep_test=False, verbose=False):
    """Draw the tree (as pykan) and return kanlab's :class:`~kanlab.tree.Tree` (pykan returns None)."""
    return _tree.plot_tree(model, x, in_var=in_var, style=style, sym_th=sym_th, sep_th=sep_th,
                           skip_sep_test=skip_sep_test)


def test_symmetry_var(model, x, input_vars, symmetry_var) -> bool:
    """Whether the model depends on the variables of ``symmetry_var`` only through it; logs the share of samples
    that agree, as pykan prints it."""
    scores = _tree.symmetry_var_scores(model, x, input_vars, symmetry_var)
    share = float((scores < 1e-3).double().mean())
    import logging

    logging.getLogger(__name__).info("%.1f%% of the samples satisfy the symmetry %s", 100 * share, symmetry_var)
    return bool(scores.median() < 1e-3)

test_Lagrangian = _missing("test_Lagrangian")

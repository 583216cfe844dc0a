"""The tree converter and the symmetry test for a given combination (kanlab.tree)."""

import pytest
import sympy
import torch

from kanlab import KAN
from kanlab import tree as kt
from kanlab.tree import find_tree, plot_tree, symmetry_var_scores

GEN = torch.Generator().manual_seed(0)


def _x(n, m=100):
    return torch.rand(m, n, generator=GEN, dtype=torch.float64) * 2 - 1


def _nested(x):
    return ((x[:, [0]] ** 2 + x[:, [1]] ** 2) ** 2 + (x[:, [2]] ** 2 + x[:, [3]] ** 2) ** 2) ** 2 + \
        ((x[:, [4]] ** 2 + x[:, [5]] ** 2) ** 2 + (x[:, [6]] ** 2 + x[:, [7]] ** 2) ** 2) ** 2


def test_nested_sums_give_a_binary_tree():
    tree = find_tree(_nested, _x(8))
    assert tree.levels == [[[i] for i in range(8)], [[0, 1], [2, 3], [4, 5], [6, 7]],
                           [[0, 1, 2, 3], [4, 5, 6, 7]], [list(range(8))]]
    assert tree.arities == [[2, 2, 2, 2], [2, 2], [2]]
    assert tree.properties[-1] == ["Add"] and set(tree.properties[0]) == {"GS"}


def test_an_unpaired_input_passes_through_and_order_follows_the_groups():
    f = lambda x: (x[:, [1]] ** 2 + x[:, [2]] ** 2) * torch.exp(x[:, [0]])  # noqa: E731
    tree = find_tree(f, _x(3))
    assert tree.levels[1] == [[0], [1, 2]] and tree.properties == [["Id", "GS"], ["Mul"]]


def test_products_and_sums_at_the_root():
    mul = lambda x: (x[:, [0]] + x[:, [1]]) * (x[:, [2]] + x[:, [3]]) * (x[:, [4]] + x[:, [5]])  # noqa: E731
    tree = find_tree(mul, _x(6))
    assert tree.levels[1] == [[0, 1], [2, 3], [4, 5]] and tree.properties[-1] == ["Mul"]
    add = lambda x: torch.sin(x[:, [0]] * x[:, [1]]) + x[:, [2]] ** 3  # noqa: E731
    tree = find_tree(add, _x(3))
    assert tree.levels[1] == [[0, 1], [2]] and tree.properties[-1] == ["Add"]


def test_plot_tree_draws_both_styles_and_checks_names():
    for style in ("tree", "box"):
        tree = plot_tree(_nested, _x(8), style=style, in_var=list("abcdefgh"))
        assert tree.figure is not None and len(tree.figure.axes) == 1
    with pytest.raises(ValueError, match="style"):
        plot_tree(_nested, _x(8), style="fancy")
    with pytest.raises(ValueError, match="in_var has 2 names"):
        plot_tree(_nested, _x(8), in_var=["a", "b"])


def test_a_trained_kan_has_the_tree_of_its_function():
    x = _x(3, 400)
    y = torch.exp(x[:, [0]] ** 2 + x[:, [1]] ** 2) + x[:, [2]]
    model = KAN(width=[3, 3, 1], grid=5, seed=0, dtype=torch.float64)
    model.fit({"train_input": x, "train_label": y, "test_input": x, "test_label": y}, steps=30)
    tree = model.tree(sym_th=1e-2)
    assert [0, 1] in tree.levels[1] and tree.properties[-1] == ["Add"]


def test_symmetry_for_a_given_combination():
    a, b, c = sympy.symbols("a b c")
    f = lambda x: x[:, [0]] * torch.sqrt(1 + (x[:, [1]] / x[:, [2]]) ** 2)  # noqa: E731
    x = _x(3) + 2.0  # c away from 0
    assert kt.test_symmetry_var(f, x, [a, b, c], b / c)
    assert not kt.test_symmetry_var(f, x, [a, b, c], b * c)
    assert float(symmetry_var_scores(f, x, [a, b, c], b / c).max()) < 1e-10
    with pytest.raises(ValueError, match="not among input_vars"):
        kt.test_symmetry_var(f, x, [a, b, c], b / sympy.Symbol("d"))
    with pytest.raises(ValueError, match="at least two"):
        kt.test_symmetry_var(f, x, [a, b, c], b**2)

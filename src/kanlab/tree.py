"""The tree converter (KAN 2.0): the modular structure of a function, found from symmetry tests, as data and as a
picture.

Start from the single inputs. At every level, groups of variables merge when the function depends on their union
only through one combination (:func:`kanlab.hypothesis.test_symmetry`): ``((x1²+x2²)² + (x3²+x4²)²)²`` gives
{1,2}, {3,4}, then {1,2,3,4}. Merging into the set of all inputs proves nothing (every function is a function of
itself), so the root is added last, over whatever groups remain. Each merged node is then labelled by how its
children combine: 'Add' (additively separable), 'Mul' (multiplicatively), 'GS' (general separability) or '' (none
of these), and 'Id' for a group passed through unchanged.

``symmetry_var`` checks one given combination instead: does f depend on the variables of a sympy expression s only
through s?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from torch import Tensor

from .hypothesis import Fn, _check, _float64, jacobian, test_general_separability, test_separability, test_symmetry

__all__ = ["Tree", "find_tree", "label_tree", "plot_tree", "symmetry_var_scores", "test_symmetry_var"]


@dataclass
class Tree:
    """levels[0] are the single inputs, levels[-1] the root; every group of a level is the union of consecutive
    groups (its children) of the level below. properties[l][k] labels group k of level l + 1."""

    levels: list[list[list[int]]]
    properties: list[list[str]] = field(default_factory=list)
    figure: object = None  # the matplotlib Figure, when drawn

    def children(self, l: int, k: int) -> list[list[int]]:
        """The groups of level l - 1 that make up group k of level l."""
        group = set(self.levels[l][k])
        return [g for g in self.levels[l - 1] if set(g) <= group]

    @property
    def arities(self) -> list[list[int]]:
        return [[len(self.children(l, k)) for k in range(len(self.levels[l]))] for l in range(1, len(self.levels))]


def _merge_level(f: Fn, x: Tensor, groups: list[list[int]], n: int, threshold: float) -> list[list[int]]:
    """One pass of greedy merging: each remaining group, in order, seeds a new group and absorbs every later group
    whose union with it passes the symmetry test (never the set of all inputs)."""
    left = list(groups)
    out = []
    while left:
        current = list(left.pop(0))
        for g in list(left):
            union = current + g
            if len(union) < n and test_symmetry(f, x, union, threshold=threshold):
                current = union
                left.remove(g)
        out.append(current)
    return out


def _order(levels: list[list[list[int]]]) -> None:
    """Reorder, from the root down, so that every group lists its children's variables contiguously, children in
    the order they appear (the picture then has no crossing lines)."""
    for l in range(len(levels) - 1, 0, -1):
        below = levels[l - 1]
        ordered_below, ordered = [], []
        for group in levels[l]:
            kids = [g for g in below if set(g) <= set(group)]
            kids.sort(key=lambda g: min(group.index(v) for v in g))
            ordered_below.extend(kids)
            ordered.append([v for g in kids for v in g])
        levels[l] = ordered
        levels[l - 1] = ordered_below


def find_tree(f: Fn, x: Tensor, sym_th: float = 1e-3, sep_th: float = 1e-1, test_properties: bool = True) -> Tree:
    """The modular structure of f on samples x (N, n): a :class:`Tree`. ``sym_th``: symmetry threshold for merging;
    ``sep_th``: separability threshold for the node labels (``test_properties=False`` skips the labels)."""
    f = _float64(f)
    x = _check(x)
    n = x.shape[1]
    levels = [[[i] for i in range(n)]]
    while len(levels[-1]) > 1:
        merged = _merge_level(f, x, levels[-1], n, sym_th)
        if len(merged) == len(levels[-1]):  # nothing merges any more: the root takes the rest
            merged = [[v for g in merged for v in g]]
        levels.append(merged)
    if n == 1:
        levels.append([[0]])
    _order(levels)
    return label_tree(Tree(levels), f, x, sep_th, test_properties)


def label_tree(tree: Tree, f: Fn, x: Tensor, sep_th: float = 1e-1, test_properties: bool = True) -> Tree:
    """Fill ``tree.properties``: 'Id' for a group passed through, else how its children combine (:func:`_property`),
    or '' without ``test_properties``. x: float64 samples (see :func:`find_tree`)."""
    tree.properties = [["Id" if len(kids) == 1 else (_property(f, x, kids, sep_th) if test_properties else "")
                        for kids in (tree.children(l, k) for k in range(len(tree.levels[l])))]
                       for l in range(1, len(tree.levels))]
    return tree


def _property(f: Fn, x: Tensor, kids: list[list[int]], threshold: float) -> str:
    """How the children of a node combine, tested on f itself: 'Add'/'Mul' where f splits that way over them (which
    implies the node does), else 'GS' where f is generally separable over them. An inner node whose own split
    is additive but hidden inside f reads 'GS' (as in pykan, which tests Add/Mul at the root only)."""
    if test_separability(f, x, kids, mode="add", threshold=threshold):
        return "Add"
    if test_separability(f, x, kids, mode="mul", threshold=threshold):
        return "Mul"
    if test_general_separability(f, x, kids, threshold=threshold):
        return "GS"
    return ""


def plot_tree(f: Fn, x: Tensor, in_var: Sequence | None = None, style: str = "tree", sym_th: float = 1e-3,
              sep_th: float = 1e-1, skip_sep_test: bool = False, ax=None) -> Tree:
    """Find f's tree (:func:`find_tree`) and draw it: style 'tree' (nodes joined by lines) or 'box' (each group a
    box over its variables). Returns the :class:`Tree`, with the Figure in ``tree.figure``."""
    if style not in ("tree", "box"):
        raise ValueError(f"style must be 'tree' or 'box', got {style!r}")
    from .plot import _figure, _label  # matplotlib stays lazy

    tree = find_tree(f, x, sym_th=sym_th, sep_th=sep_th, test_properties=not skip_sep_test)
    n = len(tree.levels[0])
    names = [f"$x_{{{i + 1}}}$" for i in range(n)] if in_var is None else [_label(v) for v in in_var]
    if len(names) != n:
        raise ValueError(f"in_var has {len(names)} names but x has {n} columns")
    if ax is None:
        fig = _figure(figsize=(max(3.0, 0.9 * n), 1.0 + 0.9 * len(tree.levels)))
        ax = fig.subplots()
    else:
        fig = ax.figure
    pos = {v: k for k, v in enumerate(tree.levels[0][i][0] for i in range(n))}  # leaf order after _order
    ax.axis("off")
    depth = len(tree.levels) - 1
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(-0.6, depth + 0.5)
    for v, k in pos.items():
        ax.text(k, -0.35, names[v], ha="center", va="top", fontsize=11)
    for l, level in enumerate(tree.levels):
        for k, group in enumerate(level):
            xs = [pos[v] for v in group]
            cx = sum(xs) / len(xs)
            label = tree.properties[l - 1][k] if l > 0 else ""
            if style == "box":
                ax.add_patch(_box(min(xs) - 0.4, l - 0.3, max(xs) - min(xs) + 0.8, 0.6))
                ax.text(cx, l, label, ha="center", va="center", fontsize=9)
                continue
            ax.scatter([cx], [l], s=60, color="black", zorder=3)
            if label:
                ax.text(cx + 0.08, l + 0.08, label, ha="left", va="bottom", fontsize=9, color="tab:red")
            if l > 0:
                for kid in tree.children(l, k):
                    kx = sum(pos[v] for v in kid) / len(kid)
                    ax.plot([kx, cx], [l - 1, l], color="black", lw=1)
    tree.figure = fig
    return tree


def _box(x0: float, y0: float, w: float, h: float):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0.02", fill=False, lw=1.2)


# ---------------------------------------------------------------------- a given combination
def symmetry_var_scores(f: Fn, x: Tensor, input_vars: Sequence, symmetry_var) -> Tensor:
    """Per sample, 1 - |cos| of the angle between f's gradient and s's gradient over the variables of s (a sympy
    expression of ``input_vars``): 0 where f depends on them through s alone. (N,)"""
    import sympy

    f = _float64(f)
    x = _check(x)
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in input_vars]
    if len(symbols) != x.shape[1]:
        raise ValueError(f"input_vars names {len(symbols)} variables but x has {x.shape[1]} columns")
    s = sympy.sympify(symmetry_var)
    unknown = s.free_symbols - set(symbols)
    if unknown:
        raise ValueError(f"symmetry_var uses {sorted(map(str, unknown))}, which are not among input_vars")
    used = [k for k, v in enumerate(symbols) if v in s.free_symbols]
    if len(used) < 2:
        raise ValueError(f"symmetry_var must combine at least two input variables, got {s}")
    from .symbolic.export import to_torch_module

    s_fn = to_torch_module([s], symbols)
    g_f = jacobian(f, x)[:, used]  # (N, |used|)
    g_s = jacobian(s_fn, x)[:, used]
    cos = (g_f * g_s).sum(1) / (g_f.norm(dim=1) * g_s.norm(dim=1)).clamp_min(1e-300)
    return 1.0 - cos.abs()


def test_symmetry_var(f: Fn, x: Tensor, input_vars: Sequence, symmetry_var, threshold: float = 1e-3) -> bool:
    """Whether f depends on the variables of ``symmetry_var`` only through it (median score below threshold)."""
    scores = symmetry_var_scores(f, x, input_vars, symmetry_var)
    return bool(scores.median() < threshold)

"""Pictures of a KAN: the network diagram, one edge in detail, training curves.

matplotlib is imported on first use (the ``plot`` extra). Every function returns a Figure and writes a file only
when given ``path``.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from .model import KAN
from .prune import attribute, edge_std

__all__ = ["plot", "plot_activation", "plot_history", "edge_scores", "edge_curves"]

log = logging.getLogger(__name__)

MAX_EDGES = 200  # above this the diagram becomes unreadable: fall back to heat maps
COLORS = {"n": "black", "s": "red", "ns": "purple"}


def _figure(**kwargs):
    """A new Figure, not registered with pyplot (no global state, nothing shown unless the caller shows it)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'kanlab[plot]'") from err
    return Figure(**kwargs)


def _data(model: KAN, x: Tensor | None) -> Tensor | None:
    return model.data_or_fit_input(x, "plot", required=False)


@torch.no_grad()
def edge_scores(model: KAN, metric: str = "backward", x: Tensor | None = None,
                attribution=None) -> list[Tensor]:
    """Per-layer edge importance (in, out), scaled so the largest edge of the network is 1.

    backward: KAN 2.0 attribution; forward_u: std of the edge output; forward_n: that std over the std of the
    edge's input. Without data every active edge scores 1. attribution: ``attribute(model, x)`` when the caller
    already has it (backward only).
    """
    if metric not in ("backward", "forward_u", "forward_n"):
        raise ValueError(f"unknown metric {metric!r}; choose 'backward', 'forward_u' or 'forward_n'")
    x = _data(model, x)
    if x is None:
        return [((layer.mask + sym.mask) > 0).to(model.dtype) for layer, sym in zip(model.layers, model.symbolic)]
    if metric == "backward":
        scores = (attribution if attribution is not None else attribute(model, x)).edge_scores
    else:
        acts = model.layer_inputs(x)
        scores = [edge_std(model, l, acts[l]) for l in range(model.depth)]
        if metric == "forward_n":
            scores = [s / (acts[l].std(dim=0)[:, None] + 1e-4) for l, s in enumerate(scores)]
    if not all(bool(torch.isfinite(s).all()) for s in scores):
        raise ValueError(f"edge scores are not finite on this data (largest |x| {float(x.abs().max()):.3g}, computed "
                         f"in {model.dtype}): the activations overflow; standardise the inputs")
    top = max(float(s.max()) for s in scores) or 1.0
    return [s / top for s in scores]


@torch.no_grad()
def edge_curves(model: KAN, l: int, x: Tensor | None = None, n: int = 100,
                layer_x: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Every edge of layer l over the range of inputs it saw: xs (n, in) and ys (n, in, out).

    The range is that of the data x (default: the last fit's inputs), else the layer's inner grid. ``layer_x``:
    layer l's inputs on that data, when the caller already has them.
    """
    layer, sym = model.layers[l], model.symbolic[l]
    if layer_x is None:
        x = _data(model, x)
        layer_x = model.layer_inputs(x)[l] if x is not None else None
    if layer_x is not None:
        lo, hi = layer_x.min(dim=0).values, layer_x.max(dim=0).values
    else:
        lo, hi = layer.grid[:, layer.k], layer.grid[:, -layer.k - 1]
    t = torch.linspace(0, 1, n, dtype=model.dtype, device=model.device)[:, None]
    xs = lo + (hi - lo) * t  # (n, in)
    ys = layer.edge_activations(xs)
    for ii, oo, vals in sym.edge_values(xs):
        ys[:, ii, oo] += vals
    return xs, ys


def _mode(model: KAN, l: int, i: int, j: int) -> str | None:
    n = bool(model.layers[l].mask[i, j] > 0)
    s = bool(model.symbolic[l].mask[i, j] > 0)
    return {(True, False): "n", (False, True): "s", (True, True): "ns"}.get((n, s))


def _label(v: Any) -> str:
    try:
        import sympy

        if isinstance(v, sympy.Basic):
            return f"${sympy.latex(v)}$"
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def plot(model: KAN, beta: float = 3.0, metric: str = "backward", in_vars: Sequence | None = None,
         out_vars: Sequence | None = None, title: str | None = None, sample: bool = False, scale: float = 0.5,
         ax=None, x: Tensor | None = None, path: str | None = None, heatmap: bool | None = None):
    """The network diagram: nodes in layers, each edge's curve in a small box, faded by tanh(beta * score).

    Numeric edges are black, symbolic red, both purple; symbolic boxes name their function. Input/output names
    (strings or sympy symbols, drawn as LaTeX) label the nodes. Above MAX_EDGES edges (or with heatmap=True) a
    heat map of scores per layer is drawn instead. Returns the Figure; saves it only if ``path`` is given.
    """
    width = model.width
    n_edges = sum(int(((layer.mask + sym.mask) > 0).sum()) for layer, sym in zip(model.layers, model.symbolic))
    if in_vars is not None and len(in_vars) != width[0]:
        raise ValueError(f"in_vars has {len(in_vars)} names but the model has {width[0]} inputs")
    if out_vars is not None and len(out_vars) != width[-1]:
        raise ValueError(f"out_vars has {len(out_vars)} names but the model has {width[-1]} outputs")
    scores = edge_scores(model, metric, x)
    if heatmap is None:
        heatmap = n_edges > MAX_EDGES
        if heatmap:
            warnings.warn(f"plot: {n_edges} edges are too many to draw one by one (> {MAX_EDGES}); "
                          "drawing score heat maps instead", stacklevel=2)
    if heatmap:
        return _heatmap(scores, title, path)

    depth = model.depth
    sub_w = model.width_out  # where edges end: subnodes (the nodes themselves without multiplication nodes)
    max_w = max(max(width), max(sub_w))
    fig_w = max(4.0, scale * 2.2 * max(max_w, max(width[l] * sub_w[l + 1] for l in range(depth)) ** 0.75))
    fig_h = scale * 6 * depth + 1.5
    if ax is None:
        fig = _figure(figsize=(fig_w, fig_h))
        ax = fig.subplots()
    else:
        fig = ax.figure
        bbox = ax.get_position()
        fig_w, fig_h = fig.get_figwidth() * bbox.width, fig.get_figheight() * bbox.height
    y_per_x = (fig_w / 1.1) / (fig_h / (depth + 0.7))  # data-y units that look as long as one data-x unit
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.35, depth + 0.35)
    ax.axis("off")

    def node_x(l: int, i: int) -> float:
        return (i + 0.5) / width[l]

    sub_dy = 0.12  # subnodes of a layer with multiplication nodes sit this far below their nodes

    def sub_xy(l: int, j: int) -> tuple[float, float]:
        """Where an edge of layer l - 1 ends: subnode j of node layer l."""
        spec = model.nodes[l]
        if spec.plain:
            return node_x(l, j), float(l)
        node = spec.sub_to_node()[j]
        subs = spec.subnodes(node)
        step = 0.6 / (width[l] * max(len(subs), 2))  # a node's subnodes fan out under it, within its own slot
        return node_x(l, node) + (subs.index(j) - (len(subs) - 1) / 2) * step, l - sub_dy

    for l in range(depth + 1):
        spec = model.nodes[l]
        for i in range(width[l]):
            is_mult = i >= spec.n_sum
            ax.scatter([node_x(l, i)], [l], s=120 * scale * 2, color="black", zorder=3,
                       marker="s" if is_mult else "o")
            if 0 < l:
                ax.text(node_x(l, i), l, "\u00d7" if is_mult else "+", color="white", ha="center", va="center",
                        fontsize=7, zorder=4)
            if not spec.plain:
                for j in spec.subnodes(i):
                    sx, sy = sub_xy(l, j)
                    ax.scatter([sx], [sy], s=12 * scale * 2, color="black", zorder=3)
                    ax.plot([sx, node_x(l, i)], [sy, l], color="black", lw=0.8)
    names_in = [_label(v) for v in in_vars] if in_vars is not None else [f"$x_{{{i + 1}}}$" for i in range(width[0])]
    for i, name in enumerate(names_in):
        ax.text(node_x(0, i), -0.18, name, ha="center", va="top", fontsize=10)
    if out_vars is not None:
        for j, name in enumerate(out_vars):
            ax.text(node_x(depth, j), depth + 0.18, _label(name), ha="center", va="bottom", fontsize=10)

    data = _data(model, x)
    with torch.no_grad():
        acts = model.layer_inputs(data) if data is not None else None
    for l in range(depth):
        xs, ys = edge_curves(model, l, layer_x=acts[l] if acts is not None else None)
        samples = acts[l] if (sample and acts is not None) else None
        with torch.no_grad():
            sample_y = model.layers[l].edge_activations(samples) if samples is not None else None
        n_in, n_out = width[l], sub_w[l + 1]
        n_box = n_in * n_out
        box = min(0.8 / n_box, 0.12)  # box width (x units); its height is the same length on screen
        half_h = min(box * y_per_x, 0.36) / 2
        for i in range(n_in):
            for j in range(n_out):
                mode = _mode(model, l, i, j)
                if mode is None:
                    continue
                k = i * n_out + j
                cx, cy = (k + 0.5) / n_box, l + 0.5
                alpha = float(math.tanh(beta * float(scores[l][i, j])))
                color = COLORS[mode]
                ax.plot([node_x(l, i), cx], [l, cy - half_h], color=color, alpha=alpha, lw=1)
                ex, ey = sub_xy(l + 1, j)
                ax.plot([cx, ex], [cy + half_h, ey], color=color, alpha=alpha, lw=1)
                inset = ax.inset_axes([cx - box / 2, cy - half_h, box, 2 * half_h], transform=ax.transData)
                inset.plot(xs[:, i].cpu().numpy(), ys[:, i, j].cpu().numpy(), color=color, alpha=alpha, lw=1.5)
                if sample_y is not None:
                    inset.scatter(samples[:, i].cpu().numpy(), sample_y[:, i, j].cpu().numpy(), s=1, color=color,
                                  alpha=alpha * 0.5)
                inset.set_xticks([]), inset.set_yticks([])
                for spine in inset.spines.values():
                    spine.set_alpha(alpha)
                    spine.set_color(color)
                if "s" in mode:
                    inset.text(1.08, 0.5, model.symbolic[l].names[i][j], transform=inset.transAxes, ha="left",
                               va="center", fontsize=7, color=color, alpha=max(alpha, 0.3))
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def _heatmap(scores: list[Tensor], title: str | None, path: str | None):
    fig = _figure(figsize=(3.2 * len(scores), 3.0))
    axes = fig.subplots(1, len(scores), squeeze=False)
    for l, (axis, s) in enumerate(zip(axes[0], scores)):
        im = axis.imshow(s.detach().cpu().t().numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto")
        axis.set_title(f"layer {l}: edge scores")
        axis.set_xlabel("input node"), axis.set_ylabel("output node")
        fig.colorbar(im, ax=axis, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def plot_activation(model: KAN, l: int, i: int, j: int, x: Tensor | None = None, path: str | None = None):
    """One edge in detail: its numeric spline, the samples it saw and, when symbolic, the fitted function."""
    model.check_edge(l, i, j)
    data = _data(model, x)
    xs, _ = edge_curves(model, l, data, n=300)
    layer, sym = model.layers[l], model.symbolic[l]
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    with torch.no_grad():
        numeric = layer.edge_activations(xs)[:, i, j]
        ax.plot(xs[:, i].cpu().numpy(), numeric.cpu().numpy(), color="black", label="numeric (spline + base)")
        if data is not None:
            xl = model.layer_inputs(data)[l]
            ax.scatter(xl[:, i].cpu().numpy(), layer.edge_activations(xl)[:, i, j].cpu().numpy(), s=3,
                       color="tab:blue", alpha=0.4,
                       label="samples")
        if sym.mask[i, j] > 0:
            a, b, c, d = sym.affine[i, j].tolist()
            fz = sym.library[sym.names[i][j]].torch_fn(a * xs[:, i] + b)
            ax.plot(xs[:, i].cpu().numpy(), (c * fz + d).cpu().numpy(), color="red", ls="--",
                    label=f"{c:.3g} {sym.names[i][j]}({a:.3g} x + {b:.3g}) + {d:.3g}")
    ax.set_xlabel(f"input of edge ({l},{i},{j})"), ax.set_ylabel("output")
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig


def plot_history(history: Mapping[str, Sequence[float]], path: str | None = None):
    """train/test loss and regularisation per step, on a log scale."""
    keys = [k for k in ("train_loss", "test_loss", "reg") if k in history and len(history[k])]
    if not keys:
        raise ValueError("history has none of 'train_loss', 'test_loss', 'reg' with values")
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for k in keys:
        vals = [max(float(v), 1e-300) for v in history[k]]
        ax.plot(range(len(vals)), vals, label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step"), ax.set_ylabel("RMSE / penalty")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return fig

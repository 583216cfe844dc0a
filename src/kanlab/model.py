"""KAN: a stack of KANLayers with pykan's constructor keywords and workflow methods.

The model owns the layers and their forward. Training (``fit.py``), attribution and pruning (``prune.py``) live
in their own modules; the pykan-named methods here only delegate to them. Edits (refine, prune) return new models
and leave the original untouched.
"""

from __future__ import annotations

import logging

import copy
import operator
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ._ints import as_int
from .layer import KANLayer, _check_base_fun
from .nodes import Nodes, parse_width
from .symbolic.layer import SymbolicLayer

__all__ = ["KAN", "KANConfig"]


@dataclass
class KANConfig:
    """Everything needed to rebuild a KAN's architecture (the learned tensors live in the state dict)."""

    width: list  # per node layer: n (sum nodes) or [n_sum, n_mult] (KAN 2.0 multiplication nodes)
    grid: list[int]  # per layer: number of grid intervals G (pykan default 3)
    k: list[int]  # per layer: spline order (cubic)
    noise_scale: float = 0.3  # spline init noise; pykan's default, small enough to start near the SiLU base
    scale_base_mu: float = 0.0  # mean of scale_base (times 1/sqrt(in))
    scale_base_sigma: float = 1.0  # spread of scale_base (times 1/sqrt(in))
    base_fun: str = "silu"  # residual function: 'silu', 'identity' or 'zero'
    grid_eps: float = 0.02  # update_grid blend: 1 = uniform, 0 = sample quantiles
    grid_extend: str = "ends"  # knots outside an adaptive grid: "ends" (end-interval spacing) or "average" (pykan)
    grid_range: tuple[float, float] = (-1.0, 1.0)  # initial grid span
    sp_trainable: bool = True
    sb_trainable: bool = True
    sparse_init: bool = False
    seed: int = 1  # seeds a private generator, never the global RNGs
    mult_arity: list[list[int]] = field(default_factory=list)  # per node layer, the arity of each mult node
    extra: dict[str, Any] = field(default_factory=dict)


def check_device(device: torch.device | str | None) -> None:
    """Refuse the devices a KAN cannot be built on (today only 'meta'), before anything is allocated."""
    if device is not None and torch.device(device).type == "meta":
        raise ValueError("device='meta' is not supported: a KAN fits its initial splines by least squares, "
                         "which needs real numbers; build it on 'cpu' (or another device) instead")


def _per_layer(name: str, value, depth: int) -> list[int]:
    vals = list(value) if isinstance(value, (list, tuple)) else [value] * depth
    if len(vals) != depth:
        raise ValueError(f"{name} has {len(vals)} entries but the network has {depth} layers")
    try:
        return [as_int(v, name, minimum=1) for v in vals]
    except ValueError:
        raise ValueError(f"{name} must be an integer >= 1 (or a list of them), got {value!r}") from None


class KAN(nn.Module):
    """Kolmogorov-Arnold Network.

    ``width`` lists the nodes per layer. An entry ``[n_sum, n_mult]`` (KAN 2.0) makes n_sum sum nodes and n_mult
    multiplication nodes, each multiplying ``mult_arity`` subnodes (an int, or per width entry an int or one arity per
    multiplication node); see :mod:`kanlab.nodes`.

    >>> model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    >>> model(torch.rand(10, 2)).shape
    torch.Size([10, 1])
    """

    def __init__(
        self,
        width: Sequence,
        grid: int | Sequence[int] = 3,
        k: int | Sequence[int] = 3,
        noise_scale: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_extend: str = "ends",
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        sparse_init: bool = False,
        seed: int = 1,
        mult_arity: int | Sequence = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **unsupported: Any,
    ) -> None:
        super().__init__()
        ignored = {"auto_save", "ckpt_path", "save_act", "symbolic_enabled", "affine_trainable", "first_init",
                   "state_id", "round"}
        unknown = set(unsupported) - ignored
        if unknown:
            raise TypeError(f"KAN got unexpected keyword argument(s) {sorted(unknown)}")
        nodes = parse_width(width, mult_arity)  # a copy: the caller's list is never touched
        w, sub = [n.n_nodes for n in nodes], [n.n_sub for n in nodes]
        depth = len(w) - 1
        check_device(device)
        self.config = KANConfig(
            width=[n.spec() for n in nodes], mult_arity=[list(n.arity) for n in nodes],
            grid=_per_layer("grid", grid, depth), k=_per_layer("k", k, depth), noise_scale=noise_scale,
            scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma, base_fun=_check_base_fun(base_fun),
            grid_eps=grid_eps, grid_extend=grid_extend, grid_range=(float(grid_range[0]), float(grid_range[1])),
            sp_trainable=sp_trainable, sb_trainable=sb_trainable, sparse_init=sparse_init,
            seed=as_int(seed, "seed"),
        )
        gen = torch.Generator().manual_seed(self.config.seed)
        c = self.config
        self.layers = nn.ModuleList(
            KANLayer(w[l], sub[l + 1], grid=c.grid[l], k=c.k[l], noise_scale=noise_scale,
                     scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma, base_fun=base_fun,
                     grid_eps=grid_eps, grid_extend=grid_extend, grid_range=c.grid_range, sp_trainable=sp_trainable,
                     sb_trainable=sb_trainable, sparse_init=sparse_init, generator=gen, device=device, dtype=dtype)
            for l in range(depth)
        )
        self.symbolic = nn.ModuleList(SymbolicLayer(w[l], sub[l + 1], device=device, dtype=dtype) for l in range(depth))
        self.nodes: list[Nodes] = nodes
        self.fit_input_: Tensor | None = None  # training inputs of the last fit: the default data for prune
        self.extra_: dict[str, Any] = {}  # user metadata saved with the model (e.g. the CLI's column names)

    # ------------------------------------------------------------------ structure
    @property
    def width(self) -> list[int]:
        """Nodes per layer, sum and multiplication nodes together (a fresh list of ints)."""
        return [n.n_nodes for n in self.nodes]

    @property
    def width_spec(self) -> list:
        """The width as written: ``n`` for a layer of sum nodes, ``[n_sum, n_mult]`` with multiplication nodes."""
        return [n.spec() for n in self.nodes]

    @property
    def width_out(self) -> list[int]:
        """Subnodes per layer: the outputs of the edges that end there (n_sum + the arities of the mult nodes)."""
        return [n.n_sub for n in self.nodes]

    @property
    def mult_arity(self) -> list[list[int]]:
        """Per layer, the arity of each multiplication node (empty lists without any)."""
        return [list(n.arity) for n in self.nodes]

    @property
    def has_mult(self) -> bool:
        return not all(n.plain for n in self.nodes)

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def grid(self) -> list[int]:
        return [layer.num for layer in self.layers]

    @property
    def k(self) -> list[int]:
        return [layer.k for layer in self.layers]

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].grid.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].grid.device

    def copy(self) -> "KAN":
        """A deep copy (in memory; no files)."""
        return copy.deepcopy(self)

    def _with_layers(self, layers: list[KANLayer], symbolic: list[SymbolicLayer] | None = None,
                     nodes: list[Nodes] | None = None) -> "KAN":
        new = KAN.__new__(KAN)  # a plain KAN whatever self is: subclasses adopt it (see kanlab.pykan)
        nn.Module.__init__(new)
        new.config = copy.deepcopy(self.config)
        new.layers = nn.ModuleList(layers)
        new.symbolic = nn.ModuleList(symbolic if symbolic is not None else copy.deepcopy(list(self.symbolic)))
        new.nodes = list(self.nodes if nodes is None else nodes)
        dims = [layers[0].in_dim] + [layer.out_dim for layer in layers]
        if dims != [new.nodes[0].n_nodes] + [n.n_sub for n in new.nodes[1:]] or \
                [layer.in_dim for layer in layers[1:]] != new.width[1:-1]:
            raise ValueError(f"layers of sizes {dims} do not fit the nodes {new.width_spec}")
        new.config.width = new.width_spec
        new.config.mult_arity = new.mult_arity
        new.config.grid = new.grid
        new.fit_input_ = self.fit_input_
        new.extra_ = dict(self.extra_)
        return new

    # ------------------------------------------------------------------ evaluation
    def check_input(self, x: Tensor, name: str = "input") -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.width[0]:
            raise ValueError(f"{name} must have shape (batch, {self.width[0]}) to match width[0], "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}; convert it with "
                            f"x.to({self.dtype})")
        if x.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but the model computes in {self.dtype}; convert the input "
                            f"(x.to({self.dtype})) or build the model with dtype={x.dtype}")
        if x.device != self.device:
            raise ValueError(f"{name} is on {x.device} but the model is on {self.device}")

    def layer_output(self, l: int, x: Tensor, singularity_avoiding: bool = False, y_th: float = 1000.0) -> Tensor:
        """Layer l's subnode values, before the multiplication nodes: (B, width[l]) -> (B, width_out[l+1])."""
        y = self.layers[l](x)
        s = self.symbolic[l](x, singularity_avoiding, y_th)
        return y if s is None else y + s

    def _layer_forward(self, l: int, x: Tensor, singularity_avoiding: bool, y_th: float) -> Tensor:
        return self.nodes[l + 1].combine(self.layer_output(l, x, singularity_avoiding, y_th))

    def as_input(self, x: Tensor, name: str = "x") -> Tensor:
        """A floating-point tensor moved to the model's dtype and device, after the shape check (not for forward,
        which converts nothing)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
        x = x.to(device=self.device, dtype=self.dtype)
        self.check_input(x, name)
        return x

    def data_or_fit_input(self, x: Tensor | None, purpose: str, required: bool = True) -> Tensor | None:
        """x, or else the inputs of the last fit, through :meth:`as_input`. With neither: ValueError naming
        ``purpose`` (or None when not ``required``)."""
        x = self.fit_input_ if x is None else x
        if x is None:
            if required:
                raise ValueError(f"no data to {purpose} on: pass x, or call fit first (fit keeps its inputs)")
            return None
        return self.as_input(x, "x")

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 1000.0) -> Tensor:
        """x: (B, width[0]) -> (B, width[-1]). ``singularity_avoiding`` evaluates symbolic edges with their safe
        variants (|f| bounded by about y_th near 1/x, log, ... singularities)."""
        return self.layer_inputs(x, singularity_avoiding, y_th)[-1]

    @torch.no_grad()
    def activations(self, x: Tensor | None = None) -> list[tuple[Tensor, Tensor]]:
        """Every edge's output on data x (default: the last fit's inputs), for plots and inspection.

        Per layer l: (inputs (B, width[l]), edge outputs (B, width[l], width_out[l+1])), numeric plus symbolic
        parts; a switched-off edge gives 0. (An edge ends on a subnode: see :mod:`kanlab.nodes`.) Not
        differentiable (forward never forms this tensor).
        """
        x = self.data_or_fit_input(x, "compute activations on")
        out = []
        for l in range(self.depth):
            ys = self.layers[l].edge_activations(x)
            for ii, oo, vals in self.symbolic[l].edge_values(x):
                ys[:, ii, oo] += vals
            out.append((x, ys))
            x = self._layer_forward(l, x, False, 1000.0)
        return out

    def layer_inputs(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 1000.0) -> list[Tensor]:
        """[x_0, x_1, ..., x_L]: the input of every layer and, last, the output. Differentiable."""
        self.check_input(x)
        acts = [x]
        for l in range(self.depth):
            acts.append(self._layer_forward(l, acts[-1], singularity_avoiding, y_th))
        return acts

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Fit every layer's grid to the data it sees, keeping the functions on those samples (in place)."""
        self.check_input(x)
        if x.shape[0] == 0:
            raise ValueError("update_grid needs at least one sample, got an empty batch")
        for l, layer in enumerate(self.layers):
            layer.update_grid(x)
            x = self._layer_forward(l, x, False, 1000.0)

    update_grid_from_samples = update_grid

    def refine(self, new_grid: int | Sequence[int]) -> "KAN":
        """A new model with ``new_grid`` intervals per layer (grid extension) and the same function."""
        sizes = _per_layer("new_grid", new_grid, self.depth)
        return self._with_layers([layer.refine(g) for layer, g in zip(self.layers, sizes)])

    # ------------------------------------------------------------------ workflow (delegating)
    def fit(self, dataset, **kwargs) -> dict[str, list[float]]:
        """Train in place; see :func:`kanlab.fit.fit` for the arguments. Returns the history dict."""
        from .fit import fit

        return fit(self, dataset, **kwargs)

    def attribute(self, x: Tensor | None = None):
        """Node, edge and input scores, computed backward from the outputs; see :func:`kanlab.prune.attribute`."""
        from .prune import attribute

        return attribute(self, x)

    def prune_node(self, threshold: float = 1e-2, x: Tensor | None = None, active_neurons_id=None,
                   by: str = "attribution") -> "KAN":
        """A new model without the hidden nodes scoring at most ``threshold``; see :func:`kanlab.prune.prune_node`."""
        from .prune import prune_node

        return prune_node(self, threshold, x=x, active_neurons_id=active_neurons_id, by=by)

    def prune_edge(self, threshold: float = 3e-2, x: Tensor | None = None) -> "KAN":
        """A NEW model with the edges scoring below ``threshold`` masked; this model is unchanged.

        Unlike pykan, whose ``prune_edge`` edits in place and returns None: a bare ``model.prune_edge()`` here
        prunes nothing, and that cannot be detected at run time. Write ``model = model.prune_edge()``, or use
        ``kanlab.pykan`` for pykan's in-place semantics.
        """
        from .prune import prune_edge

        return prune_edge(self, threshold, x=x)

    def remove_edge(self, l: int, i: int, j: int) -> "KAN":
        """A new model with edge (l, i, j) switched off (this model is unchanged; kanlab.pykan's edits in place)."""
        from .prune import remove_edge

        return remove_edge(self, l, i, j)

    def remove_node(self, l: int, i: int, mode: str = "all") -> "KAN":
        """A new model with node (l, i)'s edges switched off; see :func:`kanlab.prune.remove_node`."""
        from .prune import remove_node

        return remove_node(self, l, i, mode)

    def swap(self, l: int, i1: int, i2: int) -> "KAN":
        """A new model with hidden nodes i1 and i2 of layer l exchanged (same function); see :mod:`kanlab.surgery`."""
        from .surgery import swap

        return swap(self, l, i1, i2)

    def auto_swap(self, x: Tensor | None = None) -> "KAN":
        """A new model with hidden nodes reordered to lower the connection cost (same function)."""
        from .surgery import auto_swap

        return auto_swap(self, x)

    def expand_width(self, layer_id: int, n_added_nodes: int, sum_bool: bool = True, mult_arity=2,
                     seed: int = 0) -> "KAN":
        """A new model with more (switched-off) nodes in a hidden layer; see :func:`kanlab.surgery.expand_width`."""
        from .surgery import expand_width

        return expand_width(self, layer_id, n_added_nodes, sum_bool, mult_arity, seed)

    def expand_depth(self) -> "KAN":
        """A new model with an identity layer appended; see :func:`kanlab.surgery.expand_depth`."""
        from .surgery import expand_depth

        return expand_depth(self)

    def perturb(self, mag: float = 1.0, mode: str = "non-intrusive") -> "KAN":
        """A new model with switched-off edges switched on for training; see :func:`kanlab.surgery.perturb`."""
        from .surgery import perturb

        return perturb(self, mag, mode)

    def module(self, start_layer: int, chain: str) -> "KAN":
        """A new model with a module imposed (``'[0,1]->[2]->...'``); see :func:`kanlab.surgery.module`."""
        from .surgery import module

        return module(self, start_layer, chain)

    def tree(self, x: Tensor | None = None, in_var=None, style: str = "tree", sym_th: float = 1e-3,
             sep_th: float = 1e-1, skip_sep_test: bool = False):
        """The modular structure this model computes, found by symmetry tests and drawn; see
        :func:`kanlab.tree.plot_tree`. Returns the Tree (groups per level, node labels, ``figure``)."""
        from .tree import plot_tree

        x = self.data_or_fit_input(x, "find the tree")
        return plot_tree(self, x, in_var=in_var, style=style, sym_th=sym_th, sep_th=sep_th,
                         skip_sep_test=skip_sep_test)

    def connection_cost(self, x: Tensor | None = None) -> float:
        """Sum over edges of attribution score x distance between the edge's ends in the diagram."""
        from .surgery import connection_cost

        return connection_cost(self, x)

    def prune_input(self, threshold: float = 1e-2, x: Tensor | None = None, active_inputs=None) -> "KAN":
        from .prune import prune_input

        return prune_input(self, threshold, x=x, active_inputs=active_inputs)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2, x: Tensor | None = None,
              by: str = "attribution") -> "KAN":
        """prune_node, then prune_edge with fresh scores. Returns a new, smaller model."""
        from .prune import prune

        return prune(self, node_th=node_th, edge_th=edge_th, x=x, by=by)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    # ------------------------------------------------------------------ files (delegating)
    def save(self, path, extra: dict[str, Any] | None = None):
        """Write the model (safetensors + JSON config, no pickle); see :func:`kanlab.io.save`."""
        from .io import save

        return save(self, path, extra=extra)

    @classmethod
    def load(cls, path, library=None, device=None) -> "KAN":
        """Read a model written by :meth:`save`; see :func:`kanlab.io.load`."""
        from .io import load

        return load(path, library=library, device=device)

    # ------------------------------------------------------------------ pictures (delegating; matplotlib is lazy)
    def plot(self, beta: float = 3.0, metric: str = "backward", in_vars=None, out_vars=None, title=None,
             sample: bool = False, scale: float = 0.5, ax=None, x: Tensor | None = None, path: str | None = None,
             heatmap: bool | None = None):
        """The network diagram as a matplotlib Figure; see :func:`kanlab.plot.plot`."""
        from .plot import plot

        return plot(self, beta=beta, metric=metric, in_vars=in_vars, out_vars=out_vars, title=title,
                    sample=sample, scale=scale, ax=ax, x=x, path=path, heatmap=heatmap)

    def plot_activation(self, l: int, i: int, j: int, x: Tensor | None = None, path: str | None = None):
        """One edge in detail; see :func:`kanlab.plot.plot_activation`."""
        from .plot import plot_activation

        return plot_activation(self, l, i, j, x=x, path=path)

    # ------------------------------------------------------------------ symbolic (delegating)
    def explore(self, x: Tensor | None = None, path=None, **kwargs) -> str:
        """A self-contained interactive HTML page of the model; see :func:`kanlab.explore.explore`."""
        from .explore import explore

        return explore(self, x, path, **kwargs)

    def _repr_html_(self) -> str | None:
        """The explorer, when a notebook displays the model; None (the plain repr) if it cannot be drawn."""
        from .explore import repr_html

        try:
            return repr_html(self)
        except Exception as err:  # a notebook display must never raise; say why in the log
            logging.getLogger(__name__).info("no HTML view of the model: %s", err)
            return None

    def apply_choices(self, patch, x: Tensor | None = None) -> "KAN":
        """A new model with the explorer's exported choices applied; see :func:`kanlab.explore.apply_choices`."""
        from .explore import apply_choices

        return apply_choices(self, patch, x)

    def set_mode(self, l: int, i: int, j: int, mode: str) -> None:
        """Edge (l, i, j) is numeric ('n'), symbolic ('s') or both ('ns')."""
        if mode not in ("n", "s", "ns", "sn"):
            raise ValueError(f"unknown mode {mode!r}; choose 'n', 's' or 'ns'")
        l, i, j = self.check_edge(l, i, j)
        with torch.no_grad():
            self.layers[l].mask[i, j] = float("n" in mode)
        self.symbolic[l].set_edge(i, j, active="s" in mode)

    def check_edge(self, l: int, i: int, j: int) -> tuple[int, int, int]:
        """(l, i, j) as ints (numpy and torch integers included), or IndexError/TypeError naming the problem."""
        try:
            l, i, j = operator.index(l), operator.index(i), operator.index(j)
        except TypeError:
            raise TypeError(f"an edge is named by integers (layer, input, output), got {(l, i, j)!r}") from None
        if not 0 <= l < self.depth:
            raise IndexError(f"layer {l} does not exist (depth {self.depth})")
        w = self.width
        n_out = self.layers[l].out_dim
        if not (0 <= i < w[l] and 0 <= j < n_out):
            what = "subnodes" if not self.nodes[l + 1].plain else "nodes"
            raise IndexError(f"edge ({l}, {i}, {j}) does not exist: layer {l} maps {w[l]} nodes -> {n_out} {what}")
        return l, i, j

    def fix_symbolic(self, l: int, i: int, j: int, fun_name: str, fit_params: bool = True, x: Tensor | None = None,
                     lib=None, **kwargs) -> float | None:
        """Snap edge (l, i, j) to ``fun_name``; see :func:`kanlab.symbolic.fit.fix_symbolic`. Returns r^2."""
        from .symbolic.fit import fix_symbolic

        return fix_symbolic(self, l, i, j, fun_name, fit_params=fit_params, x=x, lib=lib, **kwargs)

    def unfix_symbolic(self, l: int, i: int, j: int) -> None:
        """Return edge (l, i, j) to its numeric spline."""
        self.set_mode(l, i, j, "n")

    def suggest_symbolic(self, l: int, i: int, j: int, lib=None, topk: int = 5, weight_simple: float = 0.8,
                         x: Tensor | None = None, **kwargs):
        """Ranked candidate functions for edge (l, i, j); see :func:`kanlab.symbolic.fit.suggest_symbolic`."""
        from .symbolic.fit import suggest_symbolic

        return suggest_symbolic(self, l, i, j, lib=lib, topk=topk, weight_simple=weight_simple, x=x, **kwargs)

    def auto_symbolic(self, lib=None, r2_threshold: float = 0.0, weight_simple: float = 0.8,
                      x: Tensor | None = None, **kwargs) -> dict:
        """Snap every active numeric edge to its best library function (:func:`kanlab.symbolic.fit.auto_symbolic`)."""
        from .symbolic.fit import auto_symbolic

        return auto_symbolic(self, lib=lib, r2_threshold=r2_threshold, weight_simple=weight_simple, x=x, **kwargs)

    def symbolic_formula(self, var=None, simplify: bool = False, **kwargs):
        """([sympy expression per output], input symbols); see :func:`kanlab.symbolic.formula.symbolic_formula`."""
        from .symbolic.formula import symbolic_formula

        return symbolic_formula(self, var=var, simplify=simplify, **kwargs)

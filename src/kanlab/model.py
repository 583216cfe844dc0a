"""KAN: a stack of KANLayers with pykan's constructor keywords and workflow methods.

The model owns the layers and their forward. Training (``fit.py``), attribution and pruning (``prune.py``) live
in their own modules; the pykan-named methods here only delegate to them. Edits (refine, prune) return new models
and leave the original untouched.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from .layer import KANLayer, _check_base_fun

__all__ = ["KAN", "KANConfig"]


@dataclass
class KANConfig:
    """Everything needed to rebuild a KAN's architecture (the learned tensors live in the state dict)."""

    width: list[int]
    grid: list[int]  # per layer: number of grid intervals G (pykan default 3)
    k: list[int]  # per layer: spline order (cubic)
    noise_scale: float = 0.3  # spline init noise; pykan's default, small enough to start near the SiLU base
    scale_base_mu: float = 0.0  # mean of scale_base (times 1/sqrt(in))
    scale_base_sigma: float = 1.0  # spread of scale_base (times 1/sqrt(in))
    base_fun: str = "silu"  # residual function: 'silu', 'identity' or 'zero'
    grid_eps: float = 0.02  # update_grid blend: 1 = uniform, 0 = sample quantiles
    grid_range: tuple[float, float] = (-1.0, 1.0)  # initial grid span
    sp_trainable: bool = True
    sb_trainable: bool = True
    sparse_init: bool = False
    seed: int = 1  # seeds a private generator, never the global RNGs
    extra: dict[str, Any] = field(default_factory=dict)


def _check_width(width: Sequence) -> list[int]:
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence):
        raise TypeError(f"width must be a list of layer sizes like [2, 5, 1], got {width!r}")
    if len(width) < 2:
        raise ValueError(f"width needs at least an input and an output size, got {list(width)}")
    out = []
    for n in width:
        if isinstance(n, (list, tuple)):
            raise NotImplementedError(
                "multiplication nodes (KAN 2.0 width entries like [5, 2]) are not implemented yet; "
                "use plain integers"
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"every width entry must be a positive integer, got {list(width)}")
        out.append(int(n))
    return out


def _per_layer(name: str, value, depth: int) -> list[int]:
    vals = list(value) if isinstance(value, (list, tuple)) else [value] * depth
    if len(vals) != depth:
        raise ValueError(f"{name} has {len(vals)} entries but the network has {depth} layers")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1 (or a list of them), got {value!r}")
    return vals


class KAN(nn.Module):
    """Kolmogorov-Arnold Network.

    >>> model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    >>> model(torch.rand(10, 2)).shape
    torch.Size([10, 1])
    """

    def __init__(
        self,
        width: Sequence[int],
        grid: int | Sequence[int] = 3,
        k: int | Sequence[int] = 3,
        noise_scale: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        sparse_init: bool = False,
        seed: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **unsupported: Any,
    ) -> None:
        super().__init__()
        ignored = {"auto_save", "ckpt_path", "save_act", "symbolic_enabled", "affine_trainable", "first_init",
                   "state_id", "round", "mult_arity"}
        unknown = set(unsupported) - ignored
        if unknown:
            raise TypeError(f"KAN got unexpected keyword argument(s) {sorted(unknown)}")
        w = _check_width(width)  # a copy: the caller's list is never touched
        depth = len(w) - 1
        self.config = KANConfig(
            width=w, grid=_per_layer("grid", grid, depth), k=_per_layer("k", k, depth), noise_scale=noise_scale,
            scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma, base_fun=_check_base_fun(base_fun),
            grid_eps=grid_eps, grid_range=(float(grid_range[0]), float(grid_range[1])), sp_trainable=sp_trainable,
            sb_trainable=sb_trainable, sparse_init=sparse_init, seed=seed,
        )
        gen = torch.Generator().manual_seed(seed)
        c = self.config
        self.layers = nn.ModuleList(
            KANLayer(w[l], w[l + 1], grid=c.grid[l], k=c.k[l], noise_scale=noise_scale,
                     scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma, base_fun=base_fun,
                     grid_eps=grid_eps, grid_range=c.grid_range, sp_trainable=sp_trainable,
                     sb_trainable=sb_trainable, sparse_init=sparse_init, generator=gen, device=device, dtype=dtype)
            for l in range(depth)
        )
        self.fit_input_: Tensor | None = None  # training inputs of the last fit: the default data for prune

    # ------------------------------------------------------------------ structure
    @property
    def width(self) -> list[int]:
        """Current layer sizes (a fresh list)."""
        return [self.layers[0].in_dim] + [layer.out_dim for layer in self.layers]

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

    def _with_layers(self, layers: list[KANLayer]) -> "KAN":
        new = KAN.__new__(KAN)
        nn.Module.__init__(new)
        new.config = copy.deepcopy(self.config)
        new.layers = nn.ModuleList(layers)
        new.config.width = new.width
        new.config.grid = new.grid
        new.fit_input_ = self.fit_input_
        return new

    # ------------------------------------------------------------------ evaluation
    def check_input(self, x: Tensor, name: str = "input") -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.width[0]:
            raise ValueError(f"{name} must have shape (batch, {self.width[0]}) to match width[0], "
                             f"got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, width[0]) -> (B, width[-1])."""
        self.check_input(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """[x_0, x_1, ..., x_L]: the input of every layer and, last, the output. Differentiable."""
        self.check_input(x)
        acts = [x]
        for layer in self.layers:
            acts.append(layer(acts[-1]))
        return acts

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Fit every layer's grid to the data it sees, keeping the functions on those samples (in place)."""
        self.check_input(x)
        for layer in self.layers:
            layer.update_grid(x)
            x = layer(x)

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

    def prune_node(self, threshold: float = 1e-2, x: Tensor | None = None, active_neurons_id=None) -> "KAN":
        from .prune import prune_node

        return prune_node(self, threshold, x=x, active_neurons_id=active_neurons_id)

    def prune_edge(self, threshold: float = 3e-2, x: Tensor | None = None) -> "KAN":
        from .prune import prune_edge

        return prune_edge(self, threshold, x=x)

    def prune_input(self, threshold: float = 1e-2, x: Tensor | None = None, active_inputs=None) -> "KAN":
        from .prune import prune_input

        return prune_input(self, threshold, x=x, active_inputs=active_inputs)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2, x: Tensor | None = None) -> "KAN":
        """prune_node, then prune_edge with fresh scores. Returns a new, smaller model."""
        from .prune import prune

        return prune(self, node_th=node_th, edge_th=edge_th, x=x)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

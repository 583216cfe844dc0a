"""KANLayer: one layer of learnable edge functions.

Edge (i -> o) computes  mask[i,o] * (scale_base[i,o] * base(x_i) + scale_sp[i,o] * sum_c coef[i,o,c] B_c(x_i)).

The forward never forms the (batch, in, out) tensor: mask and scales fold into one weight (in, 1 + nb, out) and
the layer is features(x) @ weight, computed by :mod:`kanlab.ops` (native kernels on the CPU, torch ops elsewhere,
registered as torch custom ops). Before anything reaches the kernels the layer checks its own state (shapes, dtypes,
devices, k against the grid), since users edit layers in place (``layer.grid.data = ...``); the knot table and the
uniform flag are derived from the grid and rebuilt whenever its values change.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import native, splines
from ._ints import as_int
from .ops import (BASE_FUNCTIONS, _check_base_fun, _default_mode, _features, dense_basis, feature_cov, fold_weight,
                  grid_state, kan_layer)

__all__ = ["KANLayer", "BASE_FUNCTIONS"]


class KANLayer(nn.Module):
    """A layer of in_dim * out_dim learnable edge functions.

    Parameters: ``coef`` (in, out, G + k), ``scale_base`` (in, out), ``scale_sp`` (in, out).
    Buffers: ``grid`` (in, G + 2k + 1), ``mask`` (in, out).
    ``uniform`` (read-only, derived from the grid) tells whether every grid row is evenly spaced, which selects the
    closed-form basis.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid: int = 5,
        k: int = 3,
        noise_scale: float = 0.5,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        scale_sp: float = 1.0,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        grid_extend: str = "ends",
        grid_range: tuple[float, float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        sparse_init: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        in_dim, out_dim = as_int(in_dim, "in_dim", minimum=1), as_int(out_dim, "out_dim", minimum=1)
        grid, k = as_int(grid, "grid", minimum=1), as_int(k, "k", minimum=1)
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps}")
        self.in_dim, self.out_dim, self.k = in_dim, out_dim, k
        self.base_fun = _check_base_fun(base_fun)
        self.grid_eps = float(grid_eps)
        if grid_extend not in splines.EXTEND_RULES:
            raise ValueError(f"grid_extend must be one of {splines.EXTEND_RULES}, got {grid_extend!r}")
        self.grid_extend = grid_extend  # how update_grid places the knots outside an adaptive grid
        dtype = dtype or torch.get_default_dtype()
        fk = {"dtype": dtype, "device": device}

        g = splines.uniform_grid(in_dim, grid, k, grid_range, **fk)  # (in, G + 2k + 1)
        self.register_buffer("grid", g)
        mask = _sparse_mask(in_dim, out_dim, **fk) if sparse_init else torch.ones(in_dim, out_dim, **fk)
        self.register_buffer("mask", mask)
        # small random splines: noise at the inner knots, fitted by least squares
        gen_dev = generator.device if generator is not None else "cpu"
        noise = (torch.rand(grid + 1, in_dim, out_dim, generator=generator, device=gen_dev, dtype=dtype) - 0.5)
        noise = noise.to(device) * noise_scale / grid
        coef = splines.curve2coef(g[:, k:-k].t(), noise, g, k)
        self.coef = nn.Parameter(coef)
        u = torch.rand(in_dim, out_dim, generator=generator, device=gen_dev, dtype=dtype).to(device)
        sb = (scale_base_mu + scale_base_sigma * (2 * u - 1)) / math.sqrt(in_dim)
        self.scale_base = nn.Parameter(sb, requires_grad=sb_trainable)
        self.scale_sp = nn.Parameter(torch.full((in_dim, out_dim), scale_sp / math.sqrt(in_dim), **fk) * mask,
                                     requires_grad=sp_trainable)

    # ------------------------------------------------------------------ shapes
    @property
    def num(self) -> int:
        """G, the number of grid intervals."""
        return self.grid.shape[1] - 2 * self.k - 1

    @property
    def n_basis(self) -> int:
        return self.grid.shape[1] - self.k - 1

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, out_dim={self.out_dim}, grid={self.num}, k={self.k}, "
                f"base_fun={self.base_fun!r}, uniform={self.uniform}")

    # ------------------------------------------------------------------ evaluation
    def folded_weight(self) -> Tensor:
        """Mask and scales folded into one weight: (in, 1 + G + k, out); row 0 of each input is its base weight."""
        return fold_weight(self.mask, self.scale_base, self.scale_sp, self.coef)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in) -> (B, out)."""
        self.check_state(x)
        mode = _default_mode(x, self.k, self.base_fun)
        if native.tracing():  # torch.compile / export / jit.trace: the registered op (see ops.kan_layer)
            return kan_layer(x, self.mask, self.scale_base, self.scale_sp, self.coef, self.grid, self.k, False,
                             self.base_fun, None, mode)
        uniform, table = self._grid_state()
        return kan_layer(x, self.mask, self.scale_base, self.scale_sp, self.coef, self.grid, self.k, uniform,
                         self.base_fun, table if mode != "torch" else None, mode)

    def check_state(self, x: Tensor | None = None) -> None:
        """Refuse a layer whose parts do not fit together (users edit layers in place: ``layer.k = ...``,
        ``layer.grid.data = ...``), or an input that does not fit the layer, before any kernel reads raw memory.
        Raises ValueError for shapes, TypeError for dtypes and devices."""
        n_in, n_out, k, g = self.in_dim, self.out_dim, self.k, self.grid
        if x is not None and (x.ndim != 2 or x.shape[1] != n_in):
            raise ValueError(f"KANLayer expects input of shape (batch, {n_in}), got {tuple(x.shape)}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"the layer's spline order k must be an integer >= 1, got {k!r}")
        if g.ndim != 2 or g.shape[0] != n_in or g.shape[1] < 2 * k + 2:
            raise ValueError(f"the layer's grid has shape {tuple(g.shape)}; with in_dim={n_in} and k={k} it must be "
                             f"({n_in}, G + {2 * k + 1}) with G >= 1")
        expected = {"coef": (n_in, n_out, g.shape[1] - k - 1), "scale_base": (n_in, n_out),
                    "scale_sp": (n_in, n_out), "mask": (n_in, n_out)}
        ref = x if x is not None else g
        for name, shape in (("grid", tuple(g.shape)), *expected.items()):
            t = getattr(self, name)
            if tuple(t.shape) != shape:
                raise ValueError(f"the layer's {name} has shape {tuple(t.shape)}, but in_dim={n_in}, "
                                 f"out_dim={n_out}, k={k} and the grid {tuple(g.shape)} need {shape}")
            if t.dtype != ref.dtype or t.device != ref.device:
                what = "input" if x is not None else "grid"
                raise TypeError(f"the {what} has dtype {ref.dtype} on {ref.device} but the layer's {name} has dtype "
                                f"{t.dtype} on {t.device}; convert the input (x.to(...)) or the layer (layer.to(...))")

    @property
    def uniform(self) -> bool:
        """Whether every grid row is evenly spaced (selects the closed-form basis). Derived from the grid itself,
        so it is right after any change to the grid: update_grid, load_state_dict, ``grid.data = ...``."""
        return self._grid_state()[0]

    def _grid_state(self) -> tuple[bool, Tensor]:
        """(uniform, knot table for the kernels), rebuilt whenever the grid's values, shape, dtype, device or k change.

        The key is a copy of the grid, compared by value: ``grid.data.copy_(...)`` bumps no version counter, and
        ``grid.data = ...`` keeps the same tensor object, so neither identity nor version would see those edits.
        """
        g, k = self.grid, self.k
        cached = self.__dict__.get("_grid_cache")  # (grid copy, k, uniform, table)
        if (cached is not None and cached[1] == k and cached[0].shape == g.shape and cached[0].dtype == g.dtype
                and cached[0].device == g.device and torch.equal(cached[0], g)):
            return cached[2], cached[3]
        uniform, table = grid_state(g, k)
        self.__dict__["_grid_cache"] = (g.detach().clone(), k, uniform, table)
        return uniform, table

    def features(self, x: Tensor) -> Tensor:
        """Differentiable per-input features [base | bases]: (B, in) -> (B, in, 1 + G + k)."""
        feat, _, _ = _features(x, self.grid, self.k, self.uniform, self.base_fun)
        return feat.view(x.shape[0], self.in_dim, -1)

    def edge_activations(self, x: Tensor) -> Tensor:
        """Per-edge outputs, on request: (B, in) -> (B, in, out). Not used by forward."""
        return torch.einsum("bic,ico->bio", self.features(x), self.folded_weight())

    def spline_activations(self, x: Tensor) -> Tensor:
        """The raw splines sum_c coef B_c(x), without scales or mask: (B, in) -> (B, in, out)."""
        return torch.einsum("bic,ioc->bio", dense_basis(x, self.grid, self.k), self.coef)

    def edge_std(self, x: Tensor) -> Tensor:
        """Standard deviation over the batch of every edge's output, without the (B, in, out) tensor: (in, out).

        var_io = w_io^T Cov_i w_io, with Cov_i the covariance of input i's features. Differentiable.
        """
        self.check_state(x)
        uniform, table = (False, None) if native.tracing() else self._grid_state()
        cov = feature_cov(x, self.grid, self.k, uniform, self.base_fun, table)  # (in, 1 + nb, 1 + nb)
        w = self.folded_weight()  # (in, 1 + nb, out)
        var = (w * torch.bmm(cov, w)).sum(dim=1)  # (in, out)
        return torch.sqrt(var.clamp_min(0) + 1e-16)

    # ------------------------------------------------------------------ grid operations (in place on this layer)
    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Fit the grid to samples x (B, in), blending uniform and quantile knots, and refit coef so that every
        spline keeps its values on the samples. Rows holding NaN/inf (a symbolic edge upstream outside its domain,
        say) are left out; with none left, the grid stays as it is."""
        finite = torch.isfinite(x).all(dim=1)
        if not bool(finite.all()):
            x = x[finite]
            if x.shape[0] == 0:
                return
        y = self.spline_activations(x)  # (B, in, out)
        new_grid = splines.sample_grid(x, self.num, self.k, self.grid_eps, getattr(self, "grid_extend", "ends"))
        self.coef.data = splines.curve2coef(x, y, new_grid, self.k, basis=dense_basis(x, new_grid, self.k))
        self.grid = new_grid

    @torch.no_grad()
    def refine(self, new_num: int, samples_per_interval: int = 4) -> "KANLayer":
        """A new layer with ``new_num`` grid intervals and the same functions (grid extension).

        The new knots interpolate the old ones and keep the outer ones (nested when new_num is a multiple of G,
        which makes the transfer exact up to rounding, inside and outside the inner range); coefficients come from
        least squares on points spread over the old grid's whole support.
        """
        new = self.copy()
        new_grid = splines.refine_grid(self.grid, self.k, new_num)
        inner_lo, inner_hi = self.grid[:, 0], self.grid[:, -1]  # the whole support, outer intervals included
        n = (max(new_num, self.num) + 2 * self.k) * samples_per_interval * (self.k + 1) + 1
        s = torch.linspace(0, 1, n, dtype=self.grid.dtype, device=self.grid.device).unsqueeze(1)
        xs = inner_lo + (inner_hi - inner_lo) * s  # (n, in)
        new.coef = nn.Parameter(splines.curve2coef(xs, self.spline_activations(xs), new_grid, self.k,
                                                   basis=dense_basis(xs, new_grid, self.k)),
                                requires_grad=self.coef.requires_grad)
        new.grid = new_grid
        return new

    @torch.no_grad()
    def subset(self, in_ids: Tensor | list[int], out_ids: Tensor | list[int]) -> "KANLayer":
        """A new layer keeping only the given inputs and outputs."""
        in_ids = torch.as_tensor(in_ids, dtype=torch.long, device=self.grid.device)
        out_ids = torch.as_tensor(out_ids, dtype=torch.long, device=self.grid.device)
        new = self.copy()
        new.in_dim, new.out_dim = len(in_ids), len(out_ids)
        new.grid = self.grid[in_ids].clone()
        new.mask = self.mask[in_ids][:, out_ids].clone()
        for name in ("coef", "scale_base", "scale_sp"):
            p = getattr(self, name)
            setattr(new, name, nn.Parameter(p[in_ids][:, out_ids].clone(), requires_grad=p.requires_grad))
        return new

    def copy(self) -> "KANLayer":
        import copy

        return copy.deepcopy(self)


def _sparse_mask(in_dim: int, out_dim: int, dtype: torch.dtype, device) -> Tensor:
    """Connect each input to its nearest output and each output to its nearest input (positions on [0, 1])."""
    pin = (torch.arange(in_dim, dtype=torch.float64) + 0.5) / in_dim
    pout = (torch.arange(out_dim, dtype=torch.float64) + 0.5) / out_dim
    dist = (pin[:, None] - pout[None, :]).abs()  # (in, out)
    mask = torch.zeros(in_dim, out_dim, dtype=dtype, device=device)
    mask[torch.arange(in_dim), dist.argmin(dim=1)] = 1
    mask[dist.argmin(dim=0), torch.arange(out_dim)] = 1
    return mask

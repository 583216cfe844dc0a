"""KANLayer: one layer of learnable edge functions.

Edge (i -> o) computes  mask[i,o] * (scale_base[i,o] * base(x_i) + scale_sp[i,o] * sum_c coef[i,o,c] B_c(x_i)).

The forward never forms the (batch, in, out) tensor. Per input value the features are [base(x) | B_0(x) ..
B_{nb-1}(x)], of which only the base and k + 1 of the nb = G + k bases are nonzero; mask and scales are folded
into one weight (in, 1 + nb, out), so the layer is features(x) @ weight. On the CPU the native kernels
(:mod:`kanlab.native`) either add just the k + 2 active weight rows per input value ("sparse") or build the dense
features in one pass for a GEMM ("dense"); elsewhere the same maths runs in torch ops. One custom autograd function
serves all three; under create_graph it rebuilds everything from x with ordinary differentiable ops, so gradients
of gradients (physics-informed losses) work too.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from . import native, splines

__all__ = ["KANLayer", "BASE_FUNCTIONS"]


def _silu(x: Tensor) -> Tensor:
    return torch.nn.functional.silu(x)


def _silu_grad(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


# name -> (function, derivative)
BASE_FUNCTIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "silu": (_silu, _silu_grad),
    "identity": (lambda x: x, torch.ones_like),
    "zero": (torch.zeros_like, torch.zeros_like),
}


def _check_base_fun(name: str) -> str:
    if not isinstance(name, str) or name not in BASE_FUNCTIONS:
        raise ValueError(f"unknown base_fun {name!r}; choose one of {sorted(BASE_FUNCTIONS)}")
    return name


def _features(x: Tensor, grid: Tensor, k: int, uniform: bool, base: str,
              derivatives: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """Flattened features [base | bases] per input, and what the backward needs (the torch path).

    x: (B, in) -> feat (B, in * (1 + nb)), interval index i (B, in), local basis derivatives (B, in, k + 1) or None
    """
    nb = grid.shape[1] - k - 1
    i, vals, ders = splines.local_basis(x, grid, k, uniform, derivatives)
    feat = x.new_empty(x.shape[0], x.shape[1], 1 + nb)
    feat[..., 1:] = splines.padded_dense(i, vals, nb)
    feat[..., 0] = BASE_FUNCTIONS[base][0](x)
    return feat.view(x.shape[0], -1), i, ders


def _layer_forward(x: Tensor, weight: Tensor, grid: Tensor, k: int, uniform: bool, base: str, table: Tensor | None,
                   mode: str, need_x: bool) -> tuple[Tensor, tuple]:
    """y (B, out) and what the backward keeps besides x and the weight: (features, interval index, slopes)."""
    feat = i = ders = None
    if mode == "sparse":
        y = native.sparse_forward(x, weight, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype),
                                  base)
    else:
        if mode == "dense":
            feat = native.features(x, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype), base)
        else:
            feat, i, ders = _features(x, grid, k, uniform, base, derivatives=need_x)
        y = feat @ weight.view(-1, weight.shape[-1])  # (B, out)
    return y, (feat, i, ders)


def _layer_backward(grad_out: Tensor, x: Tensor, weight: Tensor, grid: Tensor, saved: tuple, table: Tensor | None,
                    conf: tuple, need_x: bool, need_w: bool, fold: tuple[Tensor, Tensor] | None = None):
    """(dL/dx, dL/dweight) of :func:`_layer_forward`; in sparse mode with ``fold = (ws, coef)``, (dL/dx,
    (dL/dwb, dL/dws, dL/dcoef)) straight from the kernel (see native.sparse_backward)."""
    k, uniform, base, mode = conf
    feat, i, ders = saved
    if torch.is_grad_enabled():  # create_graph=True: the saved tensors are not connected to x
        feat, i, ders = _features(x, grid, k, uniform, base, derivatives=need_x)
        mode = "torch"
    if mode == "sparse":
        return native.sparse_backward(x, weight, grad_out, table, grid.shape[1], k, uniform,
                                      splines.uniform_matrix(k, x.dtype), base, need_x, need_w, fold=fold)
    grad_x = grad_w = None
    if need_w:
        grad_w = (feat.t() @ grad_out).view(weight.shape)
    if need_x:
        g = grad_out @ weight.view(-1, weight.shape[-1]).t()  # (B, in * (1 + nb))
        if mode == "dense":  # the slopes are recomputed from x inside one fused pass
            grad_x = native.backward_x(x, g, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype),
                                       base)
        else:
            g = g.view(x.shape[0], x.shape[1], -1)  # (B, in, 1 + nb)
            local = splines.padded_gather(i, g[..., 1:], k)  # (B, in, k + 1)
            grad_x = g[..., 0] * BASE_FUNCTIONS[base][1](x) + (local * ders).sum(-1)
    return grad_x, grad_w


class _KANLayerFunction(torch.autograd.Function):
    """y = features(x) @ weight.view(in * (1 + nb), out), with weight (in, 1 + nb, out).

    Three ways, chosen by ``mode``:
    - "sparse" (native, large grids): one fused pass adds the k + 2 active weight rows of every input value; the
      backward is one fused pass too. Saves x and the weight only.
    - "dense" (native, small grids): the dense features in one fused pass, then a GEMM; saves x, the weight and the
      features (1 + G + k floats per input value); the backward is two GEMMs and one fused pass that recomputes
      the local slopes from x.
    - "torch" (other devices and dtypes, or ``KANLAB_NATIVE=0``): the same with torch ops; also saves the
      interval index and the k + 1 local slopes.
    Under create_graph (gradients of gradients) the backward rebuilds everything from x with differentiable ops.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, grid: Tensor, k: int, uniform: bool, base: str,
                table: Tensor | None, mode: str) -> Tensor:
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        weight = weight.contiguous()
        y, saved = _layer_forward(x, weight, grid, k, uniform, base, table, mode, need_x)
        if need_x or need_w:
            ctx.save_for_backward(x, weight, grid, table, *saved)
        ctx.conf = (k, uniform, base, mode)
        return y

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight, grid, table, *saved = ctx.saved_tensors
        grad_x, grad_w = _layer_backward(grad_out, x, weight, grid, tuple(saved), table, ctx.conf,
                                         ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return grad_x, grad_w, None, None, None, None, None, None


def _fold_values(mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor) -> Tensor:
    """The folded weight's values, outside autograd: one native pass on the CPU, torch ops elsewhere."""
    if native.supports_tensor(coef):
        return native.fold_forward(mask * sb, mask * sp, coef)
    return _fold_torch(mask, sb, sp, coef)


def _fold_grads(grad_w: Tensor, mask: Tensor, sp: Tensor, coef: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """dL/dscale_base, dL/dscale_sp, dL/dcoef from dL/dweight (in, 1 + nb, out): one native pass, or
    differentiable torch ops under create_graph or off the CPU."""
    if native.supports_tensor(coef) and not torch.is_grad_enabled():
        g_wb, g_ws, g_coef = native.fold_backward(grad_w, mask * sp, coef)
    else:
        gs = grad_w[:, 1:, :].transpose(1, 2)  # (in, out, nb)
        g_wb, g_ws, g_coef = grad_w[:, 0, :], (gs * coef).sum(-1), gs * (mask * sp).unsqueeze(-1)
    return g_wb * mask, g_ws * mask, g_coef


class _KANLayerFoldFunction(torch.autograd.Function):
    """The layer from its parameters: the weight is folded inside (mask, scale_base, scale_sp, coef), so no
    separate node owns it, and in sparse mode the fold's gradient is taken input by input inside the backward
    kernel, while that input's weight-gradient rows are still in cache."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor, grid: Tensor, k: int,
                uniform: bool, base: str, table: Tensor | None, mode: str) -> Tensor:
        need_x, need_w = ctx.needs_input_grad[0], any(ctx.needs_input_grad[2:5])
        weight = _fold_values(mask, sb, sp, coef)
        y, saved = _layer_forward(x, weight, grid, k, uniform, base, table, mode, need_x)
        if need_x or need_w:
            ctx.save_for_backward(x, weight, grid, table, mask, sb, sp, coef, *saved)
        ctx.conf = (k, uniform, base, mode)
        return y

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight, grid, table, mask, sb, sp, coef, *saved = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], any(ctx.needs_input_grad[2:5])
        if torch.is_grad_enabled():  # create_graph: a weight connected to the parameters, differentiable grads
            weight = _fold_torch(mask, sb, sp, coef)
        direct = ctx.conf[3] == "sparse" and not torch.is_grad_enabled()
        grad_x, grad_w = _layer_backward(grad_out, x, weight, grid, tuple(saved), table, ctx.conf, need_x, need_w,
                                         fold=(mask * sp, coef) if direct else None)
        g_sb = g_sp = g_coef = None
        if need_w and direct:  # the kernel already took the fold's gradient
            g_wb, g_ws, g_coef = grad_w
            g_sb, g_sp = g_wb * mask, g_ws * mask
        elif need_w:
            g_sb, g_sp, g_coef = _fold_grads(grad_w, mask, sp, coef)
        return grad_x, None, g_sb, g_sp, g_coef, None, None, None, None, None, None


def _fold_torch(mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor) -> Tensor:
    """The folded weight (in, 1 + nb, out) with differentiable torch ops; see :func:`fold_weight`."""
    return torch.cat([(mask * sb).unsqueeze(1), ((mask * sp).unsqueeze(-1) * coef).transpose(1, 2)], dim=1)


class _FoldFunction(torch.autograd.Function):
    """:func:`_fold_torch` in one native pass each way (CPU), with no autograd nodes for the mask products."""

    @staticmethod
    def forward(ctx, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor) -> Tensor:
        ctx.save_for_backward(mask, sp, coef)
        return _fold_values(mask, sb, sp, coef)

    @staticmethod
    def backward(ctx, grad_w: Tensor):
        mask, sp, coef = ctx.saved_tensors
        return (None, *_fold_grads(grad_w, mask, sp, coef))


def fold_weight(mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor) -> Tensor:
    """The layer's weight (in, 1 + nb, out): row 0 of input i is mask * scale_base, row 1 + c is
    mask * scale_sp * coef[..., c] (mask, sb, sp: (in, out); coef: (in, out, nb)). Differentiable in sb, sp, coef."""
    if native.supports_tensor(coef):  # False while tracing
        return _FoldFunction.apply(mask, sb, sp, coef)
    return _fold_torch(mask, sb, sp, coef)


def _feature_cov_torch(x: Tensor, grid: Tensor, k: int, uniform: bool, base: str) -> Tensor:
    """Covariance over the batch of each input's features, differentiable: (B, in) -> (in, 1 + nb, 1 + nb)."""
    feat = _features(x, grid, k, uniform, base)[0].view(x.shape[0], x.shape[1], -1)
    centred = feat - feat.mean(dim=0, keepdim=True)
    return torch.einsum("bic,bid->icd", centred, centred) / max(x.shape[0] - 1, 1)


class _FeatureCovFunction(torch.autograd.Function):
    """:func:`_feature_cov_torch` in native passes over the k + 2 nonzero features per value (CPU)."""

    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, k: int, uniform: bool, base: str, table: Tensor) -> Tensor:
        cov, mean = native.feature_cov(x, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype), base)
        ctx.save_for_backward(x, grid, table, mean)
        ctx.conf = (k, uniform, base)
        return cov

    @staticmethod
    def backward(ctx, grad_cov: Tensor):
        x, grid, table, mean = ctx.saved_tensors
        k, uniform, base = ctx.conf
        if torch.is_grad_enabled():  # create_graph: differentiate the torch version
            cov = _feature_cov_torch(x, grid, k, uniform, base)  # x is connected to the graph here
            (grad_x,) = torch.autograd.grad(cov, x, grad_cov, create_graph=True)
        else:
            grad_x = native.feature_cov_backward(x, grad_cov, mean, table, grid.shape[1], k, uniform,
                                                 splines.uniform_matrix(k, x.dtype), base)
        return grad_x, None, None, None, None, None


def feature_cov(x: Tensor, grid: Tensor, k: int, uniform: bool, base: str, table: Tensor | None = None) -> Tensor:
    """Covariance over the batch of each input's features [base | bases]: (B, in) -> (in, 1 + nb, 1 + nb).
    Differentiable in x; native on the CPU (never forms the dense features), torch ops elsewhere."""
    if native.supports(x, k, base):
        table = native.knot_table(grid, k) if table is None else table
        return _FeatureCovFunction.apply(x, grid, k, uniform, base, table)
    return _feature_cov_torch(x, grid, k, uniform, base)


def _default_mode(x: Tensor, k: int, base: str, n_basis: int, out_dim: int) -> str:
    """"sparse" or "dense" where the native kernels apply (whichever measured faster for this shape), else "torch"."""
    if not native.supports(x, k, base):
        return "torch"
    return "sparse" if native.use_sparse(n_basis, k, out_dim) else "dense"


def layer_function(x: Tensor, weight: Tensor, grid: Tensor, k: int, uniform: bool, base: str,
                   table: Tensor | None = None, mode: str | None = None) -> Tensor:
    """features(x) @ weight through the layer's autograd function: x (B, in), weight (in, 1 + nb, out) -> (B, out).

    ``mode`` is "sparse", "dense" or "torch" (see :class:`_KANLayerFunction`); by default the native kernels are
    used where they apply, sparse on grids where that is faster. ``table`` is their knot layout, built when not
    given.
    """
    n_in, n_knots = x.shape[1], grid.shape[1]
    if grid.shape[0] != n_in or weight.ndim != 3 or weight.shape[:2] != (n_in, n_knots - k):
        raise ValueError(f"shapes do not fit: x {tuple(x.shape)}, grid {tuple(grid.shape)}, weight "
                         f"{tuple(weight.shape)}; expected grid ({n_in}, n_knots) and weight ({n_in}, n_knots - k, out)")
    if table is not None and table.shape != (n_knots + 2 * k + 2, n_in):
        raise ValueError(f"knot table has shape {tuple(table.shape)}, expected {(n_knots + 2 * k + 2, n_in)}")
    for name, t in (("weight", weight), ("grid", grid)):  # the kernels read raw memory: never guess
        if t.dtype != x.dtype:
            raise TypeError(f"input has dtype {x.dtype} but the layer's {name} is {t.dtype}; convert the input "
                            f"(x.to({t.dtype})) or the layer")
        if t.device != x.device:
            raise ValueError(f"input is on {x.device} but the layer's {name} is on {t.device}")
    if mode is None:
        mode = _default_mode(x, k, base, weight.shape[1] - 1, weight.shape[2])
    elif mode not in ("sparse", "dense", "torch"):
        raise ValueError(f"unknown mode {mode!r}; choose 'sparse', 'dense' or 'torch'")
    elif mode != "torch" and not native.supports(x, k, base):
        raise ValueError(f"mode {mode!r} needs the native kernels, which do not apply here "
                         f"(device {x.device}, dtype {x.dtype}, k={k}, or disabled)")
    if native.tracing():  # torch.jit.trace / torch.compile: plain differentiable ops, no custom Function
        return _features(x, grid, k, uniform, base)[0] @ weight.reshape(-1, weight.shape[-1])
    if mode != "torch" and table is None:
        table = native.knot_table(grid, k)
    return _KANLayerFunction.apply(x, weight, grid, k, uniform, base, table if mode != "torch" else None, mode)


class KANLayer(nn.Module):
    """A layer of in_dim * out_dim learnable edge functions.

    Parameters: ``coef`` (in, out, G + k), ``scale_base`` (in, out), ``scale_sp`` (in, out).
    Buffers: ``grid`` (in, G + 2k + 1), ``mask`` (in, out).
    ``uniform`` records whether every grid row is evenly spaced, which selects the closed-form basis.
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
        grid_range: tuple[float, float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        sparse_init: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be an integer >= 1, got {grid!r}")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps}")
        self.in_dim, self.out_dim, self.k = in_dim, out_dim, k
        self.base_fun = _check_base_fun(base_fun)
        self.grid_eps = float(grid_eps)
        self.uniform = True
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
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"KANLayer expects input of shape (batch, {self.in_dim}), got {tuple(x.shape)}")
        if native.tracing():  # plain ops for tracers (see layer_function)
            return layer_function(x, self.folded_weight(), self.grid, self.k, self.uniform, self.base_fun)
        if x.dtype != self.coef.dtype or x.device != self.coef.device:
            raise TypeError(f"input has dtype {x.dtype} on {x.device} but the layer is {self.coef.dtype} on "
                            f"{self.coef.device}; convert the input (x.to(...)) or the layer")
        mode = _default_mode(x, self.k, self.base_fun, self.n_basis, self.out_dim)
        table = self._knot_table() if mode != "torch" else None
        return _KANLayerFoldFunction.apply(x, self.mask, self.scale_base, self.scale_sp, self.coef, self.grid,
                                           self.k, self.uniform, self.base_fun, table, mode)

    def _knot_table(self) -> Tensor:
        """The native kernels' knot layout, rebuilt only when the grid changes."""
        cached = self.__dict__.get("_table")  # (grid, its version, k, table); holding the grid keeps `is` sound
        if cached is None or cached[0] is not self.grid or cached[1] != self.grid._version or cached[2] != self.k:
            cached = (self.grid, self.grid._version, self.k, native.knot_table(self.grid, self.k))
            self.__dict__["_table"] = cached
        return cached[3]

    def features(self, x: Tensor) -> Tensor:
        """Differentiable per-input features [base | bases]: (B, in) -> (B, in, 1 + G + k)."""
        feat, _, _ = _features(x, self.grid, self.k, self.uniform, self.base_fun)
        return feat.view(x.shape[0], self.in_dim, -1)

    def edge_activations(self, x: Tensor) -> Tensor:
        """Per-edge outputs, on request: (B, in) -> (B, in, out). Not used by forward."""
        return torch.einsum("bic,ico->bio", self.features(x), self.folded_weight())

    def spline_activations(self, x: Tensor) -> Tensor:
        """The raw splines sum_c coef B_c(x), without scales or mask: (B, in) -> (B, in, out)."""
        i, vals, _ = splines.local_basis(x, self.grid, self.k, self.uniform, derivatives=False)
        basis = splines.padded_dense(i, vals, self.n_basis)  # (B, in, nb)
        return torch.einsum("bic,ioc->bio", basis, self.coef)

    def edge_std(self, x: Tensor) -> Tensor:
        """Standard deviation over the batch of every edge's output, without the (B, in, out) tensor: (in, out).

        var_io = w_io^T Cov_i w_io, with Cov_i the covariance of input i's features. Differentiable.
        """
        table = self._knot_table() if native.supports(x, self.k, self.base_fun) else None
        cov = feature_cov(x, self.grid, self.k, self.uniform, self.base_fun, table)  # (in, 1 + nb, 1 + nb)
        w = self.folded_weight()  # (in, 1 + nb, out)
        var = (w * torch.bmm(cov, w)).sum(dim=1)  # (in, out)
        return torch.sqrt(var.clamp_min(0) + 1e-16)

    # ------------------------------------------------------------------ grid operations (in place on this layer)
    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Fit the grid to samples x (B, in), blending uniform and quantile knots, and refit coef so that every
        spline keeps its values on the samples."""
        y = self.spline_activations(x)  # (B, in, out)
        new_grid = splines.sample_grid(x, self.num, self.k, self.grid_eps)
        self.coef.data = splines.curve2coef(x, y, new_grid, self.k)
        self.grid = new_grid
        self.uniform = self.grid_eps == 1.0 and splines.is_uniform(new_grid)

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
        new.coef = nn.Parameter(splines.curve2coef(xs, self.spline_activations(xs), new_grid, self.k),
                                requires_grad=self.coef.requires_grad)
        new.grid = new_grid
        new.uniform = splines.is_uniform(new_grid)
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

"""The layer's maths, and the native kernels as torch custom ops.

A layer is y = features(x) @ W with W = fold(mask, scale_base, scale_sp, coef) (in, 1 + nb, out) and, per input
value, the features [base(x) | B_0(x) .. B_{nb-1}(x)], of which only the base and k + 1 bases are nonzero. Three
ways compute it (see :class:`_KANLayerFunction`): the native "sparse" and "dense" kernels (:mod:`kanlab.native`)
and plain torch ops (the reference, other devices, gradients of gradients).

Registered with ``torch.library`` (one op name per operation, CPU kernels now, a CUDA kernel later):
- ``kanlab::layer(x, mask, sb, sp, coef, grid, k, base, mode) -> y`` and ``kanlab::layer_backward``;
- ``kanlab::fold(mask, sb, sp, coef) -> W`` and ``kanlab::fold_backward``;
- ``kanlab::feature_cov(x, grid, k, base) -> (cov, mean)`` and ``kanlab::feature_cov_backward``.
Each has a fake (meta) implementation and an autograd formula, so ``torch.compile`` and ``torch.export`` trace a
model through them without a graph break. The ops derive the knot table and the uniform flag from the grid on
every call. In eager mode the layer calls the same implementations through autograd Functions directly, with the
knot table and flag cached per grid: the dispatcher round trip costs more than a small layer's kernels (see
``benchmarks/bench_layer.py``, "custom-op dispatch").
"""


from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import native, splines

__all__ = ["BASE_FUNCTIONS", "layer_function", "fold_weight", "feature_cov", "kan_layer", "grid_state"]


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
    return feat.reshape(x.shape[0], x.shape[1] * (1 + nb)), i, ders  # reshape: a zero-row batch works too


def dense_basis(x: Tensor, grid: Tensor, k: int) -> Tensor:
    """The B-spline bases of every input, no autograd: x (B, in), grid (in, n_knots) -> (B, in, n_knots - k - 1).
    One native pass on the CPU (grid checked by :func:`grid_state`), :func:`kanlab.splines.bspline_basis`
    elsewhere; the same values either way (points off the grid get zeros)."""
    if not native.supports(x, k, "zero") or native.tracing() or grid.dtype != x.dtype or grid.device != x.device \
            or grid.ndim != 2 or grid.shape[0] != x.shape[1] or x.ndim != 2:
        return splines.bspline_basis(x, grid, k)
    uniform, table = grid_state(grid, k)
    feat = native.features(x, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype), "zero")
    return feat.view(x.shape[0], x.shape[1], grid.shape[1] - k)[..., 1:]


def _flat(weight: Tensor) -> Tensor:
    """(in, 1 + nb, out) -> (in * (1 + nb), out), also when a dimension is 0."""
    return weight.reshape(weight.shape[0] * weight.shape[1], weight.shape[2])


def _saved_features(x: Tensor, grid: Tensor, k: int, uniform: bool, base: str, table: Tensor | None, mode: str,
                    need_x: bool) -> tuple:
    """What the backward needs besides x and the weight: (features, interval index, slopes), None where unused."""
    if mode == "sparse":
        return None, None, None
    if mode == "dense":
        return native.features(x, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype), base), None, None
    return _features(x, grid, k, uniform, base, derivatives=need_x)


def _layer_forward(x: Tensor, weight: Tensor, grid: Tensor, k: int, uniform: bool, base: str, table: Tensor | None,
                   mode: str, need_x: bool) -> tuple[Tensor, tuple]:
    """y (B, out) and what the backward keeps besides x and the weight: (features, interval index, slopes)."""
    if mode == "sparse":
        y = native.sparse_forward(x, weight, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype),
                                  base)
        return y, (None, None, None)
    saved = _saved_features(x, grid, k, uniform, base, table, mode, need_x)
    return saved[0] @ _flat(weight), saved  # (B, out)


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
        g = grad_out @ _flat(weight).t()  # (B, in * (1 + nb))
        if mode == "dense":  # the slopes are recomputed from x inside one fused pass
            grad_x = native.backward_x(x, g, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype),
                                       base)
        else:
            g = g.view(x.shape[0], x.shape[1], weight.shape[1])  # (B, in, 1 + nb)
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


def _standard_strides(t: Tensor) -> Tensor:
    """t itself when its strides are the standard ones; else a view with them when its memory is contiguous (a
    slice along a size-1 dimension keeps the parent's stride there, which DDP's gradient buckets warn about), else
    a contiguous copy."""
    if not t.is_contiguous():
        return t.contiguous()
    stride, standard = 1, []
    for size in reversed(t.shape):
        standard.append(stride)
        stride *= size
    return t if t.stride() == tuple(reversed(standard)) else t.reshape(-1).view(t.shape)


def _fold_grads(grad_w: Tensor, mask: Tensor, sp: Tensor, coef: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """dL/dscale_base, dL/dscale_sp, dL/dcoef from dL/dweight (in, 1 + nb, out): one native pass, or
    differentiable torch ops under create_graph or off the CPU."""
    if native.supports_tensor(coef) and not torch.is_grad_enabled():
        g_wb, g_ws, g_coef = native.fold_backward(grad_w, mask * sp, coef)
    else:
        gs = grad_w[:, 1:, :].transpose(1, 2)  # (in, out, nb)
        g_wb, g_ws, g_coef = grad_w[:, 0, :], (gs * coef).sum(-1), gs * (mask * sp).unsqueeze(-1)
    return g_wb * mask, g_ws * mask, _standard_strides(g_coef)


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
        grads = _fold_layer_backward(grad_out, x, mask, sb, sp, coef, grid, weight, tuple(saved), table, ctx.conf,
                                     need_x, need_w)
        return grads[0], None, *grads[1:], None, None, None, None, None, None


def _fold_layer_backward(grad_out: Tensor, x: Tensor, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor,
                         grid: Tensor, weight: Tensor | None, saved: tuple, table: Tensor | None, conf: tuple,
                         need_x: bool, need_w: bool) -> tuple[Tensor | None, ...]:
    """(dL/dx, dL/dsb, dL/dsp, dL/dcoef) of the layer from its parameters, None where not needed; ``weight`` and
    ``saved`` are the forward's (see :func:`_layer_forward`). Under create_graph everything is rebuilt from x and
    the parameters with differentiable torch ops; in sparse mode the kernel takes the fold's gradient itself."""
    if torch.is_grad_enabled():  # create_graph: a weight connected to the parameters, differentiable grads
        weight = _fold_torch(mask, sb, sp, coef)
    direct = conf[3] == "sparse" and not torch.is_grad_enabled()
    grad_x, grad_w = _layer_backward(grad_out, x, weight, grid, saved, table, conf, need_x, need_w,
                                     fold=(mask * sp, coef) if direct else None)
    if not need_w:
        return grad_x, None, None, None
    if direct:  # the kernel already took the fold's gradient
        g_wb, g_ws, g_coef = grad_w
        return grad_x, g_wb * mask, g_ws * mask, _standard_strides(g_coef)
    return (grad_x, *_fold_grads(grad_w, mask, sp, coef))


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
    if not native.supports_tensor(coef):
        return _fold_torch(mask, sb, sp, coef)
    if native.tracing():
        return torch.ops.kanlab.fold(mask, sb, sp, coef)
    return _FoldFunction.apply(mask, sb, sp, coef)


def _feature_cov_torch(x: Tensor, grid: Tensor, k: int, uniform: bool, base: str) -> Tensor:
    """Covariance over the batch of each input's features, differentiable: (B, in) -> (in, 1 + nb, 1 + nb)."""
    feat = _features(x, grid, k, uniform, base)[0].view(x.shape[0], x.shape[1], grid.shape[1] - k)
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
    if not native.supports(x, k, base):
        return _feature_cov_torch(x, grid, k, uniform, base)
    if native.tracing():
        return torch.ops.kanlab.feature_cov(x, grid, k, base)[0]
    table = native.knot_table(grid, k) if table is None else table
    return _FeatureCovFunction.apply(x, grid, k, uniform, base, table)


def _default_mode(x: Tensor, k: int, base: str) -> str:
    """native.DEFAULT_MODE where the native kernels apply, else "torch"."""
    return native.DEFAULT_MODE if native.supports(x, k, base) else "torch"


def layer_function(x: Tensor, weight: Tensor, grid: Tensor, k: int, uniform: bool, base: str,
                   table: Tensor | None = None, mode: str | None = None) -> Tensor:
    """features(x) @ weight through the layer's autograd function: x (B, in), weight (in, 1 + nb, out) -> (B, out).

    ``mode`` is "sparse", "dense" or "torch" (see :class:`_KANLayerFunction`); by default native.DEFAULT_MODE where
    the native kernels apply. ``table`` is their knot layout, built when not given.
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
    mode = _default_mode(x, k, base) if mode is None else mode
    _check_mode(mode, x, k, base)
    if native.tracing():  # torch.jit.trace / torch.compile: plain differentiable ops (the model-level op is kan_layer)
        return _features(x, grid, k, uniform, base)[0] @ _flat(weight)
    if mode != "torch" and table is None:
        table = native.knot_table(grid, k)
    return _KANLayerFunction.apply(x, weight, grid, k, uniform, base, table if mode != "torch" else None, mode)




def _check_mode(mode: str, x: Tensor, k: int, base: str) -> None:
    if mode not in ("sparse", "dense", "torch"):
        raise ValueError(f"unknown mode {mode!r}; choose 'sparse', 'dense' or 'torch'")
    if mode != "torch" and not native.supports(x, k, base):
        raise ValueError(f"mode {mode!r} needs the native kernels, which do not apply here "
                         f"(device {x.device}, dtype {x.dtype}, k={k}, or disabled)")


def kan_layer(x: Tensor, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor, grid: Tensor, k: int, uniform: bool,
              base: str, table: Tensor | None, mode: str) -> Tensor:
    """A layer from its parameters: x (B, in) -> (B, out), differentiable in x, sb, sp and coef.

    The caller (KANLayer.forward) has checked every shape, dtype and device. ``uniform`` and ``table`` come from the
    layer's per-grid cache in eager mode; under torch.compile/export/jit.trace the registered op
    ``kanlab::layer`` is called instead (it derives both from the grid), or plain torch ops in "torch" mode.
    """
    if native.tracing():
        if mode == "torch":  # plain ops, which a compiler can fuse (the general basis: uniform is not known here)
            return _features(x, grid, k, False, base)[0] @ _flat(_fold_torch(mask, sb, sp, coef))
        return torch.ops.kanlab.layer(x, mask, sb, sp, coef, grid, k, base, mode)
    return _KANLayerFoldFunction.apply(x, mask, sb, sp, coef, grid, k, uniform, base, table, mode)


# ---------------------------------------------------------------------------------------------------------------
# torch.library registrations: kanlab::layer, kanlab::fold, kanlab::feature_cov and their backwards
# ---------------------------------------------------------------------------------------------------------------
def grid_state(grid: Tensor, k: int) -> tuple[bool, Tensor]:
    """(uniform, knot table for the kernels) of a grid (in, n_knots), after checking it: every row finite and
    non-decreasing (ValueError otherwise). ``uniform``: evenly spaced rows with no repeated knot, which selects the
    closed-form basis. KANLayer caches this per grid; the registered ops derive it on every call."""
    with torch.no_grad():
        diffs = grid.diff(dim=1)
        if not bool(torch.isfinite(grid).all()) or bool((diffs < 0).any()):
            raise ValueError("the layer's grid has NaN/inf or decreasing knots; every row must be finite and "
                             "non-decreasing")
        return splines.is_uniform(grid) and bool((diffs > 0).all()), native.knot_table(grid, k)


@torch.library.custom_op("kanlab::layer", mutates_args=())
def _layer_op(x: Tensor, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor, grid: Tensor, k: int, base: str,
              mode: str) -> Tensor:
    """y (B, out) = features(x) @ fold(mask, sb, sp, coef); see :func:`kan_layer`."""
    _check_mode(mode, x, k, base)
    uniform, table = grid_state(grid, k)
    with torch.no_grad():
        return _layer_forward(x, _fold_values(mask, sb, sp, coef), grid, k, uniform, base, table, mode, False)[0]


@_layer_op.register_fake
def _(x, mask, sb, sp, coef, grid, k, base, mode):
    return x.new_empty(x.shape[0], coef.shape[1])


@torch.library.custom_op("kanlab::layer_backward", mutates_args=())
def _layer_backward_op(grad_out: Tensor, x: Tensor, mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor, grid: Tensor,
                       k: int, base: str, mode: str, need_x: bool, need_w: bool
                       ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(dL/dx, dL/dsb, dL/dsp, dL/dcoef) of kanlab::layer; an unwanted gradient comes back as an empty tensor."""
    _check_mode(mode, x, k, base)
    uniform, table = grid_state(grid, k)
    with torch.no_grad():
        saved = _saved_features(x, grid, k, uniform, base, table, mode, need_x)
        gx, g_sb, g_sp, g_coef = _fold_layer_backward(grad_out, x, mask, sb, sp, coef, grid,
                                                      _fold_values(mask, sb, sp, coef), saved, table,
                                                      (k, uniform, base, mode), need_x, need_w)
    empty = x.new_empty(0)
    return (gx if gx is not None else empty, g_sb if g_sb is not None else empty,
            g_sp if g_sp is not None else empty.clone(), g_coef if g_coef is not None else empty.clone())


@_layer_backward_op.register_fake
def _(grad_out, x, mask, sb, sp, coef, grid, k, base, mode, need_x, need_w):
    e = x.new_empty(0)
    return (x.new_empty(x.shape) if need_x else e, sb.new_empty(sb.shape) if need_w else e.clone(),
            sp.new_empty(sp.shape) if need_w else e.clone(), coef.new_empty(coef.shape) if need_w else e.clone())


def _layer_setup(ctx, inputs, output) -> None:
    x, mask, sb, sp, coef, grid, k, base, mode = inputs
    ctx.save_for_backward(x, mask, sb, sp, coef, grid)
    ctx.conf = (k, base, mode)


def _layer_op_backward(ctx, grad_out: Tensor):
    x, mask, sb, sp, coef, grid = ctx.saved_tensors
    k, base, mode = ctx.conf
    need_x, need_w = ctx.needs_input_grad[0], any(ctx.needs_input_grad[2:5])
    if torch.is_grad_enabled():  # create_graph: differentiable torch ops (as the eager Function does)
        gx, g_sb, g_sp, g_coef = _fold_layer_backward(grad_out, x, mask, sb, sp, coef, grid, None, (None,) * 3, None,
                                                      (k, grid_state(grid, k)[0], base, mode), need_x, need_w)
    else:
        gx, g_sb, g_sp, g_coef = torch.ops.kanlab.layer_backward(grad_out, x, mask, sb, sp, coef, grid, k, base, mode,
                                                                 need_x, need_w)
    return (gx if need_x else None, None, g_sb if need_w else None, g_sp if need_w else None,
            g_coef if need_w else None, None, None, None, None)


_layer_op.register_autograd(_layer_op_backward, setup_context=_layer_setup)


@torch.library.custom_op("kanlab::fold", mutates_args=())
def _fold_op(mask: Tensor, sb: Tensor, sp: Tensor, coef: Tensor) -> Tensor:
    """The folded weight (in, 1 + nb, out); see :func:`fold_weight`."""
    with torch.no_grad():
        return _fold_values(mask, sb, sp, coef)


@_fold_op.register_fake
def _(mask, sb, sp, coef):
    return coef.new_empty(coef.shape[0], 1 + coef.shape[2], coef.shape[1])


@torch.library.custom_op("kanlab::fold_backward", mutates_args=())
def _fold_backward_op(grad_w: Tensor, mask: Tensor, sp: Tensor, coef: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(dL/dsb, dL/dsp, dL/dcoef) from dL/dweight."""
    with torch.no_grad():
        return tuple(t.contiguous() for t in _fold_grads(grad_w, mask, sp, coef))


@_fold_backward_op.register_fake
def _(grad_w, mask, sp, coef):
    return sp.new_empty(sp.shape), sp.new_empty(sp.shape), coef.new_empty(coef.shape)


def _fold_setup(ctx, inputs, output) -> None:
    mask, sb, sp, coef = inputs
    ctx.save_for_backward(mask, sp, coef)


def _fold_op_backward(ctx, grad_w: Tensor):
    mask, sp, coef = ctx.saved_tensors
    if torch.is_grad_enabled():
        return (None, *_fold_grads(grad_w, mask, sp, coef))
    return (None, *torch.ops.kanlab.fold_backward(grad_w, mask, sp, coef))


_fold_op.register_autograd(_fold_op_backward, setup_context=_fold_setup)


@torch.library.custom_op("kanlab::feature_cov", mutates_args=())
def _feature_cov_op(x: Tensor, grid: Tensor, k: int, base: str) -> tuple[Tensor, Tensor]:
    """(cov (in, 1 + nb, 1 + nb), mean features (in, 1 + nb) in float64); see :func:`feature_cov`."""
    _check_mode("sparse", x, k, base)
    uniform, table = grid_state(grid, k)
    return native.feature_cov(x, table, grid.shape[1], k, uniform, splines.uniform_matrix(k, x.dtype), base)


@_feature_cov_op.register_fake
def _(x, grid, k, base):
    s = grid.shape[1] - k
    return x.new_empty(x.shape[1], s, s), x.new_empty(x.shape[1], s, dtype=torch.float64)


@torch.library.custom_op("kanlab::feature_cov_backward", mutates_args=())
def _feature_cov_backward_op(x: Tensor, grad_cov: Tensor, mean: Tensor, grid: Tensor, k: int, base: str) -> Tensor:
    """dL/dx (B, in) from dL/dcov."""
    _check_mode("sparse", x, k, base)
    uniform, table = grid_state(grid, k)
    return native.feature_cov_backward(x, grad_cov, mean, table, grid.shape[1], k, uniform,
                                       splines.uniform_matrix(k, x.dtype), base)


@_feature_cov_backward_op.register_fake
def _(x, grad_cov, mean, grid, k, base):
    return x.new_empty(x.shape)


def _feature_cov_setup(ctx, inputs, output) -> None:
    x, grid, k, base = inputs
    ctx.save_for_backward(x, grid, output[1])
    ctx.conf = (k, base)
    ctx.set_materialize_grads(True)


def _feature_cov_op_backward(ctx, grad_cov: Tensor, grad_mean: Tensor):
    """The mean is an auxiliary output for the backward: its gradient is not propagated."""
    x, grid, mean = ctx.saved_tensors
    k, base = ctx.conf
    if torch.is_grad_enabled():
        cov = _feature_cov_torch(x, grid, k, grid_state(grid, k)[0], base)
        (gx,) = torch.autograd.grad(cov, x, grad_cov, create_graph=True)
    else:
        gx = torch.ops.kanlab.feature_cov_backward(x, grad_cov, mean, grid, k, base)
    return gx, None, None, None


_feature_cov_op.register_autograd(_feature_cov_op_backward, setup_context=_feature_cov_setup)

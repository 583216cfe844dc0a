"""The full-batch training objective of a plain KAN as a function of one flat parameter vector, for L-BFGS.

A KAN fit is a few hundred parameters evaluated about 25 times per L-BFGS step. Through autograd, each evaluation
of a [2,5,1] model costs about 40 small torch operations, the graph and its backward engine: over 1 ms, against
under 0.3 ms for the kernels themselves. :class:`FlatObjective` evaluates the same loss and gradient with the
native kernels and a hand-written reverse pass, and no graph: per layer one fold, one forward pass and one backward
pass (plus the covariance pass each way when the sparsity penalty is on).

It covers what ``fit`` does in the common case: mean squared error, the sparsity penalty (L1 + entropy of the edge
scales), every layer on the native kernels; symbolic edges get a small autograd graph of their own. :func:`applies` says whether a model and a
parameter list are such a case; ``fit`` falls back to autograd otherwise. tests/test_objective.py checks the loss
and the gradient against the autograd path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import native, splines
from .layer import KANLayer
from .model import KAN
from .regularize import _penalty_value_and_grad
from .symbolic.layer import SymbolicLayer

__all__ = ["FlatObjective", "applies"]

_LAYER_PARAMS = ("scale_base", "scale_sp", "coef")


def applies(model: KAN, params: list[Tensor], x: Tensor) -> bool:
    """Whether :class:`FlatObjective` computes ``model``'s objective on inputs x for this parameter list: a KAN
    whose forward is the stock one (no subclass override, no hooks), all layers on the native kernels, and
    parameters that are only the layers' and the symbolic layers' own."""
    if type(model).forward is not KAN.forward or type(model).layer_inputs is not KAN.layer_inputs:
        return False
    if not native.supports_tensor(x) or _has_hooks(model):
        return False
    for layer, sym in zip(model.layers, model.symbolic):
        if type(layer) is not KANLayer or type(sym) is not SymbolicLayer or \
                not native.supports(x, layer.k, layer.base_fun):
            return False
    known = {id(getattr(layer, name)) for layer in model.layers for name in _LAYER_PARAMS}
    known |= {id(sym.affine) for sym in model.symbolic}
    return all(id(p) in known for p in params)


def _has_hooks(model: KAN) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules())


@dataclass
class _Layer:
    """What one layer's passes need, fixed for the objective's lifetime. A parameter spec is (start, end, shape) in
    the flat vector when trained, else the frozen value (numpy)."""

    parts: dict  # scale_base, scale_sp, coef -> spec
    mask: np.ndarray  # (in, out)
    spline: tuple  # knot table, n_knots, k, uniform, uniform matrix, base: the kernels' spline arguments
    numeric: bool  # some edge uses its spline (else the spline passes are skipped: their output is exactly 0)
    out_dim: int
    symbolic: SymbolicLayer | None  # the layer's symbolic edges, when any is active
    affine: tuple | np.ndarray | None  # spec of the symbolic layer's affine parameters (in, out, 4)


class FlatObjective:
    """loss(v) = mean((model(x) - y)^2) + lamb * penalty and its gradient, as functions of the flat vector v of
    ``params`` (in their order, as :class:`kanlab.optim.LBFGS` lays them out).

    Built for one grid state and one set of symbolic edges: make a new one after ``update_grid`` or an edit.
    Parameters that are not in ``params`` (frozen ones) are read from the model when it is built. The model itself
    is never written. Symbolic edges are evaluated by their own (small) autograd graph per layer.

    x: (B, in) training inputs, y: (B, out) labels, both in the model's dtype on the CPU.
    """

    def __init__(self, model: KAN, params: list[Tensor], x: Tensor, y: Tensor, lamb: float = 0.0,
                 lamb_l1: float = 1.0, lamb_entropy: float = 2.0, singularity_avoiding: bool = True,
                 y_th: float = 1000.0) -> None:
        if not applies(model, params, x):
            raise ValueError("FlatObjective covers stock KANs on the native kernels whose trained parameters are "
                             "their own; use the autograd objective for this model")
        model.check_input(x)
        if tuple(y.shape) != (x.shape[0], model.width[-1]) or y.dtype != x.dtype:
            raise ValueError(f"labels must have shape {(x.shape[0], model.width[-1])} and dtype {x.dtype}, "
                             f"got {tuple(y.shape)} {y.dtype}")
        self.x = x.detach().contiguous()
        self._y = y.detach().numpy()
        self.lamb, self.lamb_l1, self.lamb_entropy = float(lamb), float(lamb_l1), float(lamb_entropy)
        self.singularity_avoiding, self.y_th = bool(singularity_avoiding), float(y_th)
        self._np_dtype = torch.empty(0, dtype=x.dtype).numpy().dtype
        slots = {id(p): n for n, p in enumerate(params)}
        offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.size = offsets[-1]

        def spec(p: Tensor):
            n = slots.get(id(p))
            return (offsets[n], offsets[n + 1], tuple(p.shape)) if n is not None else p.detach().clone().numpy()

        self._layers: list[_Layer] = []
        for layer, sym in zip(model.layers, model.symbolic):
            layer.check_state()  # its parts fit together (users edit layers in place)
            if layer.grid.dtype != x.dtype:
                raise TypeError(f"layer dtypes differ: {layer.grid.dtype} against the inputs' {x.dtype}")
            uniform, table = layer._grid_state()
            mask = layer.mask.detach().clone().numpy()
            spline = (table, layer.grid.shape[1], layer.k, uniform, splines.uniform_matrix(layer.k, x.dtype),
                      layer.base_fun)
            active = sym.active
            self._layers.append(_Layer({name: spec(getattr(layer, name)) for name in _LAYER_PARAMS}, mask, spline,
                                       bool(mask.any()), layer.out_dim, sym if active else None,
                                       spec(sym.affine) if active else None))
        self.last_reg = 0.0

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def _value(v: np.ndarray, spec) -> np.ndarray:
        return spec if isinstance(spec, np.ndarray) else v[spec[0]: spec[1]].reshape(spec[2])

    def _weights(self, v: np.ndarray) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per layer: (folded weight (in, 1 + nb, out), mask * scale_sp, coef)."""
        out = []
        for L in self._layers:
            sb, sp, coef = (self._value(v, L.parts[name]) for name in _LAYER_PARAMS)
            ws, coef = torch.from_numpy(L.mask * sp), torch.from_numpy(coef)
            out.append((native.fold_forward(torch.from_numpy(L.mask * sb), ws, coef), ws, coef))
        return out

    def _check_vector(self, v: np.ndarray) -> np.ndarray:
        if not isinstance(v, np.ndarray) or v.dtype != self._np_dtype or v.shape != (self.size,):
            raise ValueError(f"expected a flat numpy vector of shape ({self.size},) and dtype {self._np_dtype}, got "
                             f"{type(v).__name__} {getattr(v, 'shape', '')} {getattr(v, 'dtype', '')}")
        return np.ascontiguousarray(v)

    def _layer_forward(self, L: _Layer, w: Tensor, a: Tensor, v: np.ndarray, graph: bool):
        """Layer output (B, out) and, with ``graph``, the symbolic part's (output, input, affine) for the backward."""
        y = native.sparse_forward(a, w, *L.spline) if L.numeric else a.new_zeros(a.shape[0], L.out_dim)
        if L.symbolic is None:
            return y, None
        affine = torch.from_numpy(self._value(v, L.affine))
        if not graph:
            with torch.no_grad():
                return y + L.symbolic(a, self.singularity_avoiding, self.y_th, affine=affine), None
        a_in = a.detach().requires_grad_(True)
        affine.requires_grad_(not isinstance(L.affine, np.ndarray))
        with torch.enable_grad():
            s = L.symbolic(a_in, self.singularity_avoiding, self.y_th, affine=affine)
        return y + s.detach(), (s, a_in, affine)

    # ------------------------------------------------------------------ evaluation
    def predict(self, v: np.ndarray, x: Tensor | None = None) -> Tensor:
        """The model's output at parameters v on inputs x (default: the training inputs): (B, out)."""
        v = self._check_vector(v)
        a = self.x if x is None else x.detach().contiguous()
        for L, (w, *_) in zip(self._layers, self._weights(v)):
            a, _ = self._layer_forward(L, w, a, v, graph=False)
        return a

    def __call__(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient) at the flat parameter vector v (numpy, the model's dtype)."""
        v = self._check_vector(v)
        weights = self._weights(v)
        acts, graphs = [self.x], []
        for L, (w, *_) in zip(self._layers, weights):
            y, g = self._layer_forward(L, w, acts[-1], v, graph=True)
            acts.append(y)
            graphs.append(g)
        resid = acts[-1].numpy() - self._y
        loss = float((resid * resid).mean())
        grad_out = torch.from_numpy(resid * (2.0 / max(resid.size, 1)))
        reg_grads = self._penalty(acts, weights) if self.lamb > 0 else None
        loss += self.lamb * self.last_reg if self.lamb > 0 else 0.0

        grad = np.zeros(self.size, dtype=v.dtype)

        def put(spec, g: Tensor) -> None:
            if not isinstance(spec, np.ndarray):
                grad[spec[0]: spec[1]] = g.reshape(-1).numpy()

        for l in range(len(self._layers) - 1, -1, -1):
            L, (w, ws, coef), a = self._layers[l], weights[l], acts[l]
            if L.numeric:
                g_x, g_w = native.sparse_backward(a, w, grad_out, *L.spline, l > 0, True)
            else:  # the spline part is exactly zero, and so are its gradients (but the penalty may add some)
                g_x, g_w = torch.zeros_like(a) if l > 0 else None, torch.zeros_like(w)
            if reg_grads is not None:
                g_w = g_w + reg_grads[l][1]
                if l > 0:
                    g_x = g_x + reg_grads[l][0]
            g_wb, g_ws, g_coef = native.fold_backward(g_w, ws, coef)
            mask = torch.from_numpy(L.mask)
            for name, g in zip(_LAYER_PARAMS, (g_wb * mask, g_ws * mask, g_coef)):
                put(L.parts[name], g)
            if graphs[l] is not None:
                s, a_in, affine = graphs[l]
                g_a, g_aff = torch.autograd.grad(s, (a_in, affine), grad_out, allow_unused=True)
                if affine.requires_grad and g_aff is not None:
                    put(L.affine, g_aff)
                if l > 0 and g_a is not None:
                    g_x = g_x + g_a
            grad_out = g_x
        return loss, grad

    def _penalty(self, acts: list[Tensor], weights: list) -> list[tuple[Tensor, Tensor]]:
        """Sets ``last_reg`` to the penalty (before lamb) and returns, per layer, lamb times its gradient with
        respect to the layer's input (B, in) and folded weight (in, 1 + nb, out).

        Per layer (see :func:`kanlab.regularize.edge_scales`): var = w^T Cov w per edge, std = sqrt(max(var, 0) +
        1e-16), r = std(x) + 0.1 per input (unbiased), scale = (std / r)^T, penalty from
        :func:`_penalty_value_and_grad`. The small (in, out) algebra runs in numpy, whose cost per operation is a
        fraction of torch's."""
        total, grads = 0.0, []
        for L, a, (w, *_) in zip(self._layers, acts, weights):
            cov, mean = native.feature_cov(a, *L.spline)  # (in, S, S)
            c, wn, an = cov.numpy(), w.numpy(), a.numpy()
            cw = c @ wn  # (in, S, out)
            var = (wn * cw).sum(axis=1)  # (in, out)
            std = np.sqrt(np.maximum(var, 0) + 1e-16)
            n = an.shape[0]
            centred = an - an.mean(axis=0)
            x_std = np.sqrt((centred * centred).sum(axis=0) / (n - 1)) if n > 1 else np.full(an.shape[1], np.nan)
            r = (x_std + 0.1)[:, None]  # (in, 1)
            value, g_scale = _penalty_value_and_grad(torch.from_numpy((std / r).T.copy()), self.lamb_l1,
                                                     self.lamb_entropy)
            total += float(value)
            g = self.lamb * g_scale.numpy().T  # d(lamb * penalty)/d(std / r): (in, out)
            g_std = g / r
            g_r = -(g * std / (r * r)).sum(axis=1)  # (in,)
            g_var = np.where(var >= 0, g_std * 0.5 / std, 0.0)
            g_w = 2.0 * cw * g_var[:, None, :]  # cov is symmetric
            g_cov = (wn * g_var[:, None, :]) @ wn.transpose(0, 2, 1)  # sum_o g_var[i,o] w[i,:,o] w[i,:,o]^T
            g_a = native.feature_cov_backward(a, torch.from_numpy(g_cov), mean, *L.spline).numpy()
            # d std / d a = (a - mean) / ((n - 1) std); zero where std is zero, as torch's backward has it
            with np.errstate(divide="ignore", invalid="ignore"):
                g_x = np.where(x_std > 0, g_r / (x_std * max(n - 1, 1)), 0.0)
            g_a += centred * g_x
            grads.append((torch.from_numpy(g_a), torch.from_numpy(g_w)))
        self.last_reg = total
        return grads

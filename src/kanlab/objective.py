"""The full-batch training objective of a plain KAN as a function of one flat parameter vector, for L-BFGS.

A KAN fit is a few hundred parameters evaluated about 25 times per L-BFGS step. Through autograd, each evaluation
of a [2,5,1] model costs about 40 small torch operations, the graph and its backward engine: over 1 ms, against
under 0.3 ms for the kernels themselves. :class:`FlatObjective` evaluates the same loss and gradient with the
native kernels and a hand-written reverse pass, and no graph: per layer one fold, one forward pass and one backward
pass (plus the covariance pass each way when the sparsity penalty is on).

It covers what ``fit`` does in the common case: mean squared error, the sparsity penalty (L1 + entropy of the edge
scales), every layer on the native kernels, no active symbolic edge. :func:`applies` says whether a model and a
parameter list are such a case; ``fit`` falls back to autograd otherwise. tests/test_objective.py checks the loss
and the gradient against the autograd path.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from . import native, splines
from .layer import KANLayer
from .model import KAN
from .regularize import _penalty_value_and_grad

__all__ = ["FlatObjective", "applies"]

_LAYER_PARAMS = ("scale_base", "scale_sp", "coef")


def applies(model: KAN, params: list[Tensor], x: Tensor) -> bool:
    """Whether :class:`FlatObjective` computes ``model``'s objective on inputs x for this parameter list: a KAN
    whose forward is the stock one (no subclass override, no hooks), all layers on the native kernels, no
    symbolic edge active, and parameters that are only the layers' and the symbolic layers' own."""
    if type(model).forward is not KAN.forward or type(model).layer_inputs is not KAN.layer_inputs:
        return False
    if not native.supports_tensor(x) or _has_hooks(model):
        return False
    for layer, sym in zip(model.layers, model.symbolic):
        if type(layer) is not KANLayer or not native.supports(x, layer.k, layer.base_fun) or sym.active:
            return False
    known = {id(getattr(layer, name)) for layer in model.layers for name in _LAYER_PARAMS}
    known |= {id(sym.affine) for sym in model.symbolic}
    return all(id(p) in known for p in params)


def _has_hooks(model: KAN) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules())


class FlatObjective:
    """loss(x) = mean((model(x_data) - y)^2) + lamb * penalty and its gradient, as functions of the flat vector
    of ``params`` (in their order, as :class:`kanlab.optim.LBFGS` lays them out).

    Built for one grid state: make a new one after ``update_grid``. Parameters that are not in ``params`` (frozen
    ones) are read from the model when it is built. The model itself is never written.

    x: (B, in) training inputs, y: (B, out) labels, both in the model's dtype on the CPU.
    """

    def __init__(self, model: KAN, params: list[Tensor], x: Tensor, y: Tensor, lamb: float = 0.0,
                 lamb_l1: float = 1.0, lamb_entropy: float = 2.0) -> None:
        if not applies(model, params, x):
            raise ValueError("FlatObjective covers plain KANs on the native kernels with no symbolic edge; "
                             "use the autograd objective for this model")
        model.check_input(x)
        if tuple(y.shape) != (x.shape[0], model.width[-1]) or y.dtype != x.dtype:
            raise ValueError(f"labels must have shape {(x.shape[0], model.width[-1])} and dtype {x.dtype}, "
                             f"got {tuple(y.shape)} {y.dtype}")
        self.x = x.detach().contiguous()
        self._y = y.detach().numpy()
        self.lamb, self.lamb_l1, self.lamb_entropy = float(lamb), float(lamb_l1), float(lamb_entropy)
        self.dtype = x.dtype
        self._np_dtype = torch.empty(0, dtype=x.dtype).numpy().dtype
        slots = {id(p): n for n, p in enumerate(params)}
        offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.size = offsets[-1]
        self._layers = []
        for layer in model.layers:
            layer.check_state()  # its parts fit together (users edit layers in place)
            if layer.grid.dtype != x.dtype:
                raise TypeError(f"layer dtypes differ: {layer.grid.dtype} against the inputs' {x.dtype}")
            uniform, table = layer._grid_state()
            parts = {}
            for name in _LAYER_PARAMS:
                p = getattr(layer, name)
                n = slots.get(id(p))
                # a trained parameter: (start, end, shape) in the flat vector; a frozen one: its value (numpy)
                parts[name] = (offsets[n], offsets[n + 1], tuple(p.shape)) if n is not None else \
                    p.detach().clone().numpy()
            self._layers.append(dict(
                parts=parts, mask=layer.mask.detach().clone().numpy(), table=table, uniform=uniform, k=layer.k,
                n_knots=layer.grid.shape[1], base=layer.base_fun, matrix=splines.uniform_matrix(layer.k, x.dtype)))
        self.last_reg = 0.0

    # ------------------------------------------------------------------ pieces
    def _weights(self, v: np.ndarray) -> list[tuple[Tensor, Tensor, Tensor, np.ndarray]]:
        """Per layer: (folded weight (in, 1 + nb, out), mask * scale_sp, coef, mask)."""
        out = []
        for L in self._layers:
            sb, sp, coef = (spec if isinstance(spec, np.ndarray) else v[spec[0]: spec[1]].reshape(spec[2])
                            for spec in (L["parts"][name] for name in _LAYER_PARAMS))
            mask = L["mask"]
            ws, coef = torch.from_numpy(mask * sp), torch.from_numpy(coef)
            out.append((native.fold_forward(torch.from_numpy(mask * sb), ws, coef), ws, coef, mask))
        return out

    def _spline(self, L: dict) -> tuple:
        return L["table"], L["n_knots"], L["k"], L["uniform"], L["matrix"], L["base"]

    def _check_vector(self, v: np.ndarray) -> np.ndarray:
        if not isinstance(v, np.ndarray) or v.dtype != self._np_dtype or v.shape != (self.size,):
            raise ValueError(f"expected a flat numpy vector of shape ({self.size},) and dtype {self._np_dtype}, got "
                             f"{type(v).__name__} {getattr(v, 'shape', '')} {getattr(v, 'dtype', '')}")
        return np.ascontiguousarray(v)

    # ------------------------------------------------------------------ evaluation
    def predict(self, v: np.ndarray, x: Tensor | None = None) -> Tensor:
        """The model's output at parameters v on inputs x (default: the training inputs): (B, out)."""
        a = self.x if x is None else x.detach().contiguous()
        for L, (w, *_) in zip(self._layers, self._weights(self._check_vector(v))):
            a = native.sparse_forward(a, w, *self._spline(L))
        return a

    def __call__(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient) at the flat parameter vector v (numpy, the model's dtype)."""
        weights = self._weights(self._check_vector(v))
        acts = [self.x]
        for L, (w, *_) in zip(self._layers, weights):
            acts.append(native.sparse_forward(acts[-1], w, *self._spline(L)))
        resid = acts[-1].numpy() - self._y
        loss = float((resid * resid).mean())
        grad_out = torch.from_numpy(resid * (2.0 / max(resid.size, 1)))
        reg_grads = self._penalty(acts, weights) if self.lamb > 0 else None
        loss += self.lamb * self.last_reg if self.lamb > 0 else 0.0

        grad = np.zeros(self.size, dtype=v.dtype)
        for l in range(len(self._layers) - 1, -1, -1):
            L, (w, ws, coef, mask) = self._layers[l], weights[l]
            g_x, g_w = native.sparse_backward(acts[l], w, grad_out, *self._spline(L), l > 0, True)
            if reg_grads is not None:
                g_w = g_w + reg_grads[l][1]
                if l > 0:
                    g_x = g_x + reg_grads[l][0]
            g_wb, g_ws, g_coef = native.fold_backward(g_w, ws, coef)
            for name, g in zip(_LAYER_PARAMS, (g_wb.numpy() * mask, g_ws.numpy() * mask, g_coef.numpy())):
                spec = L["parts"][name]
                if not isinstance(spec, np.ndarray):
                    grad[spec[0]: spec[1]] = g.reshape(-1)
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
            cov, mean = native.feature_cov(a, *self._spline(L))  # (in, S, S)
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
            g_a = native.feature_cov_backward(a, torch.from_numpy(g_cov), mean, *self._spline(L)).numpy()
            # d std / d a = (a - mean) / ((n - 1) std); zero where std is zero, as torch's backward has it
            with np.errstate(divide="ignore", invalid="ignore"):
                g_x = np.where(x_std > 0, g_r / (x_std * max(n - 1, 1)), 0.0)
            g_a += centred * g_x
            grads.append((torch.from_numpy(g_a), torch.from_numpy(g_w)))
        self.last_reg = total
        return grads

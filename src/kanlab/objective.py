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


import numpy as np
import torch
from torch import Tensor

from . import native, splines
from .layer import KANLayer
from .model import KAN
from .regularize import penalty_value_and_grad_np
from .symbolic.layer import SymbolicLayer

__all__ = ["FlatObjective", "applies"]

_LAYER_PARAMS = ("scale_base", "scale_sp", "coef")


def applies(model: KAN, params: list[Tensor], x: Tensor) -> bool:
    """Whether :class:`FlatObjective` computes ``model``'s objective on inputs x for this parameter list: a KAN
    whose forward is the stock one (no subclass override, unless the subclass declares ``_forward_is_core``: it
    computes the same function, as :class:`kanlab.pykan.KAN` does while caching its input; no hooks), all layers
    on the native kernels, no multiplication nodes, and parameters that are only the layers' and the symbolic
    layers' own."""
    same_forward = type(model).forward is KAN.forward or getattr(type(model), "_forward_is_core", False)
    if not same_forward or type(model).layer_inputs is not KAN.layer_inputs or model.has_mult:
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


class _Layer:
    """One layer's buffers and bound kernel calls, built once per objective. Trained parameters are views of the
    objective's parameter buffer; frozen ones are copies. Every kernel call is bound (checked) here, on memory this
    object owns, so an evaluation only rewrites values."""

    def __init__(self, layer: KANLayer, sym: SymbolicLayer, a: Tensor, g_a: Tensor | None, view, lamb: float) -> None:
        """a: this layer's input buffer (B, in); g_a: where its input gradient goes (None for the first layer);
        view(param): (the parameter's buffer, a view of the flat vector, and its slice there), or None when the
        parameter is frozen."""
        n, n_in, n_out = a.shape[0], layer.in_dim, layer.out_dim
        dt = a.dtype
        uniform, table = layer._grid_state()
        spline = (table, layer.grid.shape[1], layer.k, uniform, splines.uniform_matrix(layer.k, dt), layer.base_fun)
        self.mask = layer.mask.detach().clone().numpy()
        self.numeric = bool(self.mask.any())  # else every spline is off: the spline passes are skipped (exact 0)
        self.slots: list[slice | None] = []  # where each parameter's gradient goes in the flat vector
        values = []
        for name in _LAYER_PARAMS:
            p = getattr(layer, name)
            found = view(p)
            values.append(found[0].numpy() if found is not None else p.detach().clone().numpy())
            self.slots.append(found[1] if found is not None else None)
        self.sb, self.sp, coef = values
        nb = layer.grid.shape[1] - layer.k - 1
        self.wb, self.ws = torch.empty(n_in, n_out, dtype=dt), torch.empty(n_in, n_out, dtype=dt)
        self.coef = torch.from_numpy(coef)
        self.w = torch.empty(n_in, 1 + nb, n_out, dtype=dt)
        self.a, self.y = a, torch.empty(n, n_out, dtype=dt)
        self.g_y = torch.empty(n, n_out, dtype=dt)  # dL/dy, set by the layer above (or the loss)
        self.g_a = g_a
        self.g_w = torch.empty_like(self.w)
        self.g_wb, self.g_ws, self.g_coef = torch.empty_like(self.wb), torch.empty_like(self.ws), torch.empty_like(self.coef)
        # numpy views of the buffers the numpy code writes (a .numpy() call costs about a microsecond each time)
        self.np = {name: getattr(self, name).numpy() for name in ("wb", "ws", "y", "g_y", "g_w", "g_wb", "g_ws",
                                                                   "g_coef")}
        self.fold = native.bind_fold_forward(self.wb, self.ws, self.coef, self.w)
        self.fold_back = native.bind_fold_backward(self.g_w, self.ws, self.coef, self.g_wb, self.g_ws, self.g_coef)
        self.forward = native.bind_sparse_forward(a, self.w, *spline, self.y)
        self.backward = native.bind_sparse_backward(a, self.w, self.g_y, *spline, g_a, self.g_w)
        self.spline = spline
        self.symbolic = sym if sym.active else None
        self.affine: tuple[Tensor, slice | None] | None = None  # (values, slice in the flat vector if trained)
        if self.symbolic is not None:
            found = view(sym.affine)
            self.affine = found if found is not None else (sym.affine.detach().clone(), None)
        if lamb > 0:  # the penalty's kernels and the gradients it adds
            s = nb + 1
            self.cov, self.mean = torch.empty(n_in, s, s, dtype=dt), torch.empty(n_in, s, dtype=torch.float64)
            self.g_cov = torch.empty_like(self.cov)
            self.g_a_pen = torch.empty_like(a)
            self.cov_fwd = native.bind_feature_cov(a, *spline, self.cov, self.mean)
            self.cov_back = native.bind_feature_cov_backward(a, self.g_cov, self.mean, *spline, self.g_a_pen)
            self.g_w_pen = np.zeros(self.w.shape, dtype=self.mask.dtype)
            self.np.update({name: getattr(self, name).numpy() for name in ("cov", "w", "a", "g_cov", "g_a_pen")})

    def fold_weight(self) -> None:
        """Mask and scales of the current parameter values into the folded weight self.w."""
        np.multiply(self.mask, self.sb, out=self.np["wb"])
        np.multiply(self.mask, self.sp, out=self.np["ws"])
        self.fold()

    def run_forward(self, singularity_avoiding: bool, y_th: float, graph: bool):
        """Fold the weight and fill self.y; returns the symbolic part's (output, input, affine) when ``graph``."""
        self.fold_weight()
        if self.numeric:
            self.forward()
        else:
            self.y.zero_()
        if self.symbolic is None:
            return None
        affine, slot = self.affine
        a_in = self.a.detach().requires_grad_(graph)
        aff = affine.detach().requires_grad_(graph and slot is not None)
        with torch.set_grad_enabled(graph):
            s = self.symbolic(a_in, singularity_avoiding, y_th, affine=aff)
        self.y.add_(s.detach())
        return (s, a_in, aff) if graph else None


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
        self.lamb, self.lamb_l1, self.lamb_entropy = float(lamb), float(lamb_l1), float(lamb_entropy)
        self.singularity_avoiding, self.y_th = bool(singularity_avoiding), float(y_th)
        self._y = y.detach().numpy()
        self._flat = torch.cat([p.detach().reshape(-1) for p in params]) if params else \
            torch.empty(0, dtype=x.dtype)
        self.size = self._flat.numel()
        self._v = self._flat.numpy()  # the parameter buffer: every evaluation copies its vector in here
        self._grad = np.zeros_like(self._v)
        offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        where = {id(p): (offsets[n], offsets[n + 1], p.shape) for n, p in enumerate(params)}

        def view(p: Tensor) -> tuple[Tensor, slice] | None:
            if id(p) not in where:
                return None
            lo, hi, shape = where[id(p)]
            return self._flat[lo:hi].view(shape), slice(lo, hi)

        self._layers: list[_Layer] = []
        a, g_a = x.detach().clone().contiguous(), None
        for layer, sym in zip(model.layers, model.symbolic):
            layer.check_state()  # its parts fit together (users edit layers in place)
            if layer.grid.dtype != x.dtype or layer.in_dim != a.shape[1]:
                raise ValueError("the model's layers do not chain (dtype or width)")
            L = _Layer(layer, sym, a, g_a, view, self.lamb)
            self._layers.append(L)
            a, g_a = L.y, L.g_y
        self.last_reg = 0.0
        self._y_t = y.detach()
        self._symbolic_only = self.lamb == 0 and not any(L.numeric for L in self._layers)

    # ------------------------------------------------------------------ evaluation
    def _load(self, v: np.ndarray) -> None:
        if not isinstance(v, np.ndarray) or v.dtype != self._v.dtype or v.shape != (self.size,):
            raise ValueError(f"expected a flat numpy vector of shape ({self.size},) and dtype {self._v.dtype}, got "
                             f"{type(v).__name__} {getattr(v, 'shape', '')} {getattr(v, 'dtype', '')}")
        np.copyto(self._v, v)

    def predict(self, v: np.ndarray, x: Tensor | None = None) -> Tensor:
        """The model's output at parameters v on inputs x (default: the training inputs): (B, out), a new tensor."""
        self._load(v)
        if x is None:
            for L in self._layers:
                L.run_forward(self.singularity_avoiding, self.y_th, graph=False)
            return self._layers[-1].y.clone()
        a = x.detach().contiguous()
        for L in self._layers:  # another batch size: the unbound wrappers, on this objective's folded weights
            L.fold_weight()
            y = native.sparse_forward(a, L.w, *L.spline)
            if L.symbolic is not None:
                with torch.no_grad():
                    y = y + L.symbolic(a, self.singularity_avoiding, self.y_th, affine=L.affine[0])
            a = y
        return a

    def __call__(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, gradient) at the flat parameter vector v (numpy, the model's dtype); the gradient is a new array."""
        self._load(v)
        if self._symbolic_only:
            return self._call_symbolic()
        graphs = [L.run_forward(self.singularity_avoiding, self.y_th, graph=True) for L in self._layers]
        top = self._layers[-1]
        resid = (top.np["y"] - self._y).reshape(-1)
        loss = float(resid @ resid) / max(resid.size, 1)
        np.multiply(resid, 2.0 / max(resid.size, 1), out=top.np["g_y"].reshape(-1))
        if self.lamb > 0:
            self.last_reg = self._penalty()
            loss += self.lamb * self.last_reg
        for l in range(len(self._layers) - 1, -1, -1):
            L = self._layers[l]
            if L.numeric:
                L.backward()  # writes dL/da into the layer below's g_y, and g_w
            else:  # the spline part is exactly zero, and so are its gradients (the penalty may add some)
                L.g_w.zero_()
                if L.g_a is not None:
                    L.g_a.zero_()
            if self.lamb > 0:
                L.np["g_w"][...] += L.g_w_pen
                if L.g_a is not None:
                    L.g_a.add_(L.g_a_pen)
            if graphs[l] is not None:
                s, a_in, aff = graphs[l]
                g_in, g_aff = torch.autograd.grad(s, (a_in, aff), L.g_y, allow_unused=True)
                if aff.requires_grad:
                    self._grad[L.affine[1]] = 0.0 if g_aff is None else g_aff.reshape(-1).numpy()
                if L.g_a is not None and g_in is not None:
                    L.g_a.add_(g_in)
            L.fold_back()
        for L in self._layers:  # the parameters' gradients, masked as the fold's inputs were
            for slot, g, m in zip(L.slots, (L.np["g_wb"], L.np["g_ws"], L.np["g_coef"]), (L.mask, L.mask, None)):
                if slot is not None:
                    out = self._grad[slot].reshape(g.shape)
                    np.multiply(g, m, out=out) if m is not None else np.copyto(out, g)
        return loss, self._grad.copy()

    def _call_symbolic(self) -> tuple[float, np.ndarray]:
        """Every spline is off and there is no penalty: the model is its symbolic edges, one torch graph from the
        inputs to the loss, differentiated in one call (the spline parameters' gradients are exactly zero)."""
        a, leaves = self._layers[0].a, []
        with torch.enable_grad():
            for L in self._layers:
                if L.symbolic is None:  # no edge at all: the layer outputs zeros
                    a = a.new_zeros(a.shape[0], L.y.shape[1])
                    continue
                affine, slot = L.affine
                aff = affine.detach().requires_grad_(slot is not None)
                a = L.symbolic(a, self.singularity_avoiding, self.y_th, affine=aff)
                if slot is not None:
                    leaves.append((aff, slot))
            resid = a - self._y_t
            loss = (resid * resid).mean()
            # allow_unused: an edge snapped to '0' ignores its input, so earlier layers may not reach the loss
            grads = torch.autograd.grad(loss, [aff for aff, _ in leaves], allow_unused=True) \
                if leaves and loss.requires_grad else ()
        self._grad[...] = 0.0
        for (_, slot), g in zip(leaves, grads):
            if g is not None:
                self._grad[slot] = g.reshape(-1).numpy()
        return float(loss.detach()), self._grad.copy()

    def _penalty(self) -> float:
        """The penalty (before lamb); leaves lamb times its gradient with respect to each layer's input and folded
        weight in the layer's g_a_pen and g_w_pen.

        Per layer (see :func:`kanlab.regularize.edge_scales`): var = w^T Cov w per edge, std = sqrt(max(var, 0) +
        1e-16), r = std(x) + 0.1 per input (unbiased), scale = (std / r)^T, penalty from
        :func:`penalty_value_and_grad_np`. The small (in, out) algebra runs in numpy, whose cost per operation is a
        fraction of torch's."""
        total = 0.0
        for L in self._layers:
            L.cov_fwd()
            c, wn, an = L.np["cov"], L.np["w"], L.np["a"]
            cw = c @ wn  # (in, S, out)
            var = (wn * cw).sum(axis=1)  # (in, out)
            std = np.sqrt(np.maximum(var, 0) + 1e-16)
            n = an.shape[0]
            centred = an - an.mean(axis=0)
            x_std = np.sqrt((centred * centred).sum(axis=0) / (n - 1)) if n > 1 else np.full(an.shape[1], np.nan)
            r = (x_std + 0.1)[:, None]  # (in, 1)
            value, g_scale = penalty_value_and_grad_np((std / r).T, self.lamb_l1, self.lamb_entropy)
            total += value
            g = self.lamb * g_scale.T  # d(lamb * penalty)/d(std / r): (in, out)
            g_std = g / r
            g_r = -(g * std / (r * r)).sum(axis=1)  # (in,)
            g_var = np.where(var >= 0, g_std * 0.5 / std, 0.0)
            np.multiply(cw, 2.0 * g_var[:, None, :], out=L.g_w_pen)  # cov is symmetric
            np.matmul(wn * g_var[:, None, :], wn.transpose(0, 2, 1), out=L.np["g_cov"])
            L.cov_back()
            # d std / d a = (a - mean) / ((n - 1) std); zero where std is zero, as torch's backward has it
            with np.errstate(divide="ignore", invalid="ignore"):
                g_x = np.where(x_std > 0, g_r / (x_std * max(n - 1, 1)), 0.0)
            L.np["g_a_pen"][...] += centred * g_x
        return total

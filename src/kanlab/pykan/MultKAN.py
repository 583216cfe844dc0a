"""pykan's ``KAN`` (``MultKAN``) as a thin adapter over :class:`kanlab.KAN`: a ``kanlab.pykan.KAN`` *is* a
``kanlab.KAN``, with pykan's habits on top.

- Each forward keeps its input (``cache_data``), so ``fix_symbolic``, ``auto_symbolic``, ``suggest_symbolic``,
  ``prune``, ``plot``, ``get_fun`` and ``get_act`` work on "the last forward" as in pykan.
- ``prune_edge``, ``remove_edge`` and ``remove_node`` edit the model in place; ``prune``, ``prune_node``,
  ``prune_input`` and ``refine`` return new models (all as in pykan).
- ``fit`` returns pykan's history: lists of numpy scalars (``.item()`` works).
- ``update_grid`` places the knots outside an adaptive grid by pykan's rule (average spacing), so a ported
  notebook follows pykan's training trajectory.
- Files are written only where asked: ``plot(folder=...)`` and ``saveckpt(path)``. pykan's ``auto_save``
  checkpoints are not written (the argument is accepted and ignored).

All maths is kanlab's. Multiplication nodes (width entries like ``[5, 2]``) raise NotImplementedError until KAN 2.0
lands in the core.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import model as _model
from ..symbolic import fit as _symfit
from .utils import SYMBOLIC_LIB, compat_library

__all__ = ["KAN", "MultKAN"]

log = logging.getLogger(__name__)


def _int(v: Any, name: str) -> int:
    """numpy and torch integers are integers (pykan users pass them)."""
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Tensor) and v.ndim == 0 and not v.is_floating_point():
        return int(v)
    raise TypeError(f"{name} must be an integer, got {v!r}")


class _SymbolicView:
    """pykan's view of a symbolic layer: ``funs_name[j][i]`` and ``mask[j, i]`` indexed (out, in)."""

    def __init__(self, layer) -> None:
        self._layer = layer

    @property
    def in_dim(self) -> int:
        return self._layer.in_dim

    @property
    def out_dim(self) -> int:
        return self._layer.out_dim

    @property
    def funs_name(self) -> list[list[str]]:
        return [[self._layer.names[i][j] for i in range(self.in_dim)] for j in range(self.out_dim)]

    @property
    def mask(self) -> Tensor:
        return self._layer.mask.t()

    @property
    def affine(self) -> Tensor:
        return self._layer.affine.transpose(0, 1)

    def __repr__(self) -> str:
        return f"Symbolic_KANLayer(in_dim={self.in_dim}, out_dim={self.out_dim})"


class KAN(_model.KAN):
    """pykan 0.2.8's ``KAN(width, grid, k, ...)`` with pykan's semantics (see the module docstring)."""

    _forward_is_core = True  # forward only caches its input: fit may use kanlab's fast objective

    def __init__(self, width=None, grid=3, k=3, mult_arity=2, noise_scale=0.3, scale_base_mu=0.0,
                 scale_base_sigma=1.0, base_fun="silu", symbolic_enabled=True, affine_trainable=False,
                 grid_eps=0.02, grid_range=(-1, 1), sp_trainable=True, sb_trainable=True, seed=1, save_act=True,
                 sparse_init=False, auto_save=True, first_init=True, ckpt_path="./model", state_id=0, round=0,
                 device="cpu"):
        if width is None:
            raise TypeError("KAN needs a width, e.g. KAN(width=[2, 5, 1])")
        if any(isinstance(w, (list, tuple)) for w in width):
            raise NotImplementedError(
                "multiplication nodes (width entries like [5, 2], pykan's MultKAN) are not in kanlab yet; they come "
                "with KAN 2.0. Use plain integer widths")
        width = [_int(w, "width entry") for w in width]
        grid = [_int(g, "grid") for g in grid] if isinstance(grid, (list, tuple)) else _int(grid, "grid")
        k = [_int(v, "k") for v in k] if isinstance(k, (list, tuple)) else _int(k, "k")
        super().__init__(width, grid=grid, k=k, noise_scale=noise_scale, scale_base_mu=scale_base_mu,
                         scale_base_sigma=scale_base_sigma, base_fun=base_fun, grid_eps=grid_eps,
                         grid_range=tuple(grid_range), grid_extend="average", sp_trainable=sp_trainable,
                         sb_trainable=sb_trainable,
                         sparse_init=sparse_init, seed=_int(seed, "seed"), device=device,
                         dtype=torch.get_default_dtype())
        self._adapter_init(save_act)

    def _adapter_init(self, save_act: bool = True) -> None:
        self.save_act = bool(save_act)
        self.cache_data: Tensor | None = None
        self.symbolic_enabled = True

    @classmethod
    def _adopt(cls, core: _model.KAN, like: "KAN") -> "KAN":
        """A core model (from prune, refine, load) as this adapter, carrying ``like``'s settings and cache."""
        core.__class__ = cls
        core._adapter_init(like.save_act if like is not None else True)
        if like is not None and like.cache_data is not None and like.cache_data.shape[1] == core.width[0]:
            core.cache_data = like.cache_data
        return core

    # ------------------------------------------------------------------ pykan's attributes
    @property
    def act_fun(self):
        """The spline layers (pykan's name)."""
        return self.layers

    @property
    def symbolic_fun(self) -> list[_SymbolicView]:
        """The symbolic layers, indexed (out, in) as in pykan."""
        return [_SymbolicView(s) for s in self.symbolic]

    @property
    def width_in(self) -> list[int]:
        return self.width

    @property
    def width_out(self) -> list[int]:
        return self.width

    # ------------------------------------------------------------------ forward with pykan's cache
    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> Tensor:
        if self.save_act:
            self.cache_data = x.detach()
        return super().forward(x, singularity_avoiding, y_th)

    def _cached(self, purpose: str) -> Tensor:
        x = self.cache_data if self.cache_data is not None else self.fit_input_
        if x is None:
            raise ValueError(f"{purpose} uses the activations of the last forward: call model(x) first")
        return x

    def get_act(self, x: Tensor | None = None) -> None:
        """Run a forward on x (default: the cached input) to refresh the cached activations."""
        with torch.no_grad():
            self.forward(self._cached("get_act") if x is None else x)

    def activations(self, l: int) -> tuple[Tensor, Tensor]:
        """Layer l's inputs (B, in) and numeric per-edge outputs (B, in, out) on the cached input."""
        return _symfit.edge_samples(self, _int(l, "l"), self._cached("activations"))

    def get_fun(self, l: int, i: int, j: int) -> tuple[Tensor, Tensor]:
        """Edge (l, i, j)'s samples on the cached input, sorted by x: (x (B,), y (B,))."""
        l, i, j = _int(l, "l"), _int(i, "i"), _int(j, "j")
        self._check_edge(l, i, j)
        xs, ys = self.activations(l)
        order = torch.argsort(xs[:, i])
        return xs[order, i], ys[order, i, j]

    def get_range(self, l: int, i: int, j: int, verbose: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(x_min, x_max, y_min, y_max) of edge (l, i, j) on the cached input."""
        x, y = self.get_fun(l, i, j)
        out = (x.min(), x.max(), y.min(), y.max())
        if verbose:
            log.info("x range: [%.2f, %.2f]; y range: [%.2f, %.2f]", *map(float, out))
        return out

    # ------------------------------------------------------------------ training
    def fit(self, dataset, opt="LBFGS", steps=100, log=1, lamb=0.0, lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.0,
            lamb_coefdiff=0.0, update_grid=True, grid_update_num=10, loss_fn=None, lr=1.0, start_grid_update_step=-1,
            stop_grid_update_step=50, batch=-1, metrics=None, save_fig=False, in_vars=None, out_vars=None, beta=3,
            save_fig_freq=1, img_folder="./video", singularity_avoiding=False, y_th=1000.0,
            reg_metric="edge_forward_spline_n", display_metrics=None) -> dict[str, list]:
        """pykan's fit: kanlab's training loop; returns lists of numpy scalars. With ``save_fig`` the diagram is
        written to ``img_folder`` every ``save_fig_freq`` steps (files only then)."""
        if reg_metric != "edge_forward_spline_n":
            raise NotImplementedError(f"reg_metric={reg_metric!r}: kanlab's penalty is pykan's default "
                                      "'edge_forward_spline_n'")
        callbacks = []
        if save_fig:
            os.makedirs(img_folder, exist_ok=True)

            def snapshot(step: int, logs: dict) -> None:
                if step % save_fig_freq == 0:
                    fig = self.plot(beta=beta, in_vars=in_vars, out_vars=out_vars, title=f"Step {step}")
                    fig.savefig(os.path.join(img_folder, f"{step}.jpg"), dpi=100)
                    import matplotlib.pyplot as plt

                    plt.close(fig)

            callbacks.append(snapshot)
        hist = super().fit(dataset, opt=opt, steps=_int(steps, "steps"), log=0, lamb=lamb, lamb_l1=lamb_l1,
                           lamb_entropy=lamb_entropy, lamb_coef=lamb_coef, lamb_coefdiff=lamb_coefdiff,
                           update_grid=update_grid, grid_update_num=grid_update_num, loss_fn=loss_fn, lr=lr,
                           start_grid_update_step=start_grid_update_step,
                           stop_grid_update_step=stop_grid_update_step, batch=batch, metrics=metrics,
                           callbacks=callbacks or None, singularity_avoiding=singularity_avoiding, y_th=y_th)
        self.cache_data = self.fit_input_
        return {key: [np.float64(v) for v in vals] for key, vals in hist.items()}

    # ------------------------------------------------------------------ pruning (pykan: prune_edge in place)
    def prune_edge(self, threshold: float = 3e-2, log_history: bool = True) -> None:
        """Switch off edges scoring below ``threshold``, in place (pykan's semantics)."""
        pruned = _model.KAN.prune_edge(self, threshold, x=self._cached("prune_edge"))
        with torch.no_grad():
            for mine, theirs in zip(self.layers, pruned.layers):
                mine.mask.copy_(theirs.mask)

    def prune_node(self, threshold: float = 1e-2, mode: str = "auto", active_neurons_id=None,
                   log_history: bool = True) -> "KAN":
        ids = None if mode == "auto" and active_neurons_id is None else active_neurons_id
        return self._adopt(_model.KAN.prune_node(self, threshold, x=self._cached("prune_node"),
                                                 active_neurons_id=ids), self)

    def prune_input(self, threshold: float = 1e-2, active_inputs=None, log_history: bool = True) -> "KAN":
        return self._adopt(_model.KAN.prune_input(self, threshold, x=self._cached("prune_input"),
                                                  active_inputs=active_inputs), self)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2) -> "KAN":
        return self._adopt(_model.KAN.prune(self, node_th=node_th, edge_th=edge_th, x=self._cached("prune")),
                           self)

    def refine(self, new_grid) -> "KAN":
        return self._adopt(_model.KAN.refine(self, _int(new_grid, "new_grid")), self)

    def remove_edge(self, l: int, i: int, j: int, log_history: bool = True) -> None:
        """Switch edge (l, i, j) off, numeric and symbolic parts, in place."""
        l, i, j = _int(l, "l"), _int(i, "i"), _int(j, "j")
        self._check_edge(l, i, j)
        with torch.no_grad():
            self.layers[l].mask[i, j] = 0.0
        self.symbolic[l].set_edge(i, j, active=False)

    def remove_node(self, l: int, i: int, mode: str = "all", log_history: bool = True) -> None:
        """Switch off node i of layer l's incoming ('down', 'all') and outgoing ('up', 'all') edges, in place."""
        l, i = _int(l, "l"), _int(i, "i")
        if mode not in ("all", "up", "down"):
            raise ValueError(f"mode must be 'all', 'up' or 'down', got {mode!r}")
        if not 0 <= l <= self.depth or not 0 <= i < self.width[l]:
            raise IndexError(f"node ({l}, {i}) does not exist in a network of width {self.width}")
        if mode in ("all", "down") and l > 0:
            for src in range(self.width[l - 1]):
                self.remove_edge(l - 1, src, i)
        if mode in ("all", "up") and l < self.depth:
            for dst in range(self.width[l + 1]):
                self.remove_edge(l, i, dst)

    # ------------------------------------------------------------------ symbolic (on the cached input)
    def _lib(self, lib):
        library = compat_library()
        return library if lib is None else library.subset([n for n in lib])

    def fix_symbolic(self, l, i, j, fun_name, fit_params_bool=True, a_range=(-10, 10), b_range=(-10, 10),
                     verbose=True, random=False, log_history=True):
        """Snap edge (l, i, j) to ``fun_name``, fitted to the cached activations; returns r^2 (None without a
        fit)."""
        l, i, j = _int(l, "l"), _int(i, "i"), _int(j, "j")
        if fun_name not in SYMBOLIC_LIB:
            raise ValueError(f"unknown symbolic function {fun_name!r}; valid names: {', '.join(SYMBOLIC_LIB)}")
        x = self._cached("fix_symbolic") if fit_params_bool else None
        r2 = _model.KAN.fix_symbolic(self, l, i, j, fun_name, fit_params=fit_params_bool, x=x,
                                     lib=compat_library(), a_range=tuple(a_range), b_range=tuple(b_range))
        if verbose and r2 is not None:
            log.info("r2 is %s", r2)
        return r2

    def suggest_symbolic(self, l, i, j, a_range=(-10, 10), b_range=(-10, 10), lib=None, topk=5, verbose=True,
                         r2_loss_fun=None, c_loss_fun=None, weight_simple=0.8):
        """pykan's return value: (best name, its SYMBOLIC_LIB entry, r^2, complexity)."""
        ranked = _model.KAN.suggest_symbolic(self, _int(l, "l"), _int(i, "i"), _int(j, "j"), lib=self._lib(lib),
                                             topk=topk, weight_simple=weight_simple, x=self._cached("suggest"),
                                             a_range=tuple(a_range), b_range=tuple(b_range))
        if verbose:
            for s in ranked:
                log.info("%s r2=%.6f complexity=%s score=%.3f", s.name, s.r2, s.complexity, s.score)
        best = ranked[0]
        return best.name, SYMBOLIC_LIB.get(best.name), best.r2, best.complexity

    def auto_symbolic(self, a_range=(-10, 10), b_range=(-10, 10), lib=None, verbose=1, weight_simple=0.8,
                      r2_threshold=0.0):
        """Snap every numeric edge to its best function, fitted to the cached activations."""
        _model.KAN.auto_symbolic(self, lib=self._lib(lib), r2_threshold=r2_threshold, weight_simple=weight_simple,
                                 x=self._cached("auto_symbolic"), a_range=tuple(a_range), b_range=tuple(b_range))

    def symbolic_formula(self, var=None, normalizer=None, output_normalizer=None, simplify=False, floating_digit=4):
        """(formulas per output, input symbols), as pykan returns them."""
        if normalizer is not None or output_normalizer is not None:
            raise NotImplementedError("symbolic_formula: normalizer / output_normalizer are not supported")
        return _model.KAN.symbolic_formula(self, var=var, simplify=simplify)

    # ------------------------------------------------------------------ pictures and housekeeping
    def plot(self, folder=None, beta=3, metric="backward", scale=0.5, tick=False, sample=False, in_vars=None,
             out_vars=None, title=None, varscale=1.0):
        """The diagram of the cached forward (a matplotlib Figure). Written to ``folder`` only when one is given."""
        x = self.cache_data if self.cache_data is not None else self.fit_input_
        path = None
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "kan.png")
        return _model.KAN.plot(self, beta=beta, metric=metric, in_vars=in_vars, out_vars=out_vars, title=title,
                               sample=sample, scale=scale, x=x, path=path)

    def speed(self, compile: bool = False) -> "KAN":
        """pykan's speed mode: stop caching activations (kanlab has no slower path to switch off)."""
        self.save_act = False
        return self

    def saveckpt(self, path: str = "model") -> None:
        """Write the model (kanlab's safetensors format) to ``path``."""
        self.save(path)

    @classmethod
    def loadckpt(cls, path: str = "model") -> "KAN":
        return cls._adopt(_model.KAN.load(path), None)

    def copy(self) -> "KAN":
        return copy.deepcopy(self)


MultKAN = KAN

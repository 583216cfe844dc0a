"""pykan's ``KAN`` (``MultKAN``) as a thin adapter over :class:`kanlab.KAN`: a ``kanlab.pykan.KAN`` *is* a
``kanlab.KAN``, with pykan's habits on top.

- Each forward keeps its input (``cache_data``), so ``fix_symbolic``, ``auto_symbolic``, ``suggest_symbolic``,
  ``prune``, ``plot``, ``get_fun`` and ``get_act`` work on "the last forward" as in pykan.
- ``prune_edge``, ``remove_edge`` and ``remove_node`` edit the model in place; ``prune``, ``prune_node``,
  ``prune_input`` and ``refine`` return new models (all as in pykan).
- ``fit`` returns pykan's history: lists of numpy scalars (``.item()`` works).
- ``update_grid`` places the knots outside an adaptive grid by pykan's rule (average spacing), so a ported
  notebook follows pykan's training trajectory.
- Every workflow step (fit, fix_symbolic, prune, refine, ...) is a new version ``"round.state"`` when
  ``auto_save`` is on (pykan's default); ``rewind(id)`` and ``checkout(id)`` return old versions, and
  ``history()`` gives pykan's log. The versions live in memory (:mod:`kanlab.pykan._versions`), not in ./model.
- Files are written only where asked: ``plot(folder=...)``, ``fit(save_fig=True)`` and ``saveckpt(path)``.

All maths is kanlab's, multiplication nodes included (width entries like ``[5, 2]``, ``mult_arity`` an int or
pykan's list of per-layer lists). One difference: ``width`` reads as node counts per layer (``[2, 7, 1]``), where
pykan lists ``[n_sum, n_mult]`` pairs; ``width_spec`` gives the pairs, ``width_in``/``width_out`` are pykan's.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from typing import Any

import numpy as np
import sympy
import torch
from torch import Tensor

from .. import model as _model
from .._ints import as_int as _int
from ._versions import Versions, parse_id
from .utils import SYMBOLIC_LIB, compat_library

__all__ = ["KAN", "MultKAN"]

log = logging.getLogger(__name__)


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
        super().__init__(width, mult_arity=mult_arity, grid=grid, k=k, noise_scale=noise_scale,
                         scale_base_mu=scale_base_mu,
                         scale_base_sigma=scale_base_sigma, base_fun=base_fun, grid_eps=grid_eps,
                         grid_range=tuple(grid_range), grid_extend="average", sp_trainable=sp_trainable,
                         sb_trainable=sb_trainable,
                         sparse_init=sparse_init, seed=seed, device=device,
                         dtype=torch.get_default_dtype())
        self._adapter_init(save_act)
        self.auto_save, self.ckpt_path = bool(auto_save), ckpt_path
        self.round, self.state_id = _int(round, "round"), 0 if first_init else _int(state_id, "state_id")
        self.versions: Versions | None = Versions() if self.auto_save else None
        if self.versions is not None:
            self.versions.lines += [f"### Round {self.round} ###", f"init => {self.round}.{self.state_id}"]
            self.versions.save(self)

    def _adapter_init(self, save_act: bool = True) -> None:
        self.save_act = bool(save_act)
        self.cache_data: Tensor | None = None
        self.symbolic_enabled = True

    @classmethod
    def _adopt(cls, core: _model.KAN, like: "KAN | None") -> "KAN":
        """A core model (from prune, refine, load) as this adapter, carrying ``like``'s settings, cache and
        version history (a new history when there is no ``like``)."""
        core.__class__ = cls
        core._adapter_init(like.save_act if like is not None else True)
        if like is not None and like.cache_data is not None and like.cache_data.shape[1] == core.width[0]:
            core.cache_data = like.cache_data
        if like is not None:
            core.auto_save, core.ckpt_path = like.auto_save, like.ckpt_path
            core.round, core.state_id, core.versions = like.round, like.state_id, like.versions
        else:
            core.auto_save, core.ckpt_path, core.round, core.state_id = True, "./model", 0, 0
            core.versions = Versions()
            core.versions.lines += ["### Round 0 ###", "load => 0.0"]
            core.versions.save(core)
        return core

    # ------------------------------------------------------------------ versions (pykan's auto_save, in memory)
    def log_history(self, method_name: str) -> None:
        """Record this model as the next version, after ``method_name`` (when auto_save is on)."""
        if not self.auto_save or self.versions is None:
            return
        old = f"{self.round}.{self.state_id}"
        self.state_id += 1
        self.versions.lines.append(f"{old} => {method_name} => {self.round}.{self.state_id}")
        self.versions.save(self)

    def _derived(self, core: _model.KAN, method_name: str, log_history: bool = True) -> "KAN":
        new = self._adopt(core, self)
        if log_history:
            new.log_history(method_name)
        return new

    def _require_versions(self, what: str) -> Versions:
        if self.versions is None:
            raise ValueError(f"{what} needs the model's saved versions, and this model was made with "
                             "auto_save=False")
        return self.versions

    def rewind(self, model_id) -> "KAN":
        """Version ``model_id`` ('round.state'), as the start of a new round (pykan's rewind)."""
        versions = self._require_versions("rewind")
        _, state = parse_id(model_id)
        restored = versions.get(model_id)
        new_round = 1 + max(parse_id(v)[0] for v in versions.ids)
        self.round, self.state_id = new_round, state  # pykan moves the caller to the new round too
        restored.round, restored.state_id = new_round, state
        versions.lines.append(f"### Round {new_round} ###")
        versions.save(restored)
        log.info("rewind to model version %s, renamed as %s.%s", model_id, new_round, state)
        return restored

    def checkout(self, model_id) -> "KAN":
        """Version ``model_id`` ('round.state'), without starting a round or logging anything."""
        parse_id(model_id)
        return self._require_versions("checkout").get(model_id)

    def history(self, k="all") -> str:
        """The last ``k`` lines of pykan's history log (all by default), as text."""
        lines = self._require_versions("history").lines
        if k != "all":
            lines = lines[len(lines) - _int(k, "k"):] if _int(k, "k") > 0 else []
        return "".join(line + "\n" for line in lines)

    @property
    def n_edge(self) -> int:
        """The number of active numeric edges."""
        return int(sum(int((layer.mask > 0).sum()) for layer in self.layers))

    def evaluate(self, dataset) -> dict[str, Any]:
        """pykan's summary: test RMSE, number of edges, grid size."""
        with torch.no_grad():
            pred = _model.KAN.forward(self, dataset["test_input"])
        rmse = float(torch.sqrt(torch.mean((pred - dataset["test_label"]) ** 2)))
        return {"test_loss": rmse, "n_edge": self.n_edge, "n_grid": self.grid[0]}

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
        """Nodes per layer (pykan's name); ``width_out`` (from the core) counts subnodes."""
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

    def get_act(self, x=None) -> None:
        """Run a forward on x (a tensor or a dataset dict; default: the cached input) to refresh the cache."""
        if isinstance(x, dict):
            x = x["train_input"]
        with torch.no_grad():
            self.forward(self._cached("get_act") if x is None else x)

    def _edges(self) -> list[tuple[Tensor, Tensor]]:
        return _model.KAN.activations(self, self._cached("activations"))

    # pykan's per-forward attributes, computed on request from the cached input; pykan's layouts (batch, out, in)
    @property
    def acts(self) -> list[Tensor]:
        """Every layer's input, and last the output, on the cached input: [(B, width[0]), ..., (B, width[-1])]."""
        with torch.no_grad():
            return self.layer_inputs(self._cached("acts"))

    @property
    def spline_preacts(self) -> list[Tensor]:
        """Per layer, each edge's input: (B, out, in)."""
        return [x[:, None, :].expand(-1, y.shape[2], -1) for x, y in self._edges()]

    @property
    def spline_postacts(self) -> list[Tensor]:
        """Per layer, each edge's output (numeric + symbolic): (B, out, in)."""
        return [y.permute(0, 2, 1) for _, y in self._edges()]

    def attribute(self, l=None, i=None, out_score=None, plot=True):
        """pykan's attribute(): sets ``edge_scores`` (out, in) and ``node_scores`` on the cached input. With no layer it returns kanlab's :class:`~kanlab.prune.Attribution`; with layer ``l`` the inputs'
        scores for each node of layer l, (width[l], n_in) (node scores ``out_score``, default their own), and with
        ``i`` too node i's row, drawn as a bar chart when ``plot``. (pykan also overwrites ``node_scores`` with
        the per-node query; here they keep the whole network's scores.)"""
        from ..prune import backward_scores

        x = self._cached("attribute")
        att = _model.KAN.attribute(self, x)
        self.edge_scores = [e.t() for e in att.edge_scores]
        self.node_scores = att.node_scores
        if l is None:
            if i is not None or out_score is not None:
                raise ValueError("attribute: i and out_score need a layer l")
            return att
        l = _int(l, "l")
        if not 1 <= l <= self.depth:
            raise IndexError(f"layer {l} has no incoming edges to attribute (layers 1..{self.depth})")
        start = att.node_scores[l] if out_score is None else torch.as_tensor(out_score, dtype=self.dtype)
        if start.shape != (self.width[l],):
            raise ValueError(f"out_score must have one score per node of layer {l} ({self.width[l]}), "
                             f"got shape {tuple(start.shape)}")
        with torch.no_grad():
            per_node = backward_scores(self, self.layer_inputs(x), top=l, start=start)[0][0]  # (width[l], n_in)
        if i is None:
            return per_node
        i = _int(i, "i")
        if not 0 <= i < self.width[l]:
            raise IndexError(f"layer {l} has {self.width[l]} nodes; no node {i}")
        if plot:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(max(self.width[0], 2), 3))
            ax.bar(range(self.width[0]), per_node[i].cpu().numpy())
            ax.set_xticks(range(self.width[0]))
        return per_node[i]

    @property
    def feature_score(self) -> Tensor:
        """The inputs' attribution scores on the cached input (computed on each access, as in pykan)."""
        self.attribute()
        return self.node_scores[0]

    def node_attribute(self) -> None:
        """pykan's node_attribute(): sets ``node_attribute_scores``, per layer l >= 1 a (width[l], n_in) matrix."""
        from ..prune import node_attribution

        self.node_attribute_scores = node_attribution(self, self._cached("node_attribute"))

    def feature_interaction(self, l, neuron_th=1e-2, feature_th=1e-2) -> dict:
        """{input index tuple: number of layer-l nodes those inputs act together through}, on the cached input."""
        from ..prune import feature_interaction

        return feature_interaction(self, _int(l, "l"), neuron_th, feature_th, x=self._cached("feature_interaction"))

    def get_fun(self, l: int, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Edge (l, i, j)'s samples on the cached input, sorted by x: (x (B,), y (B,)) as numpy arrays."""
        l, i, j = self.check_edge(l, i, j)
        xs, ys = self._edges()[l]
        order = torch.argsort(xs[:, i])
        return xs[order, i].cpu().numpy(), ys[order, i, j].cpu().numpy()

    def get_range(self, l: int, i: int, j: int, verbose: bool = True):
        """(x_min, x_max, y_min, y_max) of edge (l, i, j) on the cached input, as numpy scalars."""
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
                           callbacks=callbacks or None, singularity_avoiding=singularity_avoiding, y_th=y_th,
                           reg_metric=reg_metric)
        self.cache_data = self.fit_input_
        self.log_history("fit")
        return {key: [np.float64(v) for v in vals] for key, vals in hist.items()}

    def reg(self, reg_metric="edge_forward_spline_n", lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.0,
            lamb_coefdiff=0.0) -> Tensor:
        """pykan's penalty on the last forward's input, differentiable (for hand-written training loops)."""
        from ..regularize import check_reg_metric, regularization

        acts = self.layer_inputs(self._cached("reg"))
        return regularization(self, acts, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff,
                              check_reg_metric(reg_metric))

    # ------------------------------------------------------------------ pruning (pykan: prune_edge in place)
    def prune_edge(self, threshold: float = 3e-2, log_history: bool = True) -> None:
        """Switch off edges scoring below ``threshold``, in place (pykan's semantics)."""
        pruned = _model.KAN.prune_edge(self, threshold, x=self._cached("prune_edge"))
        self._take_state(pruned)
        if log_history:
            self.log_history("prune_edge")

    def prune_node(self, threshold: float = 1e-2, mode: str = "auto", active_neurons_id=None,
                   log_history: bool = True) -> "KAN":
        ids = None if mode == "auto" and active_neurons_id is None else active_neurons_id
        return self._derived(_model.KAN.prune_node(self, threshold, x=self._cached("prune_node"),
                                                   active_neurons_id=ids), "prune_node", log_history)

    def prune_input(self, threshold: float = 1e-2, active_inputs=None, log_history: bool = True) -> "KAN":
        """A new model on the inputs scoring above ``threshold`` (or ``active_inputs``). As in pykan it remembers
        which of the original inputs it kept (``input_id``), so ``plot(in_vars=...)`` takes the original names."""
        x = self._cached("prune_input")
        if active_inputs is None:
            score = _model.KAN.attribute(self, x).feature_score
            kept = torch.nonzero(score > threshold).flatten().tolist() or [int(score.argmax())]
        else:
            kept = sorted({_int(i, "active_inputs entry") for i in active_inputs})
        new = self._derived(_model.KAN.prune_input(self, threshold, x=x, active_inputs=kept), "prune_input",
                            log_history)
        new.input_id = [self.input_id[i] for i in kept]
        return new

    @property
    def input_id(self) -> list[int]:
        """For each input, its index among the inputs the model was built with (prune_input drops some)."""
        return self.__dict__.get("_input_id", list(range(self.width[0])))

    @input_id.setter
    def input_id(self, ids) -> None:
        self.__dict__["_input_id"] = [int(i) for i in ids]

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2) -> "KAN":
        return self._derived(_model.KAN.prune(self, node_th=node_th, edge_th=edge_th, x=self._cached("prune")),
                             "prune")

    def refine(self, new_grid=None, *, grid=None) -> "KAN":
        """A new model on a finer grid (``grid=`` is accepted too, as some pykan tutorials write it)."""
        if (new_grid is None) == (grid is None):
            raise TypeError("refine takes the new grid size once: refine(new_grid)")
        size = new_grid if grid is None else grid
        return self._derived(_model.KAN.refine(self, _int(size, "new_grid")), "refine")

    def remove_edge(self, l: int, i: int, j: int, log_history: bool = True) -> None:
        """Switch edge (l, i, j) off, numeric and symbolic parts, in place."""
        self._take_state(_model.KAN.remove_edge(self, l, i, j))
        if log_history:
            self.log_history("remove_edge")

    def remove_node(self, l: int, i: int, mode: str = "all", log_history: bool = True) -> None:
        """Switch off node i of layer l's incoming ('down', 'all') and outgoing ('up', 'all') edges, in place."""
        self._take_state(_model.KAN.remove_node(self, l, i, mode))
        if log_history:
            self.log_history("remove_node")

    def swap(self, l: int, i1: int, i2: int, log_history: bool = True) -> None:
        """Exchange hidden nodes i1 and i2 of layer l, in place (pykan's semantics; the core returns a new model)."""
        self._take_state(_model.KAN.swap(self, l, i1, i2))
        if log_history:
            self.log_history("swap")

    def auto_swap(self) -> None:
        """Reorder hidden nodes to lower the connection cost, in place, on the cached input."""
        self._take_state(_model.KAN.auto_swap(self, self._cached("auto_swap")))
        self.log_history("auto_swap")

    def expand_width(self, layer_id, n_added_nodes, sum_bool=True, mult_arity=2, log_history=True) -> None:
        """More (switched-off) nodes in a hidden layer, in place (pykan's semantics). The new sum nodes follow the
        existing ones, where pykan puts them first."""
        self._become(_model.KAN.expand_width(self, layer_id, n_added_nodes, sum_bool, mult_arity))
        if log_history:
            self.log_history("expand_width")

    def expand_depth(self, log_history=True) -> None:
        """An identity layer appended, in place."""
        self._become(_model.KAN.expand_depth(self))
        if log_history:
            self.log_history("expand_depth")

    def perturb(self, mag=1.0, mode="non-intrusive", log_history=True) -> None:
        """Switched-off edges switched on with mask ``mag``, in place (see :func:`kanlab.surgery.perturb`)."""
        self._take_state(_model.KAN.perturb(self, mag, mode))
        if log_history:
            self.log_history("perturb")

    def module(self, start_layer, chain, log_history=True) -> None:
        """Impose a module (``'[0,1]->[2]->...'``), in place."""
        self._take_state(_model.KAN.module(self, start_layer, chain))
        if log_history:
            self.log_history("module")

    def _become(self, other: _model.KAN) -> None:
        """Take another model's architecture and tensors, in place (for edits that change the shapes)."""
        for key in ("_parameters", "_buffers", "_modules", "config", "nodes", "fit_input_", "extra_"):
            self.__dict__[key] = other.__dict__[key]
        if self.cache_data is not None and self.cache_data.shape[1] != self.width[0]:
            self.cache_data = None

    @property
    def connection_cost(self) -> float:
        return _model.KAN.connection_cost(self, self._cached("connection_cost"))

    def _take_state(self, other: _model.KAN) -> None:
        """Adopt another model's tensors and symbolic names (same architecture), in place."""
        self.load_state_dict(other.state_dict())
        for mine, theirs in zip(self.symbolic, other.symbolic):
            mine.names = [list(row) for row in theirs.names]
            mine._groups = None
        for mine, theirs in zip(self.layers, other.layers):
            for name, p in theirs.named_parameters():
                getattr(mine, name).requires_grad_(p.requires_grad)

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
        if log_history:
            self.log_history("fix_symbolic")
        return r2

    def unfix_symbolic(self, l, i, j, log_history=True) -> None:
        _model.KAN.unfix_symbolic(self, l, i, j)
        if log_history:
            self.log_history("unfix_symbolic")

    def unfix_symbolic_all(self, log_history=True) -> None:
        for l in range(self.depth):
            for i in range(self.layers[l].in_dim):
                for j in range(self.layers[l].out_dim):
                    _model.KAN.unfix_symbolic(self, l, i, j)
        if log_history:
            self.log_history("unfix_symbolic")

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
        self.log_history("auto_symbolic")

    def symbolic_formula(self, var=None, normalizer=None, output_normalizer=None, simplify=False, floating_digit=4):
        """(formulas per output, input symbols), as pykan returns them.

        As in pykan, edges that are still numeric splines count as 0 (kanlab's core refuses instead); a warning
        names them. ``normalizer=(mean, std)`` means the model saw (x - mean) / std; ``output_normalizer=(mean,
        std)`` that its outputs are scaled back as y * std + mean.
        """
        model = self
        numeric = [(l, i, j) for l, layer in enumerate(self.layers) for i, j in (layer.mask > 0).nonzero().tolist()]
        if numeric:
            warnings.warn(f"symbolic_formula: {len(numeric)} edge(s) are still numeric splines "
                          f"({', '.join(map(str, numeric[:6]))}{', ...' if len(numeric) > 6 else ''}); as in pykan "
                          "they count as 0 in the formula. Snap them with fix_symbolic/auto_symbolic first for a "
                          "formula of the whole model", stacklevel=2)
            model = _model.KAN.copy(self)
            with torch.no_grad():
                for layer in model.layers:
                    layer.mask.zero_()
        formulas, symbols = _model.KAN.symbolic_formula(model, var=var, simplify=simplify)
        if normalizer is not None:
            mean, std = (np.asarray(v, dtype=float).reshape(-1) for v in normalizer)
            subs = {s: (s - float(m)) / float(d) for s, m, d in zip(symbols, mean, std)}
            formulas = [sympy.expand(f.xreplace(subs)) for f in formulas]
        if output_normalizer is not None:
            mean, std = (np.asarray(v, dtype=float).reshape(-1) for v in output_normalizer)
            formulas = [sympy.expand(f * float(d) + float(m)) for f, m, d in zip(formulas, mean, std)]
        return formulas, symbols

    # ------------------------------------------------------------------ pictures and housekeeping
    def plot(self, folder=None, beta=3, metric="backward", scale=0.5, tick=False, sample=False, in_vars=None,
             out_vars=None, title=None, varscale=1.0):
        """The diagram of the cached forward (a matplotlib Figure). Written to ``folder`` only when one is given."""
        x = self.cache_data if self.cache_data is not None else self.fit_input_
        if in_vars is not None and len(in_vars) != self.width[0] and len(in_vars) > max(self.input_id):
            in_vars = [in_vars[i] for i in self.input_id]  # names of the original inputs, after prune_input
        if metric == "backward" and x is not None:
            self.attribute()  # as pykan's plot does: edge_scores and node_scores are set afterwards
        path = None
        if folder is not None:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "kan.png")
        return _model.KAN.plot(self, beta=beta, metric=metric, in_vars=in_vars, out_vars=out_vars, title=title,
                               sample=sample, scale=scale, x=x, path=path)

    def tree(self, x=None, in_var=None, style="tree", sym_th=1e-3, sep_th=1e-1, skip_sep_test=False, verbose=False):
        """The tree converter on this model (data: x, default the cached input); returns the Tree."""
        return _model.KAN.tree(self, self._cached("tree") if x is None else x, in_var=in_var, style=style,
                               sym_th=sym_th, sep_th=sep_th, skip_sep_test=skip_sep_test)

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
        """A deep copy that keeps writing to this model's version history (as pykan's copies share ./model)."""
        return copy.deepcopy(self)


MultKAN = KAN

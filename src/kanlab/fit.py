"""The training loop: LBFGS or Adam, sparsity regularisation, the grid-update schedule and a history dict.

``fit`` validates the dataset before touching the model, trains in place, keeps the training inputs on the model
(``model.fit_input_``) for later pruning, and stops with the last good parameters restored if a step goes
non-finite. It prints nothing; a tqdm bar appears only with ``progress=True``.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ._ints import as_int
from .data import check_finite
from .model import KAN
from .objective import FlatObjective, applies
from .optim import LBFGS
from .regularize import check_reg_metric, regularization

__all__ = ["fit", "prepare_dataset"]

logger = logging.getLogger(__name__)

_KEYS = ("train_input", "train_label", "test_input", "test_label")
_OPTS = ("LBFGS", "Adam")


def prepare_label(y: Tensor, n: int, n_out: int, name: str, regression: bool) -> Tensor:
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} rows but the inputs have {n}")
    if not regression:
        return y  # a custom loss_fn decides what labels it takes (e.g. class indices of shape [N])
    if y.ndim == 1:
        if n_out != 1:
            raise ValueError(f"{name} has shape {tuple(y.shape)} but the model has {n_out} outputs; "
                             f"pass labels of shape ({n}, {n_out})")
        warnings.warn(f"{name} has shape ({n},); reshaping it to ({n}, 1) (it is never broadcast)", stacklevel=4)
        return y.unsqueeze(1)
    if y.ndim != 2 or y.shape[1] != n_out:
        raise ValueError(f"{name} must have shape ({n}, {n_out}) to match the model's outputs, got {tuple(y.shape)}")
    return y


def prepare_dataset(model: KAN, dataset: Mapping[str, Tensor], regression: bool = True) -> dict[str, Tensor]:
    """Check a pykan-style dataset dict against the model and return a copy on the model's device and dtype.

    Raises TypeError/ValueError naming the problem: missing keys, wrong shapes, empty sets, NaN/inf.
    """
    if not isinstance(dataset, Mapping):
        raise TypeError(f"dataset must be a dict with keys {list(_KEYS)}, got {type(dataset).__name__}")
    missing = [key for key in _KEYS if key not in dataset]
    if missing:
        raise ValueError(f"dataset is missing key(s) {missing}")
    out: dict[str, Tensor] = {}
    for split in ("train", "test"):
        x, y = dataset[f"{split}_input"], dataset[f"{split}_label"]
        for key, t in ((f"{split}_input", x), (f"{split}_label", y)):
            if not isinstance(t, Tensor):
                raise TypeError(f"dataset[{key!r}] must be a torch.Tensor, got {type(t).__name__}")
        if x.ndim != 2:
            raise ValueError(f"dataset['{split}_input'] must have shape (N, {model.width[0]}), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"dataset['{split}_input'] is empty")
        if x.shape[1] != model.width[0]:
            raise ValueError(f"dataset['{split}_input'] has {x.shape[1]} columns but the model's width[0] is "
                             f"{model.width[0]}")
        check_finite(f"dataset['{split}_input']", x)
        check_finite(f"dataset['{split}_label']", y)
        y = prepare_label(y, x.shape[0], model.width[-1], f"dataset['{split}_label']", regression)
        out[f"{split}_input"] = x.to(device=model.device, dtype=model.dtype)
        out[f"{split}_label"] = y.to(device=model.device, dtype=model.dtype if y.is_floating_point() else y.dtype)
    return out


MAX_RETRIES = 3  # a step that goes NaN/inf is undone and retried with half the learning rate, this many times


def objective_terms(model: KAN, xb: Tensor, yb: Tensor, objective_fn: Callable, lamb: float, lamb_l1: float,
                    lamb_entropy: float, lamb_coef: float, lamb_coefdiff: float, singularity_avoiding: bool,
                    y_th: float, reg_metric: str = "edge_forward_spline_n") -> tuple[Tensor, Tensor, Tensor]:
    """(loss + lamb * reg, predictions, reg) for one batch; the penalty is only computed when lamb > 0."""
    if lamb > 0:
        acts = model.layer_inputs(xb, singularity_avoiding, y_th)
        pred = acts[-1]
        reg = regularization(model, acts, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff, reg_metric)
    else:
        pred = model(xb, singularity_avoiding, y_th)
        reg = pred.new_zeros(())
    return objective_fn(pred, yb) + lamb * reg, pred, reg


OUTSIDE_SHARE = 0.1  # warn when more than this share of the training inputs lies outside the first layer's grid


def _warn_outside_grid(model: KAN, x: Tensor) -> None:
    """Warn (once per model) when many training inputs fall outside the first layer's grid: there the splines are
    0 and only the base function carries the input, so the fit cannot shape those regions."""
    if getattr(model, "_warned_outside_grid", False) or x.shape[0] == 0:
        return
    layer = model.layers[0]
    lo, hi = layer.grid[:, layer.k], layer.grid[:, -layer.k - 1]  # the inner grid's ends, per input
    outside = ((x < lo) | (x > hi)).any(dim=1).double().mean().item()
    if outside > OUTSIDE_SHARE:
        model._warned_outside_grid = True
        warnings.warn(f"fit: {outside:.0%} of the training inputs lie outside the first layer's grid "
                      f"[{float(lo.min()):.3g}, {float(hi.max()):.3g}] and no grid update is scheduled; the splines "
                      "are 0 there (only the base function carries them). Use update_grid=True, call "
                      "model.update_grid(x), or build the model with grid_range covering the data",
                      UserWarning, stacklevel=3)


def make_optimizer(opt: str, params: list[Tensor], lr: float):
    """The optimizer ``fit`` trains with: kanlab's L-BFGS (strong Wolfe, 10 curvature pairs) or Adam."""
    if opt == "LBFGS":
        return LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe")
    return torch.optim.Adam(params, lr=lr)


def _rmse(pred: Tensor, y: Tensor) -> Tensor:
    return torch.sqrt(torch.mean((pred - y) ** 2))


def _is_stream(dataset) -> bool:
    from torch.utils.data import DataLoader

    return isinstance(dataset, DataLoader) or (
        isinstance(dataset, (tuple, list)) and len(dataset) == 2 and all(isinstance(t, Tensor) for t in dataset))


def _call_metric(metric: Callable, model: KAN, data: dict[str, Tensor]) -> float:
    n_args = len(inspect.signature(metric).parameters)
    value = metric() if n_args == 0 else metric(model, data)
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


def fit(
    model: KAN,
    dataset,
    opt: str | None = None,
    steps: int = 100,
    log: int = 1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lr: float | None = None,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    metrics: Sequence[Callable] | None = None,
    progress: bool = False,
    seed: int = 0,
    callbacks: Sequence[Callable[[int, dict], None]] | None = None,
    singularity_avoiding: bool = True,
    y_th: float = 1000.0,
    epochs: int = 10,
    val_data=None,
    validation_split: float = 0.0,
    patience: int | None = None,
    reg_metric: str = "edge_forward_spline_n",
    distributed: bool = False,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    resume=None,
    **distributed_kw,
) -> dict[str, list[float]]:
    """Train ``model`` in place on a pykan-style dataset dict, or by epochs on data that does not fit one batch.

    dataset: a dict with train/test inputs and labels (pykan's form); or a torch DataLoader of (x, y) batches, or
    an (x, y) pair of tensors with ``batch=``: then :func:`kanlab.epochs.fit_epochs` trains ``epochs`` epochs with
    Adam (lr default 1e-2), with optional validation (``val_data`` or ``validation_split``) and early stopping
    (``patience``), restoring the best state.

    opt: 'LBFGS' (default; :class:`kanlab.optim.LBFGS`, strong-Wolfe line search, up to 20 iterations a step) or
        'Adam'. lr defaults to 1.0, as in pykan. Full-batch L-BFGS with the default loss (and no coefficient
        penalty) evaluates the model without autograd, through :class:`kanlab.objective.FlatObjective`; the
        result is the same, several times faster on small models.
    lamb: weight of the sparsity penalty lamb_l1 * L1 + lamb_entropy * entropy (+ coefficient penalties).
    reg_metric: what the penalty measures (pykan's names, :data:`kanlab.regularize.REG_METRICS`): the default
        'edge_forward_spline_n' (numeric edge spread over input spread), 'edge_forward_spline_u',
        'edge_forward_sum', 'edge_backward' (edge attribution) or 'node_backward' (node attribution).
    update_grid: refit grids to the batch every stop_grid_update_step // grid_update_num steps until
        stop_grid_update_step.
    batch: samples per step (-1: all), drawn from a private generator seeded by ``seed``.
    loss_fn: defaults to mean squared error. With a custom loss, labels may have any shape the loss accepts
        (class indices of shape [N] for cross-entropy, say).
    log: log a line (logging.INFO, logger 'kanlab.fit') every ``log`` steps; 0 turns it off.
    metrics: callables, either with no arguments (pykan style) or taking (model, dataset); recorded by __name__.
    callbacks: called as callback(step, logs) after every step.
    singularity_avoiding: evaluate symbolic edges with their safe variants (1/x, log, ... bounded by about y_th),
        in training and in the reported losses.

    distributed: train data-parallel over the ``torch.distributed`` process group (launch with ``torchrun``);
        checkpoint, checkpoint_every, resume: write the training state every N steps and continue a killed run
        from it. These (and sharded=, world_size=, threads=, backend=, grid_samples=) go to
        :func:`kanlab.distributed.fit_distributed`, which has no ``metrics``, ``patience`` or validation split.

    Returns the history: ``train_loss`` and ``test_loss`` (RMSE when the labels match the predictions' shape,
    otherwise the loss_fn value), ``reg`` (the penalty before multiplying by lamb), plus one list per metric.
    """
    unknown = sorted(set(distributed_kw) - {"sharded", "world_size", "threads", "backend", "grid_samples"})
    if unknown:
        raise TypeError(f"fit() got unexpected keyword argument(s) {unknown}")
    if distributed or checkpoint is not None or checkpoint_every is not None or resume not in (None, False) \
            or distributed_kw:
        from .distributed import fit_distributed

        unsupported = [name for name, value in (("metrics", metrics), ("val_data", val_data),
                                                ("validation_split", validation_split), ("patience", patience))
                       if value]
        if unsupported:
            raise ValueError(f"fit: {', '.join(unsupported)} cannot be combined with distributed=True, checkpoint= "
                             "or resume=")
        return fit_distributed(
            model, dataset, opt=opt, steps=steps, log=log, lamb=lamb, lamb_l1=lamb_l1, lamb_entropy=lamb_entropy,
            lamb_coef=lamb_coef, lamb_coefdiff=lamb_coefdiff, update_grid=update_grid,
            grid_update_num=grid_update_num, loss_fn=loss_fn, lr=lr, start_grid_update_step=start_grid_update_step,
            stop_grid_update_step=stop_grid_update_step, batch=batch, progress=progress, seed=seed,
            callbacks=callbacks, singularity_avoiding=singularity_avoiding, y_th=y_th, reg_metric=reg_metric,
            epochs=epochs, distributed=distributed, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
            resume=resume, **distributed_kw)
    if _is_stream(dataset):
        from .epochs import fit_epochs

        if opt not in (None, "Adam"):
            raise ValueError(f"training from a DataLoader or (x, y) tensors uses Adam by epochs; opt={opt!r} "
                             "needs a dataset dict (full or random batches)")
        return fit_epochs(model, dataset, epochs=epochs, batch=batch, lr=1e-2 if lr is None else lr,
                          loss_fn=loss_fn, lamb=lamb, lamb_l1=lamb_l1, lamb_entropy=lamb_entropy, lamb_coef=lamb_coef,
                          lamb_coefdiff=lamb_coefdiff, update_grid=update_grid, val_data=val_data,
                          validation_split=validation_split, patience=patience, callbacks=callbacks,
                          reg_metric=reg_metric,
                          progress=progress, seed=seed, singularity_avoiding=singularity_avoiding, y_th=y_th)
    opt = "LBFGS" if opt is None else opt
    lr = 1.0 if lr is None else lr
    if opt not in _OPTS:
        raise ValueError(f"unknown opt {opt!r}; choose one of {list(_OPTS)}")
    steps = as_int(steps, "steps", minimum=0)
    if not (math.isfinite(lamb) and lamb >= 0):
        raise ValueError(f"lamb must be a finite number >= 0, got {lamb}")
    check_reg_metric(reg_metric)
    data = prepare_dataset(model, dataset, regression=loss_fn is None)
    x_tr, y_tr, x_te, y_te = (data[key] for key in _KEYS)
    with torch.no_grad():  # a model that cannot even evaluate the data would stop at step 0 with an empty history
        probe = model(x_tr[:1024], singularity_avoiding, y_th)
        # the default loss only: a user's loss_fn is called by training alone (it may count its calls, say)
        first = torch.mean((probe - y_tr[:1024]) ** 2) if loss_fn is None else probe.new_zeros(())
    if not (torch.isfinite(probe).all() and torch.isfinite(first).all()):
        what = (f"the model's output or loss on the training data is not finite (largest |input| "
                f"{float(x_tr.abs().max()):.3g}, largest |label| {float(y_tr.abs().max()):.3g}, computed in "
                f"{model.dtype})")
        if not any(bool(sym.mask.any()) for sym in model.symbolic):
            raise ValueError(f"{what}; standardise the data or train in float64")
        # symbolic edges (log, sqrt, 1/x, ...) can leave their domain: pykan trains on regardless, so warn and let
        # the steps' own NaN handling decide
        warnings.warn(f"{what}: symbolic edges may be outside their domain; singularity_avoiding=True evaluates "
                      "their safe variants", RuntimeWarning, stacklevel=3)
    n_tr, n_te = x_tr.shape[0], x_te.shape[0]
    batch = as_int(batch, "batch")
    full = batch == -1 or batch >= n_tr
    if not full and batch < 1:
        raise ValueError(f"batch must be -1 or a positive integer, got {batch!r}")
    objective_fn = loss_fn or (lambda p, y: torch.mean((p - y) ** 2))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(opt, params, lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    grid_every = max(1, stop_grid_update_step // max(1, grid_update_num))
    metrics = list(metrics or [])
    history: dict[str, list[float]] = {"train_loss": [], "test_loss": [], "reg": []}
    for m in metrics:
        history[m.__name__] = []

    def summary(pred: Tensor, y: Tensor) -> Tensor:
        return _rmse(pred, y) if pred.shape == y.shape else objective_fn(pred, y)

    def regrid_at(step: int) -> bool:
        return update_grid and start_grid_update_step <= step < stop_grid_update_step and step % grid_every == 0

    if not any(map(regrid_at, range(steps))):
        _warn_outside_grid(model, x_tr)
    model.fit_input_ = x_tr
    retries, best = 0, None  # NaN/inf steps retried so far; (train metric, state) of the best step after one
    # full-batch L-BFGS on the default loss and penalty can skip autograd (see kanlab.objective)
    flat_ok = opt == "LBFGS" and full and loss_fn is None and lamb_coef == 0 and lamb_coefdiff == 0 and \
        (lamb == 0 or reg_metric == "edge_forward_spline_n")
    objective: FlatObjective | None = None
    state: dict[str, Tensor] = {}

    reg_kw = dict(lamb=lamb, lamb_l1=lamb_l1, lamb_entropy=lamb_entropy, lamb_coef=lamb_coef,
                  lamb_coefdiff=lamb_coefdiff, singularity_avoiding=singularity_avoiding, y_th=y_th,
                  reg_metric=reg_metric)

    def closure_for(xb: Tensor, yb: Tensor):
        def closure():
            optimizer.zero_grad()
            objective, pred, reg = objective_terms(model, xb, yb, objective_fn, **reg_kw)
            objective.backward()
            state["pred"], state["reg"] = pred.detach(), reg.detach()
            return objective

        return closure

    # off a terminal (logs, CI) refresh at most every 5 s so that the bar cannot flood the output
    bar = tqdm(range(steps), disable=not progress, desc="fit", dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 5.0)
    for step in bar:
        if full:
            xb, yb = x_tr, y_tr
        else:
            ids = torch.randperm(n_tr, generator=gen)[:batch].to(x_tr.device)
            xb, yb = x_tr[ids], y_tr[ids]
        # the model as accepted after the last step: restored if this step fails, goes non-finite or is
        # interrupted (a KeyboardInterrupt in the middle of a line search leaves a trial point otherwise)
        backup = {k_: v.detach().clone() for k_, v in model.state_dict().items()}
        try:
            if regrid_at(step):
                model.update_grid(xb)
                objective = None
            te_ids = slice(None) if full else \
                torch.randperm(n_te, generator=gen)[: min(batch, n_te)].to(x_te.device)
            if flat_ok and applies(model, params, xb):  # checked every step: a callback may change the model
                # loss and gradient without autograd (kanlab.objective); it never writes the model, so a step
                # that goes non-finite is simply not applied. Rebuilt when the grids (or, through a callback,
                # anything) may have changed.
                if objective is None or callbacks:
                    objective = FlatObjective(model, params, xb, yb, lamb, lamb_l1, lamb_entropy,
                                              singularity_avoiding, y_th)
                v = optimizer.flat_params()
                v = optimizer.minimize(objective, v, *objective(v))
                state["reg"] = objective.last_reg
                train_metric = float(summary(objective.predict(v), yb))
                test_metric = float(summary(objective.predict(v, x_te[te_ids]), y_te[te_ids]))
                finite = math.isfinite(train_metric) and bool(np.isfinite(v).all())
                if finite:
                    optimizer.set_params(v)
            else:
                objective = None
                optimizer.step(closure_for(xb, yb))
                with torch.no_grad():
                    if opt == "LBFGS":
                        # the closure's last call may be a line-search probe: evaluate at the accepted parameters
                        train_metric = summary(model(xb, singularity_avoiding, y_th), yb)
                    else:
                        train_metric = summary(state["pred"], yb)
                    test_metric = summary(model(x_te[te_ids], singularity_avoiding, y_th), y_te[te_ids])
                finite = math.isfinite(float(train_metric)) and \
                    all(bool(torch.isfinite(p).all()) for p in params)
        except BaseException:
            model.load_state_dict(backup)
            raise
        if not finite:
            model.load_state_dict(backup)
            if best is None:  # from now on keep the best parameters seen, starting with the last accepted ones
                best = (history["train_loss"][-1] if history["train_loss"] else float("inf"), backup)
            if retries < MAX_RETRIES:  # undo the step; retry more carefully (a smaller lr, fresh curvature)
                retries += 1
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
                if opt == "LBFGS":  # its curvature pairs, or Adam's moments, may hold the NaN
                    optimizer.reset()
                else:
                    optimizer.state.clear()
                logger.info("fit: step %d produced NaN/inf; undone, retrying with lr=%g", step,
                            optimizer.param_groups[0]["lr"])
                continue
            model.load_state_dict(best[1])
            warnings.warn(f"fit: step {step} produced NaN/inf after {MAX_RETRIES} undone steps, each retried "
                          "with half the learning rate; stopped and kept the best parameters seen",
                          RuntimeWarning, stacklevel=3)
            break
        if best is not None and float(train_metric) < best[0]:  # tracked only once a step has failed
            best = (float(train_metric), {k_: v.detach().clone() for k_, v in model.state_dict().items()})
        history["train_loss"].append(float(train_metric))
        history["test_loss"].append(float(test_metric))
        history["reg"].append(float(state["reg"]))
        for m in metrics:
            history[m.__name__].append(_call_metric(m, model, data))
        logs = {key: vals[-1] for key, vals in history.items()}
        if progress:
            bar.set_postfix(train=f"{logs['train_loss']:.2e}", test=f"{logs['test_loss']:.2e}",
                            reg=f"{logs['reg']:.2e}", refresh=False)
        if log and step % log == 0:
            _log_step(step, logs)
        for cb in callbacks or ():
            cb(step, logs)
    bar.close()
    return history


def _log_step(step: int, logs: dict[str, float]) -> None:
    if logger.isEnabledFor(logging.INFO):
        logger.info("step %d: %s", step, " ".join(f"{k}={v:.3e}" for k, v in logs.items()))

"""Training by epochs on data that does not fit in one batch: a DataLoader, or (x, y) tensors cut into batches.

Adam over minibatches; grids are fitted to the first batch; optional validation with early stopping that restores
the best parameters; callbacks(epoch, logs) after every epoch; a NaN/inf batch stops training and restores the
parameters of the last good epoch.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from ._ints import as_int
from .data import check_finite
from .fit import prepare_label, objective_terms
from .model import KAN
from .regularize import check_reg_metric

__all__ = ["fit_epochs"]

_KEEP_INPUTS = 10_000  # training rows kept on the model (fit_input_) for pruning and symbolic fits


def _check_pair(model: KAN, x: Tensor, y: Tensor, name: str, regression: bool) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"{name}: expected (x, y) tensors")
    x = model.as_input(x, f"{name} inputs")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    y = prepare_label(y, x.shape[0], model.width[-1], f"{name} labels", regression)
    check_finite(f"{name} inputs", x)
    check_finite(f"{name} labels", y)
    return x.to(device=model.device, dtype=model.dtype), y.to(
        device=model.device, dtype=model.dtype if y.is_floating_point() else y.dtype)


def _batches(data, batch: int, gen: torch.Generator) -> Iterable:
    if isinstance(data, DataLoader):
        return data
    return DataLoader(TensorDataset(*data), batch_size=batch, shuffle=True, generator=gen)


def fit_epochs(
    model: KAN,
    data,
    epochs: int = 10,
    batch: int = 1024,
    lr: float = 1e-2,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    val_data=None,
    validation_split: float = 0.0,
    patience: int | None = None,
    callbacks: Sequence[Callable[[int, dict], None]] | None = None,
    progress: bool = False,
    seed: int = 0,
    singularity_avoiding: bool = True,
    y_th: float = 1000.0,
    reg_metric: str = "edge_forward_spline_n",
) -> dict[str, list[float]]:
    """Train ``model`` in place by epochs. ``data``: a DataLoader of (x, y) batches or an (x, y) pair of tensors
    (shuffled into batches of ``batch`` rows by a generator seeded with ``seed``).

    val_data: a DataLoader or (x, y) pair for validation; validation_split: or a fraction of (x, y) held out.
    patience: stop after that many epochs without a better validation loss; the best parameters are restored.
    Returns the history: ``train_loss`` (epoch mean; RMSE for regression), ``val_loss`` when validating, ``reg``.
    """
    epochs = as_int(epochs, "epochs", minimum=1)
    if batch == -1:
        batch = 1024
    batch = as_int(batch, "batch", minimum=1)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must lie in [0, 1), got {validation_split}")
    regression = loss_fn is None
    objective_fn = loss_fn or (lambda p, y: torch.mean((p - y) ** 2))
    gen = torch.Generator().manual_seed(seed)
    if not isinstance(data, DataLoader):
        x, y = _check_pair(model, data[0], data[1], "training data", regression)
        if validation_split > 0:
            if val_data is not None:
                raise ValueError("pass either val_data or validation_split, not both")
            perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
            n_val = max(1, int(round(x.shape[0] * validation_split)))
            val_data = (x[perm[:n_val]], y[perm[:n_val]])
            x, y = x[perm[n_val:]], y[perm[n_val:]]
        data = (x, y)
    elif validation_split > 0:
        raise ValueError("validation_split needs (x, y) tensors; with a DataLoader pass val_data")
    if val_data is not None and not isinstance(val_data, DataLoader):
        val_data = _check_pair(model, val_data[0], val_data[1], "validation data", regression)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    reg_kw = dict(lamb=lamb, lamb_l1=lamb_l1, lamb_entropy=lamb_entropy, lamb_coef=lamb_coef,
                  lamb_coefdiff=lamb_coefdiff, singularity_avoiding=singularity_avoiding, y_th=y_th,
                  reg_metric=check_reg_metric(reg_metric))
    history: dict[str, list[float]] = {"train_loss": [], "reg": []}
    if val_data is not None:
        history["val_loss"] = []
    best_val, best_state, since_best = math.inf, None, 0
    kept: list[Tensor] = []
    bar = tqdm(range(epochs), disable=not progress, desc="epochs", mininterval=0.1 if sys.stderr.isatty() else 5.0)
    for epoch in bar:
        good = {k: v.detach().clone() for k, v in model.state_dict().items()}
        total, total_reg, n_seen, failed = 0.0, 0.0, 0, False
        try:  # an exception or interrupt mid-epoch leaves the model as the last completed epoch left it
            for b, (xb, yb) in enumerate(_batches(data, batch, gen)):
                if epoch == 0 and b == 0 and isinstance(data, DataLoader):
                    xb, yb = _check_pair(model, xb, yb, "a training batch", regression)
                xb = xb.to(device=model.device, dtype=model.dtype)
                yb = yb.to(device=model.device, dtype=model.dtype if yb.is_floating_point() else yb.dtype)
                if regression and yb.ndim == 1:
                    yb = yb.unsqueeze(1)
                if update_grid and epoch == 0 and b == 0:
                    model.update_grid(xb)
                if epoch == 0 and sum(k.shape[0] for k in kept) < _KEEP_INPUTS:
                    kept.append(xb.detach())
                optimizer.zero_grad()
                objective, pred, reg = objective_terms(model, xb, yb, objective_fn, **reg_kw)
                if not torch.isfinite(objective):
                    failed = True
                    break
                objective.backward()
                optimizer.step()
                with torch.no_grad():
                    loss = objective_fn(pred, yb) if not regression else torch.mean((pred - yb) ** 2)
                total += float(loss) * xb.shape[0]
                total_reg += float(reg) * xb.shape[0]
                n_seen += xb.shape[0]
        except BaseException:
            model.load_state_dict(good)
            raise
        if failed or not all(bool(torch.isfinite(p).all()) for p in params):
            model.load_state_dict(good)
            warnings.warn(f"fit: epoch {epoch} produced NaN/inf; stopped and restored the parameters from before "
                          "it", RuntimeWarning, stacklevel=3)
            break
        train = total / max(n_seen, 1)
        history["train_loss"].append(math.sqrt(train) if regression else train)
        history["reg"].append(total_reg / max(n_seen, 1))
        if val_data is not None:
            val = _evaluate(model, val_data, objective_fn, regression, singularity_avoiding, y_th)
            history["val_loss"].append(val)
            if val < best_val:
                best_val, since_best = val, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
        logs = {k: v[-1] for k, v in history.items()}
        if progress:
            bar.set_postfix({k: f"{v:.2e}" for k, v in logs.items()}, refresh=False)
        for cb in callbacks or ():
            cb(epoch, logs)
        if patience is not None and since_best >= patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    if kept:
        model.fit_input_ = torch.cat(kept)[:_KEEP_INPUTS]
    return history


@torch.no_grad()
def _evaluate(model: KAN, data, objective_fn, regression: bool, singularity_avoiding: bool, y_th: float) -> float:
    pairs = data if isinstance(data, DataLoader) else [data]
    total, n = 0.0, 0
    for xb, yb in pairs:
        xb = xb.to(device=model.device, dtype=model.dtype)
        yb = yb.to(device=model.device, dtype=model.dtype if yb.is_floating_point() else yb.dtype)
        if regression and yb.ndim == 1:
            yb = yb.unsqueeze(1)
        pred = model(xb, singularity_avoiding, y_th)
        loss = torch.mean((pred - yb) ** 2) if regression else objective_fn(pred, yb)
        total += float(loss) * xb.shape[0]
        n += xb.shape[0]
    return math.sqrt(total / n) if regression else total / n

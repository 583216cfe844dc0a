"""Datasets in pykan's dict form: ``train_input``, ``train_label``, ``test_input``, ``test_label``."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ._ints import as_int

__all__ = ["create_dataset", "create_dataset_from_data", "check_finite"]


def check_finite(name: str, t: Tensor) -> None:
    """Raise ValueError naming ``name`` if ``t`` holds NaN or inf (or no values at all: a meta tensor)."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor: it has no values to train on")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN/inf value(s)")


def _ranges(ranges, n_var: int) -> Tensor:
    r = torch.as_tensor(ranges, dtype=torch.float64)
    if r.ndim == 1:
        if r.numel() != 2:
            raise ValueError(f"ranges must be [lo, hi] or one [lo, hi] per variable, got {ranges}")
        r = r.expand(n_var, 2)
    if r.shape != (n_var, 2):
        raise ValueError(f"ranges must have shape ({n_var}, 2), got {tuple(r.shape)}")
    if not bool((r[:, 1] > r[:, 0]).all()):
        raise ValueError(f"each range must satisfy lo < hi, got {r.tolist()}")
    return r


def _normalize(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    mean, std = train.mean(dim=0, keepdim=True), train.std(dim=0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (train - mean) / std, (test - mean) / std


def _as_label(y: Tensor, n: int) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"f must return a torch.Tensor, got {type(y).__name__}")
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"f must return labels of shape ({n}, n_out) or ({n},), got {tuple(y.shape)}")
    return y


def create_dataset(
    f: Callable[[Tensor], Tensor],
    n_var: int = 2,
    f_mode: str = "col",
    ranges: Sequence[float] | Sequence[Sequence[float]] = (-1.0, 1.0),
    train_num: int = 1000,
    test_num: int = 1000,
    normalize_input: bool = False,
    normalize_label: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Sample inputs uniformly in ``ranges`` and label them with ``f``.

    f: (N, n_var) -> (N, n_out) when f_mode='col'; (n_var, N) -> (n_out, N) or (N,) when f_mode='row'.
    Returns inputs (N, n_var) and labels (N, n_out). Randomness comes from a private generator seeded by ``seed``.
    """
    if f_mode not in ("col", "row"):
        raise ValueError(f"unknown f_mode {f_mode!r}; choose 'col' or 'row'")
    n_var, train_num, test_num = (as_int(v, name) for v, name in
                                  ((n_var, "n_var"), (train_num, "train_num"), (test_num, "test_num")))
    if n_var < 1 or train_num < 1 or test_num < 1:
        raise ValueError(f"n_var, train_num and test_num must be >= 1, got {n_var}, {train_num}, {test_num}")
    dtype = dtype or torch.get_default_dtype()
    r = _ranges(ranges, n_var).to(dtype)
    gen = torch.Generator().manual_seed(seed)

    def sample(n: int) -> Tensor:
        u = torch.rand(n, n_var, generator=gen, dtype=dtype)
        return r[:, 0] + u * (r[:, 1] - r[:, 0])

    train_x, test_x = sample(train_num), sample(test_num)
    if f_mode == "col":
        train_y, test_y = f(train_x), f(test_x)
    else:
        train_y, test_y = f(train_x.t()), f(test_x.t())
        train_y = train_y.t() if isinstance(train_y, Tensor) and train_y.ndim == 2 else train_y
        test_y = test_y.t() if isinstance(test_y, Tensor) and test_y.ndim == 2 else test_y
    train_y, test_y = _as_label(train_y, train_num), _as_label(test_y, test_num)
    if normalize_input:
        train_x, test_x = _normalize(train_x, test_x)
    if normalize_label:
        train_y, test_y = _normalize(train_y, test_y)
    out = {"train_input": train_x, "train_label": train_y, "test_input": test_x, "test_label": test_y}
    return {key: v.to(device=device, dtype=dtype) for key, v in out.items()}


def create_dataset_from_data(
    inputs: Tensor,
    labels: Tensor,
    train_ratio: float = 0.8,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Split (N, n_in) inputs and (N, n_out) or (N,) labels into a shuffled train/test dict."""
    inputs, labels = torch.as_tensor(inputs), torch.as_tensor(labels)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must have shape (N, n_in), got {tuple(inputs.shape)}")
    if labels.ndim == 1:
        labels = labels.unsqueeze(1)
    if labels.ndim != 2 or labels.shape[0] != inputs.shape[0]:
        raise ValueError(f"labels must have shape ({inputs.shape[0]}, n_out), got {tuple(labels.shape)}")
    n = inputs.shape[0]
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must lie in (0, 1), got {train_ratio}")
    n_train = int(round(n * train_ratio))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"{n} samples cannot be split with train_ratio={train_ratio} into two non-empty sets")
    check_finite("inputs", inputs)
    check_finite("labels", labels)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:n_train], perm[n_train:]
    out = {"train_input": inputs[tr], "train_label": labels[tr], "test_input": inputs[te], "test_label": labels[te]}
    return {key: v.to(device) for key, v in out.items()}


def augment_input(orig_vars: Sequence, aux_vars: Sequence, data):
    """Append auxiliary variables (domain knowledge) to the inputs: each one a sympy expression of the original
    variables, e.g. the rapidity atanh(v) next to a velocity v.

    data: inputs (N, len(orig_vars)) -> (N, len(orig_vars) + len(aux_vars)); or a dataset dict, whose
    ``*_input`` entries are augmented and the rest kept. Evaluated with torch (differentiable), in the inputs'
    dtype and device; an expression that is not finite on some row raises ValueError naming it.
    """
    import sympy

    from .symbolic.export import to_torch_module

    if isinstance(data, dict):
        return {k: augment_input(orig_vars, aux_vars, v) if k.endswith("_input") else v for k, v in data.items()}
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in orig_vars]
    if not isinstance(data, Tensor) or data.ndim != 2 or data.shape[1] != len(symbols):
        raise ValueError(f"augment_input: expected inputs of shape (N, {len(symbols)}) for the variables "
                         f"{symbols}, got {getattr(data, 'shape', type(data).__name__)}")
    exprs = [sympy.sympify(e) for e in aux_vars]
    unknown = set().union(*(e.free_symbols for e in exprs)) - set(symbols) if exprs else set()
    if unknown:
        raise ValueError(f"augment_input: auxiliary variables use {sorted(map(str, unknown))}, which are not among "
                         f"the original variables {symbols}")
    if not exprs:
        return data
    extra = to_torch_module(exprs, symbols)(data)
    bad = [str(e) for e, col in zip(exprs, extra.T) if not torch.isfinite(col).all()]
    if bad:
        raise ValueError(f"augment_input: {bad} are not finite on some rows of the data (outside their domain?)")
    return torch.cat([data, extra.to(data.dtype)], dim=1)

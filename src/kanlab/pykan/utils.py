"""pykan's ``kan.utils`` for ported notebooks: datasets drawn as pykan draws them, the mutable symbolic library
``SYMBOLIC_LIB`` with ``add_symbolic``, and the derivative helpers.

Everything computes through kanlab; what is pykan-specific here is the calling convention. ``SYMBOLIC_LIB`` is
this adapter's own table: ``add_symbolic`` changes it and never kanlab's immutable library.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy
import torch
from torch import Tensor

from ..data import create_dataset_from_data as _core_from_data
from ..hypothesis import rows_jacobian
from ..symbolic.formula import ex_round
from ..symbolic.library import DEFAULT_LIBRARY, SymbolicFunction, SymbolicLibrary

__all__ = ["create_dataset", "create_dataset_from_data", "ex_round", "SYMBOLIC_LIB", "add_symbolic",
           "augment_input", "batch_jacobian", "batch_hessian", "get_derivative", "sparse_mask", "compat_library",
           "model2param", "fit_params", "f_inv", "f_inv2", "f_inv3", "f_inv4", "f_inv5", "f_sqrt", "f_power1d5",
           "f_invsqrt", "f_log", "f_tan", "f_arctanh", "f_arcsin", "f_arccos", "f_exp"]


def _entry_tuple(fn: SymbolicFunction) -> tuple:
    """pykan's layout of a library entry: (torch function, sympy function, complexity, singular-safe function
    returning ((), values))."""
    return (fn.torch_fn, fn.sympy_fn, fn.complexity, lambda x, y_th=10.0, _f=fn: ((), _f.safe(x, y_th)))


#: name -> (torch function, sympy function, complexity, safe function), as in pykan; extend it with add_symbolic
SYMBOLIC_LIB: dict[str, tuple] = {name: _entry_tuple(fn) for name, fn in DEFAULT_LIBRARY.items()}
_ORIGINAL = dict(SYMBOLIC_LIB)
_cache: dict = {}


def add_symbolic(name: str, fun: Callable[[Tensor], Tensor], c: float = 1,
                 fun_singularity: Callable | None = None) -> None:
    """Add (or replace) a function in this adapter's library: ``fun`` a torch function, ``c`` its complexity,
    ``fun_singularity(x, y_th)`` an optional safe variant (returning values, or pykan's ((), values)). The sympy
    side is an undefined function of that name, as in pykan."""
    if not isinstance(name, str) or not name:
        raise ValueError("add_symbolic needs a non-empty name")
    if not callable(fun):
        raise TypeError(f"add_symbolic: fun must be callable, got {type(fun).__name__}")
    sym = sympy.Function(name)
    if fun_singularity is None:
        safe = lambda x, y_th=10.0, _f=fun: ((), _f(x))  # noqa: E731
    else:
        def safe(x, y_th=10.0, _g=fun_singularity):
            out = _g(x, y_th)
            return out if isinstance(out, tuple) else ((), out)
    SYMBOLIC_LIB[name] = (fun, sym, float(c), safe)


def compat_library() -> SymbolicLibrary:
    """SYMBOLIC_LIB as a kanlab SymbolicLibrary (default entries kept as they are, so models still pickle)."""
    key = tuple((name, id(entry)) for name, entry in SYMBOLIC_LIB.items())
    if _cache.get("key") != key:
        fns = []
        for name, entry in SYMBOLIC_LIB.items():
            if _ORIGINAL.get(name) is entry:
                fns.append(DEFAULT_LIBRARY[name])
            else:
                torch_fn, sympy_fn, c, safe = entry
                fns.append(SymbolicFunction(name, torch_fn, sympy_fn, float(c),
                                            lambda x, y_th, _s=safe: _s(x, y_th)[1]))
        _cache.update(key=key, lib=SymbolicLibrary(fns))
    return _cache["lib"]


def create_dataset(f: Callable[[Tensor], Tensor], n_var: int = 2, f_mode: str = "col",
                   ranges: Sequence = (-1, 1), train_num: int = 1000, test_num: int = 1000,
                   normalize_input: bool = False, normalize_label: bool = False, device="cpu",
                   seed: int = 0) -> dict[str, Tensor]:
    """pykan's create_dataset: the same numbers for the same seed (each variable's training column, then its test
    column, in the default dtype), from a private generator: the global RNGs are left alone.

    f_mode: 'col' calls f on (N, n_var) inputs, 'row' on their transpose (n_var, N)."""
    if f_mode not in ("col", "row"):
        raise ValueError(f"f_mode must be 'col' or 'row', got {f_mode!r}")
    n_var = int(n_var)
    r = np.asarray(ranges, dtype=float)
    r = np.tile(r.reshape(1, 2), (n_var, 1)) if r.ndim == 1 else r.reshape(n_var, 2)
    gen = torch.Generator().manual_seed(int(seed))
    dtype = torch.get_default_dtype()
    train, test = torch.zeros(train_num, n_var, dtype=dtype), torch.zeros(test_num, n_var, dtype=dtype)
    for i in range(n_var):
        lo, hi = float(r[i, 0]), float(r[i, 1])
        train[:, i] = torch.rand(train_num, generator=gen, dtype=dtype) * (hi - lo) + lo
        test[:, i] = torch.rand(test_num, generator=gen, dtype=dtype) * (hi - lo) + lo
    call = (lambda x: f(x)) if f_mode == "col" else (lambda x: f(x.T))
    train_label, test_label = call(train), call(test)
    if train_label.ndim == 1:
        train_label, test_label = train_label.unsqueeze(1), test_label.unsqueeze(1)
    if normalize_input:
        mean, std = train.mean(0, keepdim=True), train.std(0, keepdim=True)
        train, test = (train - mean) / std, (test - mean) / std
    if normalize_label:
        mean, std = train_label.mean(0, keepdim=True), train_label.std(0, keepdim=True)
        train_label, test_label = (train_label - mean) / std, (test_label - mean) / std
    return {"train_input": train.to(device), "test_input": test.to(device),
            "train_label": train_label.to(device), "test_label": test_label.to(device)}


def create_dataset_from_data(inputs: Tensor, labels: Tensor, train_ratio: float = 0.8, device="cpu",
                             seed: int = 0) -> dict[str, Tensor]:
    """A random train/test split of (inputs, labels), as pykan's (kanlab's implementation)."""
    return _core_from_data(inputs, labels, train_ratio=train_ratio, device=device, seed=seed)


def augment_input(orig_vars: list, aux_vars: list, x):
    """pykan's augment_input: kanlab.data.augment_input (inputs or a dataset dict)."""
    from ..data import augment_input as _augment

    return _augment(orig_vars, aux_vars, x)


def batch_jacobian(func: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = False,
                   mode: str = "scalar") -> Tensor:
    """d func / d x for every sample: x (B, n) -> (B, n) for a scalar output per sample ('scalar'), or
    (B, m, n) for m outputs ('vector')."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = func(x)
        if mode == "scalar" or (y.ndim == 2 and y.shape[1] == 1 and mode != "vector"):
            (g,) = torch.autograd.grad(y.sum(), x, create_graph=create_graph)
            return g
        return rows_jacobian(y, x, create_graph)


def batch_hessian(model: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = False) -> Tensor:
    """The Hessian of a scalar-output function for every sample: x (B, n) -> (B, n, n)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
        return rows_jacobian(g, x, create_graph)


def get_derivative(model: Callable[[Tensor], Tensor], inputs: Tensor, labels: Tensor, derivative: str = "hessian",
                   loss_mode: str = "pred", reg_metric: str = "w", lamb: float = 0.0, lamb_l1: float = 1.0,
                   lamb_entropy: float = 0.0):
    """Derivatives of the MSE loss with respect to the model's parameters: ``derivative='jacobian'`` gives the
    flat gradient (P,), 'hessian' the (P, P) Hessian (pykan's helper; the penalty options are not supported)."""
    if lamb != 0 or loss_mode != "pred":
        raise NotImplementedError("get_derivative supports loss_mode='pred' without a penalty (lamb=0)")
    if derivative not in ("jacobian", "hessian"):
        raise ValueError(f"derivative must be 'jacobian' or 'hessian', got {derivative!r}")
    # plain autograd, row by row: torch.func's transforms (pykan's route) cannot run through the layer's fused
    # kernels, while double backward can (it is what physics-informed losses use)
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        loss = torch.mean((model(inputs) - labels) ** 2)
        grads = torch.autograd.grad(loss, params, create_graph=derivative == "hessian", allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])
        if derivative == "jacobian":
            return flat.detach()
        rows = []
        for k in range(flat.numel()):
            row = torch.autograd.grad(flat[k], params, retain_graph=True, allow_unused=True) \
                if flat[k].requires_grad else [None] * len(params)
            rows.append(torch.cat([(torch.zeros_like(p) if r is None else r).reshape(-1) for r, p in zip(row, params)]))
    return torch.stack(rows).detach()


def sparse_mask(in_dim: int, out_dim: int) -> Tensor:
    """pykan's sparse initialisation mask (in, out): each input to its nearest output and each output to its
    nearest input."""
    from ..layer import _sparse_mask

    return _sparse_mask(int(in_dim), int(out_dim), torch.get_default_dtype(), None)


def model2param(model: torch.nn.Module) -> Tensor:
    """Every parameter of ``model``, flattened and concatenated in ``parameters()`` order: (n_params,)."""
    return torch.cat([p.reshape(-1) for p in model.parameters()])


def fit_params(x: Tensor, y: Tensor, fun: Callable[[Tensor], Tensor], a_range=(-10, 10), b_range=(-10, 10),
               grid_number: int = 101, iteration: int = 3, verbose: bool = True, device="cpu"):
    """Fit y ~ c * fun(a * x + b) + d on 1-D samples, as pykan's ``fit_params``: returns (tensor([a, b, c, d]),
    r^2). kanlab's fit (a grid search over (a, b), then a polish) does the work."""
    from ..symbolic.fit import fit_affine

    fn = SymbolicFunction("fit_params", fun, sympy.Function("f"), 1.0, lambda z, y_th: fun(z))
    res = fit_affine(torch.as_tensor(x), torch.as_tensor(y), fn, a_range=tuple(map(float, a_range)),
                     b_range=tuple(map(float, b_range)), grid_number=int(grid_number), iterations=int(iteration))
    dtype = torch.get_default_dtype()
    return torch.tensor(res.params, dtype=dtype, device=device), torch.tensor(res.r2, dtype=dtype, device=device)


def _safe_helper(name: str) -> Callable:
    """pykan's singularity-safe helper for a library function: f(x, y_th) -> ((), values)."""
    fn = DEFAULT_LIBRARY[name]

    def helper(x: Tensor, y_th) -> tuple:
        return (), fn.safe(x, float(y_th))

    helper.__name__ = helper.__qualname__ = f"f_{name}"
    return helper


f_inv = _safe_helper("1/x")
f_inv2 = _safe_helper("1/x^2")
f_inv3 = _safe_helper("1/x^3")
f_inv4 = _safe_helper("1/x^4")
f_inv5 = _safe_helper("1/x^5")
f_sqrt = _safe_helper("sqrt")
f_power1d5 = _safe_helper("x^1.5")
f_invsqrt = _safe_helper("1/sqrt(x)")
f_log = _safe_helper("log")
f_tan = _safe_helper("tan")
f_arctanh = _safe_helper("arctanh")
f_arcsin = _safe_helper("arcsin")
f_arccos = _safe_helper("arccos")
f_exp = _safe_helper("exp")

"""Fused CPU kernels for the layer's hot path: loading, argument checks, ctypes wrappers.

The C code (``_native/kernels.c``, ``kernels_impl.h`` written once for float and double, ``pool.h``) provides:
- the sparse layer: y = features(x) @ W adding only the k + 2 active weight rows per input value, and its fused
  backward (x-gradient dots, weight gradient accumulated per grid interval in registers);
- the dense features [base(x) | B_0(x) .. B_{nb-1}(x)] in one pass, and the x-gradient from dL/dfeatures;
- the weight fold (mask and scales into the (in, 1 + nb, out) weight) and its gradient;
- the per-input feature covariance behind ``KANLayer.edge_std`` (regulariser, attribution) and its gradient.
They are vectorised by the compiler and threaded by kanlab's own pool (``pool.h``: workers sleep instead of
spinning, so two processes on one machine do not stall each other) with ``torch.get_num_threads()`` threads, and
run serially for small problems. The library is compiled once per machine with the system C compiler (``$CC``, else
``cc``) into a per-user cache that every later process loads in milliseconds (:mod:`kanlab._build`). The wrappers
here are the trust boundary: every shape, dtype and device is checked before a pointer reaches C.

The torch path (:mod:`kanlab.ops`) stays the reference and the fallback: it is used on other devices, for other
dtypes, for k > KMAX, under ``create_graph`` (double backward), when no compiler is found, or when the environment
variable ``KANLAB_NATIVE=0`` is set. :func:`set_enabled` switches the kernels off and on at run time.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading

import torch
from torch import Tensor

from . import _build

__all__ = ["available", "enabled", "set_enabled", "supports", "knot_table", "features", "backward_x",
           "sparse_forward", "sparse_backward", "fold_forward", "fold_backward", "feature_cov",
           "feature_cov_backward", "Bound", "bind_sparse_forward", "bind_sparse_backward", "bind_fold_forward",
           "bind_fold_backward", "bind_feature_cov", "bind_feature_cov_backward", "DEFAULT_MODE", "KMAX"]

log = logging.getLogger(__name__)

KMAX = 7  # must match kernels.c
_ABI = 1

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_BASES = {"silu": 0, "identity": 1, "zero": 2}
_P, _I64, _I32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
_GRID = [_P, _I64, _I32, _I32, _P, _I32]  # knot table, n_knots, k, uniform, uniform matrix, base
# C entry points (one per dtype suffix): argument and result types
_SIGNATURES = {
    "kan_forward": ([_P, _I64, _I64, *_GRID, _P, _I32], _I32),
    "kan_backward_x": ([_P, _P, _I64, _I64, *_GRID, _P, _I32], _I32),
    "kan_sparse_forward": ([_P, _I64, _I64, *_GRID, _P, _I64, _P, _I32], _I32),
    "kan_sparse_backward": ([_P, _I64, _I64, *_GRID, _P, _I64, _P, _P, _P, _P, _P, _P, _P, _P, _I32], _I32),
    "kan_fold_forward": ([_P, _P, _P, _I64, _I64, _I64, _P, _I32], None),
    "kan_fold_backward": ([_P, _P, _P, _I64, _I64, _I64, _P, _P, _P, _I32], None),
    "kan_feature_cov": ([_P, _I64, _I64, *_GRID, _P, _P, _I32], _I32),
    "kan_feature_cov_backward": ([_P, _I64, _I64, *_GRID, _P, _P, _P, _I32], _I32),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_enabled = os.environ.get("KANLAB_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _load() -> ctypes.CDLL | None:
    lib = _build.load_kernels()
    if lib is None:
        return None
    if lib.kanlab_abi_version() != _ABI:
        log.warning("kanlab: native kernels have the wrong ABI version; using the torch path")
        return None
    for name, (argtypes, restype) in _SIGNATURES.items():
        for suffix in _SUFFIX.values():
            fn = getattr(lib, f"{name}_{suffix}")
            fn.argtypes, fn.restype = argtypes, restype
    return lib


def _library() -> ctypes.CDLL | None:
    global _lib, _tried
    if not _tried:
        with _lock:
            if not _tried:
                _lib = _load()
                _tried = True
    return _lib


def available() -> bool:
    """True when the kernels are compiled and loaded (compiles them on the first call)."""
    return _library() is not None


def enabled() -> bool:
    """True when the layer will use the kernels where they apply."""
    return _enabled and available()


def set_enabled(flag: bool) -> bool:
    """Switch the kernels on or off for this process; returns the previous setting."""
    global _enabled
    prev, _enabled = _enabled, bool(flag)
    return prev




def tracing() -> bool:
    """Under torch.jit tracing or torch.compile/export: the layer then calls the registered ops (kanlab.ops), which
    tracers record, instead of its eager autograd Functions."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _on() -> bool:
    """Switched on and loaded; a constant for torch.compile (set_enabled after compiling needs a recompile)."""
    return _enabled and _library() is not None


# what torch.compiler.assume_constant_result does, without importing torch._dynamo (1.9 s) at `import kanlab`
_on._dynamo_marked_constant = True  # type: ignore[attr-defined]


def supports_tensor(t: Tensor) -> bool:
    """Whether the kernels take this tensor's device and dtype (and are on)."""
    return t.device.type == "cpu" and t.dtype in _SUFFIX and _on()


def supports(x: Tensor, k: int, base: str) -> bool:
    """Whether the kernels handle this case (CPU, float32/float64, k <= KMAX, a known base), and are on."""
    return 1 <= k <= KMAX and base in _BASES and supports_tensor(x)


def knot_table(grid: Tensor, k: int) -> Tensor:
    """The kernels' knot layout: the grid extended by k + 1 knots per side, transposed, (n_knots + 2k + 2, in)."""
    from .splines import extend_grid

    return extend_grid(grid, k + 1).t().contiguous()


def _ptr(t: Tensor) -> int:
    return t.data_ptr()


def _check_args(x: Tensor, *others: Tensor) -> None:
    """The C code reads raw memory: every tensor must be a CPU tensor of x's dtype."""
    if x.dtype not in _SUFFIX or x.device.type != "cpu":
        raise TypeError(f"native kernels take float32/float64 CPU tensors, got {x.dtype} on {x.device}")
    for t in others:
        if not isinstance(t, Tensor):
            raise TypeError(f"native kernels: expected a tensor, got {type(t).__name__}")
        if t.dtype != x.dtype or t.device.type != "cpu":
            raise TypeError(f"native kernels: expected {x.dtype} CPU tensors throughout, got {t.dtype} on {t.device}")


def _check_spline(x: Tensor, table: Tensor, n_knots: int, k: int, matrix: Tensor, base: str,
                  *others: Tensor) -> None:
    """Everything the C code trusts about the spline arguments: dtypes and devices, x (B, in), k in [1, KMAX], at
    least one grid interval, the knot table (n_knots + 2k + 2, in) and the uniform matrix (k + 1, 2k + 2)."""
    _check_args(x, table, matrix, *others)
    if x.ndim != 2:
        raise ValueError(f"native kernels take x of shape (batch, in), got {tuple(x.shape)}")
    if not isinstance(k, int) or not 1 <= k <= KMAX:
        raise ValueError(f"native kernels take spline order 1 <= k <= {KMAX}, got {k!r}")
    if not isinstance(n_knots, int) or n_knots < 2 * k + 2:
        raise ValueError(f"a grid of {n_knots} knots has no interval for k={k} (needs >= {2 * k + 2})")
    if tuple(table.shape) != (n_knots + 2 * k + 2, x.shape[1]):
        raise ValueError(f"knot table has shape {tuple(table.shape)}, expected {(n_knots + 2 * k + 2, x.shape[1])}")
    if tuple(matrix.shape) != (k + 1, 2 * k + 2):
        raise ValueError(f"uniform matrix has shape {tuple(matrix.shape)}, expected {(k + 1, 2 * k + 2)}")
    if base not in _BASES:
        raise ValueError(f"unknown base {base!r}; the kernels know {sorted(_BASES)}")


def _check_weight(x: Tensor, weight: Tensor, n_knots: int, k: int) -> None:
    if weight.ndim != 3 or tuple(weight.shape[:2]) != (x.shape[1], n_knots - k):
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected ({x.shape[1]}, {n_knots - k}, out) for "
                         f"x {tuple(x.shape)} and {n_knots} knots, k={k}")


def features(x: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool, matrix: Tensor, base: str) -> Tensor:
    """x (B, in) -> feat (B, in * (1 + nb)), nb = n_knots - k - 1. No autograd: the caller's Function owns it."""
    _check_spline(x, table, n_knots, k, matrix, base)
    x = x.detach().contiguous()
    n, n_in = x.shape
    s = n_knots - k
    feat = torch.empty(n, n_in * s, dtype=x.dtype)
    if feat.numel() == 0:
        return feat
    fn = getattr(_library(), f"kan_forward_{_SUFFIX[x.dtype]}")
    _check(fn(_ptr(x), n * n_in, n_in, _ptr(table), n_knots, k, int(uniform), _ptr(matrix), _BASES[base],
              _ptr(feat), torch.get_num_threads()), "forward")
    return feat


def backward_x(x: Tensor, g: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool, matrix: Tensor,
               base: str) -> Tensor:
    """x (B, in), g = dL/dfeat (B, in * (1 + nb)) -> dL/dx (B, in)."""
    _check_spline(x, table, n_knots, k, matrix, base, g)
    if tuple(g.shape) != (x.shape[0], x.shape[1] * (n_knots - k)):
        raise ValueError(f"feature gradient has shape {tuple(g.shape)}, expected "
                         f"{(x.shape[0], x.shape[1] * (n_knots - k))}")
    x = x.detach().contiguous()
    g = g.contiguous()
    grad = torch.empty_like(x)
    if x.numel() == 0:
        return grad
    fn = getattr(_library(), f"kan_backward_x_{_SUFFIX[x.dtype]}")
    _check(fn(_ptr(x), _ptr(g), x.numel(), x.shape[1], _ptr(table), n_knots, k, int(uniform), _ptr(matrix),
              _BASES[base], _ptr(grad), torch.get_num_threads()), "backward")
    return grad


# The native mode a layer uses by default. Sparse everywhere: after the 256-bit register tiles (AVX2) it measured as
# fast as or faster than dense for every shape tried on a 2-core AMD EPYC (benchmarks/bench_layer.py --crossover),
# and dense mode's GEMM runs on torch's OpenMP threads, which spin: with two processes on the machine a [2,5,1] step
# with dense first layers took 10x its time alone, 2.2x with sparse ones (benchmarks/bench_contention.py). The dense
# mode stays available (layer_function(mode="dense")).
DEFAULT_MODE = "sparse"


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise RuntimeError(f"kanlab native {what} failed (code {rc})")


class Bound:
    """A kernel call whose arguments were checked once (by a ``bind_*`` function): calling it runs the C function
    again on the same memory, with ``torch.get_num_threads()`` threads. It holds its tensors, so the memory stays
    valid; the caller may change their values between calls (that is the point), never their shapes or storage.
    Built for loops that evaluate the same shapes many times (:class:`kanlab.objective.FlatObjective`), where the
    checks would cost more than the kernels."""

    __slots__ = ("_fn", "_args", "_keep", "_what")

    def __init__(self, fn, args: tuple, keep: tuple, what: str) -> None:
        self._fn, self._args, self._keep, self._what = fn, args, keep, what

    def __call__(self) -> None:
        if self._fn is None:  # an empty problem (see _zeroing): the outputs are only filled, on every call
            for t in self._keep:
                t.fill_(self._args[0])
            return
        rc = self._fn(*self._args, torch.get_num_threads())
        if rc is not None:
            _check(rc, self._what)


def _zeroing(*outs: Tensor | None, fill: float = 0.0) -> Bound:
    """A Bound for an empty problem: every call fills the outputs with ``fill`` (no C call)."""
    return Bound(None, (fill,), tuple(t for t in outs if t is not None), "")


def _check_out(name: str, t: Tensor | None, shape: tuple, like: Tensor) -> None:
    """Memory the C code writes (or reads in a bound call): a contiguous CPU tensor of like's dtype and this shape."""
    if t is None:
        return
    _check_args(like, t)
    if tuple(t.shape) != tuple(shape) or not t.is_contiguous():
        raise ValueError(f"{name} must be a contiguous tensor of shape {tuple(shape)}, got {tuple(t.shape)}")


def _check_in(**tensors: Tensor) -> None:
    for name, t in tensors.items():
        if not t.is_contiguous() or t.requires_grad:
            raise ValueError(f"{name} must be contiguous and detached for a bound kernel call")


def bind_sparse_forward(x: Tensor, weight: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool,
                        matrix: Tensor, base: str, y: Tensor) -> Bound:
    """y (B, out) = features(x) @ weight.view(-1, out) as a bound call; see :func:`sparse_forward`."""
    _check_spline(x, table, n_knots, k, matrix, base, weight)
    _check_weight(x, weight, n_knots, k)
    _check_in(x=x, weight=weight, table=table, matrix=matrix)
    n, n_in = x.shape
    out_dim = weight.shape[-1]
    _check_out("y", y, (n, out_dim), x)
    if n == 0 or out_dim == 0 or n_in == 0:  # nothing to add up (and no zero-sized division in C)
        return _zeroing(y)
    fn = getattr(_library(), f"kan_sparse_forward_{_SUFFIX[x.dtype]}")
    return Bound(fn, (_ptr(x), n, n_in, _ptr(table), n_knots, k, int(uniform), _ptr(matrix), _BASES[base],
                      _ptr(weight), out_dim, _ptr(y)), (x, weight, table, matrix, y), "sparse forward")


def sparse_forward(x: Tensor, weight: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool, matrix: Tensor,
                   base: str) -> Tensor:
    """x (B, in), weight (in, 1 + nb, out) -> features(x) @ weight.view(-1, out): (B, out), never forming the
    dense features."""
    x, weight = x.detach().contiguous(), weight.detach().contiguous()
    y = torch.empty(x.shape[0] if x.ndim == 2 else 0, weight.shape[-1] if weight.ndim == 3 else 0, dtype=x.dtype)
    bind_sparse_forward(x, weight, table, n_knots, k, uniform, matrix, base, y)()
    return y


def bind_sparse_backward(x: Tensor, weight: Tensor, grad_out: Tensor, table: Tensor, n_knots: int, k: int,
                         uniform: bool, matrix: Tensor, base: str, grad_x: Tensor | None,
                         grad_w: Tensor | None) -> Bound:
    """dL/dx (B, in) into grad_x and dL/dweight (in, 1 + nb, out) into grad_w (either may be None) from grad_out
    (B, out), as a bound call; see :func:`sparse_backward`."""
    _check_spline(x, table, n_knots, k, matrix, base, weight, grad_out)
    _check_weight(x, weight, n_knots, k)
    _check_in(x=x, weight=weight, grad_out=grad_out, table=table, matrix=matrix)
    n, n_in = x.shape
    out_dim = weight.shape[-1]
    _check_out("output gradient", grad_out, (n, out_dim), x)
    _check_out("grad_x", grad_x, tuple(x.shape), x)
    _check_out("grad_w", grad_w, tuple(weight.shape), x)
    if n == 0 or out_dim == 0 or n_in == 0:  # every gradient is zero
        return _zeroing(grad_x, grad_w)
    fn = getattr(_library(), f"kan_sparse_backward_{_SUFFIX[x.dtype]}")
    opt = lambda t: _ptr(t) if t is not None else None  # noqa: E731
    return Bound(fn, (_ptr(x), n, n_in, _ptr(table), n_knots, k, int(uniform), _ptr(matrix), _BASES[base],
                      _ptr(weight), out_dim, _ptr(grad_out), opt(grad_x), opt(grad_w), None, None, None, None, None),
                 (x, weight, grad_out, table, matrix, grad_x, grad_w), "sparse backward")


def sparse_backward(x: Tensor, weight: Tensor, grad_out: Tensor, table: Tensor, n_knots: int, k: int,
                    uniform: bool, matrix: Tensor, base: str, need_x: bool, need_w: bool,
                    fold: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor | None, ...]:
    """The gradients of :func:`sparse_forward`: dL/dx (B, in) and dL/dweight (in, 1 + nb, out), each when asked.

    With ``fold = (ws, coef)`` (the weight being :func:`fold_forward` of wb, ws, coef) the weight gradient goes
    straight on to the fold's gradients, input by input while its rows are in cache: returns dL/dx and
    (dL/dwb, dL/dws, dL/dcoef) instead of dL/dweight.
    """
    _check_spline(x, table, n_knots, k, matrix, base, weight, grad_out)
    _check_weight(x, weight, n_knots, k)
    n, n_in = x.shape
    out_dim = weight.shape[-1]
    if tuple(grad_out.shape) != (n, out_dim):
        raise ValueError(f"output gradient has shape {tuple(grad_out.shape)}, expected {(n, out_dim)}")
    x = x.detach().contiguous()
    weight = weight.detach().contiguous()
    grad_out = grad_out.detach().contiguous()
    grad_x = torch.empty_like(x) if need_x else None
    grad_w = torch.empty_like(weight) if need_w and fold is None else None
    if fold is None or not need_w:
        bind_sparse_backward(x, weight, grad_out, table, n_knots, k, uniform, matrix, base, grad_x, grad_w)()
        return (grad_x, None) if fold is not None else (grad_x, grad_w)
    folded = None
    if need_w and fold is not None:
        ws, coef = (t.detach().contiguous() for t in fold)
        _check_args(x, ws, coef)
        if tuple(ws.shape) != (n_in, out_dim) or tuple(coef.shape) != (n_in, out_dim, n_knots - k - 1):
            raise ValueError(f"fold inputs have shapes {tuple(ws.shape)}, {tuple(coef.shape)}, expected "
                             f"{(n_in, out_dim)}, {(n_in, out_dim, n_knots - k - 1)}")
        folded = (torch.empty_like(ws), torch.empty_like(ws), torch.empty_like(coef))
    if n == 0 or out_dim == 0 or n_in == 0:  # every gradient is zero
        zero = lambda t: t.zero_() if t is not None else None  # noqa: E731
        return (zero(grad_x), tuple(map(zero, folded)) if folded else None) if fold is not None else \
            (zero(grad_x), zero(grad_w))
    ptrs = [_ptr(t) for t in (ws, coef, *folded)] if folded else [None] * 5
    fn = getattr(_library(), f"kan_sparse_backward_{_SUFFIX[x.dtype]}")
    _check(fn(_ptr(x), n, n_in, _ptr(table), n_knots, k, int(uniform), _ptr(matrix), _BASES[base], _ptr(weight),
              weight.shape[-1], _ptr(grad_out), _ptr(grad_x) if need_x else None,
              _ptr(grad_w) if grad_w is not None else None, *ptrs, torch.get_num_threads()), "sparse backward")
    return (grad_x, folded) if fold is not None else (grad_x, grad_w)


def bind_fold_forward(wb: Tensor, ws: Tensor, coef: Tensor, w: Tensor) -> Bound:
    """W (in, 1 + nb, out) from wb, ws (in, out) and coef (in, out, nb) as a bound call; see :func:`fold_forward`."""
    _check_args(coef, wb, ws)
    if coef.ndim != 3 or tuple(wb.shape) != coef.shape[:2] or tuple(ws.shape) != coef.shape[:2]:
        raise ValueError(f"fold inputs do not fit: wb {tuple(wb.shape)}, ws {tuple(ws.shape)}, coef "
                         f"{tuple(coef.shape)}; expected (in, out), (in, out), (in, out, nb)")
    _check_in(wb=wb, ws=ws, coef=coef)
    n_in, out_dim, nb = coef.shape
    _check_out("w", w, (n_in, 1 + nb, out_dim), coef)
    if w.numel() == 0:
        return _zeroing(w)
    fn = getattr(_library(), f"kan_fold_forward_{_SUFFIX[coef.dtype]}")
    return Bound(fn, (_ptr(wb), _ptr(ws), _ptr(coef), n_in, out_dim, nb, _ptr(w)), (wb, ws, coef, w), "fold")


def fold_forward(wb: Tensor, ws: Tensor, coef: Tensor) -> Tensor:
    """wb, ws (in, out), coef (in, out, nb) -> W (in, 1 + nb, out): W[:, 0] = wb, W[:, 1 + c] = ws * coef[..., c]."""
    wb, ws, coef = wb.detach().contiguous(), ws.detach().contiguous(), coef.detach().contiguous()
    shape = (coef.shape[0], 1 + coef.shape[2], coef.shape[1]) if coef.ndim == 3 else (0, 0, 0)
    w = torch.empty(shape, dtype=coef.dtype)
    bind_fold_forward(wb, ws, coef, w)()
    return w


def bind_fold_backward(grad_w: Tensor, ws: Tensor, coef: Tensor, g_wb: Tensor, g_ws: Tensor,
                       g_coef: Tensor) -> Bound:
    """The gradients of the fold with respect to wb, ws and coef, into g_wb, g_ws, g_coef, as a bound call."""
    _check_args(coef, grad_w, ws)
    if coef.ndim != 3 or tuple(ws.shape) != coef.shape[:2] or \
            tuple(grad_w.shape) != (coef.shape[0], 1 + coef.shape[2], coef.shape[1]):
        raise ValueError(f"fold gradient inputs do not fit: grad_w {tuple(grad_w.shape)}, ws {tuple(ws.shape)}, "
                         f"coef {tuple(coef.shape)}")
    _check_in(grad_w=grad_w, ws=ws, coef=coef)
    n_in, out_dim, nb = coef.shape
    for name, t, shape in (("g_wb", g_wb, ws.shape), ("g_ws", g_ws, ws.shape), ("g_coef", g_coef, coef.shape)):
        _check_out(name, t, tuple(shape), coef)
    if grad_w.numel() == 0:
        return _zeroing(g_wb, g_ws, g_coef)
    fn = getattr(_library(), f"kan_fold_backward_{_SUFFIX[coef.dtype]}")
    return Bound(fn, (_ptr(grad_w), _ptr(ws), _ptr(coef), n_in, out_dim, nb, _ptr(g_wb), _ptr(g_ws), _ptr(g_coef)),
                 (grad_w, ws, coef, g_wb, g_ws, g_coef), "fold backward")


def fold_backward(grad_w: Tensor, ws: Tensor, coef: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of :func:`fold_forward` with respect to wb, ws and coef."""
    grad_w, ws, coef = grad_w.detach().contiguous(), ws.detach().contiguous(), coef.detach().contiguous()
    g_wb, g_ws, g_coef = torch.empty_like(ws), torch.empty_like(ws), torch.empty_like(coef)
    bind_fold_backward(grad_w, ws, coef, g_wb, g_ws, g_coef)()
    return g_wb, g_ws, g_coef


def bind_feature_cov(x: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool, matrix: Tensor, base: str,
                     cov: Tensor, mean: Tensor) -> Bound:
    """The feature covariance (in, 1 + nb, 1 + nb) into cov and the float64 mean features (in, 1 + nb) into mean,
    as a bound call; see :func:`feature_cov`."""
    _check_spline(x, table, n_knots, k, matrix, base)
    _check_in(x=x, table=table, matrix=matrix)
    n, n_in = x.shape
    s = n_knots - k
    _check_out("cov", cov, (n_in, s, s), x)
    _check_args(mean, mean)
    if tuple(mean.shape) != (n_in, s) or mean.dtype != torch.float64 or not mean.is_contiguous():
        raise ValueError(f"mean must be a contiguous float64 tensor of shape {(n_in, s)}")
    if n == 0 or n_in == 0:
        return _zeroing(cov, mean, fill=float("nan") if n == 0 else 0.0)
    fn = getattr(_library(), f"kan_feature_cov_{_SUFFIX[x.dtype]}")
    return Bound(fn, (_ptr(x), n, n_in, _ptr(table), n_knots, k, int(uniform), _ptr(matrix), _BASES[base], _ptr(cov),
                      _ptr(mean)), (x, table, matrix, cov, mean), "feature covariance")


def feature_cov(x: Tensor, table: Tensor, n_knots: int, k: int, uniform: bool, matrix: Tensor, base: str
                ) -> tuple[Tensor, Tensor]:
    """Covariance over the batch of each input's features [base | bases]: x (B, in) -> cov (in, 1 + nb, 1 + nb)
    and the mean features (in, 1 + nb) in float64 (for the backward), accumulated over the k + 2 nonzero features
    per value in double."""
    x = x.detach().contiguous()
    n_in, s = (x.shape[1] if x.ndim == 2 else 0), max(n_knots - k, 0)
    cov = torch.empty(n_in, s, s, dtype=x.dtype)
    mean = torch.empty(n_in, s, dtype=torch.float64)
    bind_feature_cov(x, table, n_knots, k, uniform, matrix, base, cov, mean)()
    return cov, mean


def bind_feature_cov_backward(x: Tensor, grad_cov: Tensor, mean: Tensor, table: Tensor, n_knots: int, k: int,
                              uniform: bool, matrix: Tensor, base: str, grad_x: Tensor) -> Bound:
    """dL/dx (B, in) into grad_x from dL/dcov (in, 1 + nb, 1 + nb), as a bound call; see
    :func:`feature_cov_backward`."""
    _check_spline(x, table, n_knots, k, matrix, base, grad_cov)
    _check_in(x=x, grad_cov=grad_cov, table=table, matrix=matrix)
    s = n_knots - k
    if tuple(grad_cov.shape) != (x.shape[1], s, s) or tuple(mean.shape) != (x.shape[1], s) or \
            mean.dtype != torch.float64 or not mean.is_contiguous() or mean.device.type != "cpu":
        raise ValueError(f"covariance gradient {tuple(grad_cov.shape)} / mean {tuple(mean.shape)} {mean.dtype} do "
                         f"not fit x {tuple(x.shape)} with {s} features per input")
    _check_out("grad_x", grad_x, tuple(x.shape), x)
    if x.numel() == 0:
        return _zeroing(grad_x)
    fn = getattr(_library(), f"kan_feature_cov_backward_{_SUFFIX[x.dtype]}")
    return Bound(fn, (_ptr(x), x.shape[0], x.shape[1], _ptr(table), n_knots, k, int(uniform), _ptr(matrix),
                      _BASES[base], _ptr(grad_cov), _ptr(mean), _ptr(grad_x)),
                 (x, grad_cov, mean, table, matrix, grad_x), "feature covariance backward")


def feature_cov_backward(x: Tensor, grad_cov: Tensor, mean: Tensor, table: Tensor, n_knots: int, k: int,
                         uniform: bool, matrix: Tensor, base: str) -> Tensor:
    """dL/dx (B, in) from dL/dcov (in, 1 + nb, 1 + nb) for :func:`feature_cov`."""
    x, grad_cov, mean = x.detach().contiguous(), grad_cov.detach().contiguous(), mean.contiguous()
    grad_x = torch.empty_like(x)
    bind_feature_cov_backward(x, grad_cov, mean, table, n_knots, k, uniform, matrix, base, grad_x)()
    return grad_x

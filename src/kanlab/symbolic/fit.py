"""Fitting library functions to edges: the affine fit y ~ c f(a x + b) + d, ranking, and the model edits
``fix_symbolic`` / ``auto_symbolic``.

The search over (a, b) is a deterministic grid with zoom (pykan's scheme), scoring every candidate by the r^2 of
the best linear (c, d) in closed form; candidates for which f is not finite on every sample are ruled out, so log,
sqrt or 1/x are never chosen across their singularities. The best grid point is then polished by a few
Gauss-Newton steps on (a, b) with (c, d) re-solved exactly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..model import KAN
from .library import DEFAULT_LIBRARY, SymbolicFunction, SymbolicLibrary

__all__ = ["AffineFit", "Suggestion", "fit_affine", "edge_samples", "suggest_symbolic", "fix_symbolic",
           "auto_symbolic"]

log = logging.getLogger(__name__)

_MAX_SAMPLES = 512
_GRID_SAMPLES = 128  # samples for the (a, b) grid search: 4x less work than all of them, the same basins


@dataclass(frozen=True)
class AffineFit:
    """params = (a, b, c, d) for c * f(a x + b) + d, and the r^2 of that fit."""

    params: tuple[float, float, float, float]
    r2: float


@dataclass(frozen=True)
class Suggestion:
    name: str
    r2: float
    complexity: float
    score: float  # weight_simple * complexity + (1 - weight_simple) * log2(1 + 1e-5 - r2); lower is better
    params: tuple[float, float, float, float]


def _subsample(x: Tensor, y: Tensor, most: int = _MAX_SAMPLES) -> tuple[Tensor, Tensor]:
    """At most ``most`` points, evenly spread over the x-sorted samples (deterministic)."""
    order = torch.argsort(x)
    if x.numel() > most:
        order = order[torch.linspace(0, x.numel() - 1, most, device=x.device).round().long()]
    return x[order], y[order]


def _r2_grid(fz: Tensor, y: Tensor) -> Tensor:
    """:func:`_r2` in two passes over fz (a dot product and a sum of squares), for the grid search: (..., n) -> (...).
    Non-finite or (nearly) constant rows get -inf."""
    n = fz.shape[-1]
    yc = y - y.mean()
    mean_f = fz.mean(dim=-1)
    var_f = (fz * fz).sum(dim=-1) - n * mean_f * mean_f
    cov = fz @ yc
    r2 = cov * cov / (var_f * (yc * yc).sum()).clamp_min(1e-300)
    ok = torch.isfinite(r2) & (var_f > 1e-12 * (mean_f * mean_f * n).clamp_min(1e-300))
    return torch.where(ok, r2.clamp_max(1.0), torch.full_like(r2, -math.inf))


def _r2(fz: Tensor, y: Tensor) -> Tensor:
    """r^2 of the best linear fit of y on fz along the last dim; -inf where fz is not finite or constant."""
    finite = torch.isfinite(fz).all(dim=-1)
    fz = torch.where(torch.isfinite(fz), fz, torch.zeros_like(fz))
    fc = fz - fz.mean(dim=-1, keepdim=True)
    yc = y - y.mean()
    var_f = (fc * fc).sum(dim=-1)
    var_y = (yc * yc).sum()
    r2 = (fc * yc).sum(dim=-1) ** 2 / (var_f * var_y).clamp_min(1e-300)
    ok = finite & (var_f > 1e-20 * fz.abs().amax(dim=-1).clamp_min(1e-300) ** 2 * fz.shape[-1])
    return torch.where(ok, r2, torch.full_like(r2, -math.inf))


def _linear(fz: Tensor, y: Tensor) -> tuple[float, float]:
    fc = fz - fz.mean()
    var = (fc * fc).sum()
    if not var > 0:
        return 0.0, float(y.mean())
    c = float((fc * (y - y.mean())).sum() / var)
    return c, float(y.mean() - c * fz.mean())


def fit_affine(x: Tensor, y: Tensor, fn: SymbolicFunction, a_range: tuple[float, float] = (-10.0, 10.0),
               b_range: tuple[float, float] = (-10.0, 10.0), grid_number: int = 51, iterations: int = 4,
               polish_steps: int = 20) -> AffineFit:
    """Fit y ~ c * fn(a x + b) + d on 1-D samples. Deterministic; never NaN.

    A constant y (an edge with no signal) is fitted exactly by c = 0, d = mean(y), r^2 = 1 for the '0' function
    and r^2 = 0 for the others.
    """
    x, y = _subsample(x.detach().double().flatten(), y.detach().double().flatten())
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("fit_affine: samples contain NaN or inf")
    flat = float(y.std()) <= 1e-9 * (1.0 + float(y.abs().max()))
    if fn.name == "0" or flat:
        r2 = 1.0 if flat and fn.name == "0" else 0.0
        return AffineFit((1.0, 0.0, 0.0, float(y.mean())), r2)
    if fn.name == "x":  # linear in (c, d) already: a and b are redundant
        c, d = _linear(x, y)
        return AffineFit((1.0, 0.0, c, d), max(float(_r2(x[None], y)[0]), 0.0))
    a_lo, a_hi = a_range
    b_lo, b_hi = b_range
    best_a = best_b = 0.0
    best = -math.inf
    xg, yg = _subsample(x, y, _GRID_SAMPLES)  # the grid only finds the basin; the polish uses every sample
    for _ in range(iterations):
        a = torch.linspace(a_lo, a_hi, grid_number, dtype=torch.float64, device=x.device)
        b = torch.linspace(b_lo, b_hi, grid_number, dtype=torch.float64, device=x.device)
        with torch.no_grad():
            r2 = _r2_grid(fn.torch_fn(a[:, None, None] * xg + b[None, :, None]), yg)  # (G, G)
        idx = int(torch.argmax(r2))
        ia, ib = divmod(idx, grid_number)
        if not math.isfinite(float(r2[ia, ib])):
            break
        best, best_a, best_b = float(r2[ia, ib]), float(a[ia]), float(b[ib])
        a_lo, a_hi = float(a[max(ia - 1, 0)]), float(a[min(ia + 1, grid_number - 1)])
        b_lo, b_hi = float(b[max(ib - 1, 0)]), float(b[min(ib + 1, grid_number - 1)])
    if not math.isfinite(best):
        return AffineFit((1.0, 0.0, 0.0, float(y.mean())), 0.0)
    best_a, best_b, best = _polish(x, y, fn, best_a, best_b, best, polish_steps)
    c, d = _linear(fn.torch_fn(best_a * x + best_b), y)
    if fn.name == "exp":  # c exp(a x + b) = (c e^b) exp(a x): keep the argument small
        best_b, c = 0.0, c * math.exp(best_b)
    return AffineFit((best_a, best_b, c, d), max(best, 0.0))


def _polish(x: Tensor, y: Tensor, fn: SymbolicFunction, a: float, b: float, r2: float,
            steps: int) -> tuple[float, float, float]:
    """Gauss-Newton (Levenberg-damped) on (a, b, c, d) from the grid optimum; keeps the start if it does not help."""
    if steps <= 0:
        return a, b, r2
    c, d = _linear(fn.torch_fn(a * x + b), y)
    p = torch.tensor([a, b, c, d], dtype=torch.float64, device=x.device)
    lam = 1e-3

    def residual(q: Tensor) -> Tensor:
        return q[2] * fn.torch_fn(q[0] * x + q[1]) + q[3] - y

    def jacobian(q: Tensor) -> tuple[Tensor, Tensor]:
        z = (q[0] * x + q[1]).requires_grad_(True)
        with torch.enable_grad():
            fz = fn.torch_fn(z)
            if fz.requires_grad:
                (dfz,) = torch.autograd.grad(fz.sum(), z)
            else:  # a user function torch cannot differentiate (torch.special.bessel_j0): central differences
                z = z.detach()
                h = 1e-6 * (1 + z.abs())
                dfz = (fn.torch_fn(z + h) - fn.torch_fn(z - h)) / (2 * h)
        fz = fz.detach()
        res = q[2] * fz + q[3] - y
        jac = torch.stack([q[2] * dfz * x, q[2] * dfz, fz, torch.ones_like(fz)], dim=1)  # (N, 4)
        return jac, res

    cost = float((residual(p) ** 2).sum())
    for _ in range(steps):
        jac, res = jacobian(p)
        if not (torch.isfinite(jac).all() and torch.isfinite(res).all()):
            break
        jtj = jac.t() @ jac
        step = torch.linalg.solve(jtj + lam * torch.diag(jtj.diagonal().clamp_min(1e-12)), -jac.t() @ res)
        trial = p + step
        new_cost = float((residual(trial) ** 2).sum())
        if math.isfinite(new_cost) and new_cost < cost:
            converged = cost - new_cost <= 1e-14 * cost  # no relative progress left to make
            p, cost, lam = trial, new_cost, lam * 0.3
            if converged:
                break
        else:
            lam *= 10
            if lam > 1e8:
                break
    new_r2 = float(_r2(fn.torch_fn(p[0] * x + p[1])[None], y)[0])
    if math.isfinite(new_r2) and new_r2 >= r2:
        return float(p[0]), float(p[1]), new_r2
    return a, b, r2


# ---------------------------------------------------------------------------------------------------- model edges
def _data(model: KAN, x: Tensor | None) -> Tensor:
    x = model.data_or_fit_input(x, "fit symbolic functions")
    if x.shape[0] < 2:
        raise ValueError(f"fitting a symbolic function needs at least 2 samples, got {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise ValueError("the samples for the symbolic fit contain NaN or inf")
    return x


@torch.no_grad()
def edge_samples(model: KAN, l: int, x: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Layer l's inputs (B, in) and per-edge outputs (B, in, out) on data x (default: the fit inputs): numeric plus
    symbolic parts, so that snapping an edge that is both ('ns', e.g. a symbolic guess refined by a spline) fits
    the function the edge computes, not its numeric residual."""
    acts = model.layer_inputs(_data(model, x))
    out = model.layers[l].edge_activations(acts[l])
    for ii, oo, vals in model.symbolic[l].edge_values(acts[l]):
        out[:, ii, oo] += vals
    return acts[l], out


def _resolve_lib(lib) -> SymbolicLibrary:
    if lib is None:
        return DEFAULT_LIBRARY
    if isinstance(lib, SymbolicLibrary):
        return lib
    if isinstance(lib, str):
        raise TypeError("lib must be a list of function names or a SymbolicLibrary, not a single string")
    return DEFAULT_LIBRARY.subset(list(lib))


def _rank(xs: Tensor, ys: Tensor, library: SymbolicLibrary, weight_simple: float, topk: int | None,
          **fit_kwargs) -> list[Suggestion]:
    flat = float(ys.std()) <= 1e-9 * (1.0 + float(ys.abs().max())) if ys.numel() > 1 else True
    if flat:  # no signal: the zero function, whatever the library
        return [Suggestion("0", 1.0, 0.0, 0.0, (1.0, 0.0, 0.0, float(ys.mean())))]
    entries = list(library.items())
    if topk == 1:
        # only the best is wanted: visit the simplest first and skip any function that could not win even with a
        # perfect fit (r^2 = 1); the winner is the one the full ranking would put first
        order = sorted(range(len(entries)), key=lambda n: entries[n][1].complexity)
    else:
        order = list(range(len(entries)))
    best_r2_loss = math.log2(1e-5)
    scored: list[tuple[float, int, Suggestion]] = []
    for n in order:
        name, fn = entries[n]
        if topk == 1 and scored:
            bound, lead = weight_simple * fn.complexity + (1 - weight_simple) * best_r2_loss, min(scored)
            if (bound, n) > lead[:2]:
                continue
        fit = fit_affine(xs, ys, fn, **fit_kwargs)
        r2_loss = math.log2(1 + 1e-5 - min(fit.r2, 1.0))
        score = weight_simple * fn.complexity + (1 - weight_simple) * r2_loss
        scored.append((score, n, Suggestion(name, fit.r2, fn.complexity, score, fit.params)))
    scored.sort(key=lambda e: e[:2])  # ties keep the library's order
    out = [e[2] for e in scored]
    return out[:topk] if topk else out


def suggest_symbolic(model: KAN, l: int, i: int, j: int, lib=None, topk: int = 5, weight_simple: float = 0.8,
                     x: Tensor | None = None, **fit_kwargs) -> list[Suggestion]:
    """Library functions ranked for edge (l, i, j), best first.

    lib: a SymbolicLibrary or a list of names from the default one (None: all). An edge that carries no signal
    gets the single suggestion '0'.
    """
    l, i, j = model.check_edge(l, i, j)
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must lie in [0, 1], got {weight_simple}")
    inputs, acts = edge_samples(model, l, x)
    return _rank(inputs[:, i], acts[:, i, j], _resolve_lib(lib), weight_simple, topk, **fit_kwargs)


def _set_symbolic(model: KAN, l: int, i: int, j: int, name: str, params, library: SymbolicLibrary) -> None:
    sym = model.symbolic[l]
    sym.library = sym.library.merged(library) if name not in sym.library else sym.library
    sym.set_edge(i, j, name=name, affine=list(params))
    model.set_mode(l, i, j, "s")


def fix_symbolic(model: KAN, l: int, i: int, j: int, fun_name: str, fit_params: bool = True, x: Tensor | None = None,
                 lib=None, **fit_kwargs) -> float | None:
    """Make edge (l, i, j) the symbolic function ``fun_name`` (numeric part off).

    fit_params: fit (a, b, c, d) to the edge's current curve (numeric plus any symbolic part) and return r^2; otherwise use (1, 0, 1, 0)
    and return None. Unknown names raise ValueError listing the valid ones.
    """
    l, i, j = model.check_edge(l, i, j)
    library = _resolve_lib(lib) if lib is not None else model.symbolic[l].library.merged(DEFAULT_LIBRARY)
    fn = library.get_function(fun_name)
    r2 = None
    params: tuple[float, ...] = (1.0, 0.0, 1.0, 0.0)
    if fit_params:
        inputs, acts = edge_samples(model, l, x)
        fit = fit_affine(inputs[:, i], acts[:, i, j], fn, **fit_kwargs)
        params, r2 = fit.params, fit.r2
    _set_symbolic(model, l, i, j, fun_name, params, library)
    return r2


def auto_symbolic(model: KAN, lib=None, r2_threshold: float = 0.0, weight_simple: float = 0.8,
                  x: Tensor | None = None, **fit_kwargs) -> dict[tuple[int, int, int], Suggestion]:
    """Snap every edge whose numeric part is on to its best-ranked function, when that fit's r^2 >= r2_threshold.

    An edge that is both numeric and symbolic ('ns') is snapped too, fitted to its whole output. Purely symbolic
    edges and edges switched off (pruned) are left alone. Returns the choices per edge; edges below the threshold
    keep their numeric part and are logged.
    """
    library = _resolve_lib(lib)
    data = _data(model, x)
    chosen: dict[tuple[int, int, int], Suggestion] = {}
    for l in range(model.depth):
        inputs, acts = edge_samples(model, l, data)
        layer = model.layers[l]
        for i, j in torch.nonzero(layer.mask).tolist():
            best = _rank(inputs[:, i], acts[:, i, j], library, weight_simple, 1, **fit_kwargs)[0]
            if best.r2 >= r2_threshold:
                _set_symbolic(model, l, i, j, best.name, best.params, library.merged(DEFAULT_LIBRARY.subset(["0"])))
                chosen[(l, i, j)] = best
                log.info("auto_symbolic: (%d,%d,%d) -> %s, r2=%.6f", l, i, j, best.name, best.r2)
            else:
                log.warning("auto_symbolic: (%d,%d,%d) best fit %s has r2=%.4f < %.4f; left numeric", l, i, j,
                            best.name, best.r2, r2_threshold)
    return chosen

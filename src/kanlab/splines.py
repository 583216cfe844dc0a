"""B-spline maths as pure functions.

Conventions (G = number of grid intervals, k = spline order):
- a *grid* holds one knot vector per input: shape (in, G + 2k + 1). The inner G + 1 knots span the data range;
  k extra knots on each side let every point of that range see k + 1 bases.
- there are G + k bases per input; basis c lives on knots [c, c + k + 1).
- intervals are half-open, [t_j, t_{j+1}); outside [t_0, t_last) every basis is zero.

Two evaluators share these conventions:
- :func:`bspline_basis` is the dense Cox-de Boor reference (all G + k bases). It is used for least squares and in
  tests against scipy.
- :func:`local_basis` is the fast path: it returns only the k + 1 nonzero bases per point, in closed form on a
  uniform grid and by a local de Boor triangle (after ``searchsorted``) on any grid. The layer's hot path uses it.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "uniform_grid",
    "extend_grid",
    "bspline_basis",
    "local_basis",
    "padded_dense",
    "padded_gather",
    "coef2curve",
    "curve2coef",
    "refine_grid",
    "sample_grid",
    "is_uniform",
    "uniform_matrix",
]


EXTEND_RULES = ("ends", "average")


def extend_grid(grid: Tensor, k: int, rule: str = "ends") -> Tensor:
    """Add k knots on each side of grid (in, G + 1) -> (in, G + 1 + 2k).

    rule: "ends" spaces them like the end intervals (kanlab's default); "average" by the grid's average interval
    (pykan's rule). The two agree on uniform grids; on an adaptive one they give different boundary bases, and a
    sparsified fit can settle differently (benchmarks/bench_recovery_seeds.py compares them).
    """
    if rule == "ends":
        h_lo, h_hi = grid[:, 1:2] - grid[:, 0:1], grid[:, -1:] - grid[:, -2:-1]
    elif rule == "average":
        h_lo = h_hi = (grid[:, -1:] - grid[:, :1]) / max(grid.shape[1] - 1, 1)
    else:
        raise ValueError(f"unknown grid extension rule {rule!r}; choose one of {EXTEND_RULES}")
    steps = torch.arange(1, k + 1, dtype=grid.dtype, device=grid.device)
    left = grid[:, 0:1] - h_lo * steps.flip(0)
    right = grid[:, -1:] + h_hi * steps
    return torch.cat([left, grid, right], dim=1)


def uniform_grid(
    n_in: int,
    num: int,
    k: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A uniform grid of ``num`` intervals over ``grid_range``, extended by k knots on each side.

    Returns (n_in, num + 2k + 1).
    """
    if num < 1:
        raise ValueError(f"grid must be >= 1 interval, got {num}")
    if k < 1:
        raise ValueError(f"spline order k must be >= 1, got {k}")
    lo, hi = float(grid_range[0]), float(grid_range[1])
    if not hi > lo:
        raise ValueError(f"grid_range must satisfy lo < hi, got {grid_range}")
    inner = torch.linspace(lo, hi, num + 1, dtype=dtype, device=device)
    return extend_grid(inner.expand(n_in, num + 1).contiguous(), k)


def is_uniform(grid: Tensor, rtol: float = 1e-6) -> bool:
    """True when every row of ``grid`` (in, n_knots) is evenly spaced (a host sync: not for the hot path)."""
    h = grid.diff(dim=1)
    return bool(torch.all(torch.abs(h - h[:, :1]) <= rtol * torch.abs(h[:, :1])).item())


def _safe_div(a: Tensor, b: Tensor) -> Tensor:
    """a / b with 0 where b == 0 (repeated knots: the Cox-de Boor 0/0 := 0 convention)."""
    zero = b == 0
    return torch.where(zero, torch.zeros_like(a), a / torch.where(zero, torch.ones_like(b), b))


def bspline_basis(x: Tensor, grid: Tensor, k: int) -> Tensor:
    """Dense B-spline bases by the Cox-de Boor recursion (the reference evaluator).

    x: (B, in), grid: (in, G + 2k + 1) -> (B, in, G + k)
    """
    t = grid.unsqueeze(0)  # (1, in, n_knots)
    xe = x.unsqueeze(-1)  # (B, in, 1)
    basis = ((xe >= t[..., :-1]) & (xe < t[..., 1:])).to(x.dtype)  # (B, in, n_knots - 1): degree 0
    for d in range(1, k + 1):
        left = _safe_div(xe - t[..., : -(d + 1)], t[..., d:-1] - t[..., : -(d + 1)]) * basis[..., :-1]
        right = _safe_div(t[..., d + 1 :] - xe, t[..., d + 1 :] - t[..., 1:-d]) * basis[..., 1:]
        basis = left + right
    return basis


# ----------------------------------------------------------------------------------------------------------------
# Local (fast) basis: only the k + 1 nonzero bases per point.
# ----------------------------------------------------------------------------------------------------------------


_UNIFORM_MATRICES: dict[tuple, Tensor] = {}


def uniform_matrix(k: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """(k + 1, 2k + 2): [1, f, .., f^k] @ M gives the k + 1 active cardinal B-spline values, then their d/df.
    Entry m belongs to basis i - k + m for f in [0, 1) inside interval i. Cached per (k, dtype, device)."""
    key = (k, dtype, str(device))
    if key in _UNIFORM_MATRICES:
        return _UNIFORM_MATRICES[key]
    if (k, torch.float64, "None") not in _UNIFORM_MATRICES:
        f = torch.linspace(0.0, 1.0, k + 1, dtype=torch.float64)
        vals, _ = _de_boor(f, [float(r) for r in range(-k + 1, k + 1)], k)
        vander = f.unsqueeze(-1) ** torch.arange(k + 1, dtype=torch.float64)  # (k + 1 points, k + 1 powers)
        mv = torch.linalg.solve(vander, torch.stack(vals, dim=-1))  # (powers, bases)
        md = torch.zeros_like(mv)
        md[:-1] = mv[1:] * torch.arange(1, k + 1, dtype=torch.float64).unsqueeze(-1)
        _UNIFORM_MATRICES[(k, torch.float64, "None")] = torch.cat([mv, md], dim=1)
    m = _UNIFORM_MATRICES[(k, torch.float64, "None")].to(dtype=dtype, device=device)
    _UNIFORM_MATRICES[key] = m
    return m


def _de_boor(xr: Tensor, knots: list, k: int, derivatives: bool = True) -> tuple[list[Tensor], list[Tensor]]:
    """Local de Boor triangle.

    xr: position relative to t_i, (B, in). knots: 2k entries t_{i-k+1} .. t_{i+k}, relative to t_i (floats on a
    uniform grid, (B, in) tensors otherwise). Returns the values and first derivatives of bases i-k .. i.
    """

    def t(r: int):  # knot t_{i + r} for r in [-k + 1, k]
        return knots[r + k - 1]

    vals: list[Tensor] = [torch.ones_like(xr)]
    lower: list[Tensor] = vals
    for d in range(1, k + 1):
        lower = vals  # degree d - 1 values of bases i-d+1 .. i
        new: list[Tensor] = []
        saved = torch.zeros_like(xr)
        for r in range(d):
            # basis b = i - d + 1 + r at degree d - 1 feeds bases b - 1 (right term) and b (left term) at degree d
            lo, hi = t(-d + 1 + r), t(1 + r)
            temp = lower[r] / (hi - lo)
            new.append(saved + (hi - xr) * temp)
            saved = (xr - lo) * temp
        new.append(saved)
        vals = new
    ders: list[Tensor] = []
    if not derivatives:
        return vals, ders
    # derivative from degree k - 1 values (lower: bases i-k+1 .. i)
    for m in range(k + 1):  # basis j = i - k + m
        d_val = torch.zeros_like(xr)
        if m >= 1:  # + k / (t_{j+k} - t_j) * N_{j, k-1}
            d_val = d_val + k * lower[m - 1] / (t(m) - t(-k + m))
        if m <= k - 1:  # - k / (t_{j+k+1} - t_{j+1}) * N_{j+1, k-1}
            d_val = d_val - k * lower[m] / (t(m + 1) - t(-k + m + 1))
        ders.append(d_val)
    return vals, ders


def local_basis(
    x: Tensor, grid: Tensor, k: int, uniform: bool, derivatives: bool = True
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The k + 1 bases that can be nonzero at each point.

    x: (B, in), grid: (in, G + 2k + 1).
    Returns ``i`` (B, in) long in [0, G + 2k], the interval that holds x (x is first clamped to the grid; points
    off it get G + 2k, whose bases are all padding, values and slopes alike), and
    ``vals``/``ders`` (B, in, k + 1): values and x-derivatives of bases i - k .. i (``ders`` is None unless asked).
    Bases whose index falls outside [0, G + k) are *padding*: their weights are finite but meaningless, so callers
    scatter into a buffer padded by k columns on the left and k + 1 on the right (:func:`padded_dense`).
    Differentiable in x (twice), so it serves physics-informed losses as well.
    """
    n_int = grid.shape[1] - 1  # intervals of the extended grid: G + 2k
    lo, hi = grid[:, 0], grid[:, -1]
    xc = torch.clamp(x, lo, hi)  # outside the grid every basis is 0: land on the edge, where they all vanish
    if uniform:
        h = grid[:, 1] - grid[:, 0]
        i = torch.floor((xc.detach() - lo) / h).nan_to_num_(nan=float(n_int)).clamp_(0, n_int).long()
        i.masked_fill_((x.detach() < lo) | (x.detach() >= hi), n_int)  # off the grid: all k + 1 bases are padding
        ti = torch.gather(grid.t(), 0, i)  # (B, in): t_i; f measured from the knot is one rounding
        f = (xc - ti) / h
        powers = [torch.ones_like(f), f]
        for _ in range(k - 1):
            powers.append(powers[-1] * f)
        m = uniform_matrix(k, x.dtype, x.device)
        p = torch.stack(powers, dim=-1)  # (B, in, k + 1)
        if derivatives:
            both = p @ m  # (B, in, 2k + 2)
            return i, both[..., : k + 1], both[..., k + 1 :] / h.unsqueeze(-1)
        return i, p @ m[:, : k + 1], None
    # adaptive grid: searchsorted per input row, then the local de Boor triangle on knots t_{i-k+1} .. t_{i+k};
    # computed in (in, B) layout so that every gather and elementwise op runs on contiguous memory
    xt = xc.t().contiguous()  # (in, B)
    if grid.shape[1] <= 24:  # few knots: counting them beats a binary search (about 1.7x here)
        it = (xt.detach().unsqueeze(-1) >= grid.unsqueeze(1)).sum(-1).sub_(1).clamp_(0, n_int)  # (in, B)
    else:
        it = (torch.searchsorted(grid.contiguous(), xt.detach(), right=True) - 1).clamp_(0, n_int)
    it.masked_fill_(~(x.detach().t() >= lo.unsqueeze(1)), n_int)  # left of the grid, or NaN: all bases padding
    padded = extend_grid(grid, k + 1)  # knot j sits at column j + k + 1; extrapolated knots keep spans nonzero
    ti = padded.gather(1, it + (k + 1))
    knots = [padded.gather(1, it + (r + 2)) - ti for r in range(2 * k)]  # t_{i-k+1+r} - t_i
    vals, ders = _de_boor(xt - ti, knots, k, derivatives)
    vals_t = torch.stack(vals, dim=-1).transpose(0, 1)  # (B, in, k + 1)
    ders_t = torch.stack(ders, dim=-1).transpose(0, 1) if derivatives else None
    return it.t(), vals_t, ders_t


def padded_dense(i: Tensor, vals: Tensor, n_basis: int) -> Tensor:
    """Dense bases from :func:`local_basis`: (B, in) and (B, in, k + 1) -> (B, in, n_basis), a strided view."""
    k = vals.shape[-1] - 1
    buf = vals.new_zeros(vals.shape[0], vals.shape[1], n_basis + 2 * k + 1)
    buf.scatter_add_(-1, i.unsqueeze(-1) + torch.arange(k + 1, device=i.device), vals)  # basis j at column j + k
    return buf[..., k : k + n_basis]


def padded_gather(i: Tensor, dense: Tensor, k: int) -> Tensor:
    """The inverse view: pick columns i - k .. i of dense (B, in, n_basis), zero outside -> (B, in, k + 1)."""
    buf = dense.new_zeros(dense.shape[0], dense.shape[1], dense.shape[2] + 2 * k + 1)
    buf[..., k : k + dense.shape[2]] = dense
    return buf.gather(-1, i.unsqueeze(-1) + torch.arange(k + 1, device=i.device))


# ----------------------------------------------------------------------------------------------------------------
# Curves and coefficients
# ----------------------------------------------------------------------------------------------------------------


def coef2curve(x: Tensor, grid: Tensor, coef: Tensor, k: int) -> Tensor:
    """Evaluate splines: x (B, in), grid (in, G + 2k + 1), coef (in, out, G + k) -> (B, in, out)."""
    return torch.einsum("bic,ioc->bio", bspline_basis(x, grid, k), coef)


def curve2coef(x: Tensor, y: Tensor, grid: Tensor, k: int, ridge: float | None = None,
               basis: Tensor | None = None) -> Tensor:
    """Least-squares spline coefficients, batched over inputs and outputs.

    x: (B, in), y: (B, in, out), grid: (in, G + 2k + 1) -> coef (in, out, G + k).
    basis: bspline_basis(x, grid, k) when the caller has it (a faster evaluation, say), else computed here.
    A tiny ridge (relative to the Gram diagonal) keeps the system full rank when some bases see no samples, so the
    solve never fails silently; non-finite results raise.
    """
    if x.ndim != 2 or y.ndim != 3 or y.shape[:2] != x.shape:
        raise ValueError(f"curve2coef: expected x (B, in) and y (B, in, out), got {tuple(x.shape)}, {tuple(y.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("curve2coef: samples contain NaN or inf")
    if x.dtype not in (torch.float32, torch.float64):  # half precision: lstsq has no kernel, and too few digits
        out = curve2coef(x.double(), y.double(), grid.double(), k, ridge,
                         None if basis is None else basis.double())
        return out.to(x.dtype)
    nb = grid.shape[1] - k - 1
    if basis is None:
        basis = bspline_basis(x, grid, k)
    elif tuple(basis.shape) != (*x.shape, nb):
        raise ValueError(f"curve2coef: basis has shape {tuple(basis.shape)}, expected {(*x.shape, nb)}")
    a = basis.transpose(0, 1)  # (in, B, nb)
    n_in, _, nb = a.shape
    if ridge is None:
        ridge = 1e-10 if x.dtype == torch.float64 else 1e-6
    gram_diag = (a * a).sum(dim=1).mean(dim=1).clamp_min(1e-30)  # (in,)
    lam = (ridge * gram_diag).sqrt()  # (in,)
    eye = torch.eye(nb, dtype=x.dtype, device=x.device)
    a_aug = torch.cat([a, lam[:, None, None] * eye], dim=1)  # (in, B + nb, nb)
    rhs = torch.cat([y.transpose(0, 1), y.new_zeros(n_in, nb, y.shape[2])], dim=1)  # (in, B + nb, out)
    driver = "gelsd" if x.device.type == "cpu" else None
    coef = torch.linalg.lstsq(a_aug, rhs, driver=driver).solution  # (in, nb, out)
    if not torch.isfinite(coef).all():
        raise FloatingPointError("curve2coef: least-squares solve produced non-finite coefficients")
    return coef.transpose(1, 2).contiguous()


def refine_grid(grid: Tensor, k: int, new_num: int) -> Tensor:
    """A grid of ``new_num`` intervals that keeps the knot placement of ``grid``.

    The new inner knots interpolate the old ones piecewise linearly in knot index and the k outer knots per side
    are kept, so when ``new_num`` is a multiple of the old G the old knots are a subset of the new ones and every
    old spline is exactly representable. grid: (in, G + 2k + 1) -> (in, new_num + 2k + 1)
    """
    if new_num < 1:
        raise ValueError(f"grid must be >= 1 interval, got {new_num}")
    inner = grid[:, k : grid.shape[1] - k]  # (in, G + 1)
    g_old = inner.shape[1] - 1
    pos = torch.linspace(0, g_old, new_num + 1, dtype=grid.dtype, device=grid.device)
    lo = pos.floor().clamp(max=g_old - 1).long()
    frac = pos - lo.to(grid.dtype)
    new_inner = inner[:, lo] * (1 - frac) + inner[:, lo + 1] * frac
    # keep the old outer knots: then the old knot vector is a subset of the new one, and every old spline is
    # representable over its whole support, not only over the inner range
    return torch.cat([grid[:, :k], new_inner, grid[:, grid.shape[1] - k :]], dim=1)


def sample_grid(x: Tensor, num: int, k: int, grid_eps: float, extend: str = "ends") -> Tensor:
    """A grid fitted to samples: grid_eps * uniform + (1 - grid_eps) * quantile knots, extended by k.

    x: (B, in) -> (in, num + 2k + 1). Inputs whose samples are (nearly) constant get a unit-width uniform grid
    around their value so that knots stay strictly increasing.
    """
    xs = torch.sort(x, dim=0).values  # (B, in)
    n = xs.shape[0]
    ids = torch.tensor([int(n / num * j) for j in range(num)] + [n - 1], device=x.device)
    adaptive = xs[ids].transpose(0, 1)  # (in, num + 1)
    lo, hi = adaptive[:, :1], adaptive[:, -1:]
    span = hi - lo
    steps = torch.arange(num + 1, dtype=x.dtype, device=x.device)
    uniform = lo + span / num * steps
    grid = grid_eps * uniform + (1 - grid_eps) * adaptive
    degenerate = span <= 1e-8 * (1 + lo.abs())  # (in, 1)
    if bool(degenerate.any()):
        fallback = lo - 0.5 + steps / num
        grid = torch.where(degenerate, fallback, grid)
        span = torch.where(degenerate, torch.ones_like(span), span)
    # repeated samples (grid_eps = 0 with ties) would give zero-width intervals: keep every interval at least
    # 1e-3 of an average one wide, so no basis collapses
    min_gap = 1e-3 * span / num  # (in, 1)
    gaps = grid.diff(dim=1)  # (in, num)
    if bool((gaps < min_gap).any()):
        gaps = torch.maximum(gaps, min_gap)
        grid = torch.cat([grid[:, :1], grid[:, :1] + torch.cumsum(gaps, dim=1)], dim=1)
    return extend_grid(grid, k, extend)

"""pykan's ``kan.spline``: B-spline helpers with pykan's names and shapes, computed by kanlab's splines."""

from __future__ import annotations

from torch import Tensor

from .. import splines

__all__ = ["B_batch", "coef2curve", "curve2coef", "extend_grid"]


def B_batch(x: Tensor, grid: Tensor, k: int = 0, extend: bool = True) -> Tensor:
    """The order-k B-spline bases on ``grid`` (in, n_knots): x (batch, in) -> (batch, in, n_knots - k - 1).
    ``extend`` is accepted for pykan's signature; the grid is used as given, as pykan 0.2.8 does."""
    return splines.bspline_basis(x, grid, int(k))


def extend_grid(grid: Tensor, k_extend: int = 0) -> Tensor:
    """``grid`` (in, G + 1) with k_extend equally spaced knots added on each side."""
    return splines.extend_grid(grid, int(k_extend))


def coef2curve(x_eval: Tensor, grid: Tensor, coef: Tensor, k: int, device="cpu") -> Tensor:
    """Spline values: x (batch, in), coef (in, out, n_basis) -> (batch, in, out)."""
    return splines.coef2curve(x_eval, grid, coef, int(k))


def curve2coef(x_eval: Tensor, y_eval: Tensor, grid: Tensor, k: int, lamb: float = 1e-8) -> Tensor:
    """Least-squares coefficients: x (batch, in), y (batch, in, out) -> coef (in, out, n_basis)."""
    return splines.curve2coef(x_eval, y_eval, grid, int(k))

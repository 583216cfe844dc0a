"""Hypothesis tests on a function's structure (KAN 2.0): is it separable, additively or multiplicatively? does it
depend on a group of variables only through one combination of them?

Every test works on any callable ``f: (N, n) -> (N, m)`` (a KAN, an MLP, a plain torch function; the first output
is tested), from its gradients and Hessians at the sample points ``x``. Derivatives are taken in float64 (a module
is evaluated on a float64 copy; the original is not touched), in batches of ``batch`` rows. Scores are made unitless
by the inputs' spreads and summarised by the median over samples, so a handful of points near a singularity does
not decide; a test passes when every relevant score is below its stated ``threshold``.

- additive separability of groups A, B: f = u(A) + v(B)  <=>  d2f / dx_a dx_b = 0 for a in A, b in B;
- multiplicative: the same on log|f + bias|;
- symmetry in a group A: f = g(h(A), rest)  <=>  the direction of the gradient over A does not depend on the rest;
- general separability of groups G_1..G_k: f = g(h_1(G_1), ..., h_k(G_k)), symmetry in every group.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["jacobian", "hessian", "rows_jacobian", "separability_scores", "detect_separability", "test_separability",
           "symmetry_scores", "test_symmetry", "test_general_separability", "Separability"]

Fn = Callable[[Tensor], Tensor]


def _float64(f: Fn) -> Fn:
    """f evaluated in float64: a float64 copy of a module in another precision (the original is not touched), or
    the callable itself (a float64 module included: nothing here writes to it)."""
    if isinstance(f, nn.Module) and any(t.is_floating_point() and t.dtype != torch.float64
                                        for t in (*f.parameters(), *f.buffers())):
        return copy.deepcopy(f).to(torch.float64)
    return f


def _check(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"x must be a (N, n) tensor with N >= 2 samples, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise ValueError("x must hold finite floating-point values")
    return x.detach().to(torch.float64)


def _scalar(f: Fn, x: Tensor) -> Tensor:
    y = f(x)
    if not isinstance(y, Tensor) or y.shape[0] != x.shape[0]:
        raise ValueError(f"f must map (N, n) inputs to (N,) or (N, m) outputs, got {getattr(y, 'shape', y)}")
    return y.reshape(y.shape[0], -1)[:, 0]


def rows_jacobian(v: Tensor, x: Tensor, create_graph: bool = False) -> Tensor:
    """d v[:, k] / d x for a per-sample quantity v (B, K) computed from x (B, n): (B, K, n). Rows are independent
    samples, so each k is one gradient of v[:, k] summed over the batch; zeros where v does not depend on x."""
    rows = []
    for k in range(v.shape[1]):
        (d,) = torch.autograd.grad(v[:, k].sum(), x, retain_graph=True, create_graph=create_graph, allow_unused=True)
        rows.append(torch.zeros_like(x) if d is None else d)
    return torch.stack(rows, dim=1)


def _by_chunks(fn: Callable[[Tensor], Tensor], x: Tensor, batch: int) -> Tensor:
    """fn(chunk) on float64 chunks of x that require grad, under autograd, detached and concatenated."""
    out = []
    for chunk in x.split(batch):
        xc = chunk.clone().requires_grad_(True)
        with torch.enable_grad():
            out.append(fn(xc).detach())
    return torch.cat(out)


def _input_grad(f: Fn, x: Tensor, create_graph: bool = False) -> Tensor:
    (g,) = torch.autograd.grad(_scalar(f, x).sum(), x, create_graph=create_graph)
    return g


def jacobian(f: Fn, x: Tensor, batch: int = 512) -> Tensor:
    """Gradient of f's first output at every row of x, in float64: (N, n)."""
    f = _float64(f)
    return _by_chunks(lambda xc: _input_grad(f, xc), _check(x), batch)


def hessian(f: Fn, x: Tensor, batch: int = 512) -> Tensor:
    """Hessian of f's first output at every row of x, in float64: (N, n, n)."""
    f = _float64(f)
    return _by_chunks(lambda xc: rows_jacobian(_input_grad(f, xc, create_graph=True), xc), _check(x), batch)


def separability_scores(f: Fn, x: Tensor, mode: str = "add", bias: float = 0.0) -> Tensor:
    """Median over samples of |d2g / dx_i dx_j| * std_i * std_j, with g = f ('add') or log|f + bias| ('mul'):
    (n, n). Zero off-diagonal entries mean i and j separate."""
    if mode not in ("add", "mul"):
        raise ValueError(f"mode must be 'add' or 'mul', got {mode!r}")
    f64 = _float64(f)  # once: hessian evaluates g chunk by chunk
    g = f64 if mode == "add" else (lambda z: torch.log(torch.abs(_scalar(f64, z) + bias)))
    x64 = _check(x)
    h = hessian(g, x64)
    std = x64.std(dim=0)
    return (h.abs() * std[None, :, None] * std[None, None, :]).median(dim=0).values


@dataclass
class Separability:
    """groups: the finest partition of the inputs into separable groups (sorted); scores: the (n, n) matrix."""

    groups: list[list[int]]
    scores: Tensor

    @property
    def separable(self) -> bool:
        return len(self.groups) > 1


def detect_separability(f: Fn, x: Tensor, mode: str = "add", threshold: float = 1e-2,
                        bias: float = 0.0) -> Separability:
    """The inputs split into groups that separate (additively or multiplicatively): connected components of the
    graph joining i and j when their score (see :func:`separability_scores`) is at least ``threshold``."""
    scores = separability_scores(f, x, mode, bias)
    n = scores.shape[0]
    linked = (scores >= threshold) | (scores.t() >= threshold)
    label = list(range(n))

    def root(i: int) -> int:
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if linked[i, j]:
                label[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return Separability(sorted(groups.values()), scores)


def _check_groups(groups: Sequence[Sequence[int]], n: int) -> list[list[int]]:
    out = [sorted({int(i) for i in g}) for g in groups]
    flat = [i for g in out for i in g]
    if len(flat) != len(set(flat)) or any(not 0 <= i < n for i in flat):
        raise ValueError(f"groups must be disjoint lists of input indices in [0, {n}), got {list(groups)}")
    return out


def test_separability(f: Fn, x: Tensor, groups: Sequence[Sequence[int]], mode: str = "add",
                      threshold: float = 1e-2, bias: float = 0.0) -> bool:
    """Whether f separates into the given groups (inputs in no group form one more group): every score between
    two groups is below ``threshold``."""
    scores = separability_scores(f, x, mode, bias)
    n = scores.shape[0]
    parts = _check_groups(groups, n)
    rest = sorted(set(range(n)) - {i for g in parts for i in g})
    parts = [g for g in parts + [rest] if g]
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            if float(scores[parts[a]][:, parts[b]].max()) >= threshold:
                return False
    return True


def symmetry_scores(f: Fn, x: Tensor, group: Sequence[int], batch: int = 512) -> Tensor:
    """How much the direction of f's gradient over ``group`` moves with each input outside it: the median over
    samples of |d(grad_A f / |grad_A f|)_a / dx_b| * std_a * std_b, (|A|, n - |A|)."""
    x64 = _check(x)
    n = x64.shape[1]
    a = _check_groups([group], n)[0]
    b = sorted(set(range(n)) - set(a))
    if len(a) < 2 or not b:
        return x64.new_zeros(len(a), len(b))
    f64 = _float64(f)

    def direction_moves(xc: Tensor) -> Tensor:
        ga = _input_grad(f64, xc, create_graph=True)[:, a]
        return rows_jacobian(ga / (ga.norm(dim=1, keepdim=True) + 1e-12), xc)[:, :, b]

    dep = _by_chunks(direction_moves, x64, batch)
    std = x64.std(dim=0)
    return (dep.abs() * std[None, a, None] * std[None, None, b]).median(dim=0).values


def test_symmetry(f: Fn, x: Tensor, group: Sequence[int], threshold: float = 1e-3) -> bool:
    """Whether f depends on the inputs in ``group`` only through one combination h(group): f = g(h(group), rest)."""
    return bool((symmetry_scores(f, x, group) < threshold).all())


def test_general_separability(f: Fn, x: Tensor, groups: Sequence[Sequence[int]], threshold: float = 1e-2) -> bool:
    """Whether f = g(h_1(G_1), ..., h_k(G_k)) for the given groups: f is symmetric in every group."""
    parts = _check_groups(groups, _check(x).shape[1])
    f64 = _float64(f)  # one float64 copy for every group's test
    return all(test_symmetry(f64, x, g, threshold) for g in parts)

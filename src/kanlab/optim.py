"""L-BFGS with a strong-Wolfe line search, on flat parameter vectors.

Why kanlab has its own:
- torch.optim.LBFGS drops a curvature pair whenever y.s <= 1e-10. Near a very good fit (symbolic KANs reach RMSE
  1e-12) every pair is that small, so torch's optimizer silently degrades to steepest descent and stalls around
  1e-6. Here the threshold is ``tolerance_ys`` (default 1e-32), which keeps the quasi-Newton model alive to the end.
- A KAN fit is a few hundred parameters and about 25 evaluations per step. The vector algebra of L-BFGS (two dot
  products and two updates per stored pair, per iteration) then costs more than the model: on the CPU it runs on
  numpy views of the flat vectors, whose cost per operation is a fraction of torch's. Elsewhere it runs on torch
  tensors; the code is the same (it only uses ``@``, arithmetic, ``abs``, ``max`` and ``sum``).
- Callers that can compute the loss and the flat gradient themselves (``fit``'s fused objective) call
  :meth:`LBFGS.minimize` directly and skip the parameter round trips.
"""

from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["LBFGS", "strong_wolfe"]

Vector = Union[np.ndarray, Tensor]
Objective = Callable[[Vector], tuple[float, Vector]]  # x -> (loss, gradient)


def _cubic_minimum(t1: float, f1: float, g1: float, t2: float, f2: float, g2: float, lo: float, hi: float) -> float:
    """The minimiser in [lo, hi] of the cubic through (t1, f1) and (t2, f2) with slopes g1, g2 (Nocedal & Wright,
    eq. 3.59); the middle of [lo, hi] when the cubic has no minimum (or the points coincide)."""
    if t1 == t2 or not all(map(math.isfinite, (f1, f2, g1, g2))):
        return (lo + hi) / 2
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    disc = d1 * d1 - g1 * g2
    if disc < 0 or not math.isfinite(disc):
        return (lo + hi) / 2
    d2 = math.copysign(math.sqrt(disc), t2 - t1)
    denom = g2 - g1 + 2 * d2
    if denom == 0:
        return (lo + hi) / 2
    t = t2 - (t2 - t1) * (g2 + d2 - d1) / denom
    return min(max(t, lo), hi) if math.isfinite(t) else (lo + hi) / 2


def strong_wolfe(phi: Callable[[float], tuple[float, Vector]], d: Vector, f0: float, g0: Vector, t: float,
                 c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_evals: int = 25) -> tuple[float, float, Vector, int]:
    """A step length along ``d`` meeting the strong Wolfe conditions (Nocedal & Wright, algorithms 3.5 and 3.6).

    phi(t) evaluates (loss, gradient) at x + t d; f0, g0 are their values at t = 0 and ``t`` the first trial.
    Returns (t, loss, gradient at t, evaluations). When the budget runs out or the bracket shrinks below
    ``tolerance_change`` (in parameter units), returns the lowest point seen that decreases the loss enough, or
    t = 0 when there is none.
    """
    gtd0 = float(g0 @ d)
    d_max = float(abs(d).max())
    prev = (0.0, f0, g0, gtd0)
    f, g = phi(t)
    cur = (t, f, g, float(g @ d))
    evals = 1
    bracket = None
    while evals < max_evals:  # phase 1: grow the step until a bracket holds an acceptable point
        t, f, g, gtd = cur
        if f > f0 + c1 * t * gtd0 or (evals > 1 and f >= prev[1]):
            bracket = (prev, cur)
            break
        if abs(gtd) <= -c2 * gtd0:
            return t, f, g, evals
        if gtd >= 0:
            bracket = (cur, prev)
            break
        t_next = _cubic_minimum(prev[0], prev[1], prev[3], t, f, gtd, t + 0.01 * (t - prev[0]), 10 * t)
        prev = cur
        f, g = phi(t_next)
        cur = (t_next, f, g, float(g @ d))
        evals += 1
    if bracket is None:  # out of evaluations while still extending
        best = cur if cur[1] <= f0 + c1 * cur[0] * gtd0 else prev
        return best[0], best[1], best[2], evals
    lo, hi = bracket  # lo: the lowest acceptable point so far; the minimiser lies between lo and hi
    near_end = False
    while evals < max_evals and abs(hi[0] - lo[0]) * d_max >= tolerance_change:  # phase 2: zoom
        a, b = min(lo[0], hi[0]), max(lo[0], hi[0])
        t = _cubic_minimum(lo[0], lo[1], lo[3], hi[0], hi[1], hi[3], a, b)
        margin = 0.1 * (b - a)
        if min(t - a, b - t) < margin:  # a trial at an end shrinks the bracket by almost nothing: allow it once
            if near_end:
                t = min(max(t, a + margin), b - margin)
            near_end = not near_end
        else:
            near_end = False
        f, g = phi(t)
        evals += 1
        cur = (t, f, g, float(g @ d))
        if f > f0 + c1 * t * gtd0 or f >= lo[1]:
            hi = cur
        else:
            if abs(cur[3]) <= -c2 * gtd0:
                return t, f, g, evals
            if cur[3] * (hi[0] - lo[0]) >= 0:
                hi = lo
            lo = cur
    return lo[0], lo[1], lo[2], evals


class LBFGS:
    """Limited-memory BFGS over a list of parameters, as one flat vector.

    Not a torch.optim.Optimizer subclass on purpose: that base class imports torch._dynamo on first use (about 1-2 s
    per process, more than a whole small fit), and L-BFGS needs none of its machinery (one parameter group, no
    hooks). It has the parts a training loop uses: ``param_groups``, ``state``, ``zero_grad`` and ``step``.
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, history_size: int = 10,
                 tolerance_grad: float = 1e-32, tolerance_change: float = 1e-32, tolerance_ys: float = 1e-32,
                 line_search_fn: str | None = "strong_wolfe") -> None:
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"unknown line_search_fn {line_search_fn!r}; choose None or 'strong_wolfe'")
        params = list(params)
        if not params or not all(isinstance(p, Tensor) for p in params):
            raise ValueError("LBFGS needs a non-empty list of tensors (a single parameter group)")
        if len({(p.device, p.dtype) for p in params}) != 1:
            raise ValueError("LBFGS needs all parameters on one device with one dtype")
        self.defaults = dict(lr=lr, max_iter=max_iter, history_size=history_size, tolerance_grad=tolerance_grad,
                             tolerance_change=tolerance_change, tolerance_ys=tolerance_ys,
                             line_search_fn=line_search_fn)
        self.param_groups = [dict(params=params, **self.defaults)]
        self.state: dict[Tensor, dict] = {params[0]: {}}
        self._params: list[Tensor] = params
        self._numels = [p.numel() for p in params]

    def reset(self) -> None:
        """Forget the curvature history (after an undone step, say): the next step starts as gradient descent."""
        self.state[self._params[0]] = {}

    def state_dict(self) -> dict:
        """The learning rate and curvature history as tensors and numbers (no numpy), for checkpoints:
        ``torch.save`` it and ``torch.load(..., weights_only=True)`` reads it back."""
        st = self.state[self._params[0]]
        out: dict = {"lr": self.param_groups[0]["lr"]}
        for key, value in st.items():
            if isinstance(value, list):
                out[key] = [torch.as_tensor(v).clone() for v in value] if key != "ro" else list(value)
            elif isinstance(value, np.ndarray):
                out[key] = torch.from_numpy(value.copy())
            elif isinstance(value, Tensor):
                out[key] = value.detach().clone()
            else:
                out[key] = value
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned; vectors come back in this optimizer's algebra (numpy on the
        CPU), so the next step continues exactly where the saved one stopped."""
        state = dict(state)
        self.param_groups[0]["lr"] = float(state.pop("lr"))
        st: dict = {}
        for key, value in state.items():
            if isinstance(value, list) and key != "ro":
                st[key] = [self._as_vector(torch.as_tensor(v).clone()) for v in value]
            elif isinstance(value, Tensor):
                st[key] = self._as_vector(value.clone())
            else:
                st[key] = value
        self.state[self._params[0]] = st

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    # ------------------------------------------------------------------ flat vectors
    def _as_vector(self, flat: Tensor) -> Vector:
        """The algebra's view of a flat tensor: numpy on the CPU (shares the memory), the tensor elsewhere; half
        precision parameters get their algebra in float32 (numpy has no bfloat16, and fp16 curvature pairs
        underflow)."""
        if flat.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()
        return flat.numpy() if flat.device.type == "cpu" else flat

    def flat_params(self) -> Vector:
        """A copy of the parameters as one flat vector."""
        return self._as_vector(torch.cat([p.detach().reshape(-1) for p in self._params]))

    def set_params(self, x: Vector) -> None:
        """Write a flat vector into the parameters."""
        flat = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        with torch.no_grad():
            torch._foreach_copy_(self._params, [v.view_as(p) for v, p in zip(flat.split(self._numels), self._params)])

    def _flat_grad(self) -> Vector:
        return self._as_vector(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                                          for p in self._params]))

    # ------------------------------------------------------------------ steps
    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """One optimizer step: up to max_iter quasi-Newton iterations. ``closure`` must zero grads, compute the
        loss, call backward and return the loss; it is called at the trial points of the line search. Returns the
        loss at the start of the step."""
        with torch.enable_grad():
            orig_loss = closure()
        x0 = self.flat_params()

        def fun(x: Vector) -> tuple[float, Vector]:
            self.set_params(x)
            with torch.enable_grad():
                loss = float(closure().detach())
            return loss, self._flat_grad()

        x = self.minimize(fun, x0, float(orig_loss.detach()), self._flat_grad())
        self.set_params(x)
        return orig_loss

    def minimize(self, fun: Objective, x: Vector, loss: float, grad: Vector) -> Vector:
        """Up to max_iter iterations from x (loss and grad given there); ``fun(x) -> (loss, grad)``. Returns the new
        x, a new vector. The curvature history carries over between calls, as between torch's steps."""
        g = self.param_groups[0]
        lr, max_iter, history = g["lr"], g["max_iter"], g["history_size"]
        tol_grad, tol_change, tol_ys = g["tolerance_grad"], g["tolerance_change"], g["tolerance_ys"]
        st = self.state[self._params[0]]
        st.setdefault("n_iter", 0)
        if float(abs(grad).max()) <= tol_grad:
            return x
        d, t = st.get("d"), st.get("t")
        old_dirs, old_stps, ro = st.setdefault("old_dirs", []), st.setdefault("old_stps", []), st.setdefault("ro", [])
        h_diag, prev_grad = st.get("H_diag", 1.0), st.get("prev_flat_grad")

        for _ in range(max_iter):
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d, h_diag = -grad, 1.0
            else:
                y = grad - prev_grad
                s = d * t
                ys = float(y @ s)
                if ys > tol_ys:
                    if len(old_dirs) == history:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                d = self._direction(grad, old_dirs, old_stps, ro, h_diag)
            prev_grad, prev_loss = grad, loss
            t = min(1.0, 1.0 / float(abs(grad).sum())) * lr if st["n_iter"] == 1 else lr
            gtd = float(grad @ d)
            if gtd > -tol_change:
                break
            if g["line_search_fn"] == "strong_wolfe":
                x0, direction = x, d
                t, loss, grad, _ = strong_wolfe(lambda step: fun(x0 + step * direction), d, loss, grad, t)
                x = x0 + t * d
            else:
                x = x + t * d
                loss, grad = fun(x)
            if float(abs(grad).max()) <= tol_grad or float(abs(d * t).max()) <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break
        st.update(d=d, t=t, H_diag=h_diag, prev_flat_grad=prev_grad)
        return x

    @staticmethod
    def _direction(grad: Vector, old_dirs: list, old_stps: list, ro: list, h_diag: float) -> Vector:
        """-H grad by the two-loop recursion over the stored pairs (y in old_dirs, s in old_stps, ro = 1 / y.s)."""
        q = -grad
        alphas = []
        for y, s, r in zip(reversed(old_dirs), reversed(old_stps), reversed(ro)):
            a = float(s @ q) * r
            q = q - a * y
            alphas.append(a)
        q = q * h_diag
        for y, s, r, a in zip(old_dirs, old_stps, ro, reversed(alphas)):
            q = q + (a - float(y @ q) * r) * s
        return q

"""L-BFGS with a strong-Wolfe line search whose curvature-pair threshold is a parameter.

torch.optim.LBFGS drops a curvature pair whenever y.s <= 1e-10. Near a very good fit (symbolic KANs reach RMSE
1e-12) every pair is that small, so torch's optimizer silently degrades to steepest descent and stalls around
1e-6. Here the threshold is ``tolerance_ys`` (default 1e-32), which keeps the quasi-Newton model alive to the end.
The line search is torch's own strong-Wolfe routine.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.optim.lbfgs import _strong_wolfe  # torch's strong-Wolfe line search (stable private helper)

__all__ = ["LBFGS"]


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
        self.defaults = dict(lr=lr, max_iter=max_iter, history_size=history_size, tolerance_grad=tolerance_grad,
                             tolerance_change=tolerance_change, tolerance_ys=tolerance_ys,
                             line_search_fn=line_search_fn)
        self.param_groups = [dict(params=params, **self.defaults)]
        self.state: dict[Tensor, dict] = {p: {} for p in params[:1]}
        self._params: list[Tensor] = params
        self._views: list[Tensor] = []  # 1-D views of the parameters, see _flat_views
        self._numels: list[int] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    # ------------------------------------------------------------------ flat views
    def _gather_grad(self) -> Tensor:
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._params])

    def _flat_views(self) -> list[Tensor]:
        """1-D views of the parameters, kept between calls and rebuilt when a parameter's storage was replaced
        (``p.data = ...``, as update_grid does to coef)."""
        if not self._views or any(v.data_ptr() != p.data_ptr() or v.numel() != p.numel()
                                  for v, p in zip(self._views, self._params)):
            self._views = [p.detach().view(-1) for p in self._params]
            self._numels = [p.numel() for p in self._params]
        return self._views

    def _add(self, step: float, direction: Tensor) -> None:
        """params += step * direction (flat): one foreach op on cached 1-D views (a loop of add_ over reshaped
        slices cost 140 us for the 8 tensors of a [2,1,1] model, more than its kernels)."""
        torch._foreach_add_(self._views, direction.split(self._numels), alpha=step)

    def _set(self, values: list[Tensor]) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._params, values)

    def _evaluate(self, closure: Callable[[], Tensor], x: list[Tensor], t: float, d: Tensor) -> tuple[float, Tensor]:
        self._add(t, d)
        loss = float(closure())
        grad = self._gather_grad()
        self._set(x)
        return loss, grad

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """One optimizer step: up to max_iter quasi-Newton iterations. ``closure`` must zero grads, compute the
        loss, call backward and return the loss."""
        closure = torch.enable_grad()(closure)
        self._flat_views()
        g = self.param_groups[0]
        lr, max_iter, history = g["lr"], g["max_iter"], g["history_size"]
        tol_grad, tol_change, tol_ys = g["tolerance_grad"], g["tolerance_change"], g["tolerance_ys"]
        st = self.state[self._params[0]]
        st.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        flat_grad = self._gather_grad()
        if flat_grad.abs().max() <= tol_grad:
            return orig_loss
        d, t = st.get("d"), st.get("t")
        old_dirs, old_stps, ro = st.setdefault("old_dirs", []), st.setdefault("old_stps", []), st.setdefault("ro", [])
        h_diag, prev_grad = st.get("H_diag", 1.0), st.get("prev_flat_grad")

        for it in range(max_iter):
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d, h_diag = -flat_grad, 1.0
            else:
                y = flat_grad - prev_grad
                s = d * t
                ys = float(y.dot(s))
                if ys > tol_ys:
                    if len(old_dirs) == history:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y.dot(y))
                q = -flat_grad
                alphas = []
                for k in range(len(old_dirs) - 1, -1, -1):
                    a = float(old_stps[k].dot(q)) * ro[k]
                    q = q - a * old_dirs[k]
                    alphas.append(a)
                r = q * h_diag
                for k, a in zip(range(len(old_dirs)), reversed(alphas)):
                    b = float(old_dirs[k].dot(r)) * ro[k]
                    r = r + (a - b) * old_stps[k]
                d = r
            prev_grad = flat_grad.clone()
            prev_loss = loss
            t = min(1.0, 1.0 / float(flat_grad.abs().sum())) * lr if st["n_iter"] == 1 else lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tol_change:
                break
            if g["line_search_fn"] == "strong_wolfe":
                x0 = [p.detach().clone() for p in self._params]
                loss, flat_grad, t, _ = _strong_wolfe(
                    lambda x, step, direction: self._evaluate(closure, x, step, direction), x0, t, d, loss,
                    flat_grad, gtd)
                self._add(t, d)
            else:
                self._add(t, d)
                if it != max_iter - 1:
                    loss = float(closure())
                    flat_grad = self._gather_grad()
            if flat_grad.abs().max() <= tol_grad or float((d * t).abs().max()) <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break
        st.update(d=d, t=t, H_diag=h_diag, prev_flat_grad=prev_grad)
        return orig_loss

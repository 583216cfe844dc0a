"""SymbolicLayer: the fixed symbolic edge functions of one KAN layer.

An active edge (i -> o) adds c * f(a * x_i + b) + d to output o, with f from a :class:`SymbolicLibrary` and
``affine[i, o] = (a, b, c, d)`` trainable. The forward groups edges by function, so it loops over the distinct
functions in use (a handful), never over edges; with no active edge it returns None and costs nothing.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor, nn

from .library import DEFAULT_LIBRARY, SymbolicLibrary

__all__ = ["SymbolicLayer"]


class SymbolicLayer(nn.Module):
    """Symbolic edges of an (in_dim -> out_dim) layer. ``names[i][o]`` is edge (i, o)'s function name."""

    def __init__(self, in_dim: int, out_dim: int, library: SymbolicLibrary = DEFAULT_LIBRARY,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.library = library
        fk = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("mask", torch.zeros(in_dim, out_dim, **fk))
        identity = torch.tensor([1.0, 0.0, 1.0, 0.0], **fk)
        self.affine = nn.Parameter(identity.expand(in_dim, out_dim, 4).clone())
        self.names: list[list[str]] = [["0"] * out_dim for _ in range(in_dim)]
        self._groups: dict[str, tuple[list[int], list[int]]] | None = None

    # ------------------------------------------------------------------ editing
    def set_edge(self, i: int, o: int, name: str | None = None, affine: Tensor | list[float] | None = None,
                 active: bool | None = None) -> None:
        """Set edge (i, o)'s function name, affine parameters (a, b, c, d) and/or whether it is active."""
        if not (0 <= i < self.in_dim and 0 <= o < self.out_dim):
            raise IndexError(f"edge ({i}, {o}) is outside a layer of shape ({self.in_dim}, {self.out_dim})")
        if name is not None:
            self.library.get_function(name)  # raises, listing the valid names
            self.names[i][o] = name
        with torch.no_grad():
            if affine is not None:
                self.affine[i, o] = torch.as_tensor(affine, dtype=self.affine.dtype, device=self.affine.device)
            if active is not None:
                self.mask[i, o] = float(active)
        self._groups = None

    def groups(self) -> dict[str, tuple[list[int], list[int]]]:
        """Active edges grouped by function name: name -> (input ids, output ids). Cached until the next edit."""
        if self._groups is None:
            groups: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
            for i, o in torch.nonzero(self.mask).tolist():
                ii, oo = groups[self.names[i][o]]
                ii.append(i), oo.append(o)
            self._groups = dict(groups)
        return self._groups

    def _index_tensors(self, device: torch.device) -> dict[str, tuple[Tensor, Tensor]]:
        """groups() as index tensors on ``device``, built once per edit (no host-to-device copy per forward)."""
        groups = self.groups()
        cache = self.__dict__.setdefault("_index_cache", {})
        if cache.get("_groups") is not groups:  # groups() was rebuilt after an edit (held, so never reused)
            cache.clear()
            cache["_groups"] = groups
        key = str(device)
        if key not in cache:
            cache[key] = {name: (torch.tensor(ii, device=device), torch.tensor(oo, device=device))
                          for name, (ii, oo) in groups.items()}
        return cache[key]

    @property
    def active(self) -> bool:
        return bool(self.groups())

    # ------------------------------------------------------------------ evaluation
    def edge_values(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 1000.0,
                    affine: Tensor | None = None) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per group: (input ids (n,), output ids (n,), values (B, n)) of the active edges; with ``affine`` (in, out,
        4) in place of the layer's own parameters when given."""
        affine = (self.affine if affine is None else affine).reshape(-1, 4)  # (in * out, 4)
        out = []
        for name, (ii_t, oo_t) in self._index_tensors(x.device).items():
            fn = self.library[name]
            # index_select, not advanced indexing: its backward is an index_add, where indexing's accumulating
            # index_put sorts the indices first (over half of a small symbolic model's backward)
            a, b, c, d = affine.index_select(0, ii_t * self.out_dim + oo_t).unbind(1)  # (n,) each
            z = a * x.index_select(1, ii_t) + b
            fz = fn.safe(z, y_th) if singularity_avoiding else fn.torch_fn(z)
            out.append((ii_t, oo_t, c * fz + d))
        return out

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 1000.0,
                affine: Tensor | None = None) -> Tensor | None:
        """x: (B, in) -> (B, out), or None when no edge is symbolic. ``affine``: see :meth:`edge_values`."""
        parts = self.edge_values(x, singularity_avoiding, y_th, affine)
        if not parts:
            return None
        y = x.new_zeros(x.shape[0], self.out_dim)
        for _, oo, vals in parts:
            y = y.index_add(1, oo, vals)
        return y

    # ------------------------------------------------------------------ structure
    def subset(self, in_ids: list[int], out_ids: list[int]) -> "SymbolicLayer":
        in_ids, out_ids = [int(i) for i in in_ids], [int(o) for o in out_ids]
        new = SymbolicLayer(len(in_ids), len(out_ids), self.library, device=self.mask.device, dtype=self.mask.dtype)
        with torch.no_grad():
            new.mask.copy_(self.mask[in_ids][:, out_ids])
            new.affine.copy_(self.affine[in_ids][:, out_ids])
        new.affine.requires_grad_(self.affine.requires_grad)
        new.names = [[self.names[i][o] for o in out_ids] for i in in_ids]
        return new

    def extra_repr(self) -> str:
        active = {name: len(ii) for name, (ii, _) in self.groups().items()}
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, active={active}"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_groups"] = None
        state.pop("_index_cache", None)
        return state

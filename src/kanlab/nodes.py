"""Nodes of one KAN layer boundary: sum nodes and multiplication nodes (KAN 2.0).

A layer's edges end on *subnodes*. A sum node has one subnode and passes its value on. A multiplication node of
arity a owns a consecutive subnodes and outputs their product. In a node layer the ``n_sum`` sum nodes come first,
then the multiplication nodes in order::

    subnodes  s_0 .. s_{n_sum-1} | m_0: a_0 subnodes | m_1: a_1 subnodes | ...
    nodes     s_0 .. s_{n_sum-1} | prod(m_0)         | prod(m_1)         | ...

The product acts on the layer's output (B, n_sub) -> (B, n_nodes), after the fast kernels have added up the edges;
it is never formed per edge. Plain layers (no multiplication node) pass the tensor through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ._ints import as_int

__all__ = ["Nodes", "parse_width"]


@dataclass(frozen=True)
class Nodes:
    """One node layer: ``n_sum`` sum nodes, then one multiplication node per entry of ``arity``."""

    n_sum: int
    arity: tuple[int, ...] = ()

    @property
    def n_mult(self) -> int:
        return len(self.arity)

    @property
    def n_nodes(self) -> int:
        return self.n_sum + len(self.arity)

    @property
    def n_sub(self) -> int:
        """How many subnodes (outputs of the layer below) feed these nodes."""
        return self.n_sum + sum(self.arity)

    @property
    def plain(self) -> bool:
        return not self.arity

    def spec(self) -> int | list[int]:
        """The width entry as written: ``n`` for sum nodes only, ``[n_sum, n_mult]`` otherwise."""
        return self.n_sum if self.plain else [self.n_sum, self.n_mult]

    def subnodes(self, node: int) -> list[int]:
        """The subnode ids of node ``node``."""
        if node < self.n_sum:
            return [node]
        start = self.n_sum + sum(self.arity[: node - self.n_sum])
        return list(range(start, start + self.arity[node - self.n_sum]))

    def sub_to_node(self) -> list[int]:
        """For every subnode, the node it feeds: (n_sub,)."""
        return [node for node in range(self.n_nodes) for _ in self.subnodes(node)]

    def subset(self, keep: Sequence[int]) -> tuple["Nodes", list[int]]:
        """The node layer keeping nodes ``keep`` (sorted ids, sum nodes before mult nodes keep their kinds) and the
        subnode ids it keeps."""
        keep = [int(i) for i in keep]
        sums = [i for i in keep if i < self.n_sum]
        if keep[: len(sums)] != sums:  # a product among the sums would change what the next layer reads
            raise ValueError(f"nodes {keep}: the kept sum nodes (ids < {self.n_sum}) must come before the "
                             "multiplication nodes")
        subs = [s for node in keep for s in self.subnodes(node)]
        arity = tuple(self.arity[i - self.n_sum] for i in keep if i >= self.n_sum)
        return Nodes(sum(1 for i in keep if i < self.n_sum), arity), subs

    # ------------------------------------------------------------------ evaluation
    def combine(self, sub: Tensor) -> Tensor:
        """(B, n_sub) -> (B, n_nodes): sums pass through, each multiplication node multiplies its subnodes."""
        if self.plain:
            return sub
        s, b = self.n_sum, sub.shape[0]
        first = self.arity[0]
        if all(a == first for a in self.arity):  # one reshape for the common case (one arity per layer)
            prods = sub[:, s:].reshape(b, self.n_mult, first).prod(dim=2)
        else:
            prods = torch.stack([sub[:, idx[0]: idx[-1] + 1].prod(dim=1)
                                 for idx in (self.subnodes(s + m) for m in range(self.n_mult))], dim=1)
        return torch.cat([sub[:, :s], prods], dim=1)

    def combine_values(self, sub: list) -> list:
        """:meth:`combine` on a list of scalars or sympy expressions (formulas)."""
        out = list(sub[: self.n_sum])
        for m in range(self.n_mult):
            prod = 1
            for idx in self.subnodes(self.n_sum + m):
                prod = prod * sub[idx]
            out.append(prod)
        return out

    def to_subnodes(self, node_values: Tensor) -> Tensor:
        """(..., n_nodes) -> (..., n_sub): every subnode gets its node's value (attribution scores flow back)."""
        if self.plain:
            return node_values
        idx = torch.tensor(self.sub_to_node(), device=node_values.device)
        return node_values.index_select(-1, idx)

    def reduce_to_nodes(self, sub_values: Tensor) -> Tensor:
        """(..., n_sub) -> (..., n_nodes): the largest value over each node's subnodes."""
        if self.plain:
            return sub_values
        return torch.stack([sub_values[..., self.subnodes(n)].amax(dim=-1) for n in range(self.n_nodes)], dim=-1)


def _entry(entry, where: str) -> tuple[int, int]:
    if isinstance(entry, (list, tuple)):
        if len(entry) != 2:
            raise ValueError(f"{where} must be an integer or a pair [n_sum, n_mult], got {list(entry)}")
        n_sum, n_mult = (as_int(v, f"{where} entry", minimum=0) for v in entry)
        return n_sum, n_mult
    return as_int(entry, where, minimum=1), 0


def parse_width(width: Sequence, mult_arity=2) -> list[Nodes]:
    """pykan's width (entries ``n`` or ``[n_sum, n_mult]``) and ``mult_arity`` (one int, or one entry per width
    entry: an int or a list with one arity per multiplication node) as one :class:`Nodes` per node layer."""
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence):
        raise TypeError(f"width must be a list of layer sizes like [2, 5, 1] or [2, [5, 2], 1], got {width!r}")
    if len(width) < 2:
        raise ValueError(f"width needs at least an input and an output size, got {list(width)}")
    try:
        counts = [_entry(w, f"width[{l}]") for l, w in enumerate(width)]
    except (ValueError, TypeError) as err:
        raise type(err)(f"every width entry must be a positive integer or a pair [n_sum, n_mult] of non-negative "
                        f"integers, got {list(width)} ({err})") from None
    for l, (n_sum, n_mult) in enumerate(counts):
        if n_sum + n_mult == 0:
            raise ValueError(f"width[{l}] has no nodes: {width[l]!r}")
    if counts[0][1]:
        raise ValueError(f"the input layer cannot have multiplication nodes, got width[0] = {width[0]!r}")
    if isinstance(mult_arity, (list, tuple)):
        if len(mult_arity) != len(width):
            raise ValueError(f"mult_arity as a list needs one entry per width entry ({len(width)}), "
                             f"got {len(mult_arity)}")
        per_layer = list(mult_arity)
    else:
        per_layer = [mult_arity] * len(width)
    out = []
    for l, ((n_sum, n_mult), ar) in enumerate(zip(counts, per_layer)):
        if isinstance(ar, (list, tuple)):
            if len(ar) != n_mult:
                raise ValueError(f"mult_arity[{l}] lists {len(ar)} arities but width[{l}] has {n_mult} "
                                 "multiplication nodes")
            arity = tuple(as_int(a, f"mult_arity[{l}] entry", minimum=2) for a in ar)
        else:
            arity = (as_int(ar, "mult_arity", minimum=2),) * n_mult if n_mult else ()
        out.append(Nodes(n_sum, arity))
    return out

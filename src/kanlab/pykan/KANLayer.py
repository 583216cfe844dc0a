"""pykan's ``kan.KANLayer``: kanlab's layer (``KANLayer(in_dim, out_dim, num, k, ...)``)."""

from ..layer import KANLayer

__all__ = ["KANLayer"]

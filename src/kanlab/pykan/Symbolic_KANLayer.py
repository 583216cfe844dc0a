"""pykan's ``kan.Symbolic_KANLayer``: kanlab's symbolic layer (indexed (in, out); a model's ``symbolic_fun`` shows
pykan's (out, in) view)."""

from ..symbolic.layer import SymbolicLayer as Symbolic_KANLayer

__all__ = ["Symbolic_KANLayer"]

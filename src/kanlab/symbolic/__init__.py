"""Symbolic regression on KAN edges.

``library`` (the function table) and ``layer`` (the symbolic edges of one layer) sit below the model; ``fit``
(edge fitting, suggest/fix/auto_symbolic), ``formula`` (sympy formulas, rounding, simplification), ``export``
(LaTeX, NumPy, torch) and ``compile`` (formula -> KAN) sit above it and are imported on use.
"""

from .library import DEFAULT_LIBRARY, SymbolicFunction, SymbolicLibrary

__all__ = ["DEFAULT_LIBRARY", "SymbolicFunction", "SymbolicLibrary"]

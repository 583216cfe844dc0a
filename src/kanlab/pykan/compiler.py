"""pykan's ``kan.compiler``: ``kanpiler(variables, expr)`` builds a KAN that computes a sympy formula."""

from ..symbolic.compile import kanpiler as _kanpiler
from .MultKAN import KAN

__all__ = ["kanpiler"]


def kanpiler(input_variables, expr, grid=None, k=3, auto_save=False):
    """A ``kanlab.pykan.KAN`` computing ``expr`` exactly (sums and compositions; products need KAN 2.0). ``grid``,
    ``k`` and ``auto_save`` are accepted for pykan's signature; the edges are symbolic, so they do not matter."""
    return KAN._adopt(_kanpiler(input_variables, expr), None)

"""pykan's ``kan.LBFGS``: kanlab's L-BFGS (keeps curvature pairs down to y.s > 1e-32, as pykan's does)."""

from ..optim import LBFGS

__all__ = ["LBFGS"]

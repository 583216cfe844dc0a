"""pykan 0.2.8's namespace over kanlab, for notebooks ported by one rule: in the import lines only, replace the
module ``kan`` by ``kanlab.pykan`` (``from kan import *`` -> ``from kanlab.pykan import *``, ``from kan.utils
import ex_round`` -> ``from kanlab.pykan.utils import ex_round``, ``import kan`` -> ``import kanlab.pykan as kan``).

Like pykan's, the star import also brings sympy's names and the usual modules (torch, nn, np, plt, ...). pykan's
habits (in-place edits, activations cached by the last forward) live in this package only; see
:mod:`kanlab.pykan.MultKAN` and the README's "Coming from pykan".
"""

# pykan's star import is sympy's plus its own; sympy first, so that kanlab's names win the clashes pykan's win
from sympy import *  # noqa: F401,F403

import copy  # noqa: E402,F401
import glob  # noqa: E402,F401
import os  # noqa: E402,F401
import random  # noqa: E402,F401

import numpy as np  # noqa: E402,F401
import sympy  # noqa: E402,F401
import torch  # noqa: E402,F401
import torch.nn as nn  # noqa: E402,F401
from tqdm import tqdm  # noqa: E402,F401

try:  # optional in kanlab (the plot extra), always present in pykan
    import matplotlib.pyplot as plt  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    pass
try:
    import pandas as pd  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    import yaml  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from sklearn.linear_model import LinearRegression  # noqa: F401
except ImportError:  # pragma: no cover
    pass

from ..optim import LBFGS  # noqa: E402,F401
from . import hypothesis, spline, utils  # noqa: E402,F401
from .hypothesis import plot_tree  # noqa: E402,F401
from .KANLayer import KANLayer  # noqa: E402,F401
from .MultKAN import KAN, MultKAN  # noqa: E402,F401
from .Symbolic_KANLayer import Symbolic_KANLayer  # noqa: E402,F401
from .spline import B_batch, coef2curve, curve2coef, extend_grid  # noqa: E402,F401
from .utils import *  # noqa: E402,F401,F403  (its __all__: pykan's helpers, f_* included)

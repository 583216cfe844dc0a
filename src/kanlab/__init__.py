"""kanlab: Kolmogorov-Arnold Networks that train as fast as an MLP.

The core workflow keeps pykan's names::

    from kanlab import KAN, create_dataset
    model = KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    model.fit(dataset, opt="LBFGS", steps=20, lamb=0.01, lamb_entropy=10.)
    model = model.prune()
    model = model.refine(10)
"""

import logging as _logging

from .data import create_dataset, create_dataset_from_data
from .discovery import discover
from .fit import fit
from .layer import KANLayer
from .model import KAN, KANConfig
from .optim import LBFGS
from .prune import Attribution, attribute
from .symbolic.formula import ex_round

__all__ = [
    "KAN",
    "KANConfig",
    "KANLayer",
    "Attribution",
    "attribute",
    "create_dataset",
    "create_dataset_from_data",
    "discover",
    "fit",
    "ex_round",
    "LBFGS",
]
__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

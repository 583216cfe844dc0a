"""From data to formulas in one call: :func:`discover`.

    from kanlab import discover
    result = discover(X, y, time_budget=60)
    result.sympy(), result.latex(), result.predict(X_new)
    print(result.table()); result.plot()

The search is scale-free (the data are mapped onto a fixed scale before training, and the formula is mapped
back), chooses by validation error only, and is deterministic for a given seed when it runs to the end (a time
budget can cut the list of candidates short; ``result.skipped`` says which were left out).
"""

from __future__ import annotations

from typing import Sequence

from ..symbolic.library import DEFAULT_LIBRARY
from .data import Data, Scaling, check_data
from .formulas import Discovery, Formula, pareto_front, pick_best
from .search import LIB, POWERS, Candidate, default_candidates, run_search

__all__ = ["discover", "Discovery", "Formula", "Candidate", "Scaling", "Data", "default_candidates", "pareto_front",
           "pick_best", "LIB", "POWERS"]


def discover(X, y, *, feature_names: Sequence[str] | None = None, time_budget: float | None = 60.0, seed: int = 0,
             val_fraction: float = 0.25, candidates: Sequence[Candidate] | None = None,
             max_candidates: int | None = None,
             libs: Sequence[Sequence[str]] = (POWERS, LIB), tolerance: float = 1.5,
             progress: bool = False) -> Discovery:
    """Search formulas y = f(X) with KANs; return the Pareto front of complexity against validation error.

    X: (N, n_features) or (N,), y: (N,) or (N, 1), as numpy, torch, pandas or lists, float32 or float64. Feature
    names come from a DataFrame's columns or ``feature_names`` (default x_1, x_2, ...) and name the formula's
    variables. Rows with NaN or infinite values are dropped with a warning.

    A random ``val_fraction`` of the rows (drawn with ``seed``) is held out; every formula is scored there by its
    RMSE divided by std(y). ``candidates`` defaults to :func:`default_candidates` (run in order, cheapest first);
    ``max_candidates`` keeps the first so many (a budget that does not depend on the machine's speed); after
    ``time_budget`` seconds (None: no limit) no new candidate, stage or training step starts. Each trained KAN is
    snapped once per library in ``libs`` (lists of :data:`kanlab.symbolic.library.DEFAULT_LIBRARY` names): by
    default the powers alone, then a wider library. The best formula is the simplest one on the front whose error
    is at most ``tolerance`` times the lowest (errors below 1e-9 counting as equal); it is flagged ``exact`` when
    its error is below 1e-6. A constant target gives its constant, exact; a candidate that fails is listed in
    ``failures``.
    """
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be a positive number of seconds or None, got {time_budget!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if not tolerance >= 1:
        raise ValueError(f"tolerance must be at least 1, got {tolerance!r}")
    if isinstance(libs, str) or not libs or any(isinstance(lib, str) for lib in libs):
        raise TypeError(f"libs must be a list of lists of function names, got {libs!r}")
    for lib in libs:
        DEFAULT_LIBRARY.subset(lib)  # a ValueError naming an unknown function, before any training
    data = check_data(X, y, feature_names)
    cands = default_candidates(data, seed) if candidates is None else list(candidates)
    if max_candidates is not None:
        if isinstance(max_candidates, bool) or not isinstance(max_candidates, int) or max_candidates < 1:
            raise ValueError(f"max_candidates must be a positive integer or None, got {max_candidates!r}")
        cands = cands[:max_candidates]
    bad = [c for c in cands if not isinstance(c, Candidate)]
    if bad:
        raise TypeError(f"candidates must be kanlab.discovery.Candidate objects, got {bad[0]!r}")
    return run_search(data, cands, time_budget=time_budget, val_fraction=val_fraction, seed=seed,
                      libs=[tuple(lib) for lib in libs],
                      tolerance=tolerance, progress=progress)

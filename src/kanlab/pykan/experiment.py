"""pykan's ``kan.experiment``: a train / prune / refine sweep (``runner1``) and the Pareto frontier of its results."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .MultKAN import KAN

__all__ = ["runner1", "pareto_frontier"]


def runner1(width: Sequence[int], dataset: dict, grids: Sequence[int] = (5, 10, 20), steps: int = 20,
            lamb: float = 0.001, prune_round: int = 3, refine_round: int = 3, edge_th: float = 1e-2,
            node_th: float = 1e-2, metrics: Sequence[Callable] | None = None, seed: int = 1) -> dict[str, np.ndarray]:
    """For each of ``prune_round`` rounds: train with the penalty ``lamb`` and prune, then refine through
    ``grids[:refine_round]``, training after each refinement. Round r > 0 starts again from the model trained and
    pruned in round r - 1 (its version ``'{r-1}.{2r}'``, as pykan numbers versions).

    Returns arrays over every evaluated model: ``test_loss``, ``c`` (active edges), ``G`` (grid), ``id`` (version),
    and one per metric (``metric(model, dataset)``).
    """
    if refine_round > len(grids):
        raise ValueError(f"refine_round={refine_round} needs that many grids, got {list(grids)}")
    result: dict[str, list] = {"test_loss": [], "c": [], "G": [], "id": []}
    for m in metrics or []:
        result[m.__name__] = []

    def collect(model: KAN) -> None:
        ev = model.evaluate(dataset)
        result["test_loss"].append(ev["test_loss"])
        result["c"].append(ev["n_edge"])
        result["G"].append(ev["n_grid"])
        result["id"].append(f"{model.round}.{model.state_id}")
        for m in metrics or []:
            result[m.__name__].append(float(m(model, dataset)))

    model = None
    for r in range(prune_round):
        model = KAN(width=list(width), grid=grids[0], seed=seed) if r == 0 else model.rewind(f"{r - 1}.{2 * r}")
        model.fit(dataset, steps=steps, lamb=lamb)
        model = model.prune(edge_th=edge_th, node_th=node_th)
        collect(model)
        for g in grids[:refine_round]:
            model = model.refine(g)
            model.fit(dataset, steps=steps)
            collect(model)
    return {key: np.array(vals) for key, vals in result.items()}


def pareto_frontier(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points no other point beats in both x and y (lower is better): (x, y, their indices)."""
    x, y = np.asarray(x), np.asarray(y)
    dominated_or_equal = (x[:, None] <= x[None, :]) & (y[:, None] <= y[None, :])  # [a, b]: a at least as good
    ids = np.where(dominated_or_equal.sum(axis=0) == 1)[0]
    return x[ids], y[ids], ids

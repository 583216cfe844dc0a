"""pykan's model versions (``auto_save``, ``rewind``, ``checkout``), kept in memory instead of ``./model``.

pykan 0.2.8 writes a checkpoint after every step of a workflow (fit, fix_symbolic, prune, refine, ...) under an id
``"{round}.{state_id}"`` and logs it in ``history.txt``; ``rewind(id)`` starts a new round from an old version. Here
the versions live in a :class:`Versions` object shared by every model of one lineage (models derived by prune,
refine, rewind or copy), so nothing is written to disk. Two pykan slips are not reproduced: its ``refine`` and
``rewind`` store the model they were called on under the new id, where the id names the refined (rewound) model.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .MultKAN import KAN

log = logging.getLogger(__name__)


class Versions:
    """id -> snapshot (a detached deep copy of the model), and pykan's history log, one line per step."""

    def __init__(self) -> None:
        self.snapshots: dict[str, "KAN"] = {}
        self.lines: list[str] = []

    def __deepcopy__(self, memo: dict) -> "Versions":
        return self  # copies of a model keep writing to its history, as pykan's copies share ./model

    @property
    def ids(self) -> list[str]:
        return list(self.snapshots)

    @property
    def history(self) -> str:
        """pykan's history.txt, as text."""
        return "".join(line + "\n" for line in self.lines)

    def save(self, model: "KAN") -> None:
        model_id = f"{model.round}.{model.state_id}"
        self.snapshots[model_id] = snapshot(model)
        log.info("saving model version %s", model_id)

    def get(self, model_id: str) -> "KAN":
        model_id = str(model_id)
        if model_id not in self.snapshots:
            known = ", ".join(self.snapshots) or "none"
            raise KeyError(f"no model version {model_id!r}; saved versions: {known}")
        restored = snapshot(self.snapshots[model_id])
        restored.versions = self
        return restored


def snapshot(model: "KAN") -> "KAN":
    """A deep copy of ``model`` that does not hold the shared history (so snapshots do not nest)."""
    versions, model.versions = model.versions, None
    try:
        return copy.deepcopy(model)
    finally:
        model.versions = versions


def parse_id(model_id) -> tuple[int, int]:
    """'round.state' -> (round, state); a clear error for anything else."""
    parts = str(model_id).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"a model version is written 'round.state', e.g. '0.3'; got {model_id!r}")
    return int(parts[0]), int(parts[1])

"""Integer arguments: Python, numpy and 0-d integer torch values are integers; bools and floats are not."""

from __future__ import annotations

import operator
from typing import Any


def as_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an int, or a ValueError naming ``name`` (numpy integers from np.arange & co. are accepted)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {out}")
    return out

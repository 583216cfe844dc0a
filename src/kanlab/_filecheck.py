"""Validation of a kanlab file's config against its tensors, before anything is built from it.

A model file may come from anyone. Every field is checked for type, range and size, and every declared shape
against the tensors actually stored, so that a 300-byte file cannot make :func:`kanlab.io.load` allocate gigabytes
or build a half-broken model. Each failure names the field.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import torch

from .nodes import parse_width

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
MAX_ELEMENTS = 1 << 31  # total numbers in one model; far above any KAN that trains
MAX_K = 32
LAYER_PARAMETERS = ("coef", "scale_base", "scale_sp")
_FLOATS = ("noise_scale", "scale_base_mu", "scale_base_sigma", "grid_eps")
_BOOLS = ("sp_trainable", "sb_trainable", "sparse_init")


class ConfigError(ValueError):
    """One field of a file's config is wrong; the message names it."""


def _int(v: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"{field} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _float(v: Any, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{field} must be a finite number, got {v!r}")
    return float(v)


def _choice(v: Any, options, field: str) -> Any:
    if not isinstance(v, str) or v not in options:
        raise ConfigError(f"{field} must be one of {', '.join(sorted(options))}, got {v!r}"[:200])
    return v


def _list(v: Any, field: str, n: int | None = None) -> list:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        want = "a list" if n is None else f"a list of {n}"
        raise ConfigError(f"{field} must be {want}, got {type(v).__name__}{'' if n is None else f' {v!r}'[:80]}")
    return v


def expected_shapes(n_in: list[int], n_out: list[int], grid: list[int], k: list[int]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of a KAN whose layer l maps n_in[l] nodes to n_out[l] subnodes (no allocation)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for l, (a, b, g, kk) in enumerate(zip(n_in, n_out, grid, k)):
        shapes[f"layers.{l}.coef"] = (a, b, g + kk)
        for name in ("scale_base", "scale_sp", "mask"):
            shapes[f"layers.{l}.{name}"] = (a, b)
        shapes[f"layers.{l}.grid"] = (a, g + 2 * kk + 1)
        shapes[f"symbolic.{l}.affine"] = (a, b, 4)
        shapes[f"symbolic.{l}.mask"] = (a, b)
    return shapes


def check(cfg: dict, tensors: dict[str, torch.Tensor], config_fields: tuple[str, ...], base_funs) -> dict:
    """Validate ``cfg`` (a file's parsed JSON config) against ``tensors``; returns the architecture keyword
    arguments for ``KAN(...)`` (with ``dtype`` resolved). Raises :class:`ConfigError` naming the field."""
    _choice(cfg.get("dtype"), DTYPES, "dtype")
    arch = cfg.get("architecture")
    if not isinstance(arch, dict):
        raise ConfigError("architecture must be a JSON object")
    arch = dict(arch)
    arch.pop("extra", None)
    unknown = sorted(set(arch) - set(config_fields))
    if unknown:
        raise ConfigError(f"architecture has unknown field(s) {unknown}")
    width = _list(arch.get("width"), "architecture.width")
    if len(width) < 2:
        raise ConfigError(f"architecture.width needs at least 2 entries, got {width!r}")
    for w in width:
        for v in (w if isinstance(w, list) else [w]):
            _int(v, "architecture.width entry", 0, MAX_ELEMENTS)
    depth = len(width) - 1
    grid = [_int(g, "architecture.grid entry", 1, MAX_ELEMENTS)
            for g in _list(arch.get("grid"), "architecture.grid", depth)]
    k = [_int(v, "architecture.k entry", 1, MAX_K) for v in _list(arch.get("k"), "architecture.k", depth)]
    mult_arity = arch.get("mult_arity", [])
    if mult_arity:
        for row in _list(mult_arity, "architecture.mult_arity", len(width)):
            for a in _list(row, "architecture.mult_arity entry"):
                _int(a, "architecture.mult_arity arity", 2, MAX_ELEMENTS)
    try:
        nodes = parse_width(width, mult_arity or 2)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"architecture.width / mult_arity: {err}"[:300]) from None
    n_in, n_out = [n.n_nodes for n in nodes[:-1]], [n.n_sub for n in nodes[1:]]
    for name in _FLOATS:
        if name in arch:
            _float(arch[name], f"architecture.{name}")
    if not 0.0 <= arch.get("grid_eps", 0.02) <= 1.0:
        raise ConfigError(f"architecture.grid_eps must lie in [0, 1], got {arch['grid_eps']!r}")
    for name in _BOOLS:
        if name in arch and not isinstance(arch[name], bool):
            raise ConfigError(f"architecture.{name} must be true or false, got {arch[name]!r}")
    _choice(arch.get("base_fun", "silu"), base_funs, "architecture.base_fun")
    _choice(arch.get("grid_extend", "ends"), ("ends", "average"), "architecture.grid_extend")
    if "grid_range" in arch:
        lo, hi = (_float(v, "architecture.grid_range") for v in _list(arch["grid_range"], "architecture.grid_range", 2))
        if not lo < hi:
            raise ConfigError(f"architecture.grid_range must be increasing, got {arch['grid_range']!r}")
    if "seed" in arch:
        _int(arch["seed"], "architecture.seed", 0, (1 << 64) - 1)

    shapes = expected_shapes(n_in, n_out, grid, k)
    if sum(math.prod(s) for s in shapes.values()) > MAX_ELEMENTS:
        raise ConfigError(f"architecture declares more than {MAX_ELEMENTS} numbers")
    if set(tensors) != set(shapes):
        raise ConfigError(f"the stored tensors {sorted(set(tensors) ^ set(shapes))} do not match the architecture")
    for key, shape in shapes.items():
        if tuple(tensors[key].shape) != shape:
            raise ConfigError(f"tensor {key} has shape {tuple(tensors[key].shape)}; the architecture declares {shape}")
        if not tensors[key].is_floating_point():
            raise ConfigError(f"tensor {key} holds {tensors[key].dtype}, not floating-point numbers")
    for l in range(depth):
        g = tensors[f"layers.{l}.grid"].double()
        if not torch.isfinite(g).all() or not (g.diff(dim=1) > 0).all():
            raise ConfigError(f"tensor layers.{l}.grid must be finite and strictly increasing along each row")

    layers = _list(cfg.get("layers"), "layers", depth)
    for l, lc in enumerate(layers):
        if not isinstance(lc, dict):
            raise ConfigError(f"layers[{l}] must be a JSON object")
        _float(lc.get("grid_eps"), f"layers[{l}].grid_eps")
        trainable = lc.get("trainable", {})
        if not isinstance(trainable, dict):
            raise ConfigError(f"layers[{l}].trainable must be a JSON object")
        for name, flag in trainable.items():
            if name not in LAYER_PARAMETERS:
                raise ConfigError(f"layers[{l}].trainable names {name!r}; a layer's parameters are "
                                  f"{', '.join(LAYER_PARAMETERS)}")
            if not isinstance(flag, bool):
                raise ConfigError(f"layers[{l}].trainable.{name} must be true or false, got {flag!r}")
    for l, sc in enumerate(_list(cfg.get("symbolic"), "symbolic", depth)):
        if not isinstance(sc, dict):
            raise ConfigError(f"symbolic[{l}] must be a JSON object")
        rows = _list(sc.get("names"), f"symbolic[{l}].names", n_in[l])
        for row in rows:
            if not isinstance(row, list) or len(row) != n_out[l] or not all(isinstance(n, str) for n in row):
                raise ConfigError(f"symbolic[{l}].names must be {n_in[l]} lists of {n_out[l]} names")
    if not isinstance(cfg.get("extra", {}), dict):
        raise ConfigError(f"extra must be a JSON object, got {type(cfg.get('extra')).__name__}")
    return {**arch, "width": width, "mult_arity": [list(n.arity) for n in nodes], "grid": grid, "k": k,
            "dtype": DTYPES[cfg["dtype"]]}


def config_fields(config_cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(config_cls) if f.name != "extra")

"""Save and load KANs: tensors in safetensors, everything else in a JSON config. No pickle: loading runs no code.

Two layouts, chosen by the path given to :func:`save`:
- a single file (any path that is not a folder): the config travels in the safetensors header metadata;
- a folder (an existing directory, or a path ending in '/'): ``model.safetensors`` plus ``config.json``.

Symbolic edges are stored by function *name* with their affine parameters; loading resolves the names in
:data:`kanlab.symbolic.DEFAULT_LIBRARY` (or a library passed to :func:`load`) and names any it cannot find.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from . import _filecheck
from .model import KAN, KANConfig, check_device
from .ops import BASE_FUNCTIONS
from .symbolic.library import DEFAULT_LIBRARY, SymbolicLibrary

__all__ = ["save", "load", "FORMAT_VERSION", "KanFileError"]

FORMAT_VERSION = 1
_CONFIG_KEY = "kanlab_config"
_TENSORS = "model.safetensors"
_CONFIG = "config.json"


class KanFileError(ValueError):
    """A kanlab file that cannot be read: corrupt, truncated, of another format version, or inconsistent."""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _config(model: KAN, extra: dict[str, Any] | None) -> dict[str, Any]:
    cfg = model.config_dict()
    cfg["width"], cfg["grid"], cfg["k"] = model.width_spec, model.grid, model.k
    cfg["mult_arity"] = model.mult_arity
    return {
        "format": "kanlab",
        "format_version": FORMAT_VERSION,
        "dtype": _dtype_name(model.dtype),
        "architecture": cfg,
        "layers": [{"uniform": layer.uniform, "grid_eps": layer.grid_eps, "base_fun": layer.base_fun,
                    "trainable": {n: p.requires_grad for n, p in layer.named_parameters()}}
                   for layer in model.layers],
        "symbolic": [{"names": sym.names} for sym in model.symbolic],
        "extra": extra or {},
    }


def save(model: KAN, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` (a file, or a folder if ``path`` is a directory or ends with '/').

    ``extra``: JSON-serialisable metadata kept with the model (e.g. feature names; default: ``model.extra_``).
    Returns the path written.
    """
    from safetensors.torch import save_file

    extra = model.extra_ if extra is None else extra
    if not isinstance(extra, dict) or not all(isinstance(key, str) for key in extra):
        raise TypeError(f"save: extra must be a dict with string keys (a JSON object), got {extra!r}"[:200])
    cfg = _config(model, extra)
    try:
        text = json.dumps(cfg)
    except TypeError as err:
        raise TypeError(f"save: extra metadata must be JSON-serialisable ({err})") from None
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    p = Path(path)
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        p.mkdir(parents=True, exist_ok=True)
        _atomic(p / _TENSORS, lambda tmp: save_file(tensors, tmp))
        _atomic(p / _CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(cfg, indent=2)))
    else:
        _atomic(p, lambda tmp: save_file(tensors, tmp, metadata={_CONFIG_KEY: text}))
    return p


def _file_mode(target: Path) -> int:
    """The permissions a plain open() would give: the existing file's, else 0666 less the umask."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o777
    umask = 0o022
    with contextlib.suppress(OSError, ValueError, StopIteration):  # Linux shows it without changing it
        with open("/proc/self/status") as f:
            umask = int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    return 0o666 & ~umask


def _atomic(target: Path, write) -> None:
    """write(tmp) to a temporary file beside ``target``, flush it to disk, then rename it over ``target``: a crash
    or a full disk mid-save leaves the previous file intact."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode(target))  # mkstemp's 0600 would make the saved model private
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    if path.is_dir():
        tensor_file, cfg_file = path / _TENSORS, path / _CONFIG
        if not tensor_file.is_file() or not cfg_file.is_file():
            raise KanFileError(f"{path} is a folder but lacks {_TENSORS} or {_CONFIG}")
        try:
            cfg = json.loads(cfg_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise KanFileError(f"{cfg_file} is not valid JSON ({err})") from None
    else:
        if not path.is_file():
            raise FileNotFoundError(f"no kanlab model at {path}")
        tensor_file, cfg = path, None
    try:
        with safe_open(str(tensor_file), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for bad headers and short files
        raise KanFileError(f"{tensor_file} is not a readable safetensors file (corrupt or truncated): {err}") from None
    if cfg is None:
        if _CONFIG_KEY not in meta:
            raise KanFileError(f"{path} is a safetensors file without a kanlab config")
        try:
            cfg = json.loads(meta[_CONFIG_KEY])
        except json.JSONDecodeError as err:
            raise KanFileError(f"{path}: the kanlab config is not valid JSON ({err})") from None
    return cfg, tensors


def load(path: str | os.PathLike, library: SymbolicLibrary | None = None,
         device: torch.device | str | None = None) -> KAN:
    """Read a model written by :func:`save`. Raises KanFileError for corrupt, truncated or foreign files."""
    p = Path(path)
    cfg, tensors = _read(p)
    if not isinstance(cfg, dict) or cfg.get("format") != "kanlab":
        raise KanFileError(f"{p} is not a kanlab model file")
    version = cfg.get("format_version")
    if version != FORMAT_VERSION:
        raise KanFileError(f"{p} has format version {version!r}; this kanlab reads version {FORMAT_VERSION}")
    try:
        kwargs = _filecheck.check(cfg, tensors, _filecheck.config_fields(KANConfig), BASE_FUNCTIONS)
    except _filecheck.ConfigError as err:
        raise KanFileError(f"{p}: {err}") from None
    layers_cfg, sym_cfg = cfg["layers"], cfg["symbolic"]
    lib = DEFAULT_LIBRARY if library is None else DEFAULT_LIBRARY.merged(library)
    missing = sorted({n for s in sym_cfg for row in s["names"] for n in row if n not in lib})
    if missing:
        raise KanFileError(f"{p} uses symbolic function(s) {missing} that are not in the library; pass "
                           "library=DEFAULT_LIBRARY.with_function(...) to load it")
    check_device(device)  # a bad device is the caller's mistake, not the file's: raised as such
    try:
        model = KAN(device=device, **kwargs)
    except (TypeError, ValueError) as err:  # a combination the checks above let through
        raise KanFileError(f"{p}: inconsistent kanlab config ({type(err).__name__}: {err})") from None
    model.load_state_dict(tensors)  # copies into the model's own dtype
    for layer, lc, sym, sc in zip(model.layers, layers_cfg, model.symbolic, sym_cfg):
        # "uniform" is written for readers of the file; the layer derives it from the loaded grid
        layer.grid_eps = float(lc["grid_eps"])
        for name, flag in lc.get("trainable", {}).items():
            getattr(layer, name).requires_grad_(bool(flag))
        sym.library = lib
        sym.names = [list(row) for row in sc["names"]]
        sym._groups = None
    model.extra_ = dict(cfg.get("extra", {}))
    return model

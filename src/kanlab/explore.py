"""An interactive, self-contained HTML view of a trained KAN, and the replay of the choices made in it.

:func:`explore` writes one HTML document: the diagram (edges drawn by importance, symbolic edges coloured,
variable names), and for a clicked edge its activation curve over the data with the data's histogram, the top
symbolic candidates ranked as ``suggest_symbolic`` ranks them (with the fitted candidate overlaid), the formula, the
attribution scores and a variable search. Choices made in the page (this edge is ``sin``, cut this node, remove
this edge) are exported as a JSON patch or a Python snippet; :func:`apply_choices` replays a patch on a model. The
page needs no server, no network and no live kernel: scripts, styles and data are inlined, and curves are drawn
from sampled values embedded in the page, only when an edge is opened.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from .model import KAN
from .plot import _mode, edge_curves, edge_scores
from .prune import attribute

__all__ = ["explore", "explore_data", "apply_choices", "PATCH_VERSION", "MAX_CANDIDATE_EDGES"]

PATCH_VERSION = 1
MAX_CANDIDATE_EDGES = 50  # symbolic candidates are fitted for at most this many edges, the most important first
# (about 1 s per edge with the 29-function default library on one CPU core: pass lib= to narrow it)
_POINTS = 48  # samples per curve
_BINS = 16  # histogram bins
_OPS = ("fix_symbolic", "unfix_symbolic", "remove_edge", "remove_node")


def _r(v: float) -> float | None:
    """4 significant digits (the page's size grows with every digit), None for NaN/inf (JSON has neither)."""
    v = float(v)
    return float(f"{v:.4g}") if math.isfinite(v) else None


def _rs(t: Tensor) -> list:
    return [_r(v) for v in t.detach().double().flatten().tolist()]


def _names(values: Sequence | None, n: int, prefix: str) -> list[str]:
    if values is None:
        return [f"{prefix}_{i + 1}" for i in range(n)]
    if len(values) != n:
        raise ValueError(f"explore: expected {n} names for the {'inputs' if prefix == 'x' else 'outputs'}, got "
                         f"{len(values)}")
    return [str(v) for v in values]


@torch.no_grad()
def explore_data(model: KAN, x: Tensor | None = None, in_vars: Sequence | None = None,
                 out_vars: Sequence | None = None, lib=None, topk: int = 5,
                 max_candidate_edges: int = MAX_CANDIDATE_EDGES, title: str | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (see :func:`explore`)."""
    from tqdm.auto import tqdm

    from .symbolic.fit import _rank, _resolve_lib, edge_samples

    x = model.data_or_fit_input(x, "explore", required=False)
    library = _resolve_lib(lib)
    in_vars = _names(in_vars if in_vars is not None else model.extra_.get("features"), model.width[0], "x")
    out_vars = _names(out_vars, model.width[-1], "y")
    attr = attribute(model, x) if x is not None else None
    scores = edge_scores(model, "backward", x, attribution=attr)
    node_scores = [_rs(s) for s in attr.node_scores] if attr is not None else None
    acts = model.layer_inputs(x) if x is not None else None
    edges = []
    for l in range(model.depth):
        xs, ys = edge_curves(model, l, x, n=_POINTS, layer_x=acts[l] if acts is not None else None)
        sym = model.symbolic[l]
        for i in range(model.width[l]):
            hist = lo = hi = None
            if acts is not None:
                col = acts[l][:, i].double()
                col = col[torch.isfinite(col)]
                if col.numel():
                    lo, hi = float(col.min()), float(col.max())
                    hist = torch.histc(col, bins=_BINS, min=lo, max=hi if hi > lo else lo + 1).int().tolist()
            for j in range(model.width_out[l + 1]):
                mode = _mode(model, l, i, j)
                if mode is None:
                    continue
                edges.append({"l": l, "i": i, "j": j, "score": _r(scores[l][i, j]), "mode": mode,
                              "fun": sym.names[i][j] if "s" in mode else None, "x": _rs(xs[:, i]),
                              "y": _rs(ys[:, i, j]), "hist": hist, "lo": _r(lo) if lo is not None else None,
                              "hi": _r(hi) if hi is not None else None, "cands": None})
    if x is not None and topk > 0:
        ranked = sorted(edges, key=lambda e: -(e["score"] or 0.0))[:max_candidate_edges]
        samples = {}
        for e in tqdm(ranked, desc="symbolic candidates", disable=not progress):
            if e["l"] not in samples:
                samples[e["l"]] = edge_samples(model, e["l"], x)
            inputs, values = samples[e["l"]]
            try:
                found = _rank(inputs[:, e["i"]], values[:, e["i"], e["j"]], library, 0.8, topk)
            except ValueError:  # samples outside every function's domain, or not finite
                continue
            xs = torch.tensor(e["x"], dtype=torch.float64)
            cands = []
            for s in found:
                a, b, c, d = s.params
                fn = library[s.name] if s.name in library else None
                curve = c * fn.torch_fn(a * xs + b) + d if fn is not None else torch.full_like(xs, d)
                cands.append({"name": s.name, "r2": _r(s.r2), "complexity": _r(s.complexity), "score": _r(s.score),
                              "params": [_r(p) for p in s.params], "y": _rs(curve)})
            e["cands"] = cands
    formula: dict[str, str] = {}
    try:
        import sympy

        exprs, _ = model.symbolic_formula(var=[sympy.Symbol(v) for v in in_vars])
        formula = {"text": "\n".join(f"{o} = {sympy.sstr(ex)}" for o, ex in zip(out_vars, exprs)),
                   "latex": "\n".join(f"{o} = {sympy.latex(ex)}" for o, ex in zip(out_vars, exprs))}
    except ValueError as err:  # numeric edges left: the page says so and shows the candidates instead
        formula = {"error": str(err)}
    nodes = model.nodes
    return {
        "version": PATCH_VERSION, "title": title or f"KAN {model.width_spec}", "width": model.width,
        "width_out": model.width_out,
        "sub_to_node": [n.sub_to_node() for n in nodes],
        "mult": [[k >= n.n_sum for k in range(n.n_nodes)] for n in nodes],
        "in_vars": in_vars, "out_vars": out_vars, "node_scores": node_scores, "edges": edges, "formula": formula,
        "has_data": x is not None, "library": list(library),
        "candidates_for": min(len(edges), max_candidate_edges) if x is not None and topk > 0 else 0,
    }


def _asset(name: str) -> str:
    return resources.files("kanlab").joinpath("_explorer", name).read_text(encoding="utf-8")


def _fragment(data: Mapping[str, Any]) -> str:
    """A <div> with its own styles, data and script; several can live on one page (a notebook's outputs)."""
    root = f"kanlab-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (f'<div class="kanlab-explorer" id="{root}"><style>{_asset("explorer.css")}</style>'
            f'<script type="application/json" class="kanlab-data">{payload}</script>'
            f'<div class="kx-app"><noscript>The kanlab explorer needs JavaScript.</noscript></div>'
            f'<script>{_asset("explorer.js")}\nkanlabExplorer(document.getElementById("{root}"));</script></div>')


def explore(model: KAN, x: Tensor | None = None, path: str | Path | None = None, in_vars: Sequence | None = None,
            out_vars: Sequence | None = None, lib=None, topk: int = 5,
            max_candidate_edges: int = MAX_CANDIDATE_EDGES, title: str | None = None,
            progress: bool = False) -> str:
    """The model as one self-contained HTML document (returned; also written to ``path`` when given).

    x: data for the curves' ranges, histograms, attribution and candidates (default: the last fit's inputs;
    without data the curves span the grids and no candidates are fitted). lib, topk: the candidates, ranked as
    ``suggest_symbolic`` ranks them; fitted for the ``max_candidate_edges`` most important edges (about 1 s an edge
    with the whole default library here; ``progress=True`` shows a bar). The page's size grows by about 1 kB per
    edge plus 0.5 kB per candidate.
    """
    data = explore_data(model, x, in_vars, out_vars, lib, topk, max_candidate_edges, title, progress)
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(data['title'])}</title></head><body>{_fragment(data)}</body></html>\n")
    if path is not None:
        Path(path).write_text(doc, encoding="utf-8")
    return doc


def repr_html(model: KAN) -> str:
    """The notebook view (``KAN._repr_html_``): the explorer as a fragment, without symbolic candidates, so that
    displaying a model stays instant (``model.explore()`` fits them)."""
    return _fragment(explore_data(model, topk=0))


def _edge(choice: Mapping, key: str, length: int) -> list[int]:
    where = choice.get(key)
    if not isinstance(where, (list, tuple)) or len(where) != length or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in where):
        raise ValueError(f"apply_choices: {choice.get('op')!r} needs {key!r} as a list of {length} integers, got "
                         f"{where!r}")
    return list(where)


def apply_choices(model: KAN, patch: Mapping | str, x: Tensor | None = None) -> KAN:
    """A new model with the explorer's choices applied in order; ``model`` is left as it is.

    patch: the page's JSON export (a dict or its text): ``{"version": 1, "choices": [{"op": "fix_symbolic",
    "edge": [l, i, j], "fun": "sin"}, {"op": "remove_node", "node": [l, i]}, ...]}``. Indices refer to the model
    the page showed (removing a node or an edge keeps the widths; call ``prune()`` afterwards to drop what no
    longer matters). x: data for fix_symbolic's fits (default: the model's last fit inputs).
    Raises ValueError naming the first bad choice; nothing is applied to ``model`` in any case.
    """
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except json.JSONDecodeError as err:
            raise ValueError(f"apply_choices: the patch is not JSON ({err})") from None
    if not isinstance(patch, Mapping) or not isinstance(patch.get("choices"), list):
        raise ValueError("apply_choices: expected {'version': 1, 'choices': [...]} (the explorer's export)")
    if patch.get("version") != PATCH_VERSION:
        raise ValueError(f"apply_choices: patch version {patch.get('version')!r}; this kanlab reads {PATCH_VERSION}")
    new = model.copy()
    for n, choice in enumerate(patch["choices"]):
        if not isinstance(choice, Mapping) or choice.get("op") not in _OPS:
            raise ValueError(f"apply_choices: choice {n} must be a dict with 'op' one of {list(_OPS)}, got "
                             f"{choice!r}"[:300])
        op = choice["op"]
        try:
            if op == "remove_node":
                new = new.remove_node(*_edge(choice, "node", 2))
                continue
            l, i, j = _edge(choice, "edge", 3)
            if op == "fix_symbolic":
                if not isinstance(choice.get("fun"), str):
                    raise ValueError("fix_symbolic needs 'fun', a library function's name")
                new.fix_symbolic(l, i, j, choice["fun"], x=x if x is not None else model.fit_input_)
            elif op == "unfix_symbolic":
                new.unfix_symbolic(l, i, j)
            else:
                new = new.remove_edge(l, i, j)
        except (ValueError, IndexError, KeyError, TypeError) as err:
            raise ValueError(f"apply_choices: choice {n} ({json.dumps(choice)[:200]}): {err}") from None
    return new

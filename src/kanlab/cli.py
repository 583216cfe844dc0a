"""The ``kanlab`` command: demo, fit, predict, formula, plot.

User errors (a missing file or column, a bad CSV, a corrupt model) print one line to stderr and exit with status
2, without a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import torch

__all__ = ["main", "read_csv"]


class UserError(Exception):
    """An error in what the user asked for: reported in one line, no traceback."""


def read_csv(path: str, columns: Sequence[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """A numeric CSV with a header row -> (column names, (rows, columns) float64 tensor).

    ``columns``: keep only these, in this order (each must exist).
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such file: {path}")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel's UTF-8 CSV) is not part of a name
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text CSV file") from None
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise UserError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise UserError(f"{path}: duplicate column names in the header {header}")
    if len(rows) < 2:
        raise UserError(f"{path} has a header but no data rows")
    wanted = list(columns) if columns is not None else header
    missing = [c for c in wanted if c not in header]
    if missing:
        raise UserError(f"{path}: column(s) {missing} not found; columns are {header}")
    idx = [header.index(c) for c in wanted]
    values = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{path}, line {n}: {len(row)} fields, the header has {len(header)}")
        try:
            vals = [float(row[i]) for i in idx]
        except ValueError:
            bad = next(i for i in idx if not _is_float(row[i]))
            raise UserError(f"{path}, line {n}, column {header[bad]!r}: {row[bad]!r} is not a number") from None
        if not all(math.isfinite(v) for v in vals):
            raise UserError(f"{path}, line {n}: NaN or inf in the data")
        values.append(vals)
    return wanted, torch.tensor(values, dtype=torch.float64)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _check_out(path: str, what: str, folder_ok: bool = False) -> None:
    """Fail before any work if ``path`` cannot be written: its folder must exist and be writable; ``path`` itself
    may be an existing folder only when ``folder_ok`` (a model saved in the folder layout)."""
    target = Path(path).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {what} to {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {what} to {path}: the folder {folder} is not writable")
    if target.is_dir() and not folder_ok:
        raise UserError(f"cannot write {what} to {path}: it is a folder")


def _load(path: str):
    from .io import KanFileError, load

    try:
        return load(path)
    except FileNotFoundError:
        raise UserError(f"no such model: {path}") from None
    except KanFileError as err:
        raise UserError(str(err)) from None


def _features(model, data: str) -> torch.Tensor:
    names = model.extra_.get("features")
    if names is None:
        raise UserError("this model was not saved by `kanlab fit`: it does not know its input columns")
    _, x = read_csv(data, names)
    return x.to(model.dtype)


# ---------------------------------------------------------------------------------------------------- commands
def _cmd_demo(args) -> int:
    from .demo import main as demo

    return demo(["--out", args.out])


def _cmd_fit(args) -> int:
    from .model import KAN

    if args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    if not (math.isfinite(args.lamb) and args.lamb >= 0):
        raise UserError(f"--lamb must be a finite number >= 0, got {args.lamb}")
    _check_out(args.out, "the model", folder_ok=True)  # before training: a finished fit must not be lost to a bad path
    header, table = read_csv(args.data)
    if args.target not in header:
        raise UserError(f"{args.data}: target column {args.target!r} not found; columns are {header}")
    features = args.features or [c for c in header if c != args.target]
    unknown = [c for c in features if c not in header]
    if unknown:
        raise UserError(f"{args.data}: feature column(s) {unknown} not found; columns are {header}")
    if args.target in features:
        raise UserError(f"the target {args.target!r} cannot also be a feature")
    x = table[:, [header.index(c) for c in features]]
    y = table[:, [header.index(args.target)]]
    if x.shape[0] < 4:
        raise UserError(f"{args.data}: {x.shape[0]} rows are too few to train on")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(args.seed))
    n_test = max(1, x.shape[0] // 5)
    te, tr = perm[:n_test], perm[n_test:]
    data = {"train_input": x[tr], "train_label": y[tr], "test_input": x[te], "test_label": y[te]}
    width = [len(features), *args.width, 1]
    model = KAN(width=width, grid=args.grid, k=args.k, seed=args.seed, dtype=torch.float64)
    if args.resume and not args.checkpoint:
        raise UserError("--resume continues from --checkpoint; pass it too")
    if args.checkpoint_every < 1:
        raise UserError(f"--checkpoint-every must be at least 1, got {args.checkpoint_every}")
    kw = {}
    if args.distributed or args.checkpoint:
        kw = dict(distributed=args.distributed, checkpoint=args.checkpoint,
                  checkpoint_every=args.checkpoint_every if args.checkpoint else None, resume=args.resume or None)
    try:
        hist = model.fit(data, steps=args.steps, lamb=args.lamb, progress=args.progress, **kw)
    except RuntimeError as err:
        if args.distributed and "process group" in str(err):
            raise UserError(str(err)) from None
        raise
    if not hist["test_loss"]:
        raise UserError("training produced NaN/inf at its first step (are the data's magnitudes extreme?); "
                        "nothing was saved")
    from .distributed import is_main

    if not is_main():  # the other ranks hold the same model: rank 0 alone writes it
        return 0
    extra = {"features": features, "target": args.target}
    try:
        model.save(args.out, extra=extra)
    except OSError as err:  # the path was checked, but the disk can still fail: keep the trained model
        import tempfile

        fd, rescue = tempfile.mkstemp(suffix=".kan", prefix="kanlab-")
        os.close(fd)
        model.save(rescue, extra=extra)
        raise UserError(f"could not write {args.out} ({err.strerror or err}); the trained model was saved to "
                        f"{rescue} instead") from None
    print(f"trained KAN {width} on {len(tr)} rows; test RMSE {hist['test_loss'][-1]:.4g}; saved to {args.out}")
    return 0


def _cmd_predict(args) -> int:
    if args.out:
        _check_out(args.out, "the predictions")
    model = _load(args.model)
    x = _features(model, args.data)
    with torch.no_grad():
        pred = model(x)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow([model.extra_.get("target", "prediction")])
        w.writerows([[f"{v:.10g}"] for v in pred[:, 0].tolist()])
    finally:
        if args.out:
            out.close()
    return 0


def _cmd_formula(args) -> int:
    import sympy

    model = _load(args.model)
    names = model.extra_.get("features")
    var = [sympy.Symbol(n) for n in names] if names else None
    if args.auto:
        x = _features(model, args.auto)
        if x.shape[0] < 2:
            raise UserError(f"{args.auto}: --auto fits each edge to its samples and needs at least 2 rows, "
                            f"got {x.shape[0]}")
        model.fit_input_ = x
        model.auto_symbolic()
    try:
        exprs, _ = model.symbolic_formula(var=var, simplify=True)
    except ValueError as err:
        raise UserError(f"{err} (or pass --auto DATA.csv to fit them here)") from None
    for e in exprs:
        print(sympy.latex(e) if args.latex else e)
    return 0


def _cmd_explore(args) -> int:
    if args.max_candidate_edges < 0:
        raise UserError(f"--max-candidate-edges must be >= 0, got {args.max_candidate_edges}")
    _check_out(args.out, "the page")
    model = _load(args.model)
    x = _features(model, args.data) if args.data else None
    model.explore(x, path=args.out, max_candidate_edges=args.max_candidate_edges)
    print(f"wrote {args.out}")
    return 0


def _cmd_plot(args) -> int:
    _check_out(args.out, "the picture")
    model = _load(args.model)
    x = _features(model, args.data) if args.data else None
    names = model.extra_.get("features")
    model.plot(x=x, in_vars=names, out_vars=[model.extra_["target"]] if "target" in model.extra_ else None,
               path=args.out)
    print(f"saved {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kanlab", description="Kolmogorov-Arnold Networks: train, inspect, explain.")
    ap.add_argument("--threads", type=int, metavar="N",
                    help="threads for torch and kanlab's kernels in this process (default: torch's choice, all "
                         "cores); when several commands run at once, give each its share, e.g. cores / commands")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the seed workflow (train, prune, refine, formula, picture)")
    p.add_argument("--out", default=".", help="folder for kanlab-demo.png (default: .)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("fit", help="train a KAN on a CSV file with a header row")
    p.add_argument("data", help="CSV file; every used column must be numeric")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--features", nargs="+", help="input columns (default: every other column)")
    p.add_argument("--width", type=int, nargs="+", default=[5], help="hidden layer sizes (default: 5)")
    p.add_argument("--grid", type=int, default=5, help="grid intervals (default: 5)")
    p.add_argument("--k", type=int, default=3, help="spline order (default: 3)")
    p.add_argument("--steps", type=int, default=50, help="LBFGS steps (default: 50)")
    p.add_argument("--lamb", type=float, default=0.0, help="sparsity penalty (default: 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--out", default="model.kan", help="where to save the model (default: model.kan)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes torchrun starts: torchrun --nproc_per_node=N -m kanlab "
                        "fit ... --distributed (rank 0 saves and prints)")
    p.add_argument("--checkpoint", help="write the training state here every --checkpoint-every steps")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="N", help="steps between checkpoints (10)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint when it exists")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="predict the target for the rows of a CSV file")
    p.add_argument("model"), p.add_argument("data")
    p.add_argument("--out", help="write the predictions here instead of stdout")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("formula", help="print the model's formula")
    p.add_argument("model")
    p.add_argument("--latex", action="store_true", help="print LaTeX")
    p.add_argument("--auto", metavar="DATA.csv", help="first snap numeric edges to library functions on this data")
    p.set_defaults(func=_cmd_formula)

    p = sub.add_parser("explore", help="write an interactive HTML page of the model (no server needed)")
    p.add_argument("model")
    p.add_argument("-o", "--out", default="model.html", help="the HTML file (default: model.html)")
    p.add_argument("--data", help="CSV with the input columns: curve ranges, histograms, symbolic candidates")
    p.add_argument("--max-candidate-edges", type=int, default=50, metavar="N",
                   help="fit symbolic candidates for the N most important edges (default: 50)")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("plot", help="draw the network diagram to an image file")
    p.add_argument("model"), p.add_argument("out", help="image file, e.g. net.png")
    p.add_argument("--data", help="CSV with the input columns, to score edges and set curve ranges")
    p.set_defaults(func=_cmd_plot)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be a positive integer, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)  # this is kanlab's own process: its thread settings are ours to set
    try:
        return args.func(args)
    except UserError as err:
        print(f"kanlab: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as err:  # bad values the library rejected (width, grid, ...)
        print(f"kanlab: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `kanlab predict ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

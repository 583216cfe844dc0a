"""KAN 2.0 tools side by side: kanlab and pykan 0.2.8 on the same inputs; writes results/kan2_vs_pykan.md.

    python benchmarks/compare_kan2.py

Each row runs one tool of each library on identical data (same tensors, same function) and prints both outputs:
separability, symmetry, the tree converter, formulas of multiplication nodes (pykan issue #404), the compiler, and
the multiplication-node workflow of pykan's "Hello, MultKAN" tutorial (x*y from data). pykan writes ./model
checkpoints, so the script runs in a temporary folder.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import sympy
import torch

RESULTS = Path(__file__).parent / "results" / "kan2_vs_pykan.md"


def quiet(fn, *args, **kwargs):
    """fn(*args) with pykan's prints and progress bars swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def show(v) -> str:
    """pykan's outputs in plain form: 0-d tensors as values, numpy integers as ints."""
    if isinstance(v, torch.Tensor):
        return str(v.item()) if v.ndim == 0 else f"per-sample tensor, mean {float(v.float().mean()):.3f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(e) for e in v) + "]"
    return str(int(v)) if hasattr(v, "dtype") and "int" in str(v.dtype) else str(v)


def rows() -> list[tuple[str, str, str]]:
    import kan.hypothesis as ph
    from kan import MultKAN as PykanKAN
    from kan.compiler import kanpiler as p_kanpiler
    from kan.utils import create_dataset as p_create_dataset

    import kanlab.pykan.hypothesis as kh
    from kanlab import KAN
    from kanlab.data import create_dataset
    from kanlab.symbolic.compile import kanpiler

    out = []
    gen = torch.Generator().manual_seed(0)
    x3 = torch.rand(200, 3, generator=gen) * 2 - 1

    f = lambda x: torch.sin(x[:, [0]]) + x[:, [1]] * x[:, [2]]  # noqa: E731
    out.append(("detect_separability(sin(x1)+x2*x3, 'add'): groups",
                show(quiet(ph.detect_separability, f, x3, "add")["groups"]),
                str(kh.detect_separability(f, x3, "add")["groups"])))
    f = lambda x: torch.exp(x[:, [0]]) * torch.sin(x[:, [1]] + 2.0) * (x[:, [2]] + 2)  # noqa: E731
    out.append(("detect_separability(exp(x1)*sin(x2+2)*(x3+2), 'mul'): groups",
                show(quiet(ph.detect_separability, f, x3, "mul")["groups"]),
                str(kh.detect_separability(f, x3, "mul")["groups"])))
    f = lambda x: torch.sin(x[:, [0]] ** 2 + x[:, [1]] ** 2) + x[:, [2]]  # noqa: E731
    for group in ([0, 1], [0, 2]):
        out.append((f"test_symmetry(g(x1^2+x2^2)+x3, {group})", show(quiet(ph.test_symmetry, f, x3, group)),
                    str(kh.test_symmetry(f, x3, group))))
    x6 = torch.rand(100, 6, generator=gen) * 2 - 1
    f = lambda x: (x[:, [0]] + x[:, [1]]) * (x[:, [2]] + x[:, [3]]) * (x[:, [4]] + x[:, [5]])  # noqa: E731
    for groups in ([[0, 1], [2, 3], [4, 5]], [[0, 1], [2, 4], [3, 5]]):
        out.append((f"test_separability((x1+x2)(x3+x4)(x5+x6), {groups}, 'mul')",
                    show(quiet(ph.test_separability, f, x6, groups, "mul")),
                    str(kh.test_separability(f, x6, groups, "mul"))))
    g = lambda x: torch.sin(f(x))  # noqa: E731
    out.append(("test_general_separability(sin((x1+x2)(x3+x4)(x5+x6)), pairs)",
                show(quiet(ph.test_general_separability, g, x6, [[0, 1], [2, 3], [4, 5]])),
                str(kh.test_general_separability(g, x6, [[0, 1], [2, 3], [4, 5]]))))
    a, b, c = sympy.symbols("a b c")
    f = lambda x: x[:, [0]] * torch.sqrt(1 + (x[:, [1]] / x[:, [2]]) ** 2)  # noqa: E731
    xs = torch.rand(100, 3, generator=gen) + 1.0
    for var in (b / c, b * c):
        out.append((f"test_symmetry_var(a*sqrt(1+(b/c)^2), {var})",
                    show(quiet(ph.test_symmetry_var, f, xs, [a, b, c], var)),
                    str(kh.test_symmetry_var(f, xs, [a, b, c], var))))
    x8 = torch.rand(100, 8, generator=gen) * 2 - 1
    f = lambda x: ((x[:, [0]] ** 2 + x[:, [1]] ** 2) ** 2 + (x[:, [2]] ** 2 + x[:, [3]] ** 2) ** 2) ** 2 + \
        ((x[:, [4]] ** 2 + x[:, [5]] ** 2) ** 2 + (x[:, [6]] ** 2 + x[:, [7]] ** 2) ** 2) ** 2  # noqa: E731
    p_mol = quiet(ph.get_molecule, f, x8, verbose=False)
    out.append(("get_molecule(nested sums of squares, 8 inputs)", str(p_mol), str(kh.get_molecule(f, x8))))
    out.append(("get_tree_node(same): properties",
                str(quiet(ph.get_tree_node, f, x8, p_mol, skip_test=False)[1]),
                str(kh.get_tree_node(f, x8, kh.get_molecule(f, x8), sep_th=1e-1, skip_test=False)[1])))

    # formulas of multiplication nodes (pykan issue #404): every edge i -> subnode i the identity
    for width, arity, target in (([3, [0, 1], 1], 3, lambda t: t.prod(dim=1)),
                                 ([5, [0, 2], 1], [[], [2, 3], []],
                                  lambda t: t[:, 0] * t[:, 1] + t[:, 2] * t[:, 3] * t[:, 4])):
        n = width[0]
        xt = torch.rand(20, n, generator=gen) * 2 - 1
        pm = quiet(PykanKAN, width=copy.deepcopy(width), mult_arity=copy.deepcopy(arity), seed=0, auto_save=False)
        km = KAN(width=width, mult_arity=arity, seed=0)
        for model, fix, flag in ((pm, pm.fix_symbolic, "fit_params_bool"), (km, km.fix_symbolic, "fit_params")):
            for l, (n_in, n_out) in enumerate([(n, n), (width[1][1], 1)]):
                for i in range(n_in):
                    for j in range(n_out):
                        quiet(fix, l, i, j, "x" if (l == 1 or i == j) else "0", **{flag: False})
        cells = []
        for model in (pm, km):
            with torch.no_grad():
                err = float((model(xt)[:, 0] - target(xt)).abs().max())
            formula = sympy.simplify(quiet(model.symbolic_formula)[0][0])
            fn = sympy.lambdify(sympy.symbols(f"x_1:{n + 1}"), formula, "numpy")
            f_err = float(abs(torch.as_tensor(fn(*xt.double().numpy().T)) - target(xt.double())).max())
            cells.append(f"model error {err:.0e}; formula {formula} (error {f_err:.0e})")
        out.append((f"{width}, mult_arity {arity}, identity edges", *cells))

    x, y, z = sympy.symbols("x y z")
    for expr in (x * y * z, sympy.sin(x) * sympy.exp(y) + z):
        pts = torch.rand(50, 3, generator=gen) * 2 - 1
        ref = sympy.lambdify((x, y, z), expr, "numpy")(*pts.double().numpy().T)
        cells = []
        for compile_ in (lambda: p_kanpiler([x, y, z], expr), lambda: kanpiler([x, y, z], expr)):
            try:
                model = quiet(compile_)
                with torch.no_grad():
                    err = float((model(pts)[:, 0].double() - torch.as_tensor(ref)).abs().max())
                cells.append(f"width {getattr(model, 'width_spec', model.width)}, max error {err:.1e}")
            except Exception as e:  # a failure is a result here
                cells.append(f"fails: {type(e).__name__}: {str(e)[:60]}")
        out.append((f"kanpiler({expr})", *cells))

    # surgery on a numeric model: does the function survive?
    xs2 = torch.rand(50, 2, generator=gen) * 2 - 1
    for name, edit in (("expand_width(1, 1)", lambda m: m.expand_width(1, 1)),
                       ("expand_depth()", lambda m: m.expand_depth())):
        cells = []
        for make, in_place in ((lambda: quiet(PykanKAN, width=[2, 3, 1], seed=0, auto_save=False), True),
                               (lambda: KAN(width=[2, 3, 1], seed=0), False)):
            model = make()
            with torch.no_grad():
                before = model(xs2)
            try:
                result = quiet(edit, model)
                grown = model if in_place else result
                with torch.no_grad():
                    cells.append(f"output changes by {float((grown(xs2) - before).abs().max()):.2g}")
            except Exception as e:  # a failure is a result here
                cells.append(f"fails: {type(e).__name__}: {str(e)[:50]}")
        out.append((f"{name} on a numeric [2,3,1] model", *cells))

    # pykan's Interp_1 workflow: x*y from data with a [2,[5,2],1] model
    def workflow(make, ds):
        t0 = time.perf_counter()
        model = make()
        quiet(model.fit, ds, steps=20, lamb=0.01, lamb_coef=1.0)
        model = quiet(model.prune)
        quiet(model.fit, ds, steps=20)
        quiet(model.auto_symbolic)
        quiet(model.fit, ds, steps=20)
        formula = quiet(model.symbolic_formula)[0][0]
        from kanlab.symbolic.formula import ex_round
        return sympy.nsimplify(ex_round(ex_round(formula, 3), 3)), time.perf_counter() - t0

    torch.set_default_dtype(torch.float64)
    try:
        ds = p_create_dataset(lambda t: t[:, [0]] * t[:, [1]], n_var=2, seed=0)
        from kanlab.pykan import KAN as AdapterKAN

        pf, pt = workflow(lambda: PykanKAN(width=[2, [5, 2], 1], base_fun="identity", seed=1), ds)
        kf, kt = workflow(lambda: AdapterKAN(width=[2, [5, 2], 1], base_fun="identity", seed=1), ds)
        out.append(("Hello-MultKAN workflow on x*y (formula)", str(pf), str(kf)))
        out.append(("  ... its time", f"{pt:.1f} s", f"{kt:.1f} s ({pt / kt:.1f}x less)"))
    finally:
        torch.set_default_dtype(torch.float32)
    del create_dataset
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # pykan writes ./model
        try:
            table = rows()
        finally:
            os.chdir(here)
    lines = ["| tool, input | pykan 0.2.8 | kanlab |", "|---|---|---|"]
    lines += [f"| {name} | {p} | {k} |".replace("\n", " ") for name, p, k in table]
    text = ("# KAN 2.0 tools: pykan 0.2.8 and kanlab on the same inputs\n\n"
            f"Written by `benchmarks/compare_kan2.py` (Python {sys.version.split()[0]}, torch {torch.__version__}).\n\n"
            + "\n".join(lines) + "\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""kanlab against pykan 0.2.8 in one run: a training step, and the whole seed workflow (time per stage, RMSE).

Both run in this one process (kanlab first, so it also pays any first-use costs), from model construction to the
fit after auto_symbolic, with pykan's defaults.

    python benchmarks/bench_vs_pykan.py            # writes benchmarks/results/vs_pykan.md

pykan is a benchmark-only dependency (`pip install pykan==0.2.8 pandas pyyaml`); it runs in a temporary folder
because it writes ./model there, and the global RNG state is restored after it reseeds it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_layer import race, train_step  # noqa: E402

from kanlab import KAN, create_dataset  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "vs_pykan.md"


@contextlib.contextmanager
def pykan_sandbox():
    """Run pykan in a temporary folder, silence its prints, and restore the global RNG it reseeds."""
    cwd, state = os.getcwd(), torch.get_rng_state()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        os.chdir(tmp)
        os.makedirs("model", exist_ok=True)
        try:
            yield
        finally:
            os.chdir(cwd)
            torch.set_rng_state(state)


def step_row(reps: int, inner: int) -> tuple[str, str, str, str, str]:
    try:
        from kan import KAN as PyKAN
    except ImportError:
        return ("KAN [8,64,64,1] training step vs pykan", "-", "pykan not installed", "-", ">= 10x faster")
    with pykan_sandbox():
        theirs = PyKAN(width=[8, 64, 64, 1], grid=5, k=3, seed=0, auto_save=False).speed()
        ours = KAN([8, 64, 64, 1], grid=5, k=3, seed=0)
        gen = torch.Generator().manual_seed(1)
        x = torch.rand(1000, 8, generator=gen) * 2 - 1
        y = x.sin().sum(1, keepdim=True)
        to, tt, r = race(train_step(ours, x, y), train_step(theirs, x, y), reps, inner)
    return ("KAN [8,64,64,1] G=5 B=1000, Adam training step, vs pykan 0.2.8 with speed()",
            f"{to * 1e3:.2f} ms", f"{tt * 1e3:.2f} ms", f"{1 / r:.1f}x faster", ">= 10x faster")


LIB = ["x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs"]
STAGES = ("fit 20 (sparsified)", "prune", "fit 50", "refine(10)", "fit 50 ", "auto_symbolic", "fit 50 (symbolic)")


def seed_workflow(kan_cls, dataset, **kw) -> tuple[float, float, float, list, list[float]]:
    """The README's whole chain, from model construction to the fit after auto_symbolic: (wall time, test RMSE
    after refine, final test RMSE, width after prune, seconds per stage)."""
    marks = [time.perf_counter()]
    model = kan_cls(width=[2, 5, 1], grid=5, k=3, seed=0, **kw)
    model.fit(dataset, opt="LBFGS", steps=20, lamb=0.01, lamb_entropy=10.0)
    marks.append(time.perf_counter())
    model = model.prune()
    marks.append(time.perf_counter())
    model.fit(dataset, opt="LBFGS", steps=50)
    marks.append(time.perf_counter())
    model = model.refine(10)
    marks.append(time.perf_counter())
    hist = model.fit(dataset, opt="LBFGS", steps=50)
    marks.append(time.perf_counter())
    if kan_cls is not KAN:
        model(dataset["train_input"])  # pykan snaps edges using the activations cached by the last forward
    model.auto_symbolic(lib=LIB)
    marks.append(time.perf_counter())
    final = model.fit(dataset, opt="LBFGS", steps=50)
    marks.append(time.perf_counter())
    width = model.width if isinstance(model.width[0], int) else [w[0] for w in model.width]
    stages = [b - a for a, b in zip(marks, marks[1:])]
    return marks[-1] - marks[0], float(hist["test_loss"][-1]), float(final["test_loss"][-1]), width, stages


def main() -> int:
    torch.set_num_threads(2)
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    rows = [step_row(5, 5)]
    ds = create_dataset(f, n_var=2, dtype=torch.float64, seed=0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # pykan builds its parameters in the default dtype
    try:
        t_ours, refined_ours, final_ours, w_ours, st_ours = seed_workflow(KAN, ds, dtype=torch.float64)
        from kan import KAN as PyKAN

        with pykan_sandbox():
            t_theirs, refined_theirs, final_theirs, w_theirs, st_theirs = seed_workflow(PyKAN, ds)
    except ImportError:
        rows.append(("seed workflow vs pykan", f"{t_ours:.1f} s", "pykan not installed", "-", "-"))
    else:
        rows.append(("seed workflow, whole chain (fit 20 sparsified + prune + fit 50 + refine(10) + fit 50 + "
                     "auto_symbolic + fit 50), float64, wall time from model construction",
                     f"{t_ours:.1f} s", f"{t_theirs:.1f} s", f"{t_theirs / t_ours:.1f}x faster", ">= 15x faster"))
        for name, a, b in zip(STAGES, st_ours, st_theirs):
            rows.append((f"  stage: {name.strip()}", f"{a:.2f} s", f"{b:.2f} s", f"{b / max(a, 1e-9):.1f}x", "-"))
        rows.append(("seed workflow: test RMSE after refine / after the symbolic fit / width after prune",
                     f"{refined_ours:.2e} / {final_ours:.1e} / {w_ours}",
                     f"{refined_theirs:.2e} / {final_theirs:.1e} / {w_theirs}", "-", "< 1e-3"))
    finally:
        torch.set_default_dtype(old)
    text = "\n".join([
        "# kanlab vs pykan 0.2.8",
        "",
        f"`python benchmarks/bench_vs_pykan.py`, 2 CPU threads, torch {torch.__version__}; same data, same seeds.",
        "",
        "| figure | kanlab | pykan | ratio | target |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(r)} |" for r in rows],
        "",
    ])
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The README's snippets run as written: every ```python block in order, in one namespace, in an empty folder, and
the command-line block with a small CSV as data.csv."""

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import sympy

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_python_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = _blocks("python")
    assert len(blocks) >= 5
    try:
        for n, code in enumerate(blocks):
            if "distributed=True" in code:  # a torchrun script: test_distributed_snippet_runs_under_torchrun
                continue
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - this test runs the docs
            if n == 0:  # the quick start: the numbers and the formula its comments promise
                rmse, formula = printed.getvalue().strip().splitlines()
                assert 1e-4 < float(rmse) < 1e-3, rmse  # "about 5e-4" (seed 0, as written)
                assert formula == "exp(x_2**2 + sin(pi*x_1))"
                assert namespace["model"].width == [2, 1, 1]
                assert namespace["history"]["test_loss"][-1] == float(rmse)
            if "discover(X, y" in code:  # the discover block: its printed formula, and the front
                assert printed.getvalue().splitlines()[0] == "40*m*v**2 - 7 True"
                assert "| best | 8 |" in printed.getvalue()
            if "mult_arity=3" in code:  # the multiplication-node block
                assert printed.getvalue().strip() == "x_1*x_2*x_3"
            if "KANRegressor(hidden_width=()" in code:  # the scikit-learn block
                r2 = float(printed.getvalue().splitlines()[0])
                assert r2 > 0.999, r2  # "about 1.0"
                expr = namespace["reg"].sympy()[0]
                pts = np.random.default_rng(1).uniform(-1, 1, (20, 2))
                fn = sympy.lambdify(sorted(expr.free_symbols, key=str), expr, "numpy")
                np.testing.assert_allclose(fn(pts[:, 0], pts[:, 1]), np.sin(np.pi * pts[:, 0]) + pts[:, 1] ** 2,
                                           atol=1e-3)  # the snapped formula is the target
                proba = namespace["clf"].predict_proba(namespace["X"][:3])
                np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    finally:
        import torch

        torch.set_default_dtype(torch.float32)  # the quick start switches to float64
    assert os.listdir(tmp_path) == ["kanlab-demo.png"]  # the quick start's explicit path=..., nothing else


def test_distributed_snippet_runs_under_torchrun(tmp_path):
    (code,) = [b for b in _blocks("python") if "distributed=True" in b]
    (tmp_path / "train.py").write_text(code)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["model.kan", "run.ckpt", "train.py"]  # rank 0 alone saved


def test_command_line_snippet_runs(tmp_path):
    (block,) = [b for b in _blocks("bash") if "kanlab fit" in b and "torchrun" not in b]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    np.savetxt(tmp_path / "data.csv", np.column_stack([x, np.sin(3 * x[:, 0]) + x[:, 1] ** 2]), delimiter=",",
               header="a,b,y", comments="")
    kanlab = shutil.which("kanlab", path=os.path.dirname(sys.executable)) or shutil.which("kanlab")
    assert kanlab, "the kanlab entry point is not installed"
    for line in block.strip().splitlines():
        cmd = line.split("#")[0].strip().replace("--steps 50", "--steps 10")
        out = subprocess.run(cmd.replace("kanlab", kanlab, 1), shell=True, cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, f"{cmd}: {out.stderr}"
    assert {"kanlab-demo.png", "kanlab-demo.html", "model.kan", "predictions.csv", "net.png",
            "model.html"} <= set(os.listdir(tmp_path))

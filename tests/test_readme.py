"""The README's snippets run as written: every ```python block in order, in one namespace, in an empty folder, and
the command-line block with a small CSV as data.csv."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_python_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = _blocks("python")
    assert len(blocks) >= 5
    try:
        for code in blocks:
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - this test runs the docs
    finally:
        import torch

        torch.set_default_dtype(torch.float32)  # the quick start switches to float64
    assert os.listdir(tmp_path) == ["kanlab-demo.png"]  # the quick start's explicit path=..., nothing else


def test_command_line_snippet_runs(tmp_path):
    (block,) = [b for b in _blocks("bash") if "kanlab fit" in b]
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
    assert {"kanlab-demo.png", "model.kan", "predictions.csv", "net.png"} <= set(os.listdir(tmp_path))

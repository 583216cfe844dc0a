"""examples/paper: every script's --quick mode runs, and its loose check holds (asserted inside the script: the
grid-extension slope below -2, the PDE's L2 error squared below 1e-3, region 1 after phase 5 within 10x its error
after phase 1, finite and small errors on a special function and a Feynman equation). Quick runs write no files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper"


@pytest.mark.parametrize("script", ["scaling.py", "pde.py", "continual.py", "special.py", "feynman_fit.py"])
def test_quick_mode(script, tmp_path):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")  # one core each: xdist runs two
    out = subprocess.run([sys.executable, str(PAPER / script), "--quick"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| " in out.stdout and "[quick]" in out.stdout  # it printed its table
    assert os.listdir(tmp_path) == []
    assert not (PAPER / "__pycache__").exists()

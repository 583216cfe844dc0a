"""Plant the hardening review's eight workflow bugs (issue 18) one at a time and check that the suite catches each
without pykan: each bug is a one-line edit of the source, the suite runs with -x (test_vs_pykan.py and
test_pykan_compat.py left out, as on a machine without pykan), and the source is restored afterwards.

    python scripts/plant_bugs.py        # about 3 minutes per bug on 2 cores; prints one line per bug
"""
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[1]
M = [
 ("prune passes node_th as the edge threshold", "src/kanlab/prune.py",
  "return prune_edge(prune_node(model, node_th, x=x, by=by), edge_th, x=x)",
  "return prune_edge(prune_node(model, node_th, x=x, by=by), node_th, x=x)"),
 ("attribution ignores symbolic edges", "src/kanlab/prune.py",
  "    parts = sym.edge_values(x)\n", "    parts = []\n"),
 ("prune(by='activation') looks only at incoming edges", "src/kanlab/prune.py",
  "scores.append(torch.minimum(incoming[l - 1], stds[l].amax(dim=1)))",
  "scores.append(incoming[l - 1])"),
 ("load drops the requires_grad flags", "src/kanlab/io.py",
  "getattr(layer, name).requires_grad_(bool(flag))", "pass"),
 ("KANRegressor.auto_symbolic skips its refit", "src/kanlab/sklearn.py",
  "        if refit_steps:\n", "        if False:\n"),
 ("random_state is ignored", "src/kanlab/sklearn.py",
  "dtype, seed = self._torch_dtype(), self._seed()", "dtype, seed = self._torch_dtype(), 0"),
 ("fit never updates the grid", "src/kanlab/fit.py",
  "                model.update_grid(xb)\n", "                pass\n"),
 ("attribution not normalised by the node's std", "src/kanlab/prune.py",
  "edge = e.unsqueeze(0) * (spec.to_subnodes(score) / (s + 1e-4)).unsqueeze(1)",
  "edge = e.unsqueeze(0) * spec.to_subnodes(score).unsqueeze(1)"),
]
for name, path, old, new in M:
    p = root / path
    src = p.read_text()
    assert src.count(old) >= 1, (name, old)
    p.write_text(src.replace(old, new, 1))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:warnings", "-q", "-n", "2",
                            "-x", "--ignore=tests/test_vs_pykan.py", "--ignore=tests/test_pykan_compat.py",
                            "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, timeout=900)
        failed = [l.split(" ")[1] for l in r.stdout.splitlines() if l.startswith("FAILED")]
        print(f"{name}: {'caught by ' + ', '.join(failed) if failed else 'NOT caught (rc %d)' % r.returncode}", flush=True)
    finally:
        p.write_text(src)

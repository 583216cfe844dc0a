"""benchmarks/bench_feynman.py --quick: the ten QUICK equations through kanlab.discover on a short budget.

The test limits the search by candidates (the first: a product of one function per input), not by seconds, so that
a busy machine gives the same result; the wall-clock budget (600 s) is only a guard. The assertion is loose: that
candidate alone recovers the 7 products of the 10 on this machine.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("sympy")


def _bench(name: str = "bench_feynman"):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the tree
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


def test_quick_mode_recovers_most_of_ten(tmp_path, capsys):
    bench = _bench()
    out = tmp_path / "feynman.md"
    assert bench.main(["--quick", "--methods", "kanlab", "--candidates", "1", "--budget", "600", "--rows", "300",
                       "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert len(rows) == 10
    exact = sum(" | yes | " in row for row in rows)
    summary = next(line for line in text.splitlines() if line.startswith("| kanlab |"))
    assert summary.startswith(f"| kanlab | {exact}/10 | {10 * exact}% |")
    assert exact >= 4, text
    assert not list(tmp_path.glob("*.jsonl"))  # --quick keeps no cache unless asked


def test_scoring_rules():
    import numpy as np
    import sympy

    bench = _bench()
    from kanlab.feynman import get_equation

    eq = get_equation("I.12.1")
    mu, n = eq.variables
    right = bench.score(eq, n * mu, lambda x: x[:, 0] * x[:, 1])
    assert right == {"symbolic": True, "rel": right["rel"], "exact": True} and right["rel"] < 1e-15
    close = bench.score(eq, None, lambda x: x[:, 0] * x[:, 1] * (1 + 1e-8))
    assert close["exact"] and not close["symbolic"]
    off = bench.score(eq, 1.001 * n * mu, lambda x: 1.001 * x[:, 0] * x[:, 1])
    assert not off["exact"] and 5e-4 < off["rel"] < 2e-3
    assert bench.relative_rmse(np.array([np.nan, 1.0]), np.array([0.0, 1.0])) == float("inf")
    assert bench.family("II.3.24") == "II" and bench.family("Jackson 2.11") == "bonus"
    assert not bench.symbolically_equal(sympy.Integer(1), eq.expr)


def test_a_run_past_the_cap_is_stopped_and_not_exact(monkeypatch):
    import time

    bench = _bench()

    def stalls(*_):
        time.sleep(30)

    monkeypatch.setitem(bench.RUNNERS, "pykan", stalls)
    t0 = time.monotonic()
    row = bench.run_one(("I.12.1", "pykan", 0.5, None, 50))  # the cap: 2 x 0.5 s, rounded up to 1 s
    assert time.monotonic() - t0 < 10
    assert row["exact"] is False and row["rel"] == float("inf") and row["formula"] is None
    assert row["error"] == f"TimeoutError: stopped at {bench.CAP:g} x the budget ({bench.CAP * 0.5:g} s)"


def test_kinds_of_formula():
    import sympy

    bench = _bench()
    from kanlab.feynman import EQUATIONS

    a, b, c = sympy.symbols("a b c", positive=True)
    assert bench.kind(2 * sympy.pi * a ** 2 / (b * sympy.sqrt(c))) == "product of powers"
    assert bench.kind(a * sympy.sin(b) * sympy.exp(-c ** 2)) == "product of functions of one input"
    assert bench.kind(a * sympy.cos(b - c)) == "function of a combination of inputs"
    assert bench.kind(a / sympy.sqrt(1 - b ** 2 / c ** 2)) == "sum inside a product or power"
    assert bench.kind(sympy.sqrt(a ** 2 + b ** 2)) == "sum inside a product or power"
    assert bench.kind(a * b + c) == "sum or other"
    counts = {k: sum(bench.kind(eq.expr) == k for eq in EQUATIONS.values()) for k in bench.KINDS}
    assert sum(counts.values()) == 120 and counts["product of powers"] == 38
    assert [bench.inputs_class(n) for n in (1, 2, 3, 4, 5, 9)] == ["1-2 inputs"] * 2 + ["3-4 inputs"] * 2 + \
        ["5+ inputs"] * 2


def test_bench_symmetry_scores_and_reports_a_known_ratio():
    bench_symmetry = _bench("bench_symmetry")
    rows = bench_symmetry.scores("I.34.10")  # omega_0 / (1 - v/c): v and c enter only through v/c
    by_pair = {(r[1], r[2], r[3]): r for r in rows}
    assert by_pair[("ratio", "v", "c")][4] < 1e-4 and by_pair[("ratio", "omega_0", "c")][4] > 0.1
    text = bench_symmetry.report(rows)
    assert "A pair has a symmetry when its score from the exact gradient is below 0.0001: 1 of" in text
    assert "| ratio | 1 |" in text

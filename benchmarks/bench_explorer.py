"""The explorer's pages: size, time to build, and load time in headless Chromium (from the browser's own navigation
timing), for a small model, the pruned seed model and a 110-edge model; and the README's screenshot.

    python benchmarks/bench_explorer.py            # writes benchmarks/results/explorer.md and docs/explorer.png

Needs Debian's chromium and chromium-driver and selenium (the dev extra).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.dont_write_bytecode = True  # importing tests/browser.py must not leave a __pycache__ in the tree

from browser import chromium, click, console_errors, load_ms  # noqa: E402

from kanlab import KAN, create_dataset  # noqa: E402

LIB = ["x", "x^2", "x^3", "exp", "log", "sqrt", "tanh", "sin", "abs"]  # the demo's library
RESULTS = ROOT / "benchmarks" / "results" / "explorer.md"
SHOT = ROOT / "docs" / "explorer.png"


def models():
    def f(x):
        return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)

    data = {k: v.double() for k, v in create_dataset(f, n_var=2, seed=0).items()}
    small = KAN(width=[2, 5, 1], grid=5, seed=0, dtype=torch.float64)
    small.fit(data, steps=20, lamb=0.01, lamb_entropy=10.0)
    pruned = small.prune()
    pruned.fit(data, steps=50)
    pruned = pruned.refine(10)
    pruned.fit(data, steps=50)
    wide = KAN(width=[10, 10, 1], grid=5, seed=0, dtype=torch.float64)
    xw = torch.rand(1000, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    wide.fit({"train_input": xw, "train_label": torch.sin(xw).sum(1, keepdim=True), "test_input": xw[:100],
              "test_label": torch.sin(xw[:100]).sum(1, keepdim=True)}, steps=5)
    return [("[2,5,1] after sparsification (15 edges)", small, None, 50),
            ("pruned seed model [2,1,1] after refine(10) (3 edges)", pruned, data["train_input"], 50),
            ("[10,10,1] (110 edges)", wide, None, 50)]


def main() -> None:
    driver = chromium()
    lines = ["# The explorer's pages", "",
             "Page size, time to build (`model.explore`, candidates from the demo's 9-function library for up to 50 "
             "edges) and load time in headless Chromium (navigation timing, median of 5 loads) on this machine.",
             "", "| model | edges | with candidates | page size | build | load |", "|---|---|---|---|---|---|"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, model, x, cap in models():
                t0 = time.perf_counter()
                html = model.explore(x, lib=LIB, max_candidate_edges=cap)
                build = time.perf_counter() - t0
                path = Path(tmp) / "page.html"
                path.write_text(html)
                loads = []
                for _ in range(5):
                    driver.get(path.as_uri())
                    loads.append(load_ms(driver))
                hits = driver.find_elements("css selector", "path.kx-hit")
                errors = console_errors(driver)
                if errors:
                    raise SystemExit(f"{name}: console errors {errors}")
                n_cands = min(len(hits), cap)
                lines.append(f"| {name} | {len(hits)} | {n_cands} | {len(html.encode()) / 1024:.0f} kB | "
                             f"{build:.1f} s | {statistics.median(loads):.0f} ms |")
                print(lines[-1], flush=True)
                if name.startswith("pruned"):  # the README's screenshot: an edge selected, its candidates shown
                    click(driver, driver.find_element("css selector", 'path.kx-hit[data-edge="0,0,0"]'))
                    driver.set_window_size(1280, 800)
                    SHOT.parent.mkdir(exist_ok=True)
                    driver.save_screenshot(str(SHOT))
    finally:
        driver.quit()
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS} and {SHOT}")


if __name__ == "__main__":
    main()

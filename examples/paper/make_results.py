"""Collect the full-mode tables of examples/paper/results/*.md into examples/paper/RESULTS.md.

    python examples/paper/make_results.py
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["scaling", "pde", "continual", "special", "feynman_fit"]

INTRO = """# The KAN paper's results, rerun with kanlab

Each section is the full-mode output of one script in this folder (`python examples/paper/<name>.py`, on the
2-core CPU machine kanlab is developed on), with the paper's figure beside kanlab's own in the text. Where a result
does not reproduce, the section says so. `make_results.py` assembles this file from `results/`; the figures are in
`results/` too.

In short (the numbers are in the sections below):
- **Grid extension:** reproduces in shape. The KAN's test error falls steeply while G grows to 20, close to the
  G^-4 law. It then levels off near 1e-6, so the fit up to the best grid is shallower than the paper's -4. Every
  MLP plateaus two to three orders of magnitude higher.
- **PDE:** does not reproduce. The KAN [2,10,1] reaches a smaller error than pykan's own tutorial, but the
  L-BFGS-trained MLP [2,100,100,100,1] is more accurate still, with 27x the parameters. The paper reports the
  reverse.
- **Continual learning:** reproduces. The KAN keeps every earlier peak; the MLP forgets them by orders of
  magnitude.
- **Special functions and Feynman equations:** reproduce. Per family, the smallest good KAN has a lower test error
  than the smallest good MLP on every target. It usually has fewer parameters too, though not always.
"""


def main() -> None:
    parts = [INTRO]
    for name in ORDER:
        path = HERE / "results" / f"{name}.md"
        if not path.exists():
            parts.append(f"## {name}\n\nNot run yet: `python examples/paper/{name}.py`.\n")
            continue
        text = path.read_text().replace("](" + name, "](results/" + name)
        parts.append("#" + text.replace("](../../../", "](../../"))
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()

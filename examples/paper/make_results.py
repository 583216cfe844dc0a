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

"""pykan's own tutorial notebooks, run under pykan 0.2.8 and under kanlab.pykan: does each run end to end, how long.

The notebooks are not part of kanlab. Point the script at a checkout of KindXiaoming/pykan (a work tree, or a bare
git directory, read at HEAD):

    python benchmarks/bench_notebooks.py /path/to/pykan             # both libraries, writes results/notebooks.md
    python benchmarks/bench_notebooks.py /path/to/pykan --lib kanlab --only API_1 Example_1

Each notebook's code cells become one script. Shell (`!`) and magic (`%`) lines are dropped, matplotlib draws to
the Agg backend, and `plt.show()` does nothing. For kanlab the porting rule of the README's "Coming from pykan"
section is applied to import lines only (`from kan...` -> `from kanlab.pykan...`, `import kan` ->
`import kanlab.pykan as kan`); nothing else changes. Each script runs in its own process, in a fresh temporary
folder (pykan writes ./model and ./figures there), with a time limit. A notebook passes if the script exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "notebooks.md"
FOLDERS = ("tutorials/API_demo", "tutorials/Example")  # the default set; --folders picks others (Interp, Physics)

_FROM_KAN = re.compile(r"^(\s*)from\s+kan(\.[\w.]+)?\s+import\b")
_IMPORT_KAN = re.compile(r"^(\s*)import\s+kan(\.[\w.]+)?\s*(?:as\s+(\w+))?\s*$")


def port_line(line: str) -> str:
    """The porting rule, applied to one line: only imports of the module `kan` change.

    >>> port_line("from kan.utils import ex_round")
    'from kanlab.pykan.utils import ex_round'
    >>> port_line("import kan")
    'import kanlab.pykan as kan'
    """
    m = _FROM_KAN.match(line)
    if m:
        return f"{m.group(1)}from kanlab.pykan{m.group(2) or ''} import" + line[m.end():]
    m = _IMPORT_KAN.match(line)
    if m:
        alias = m.group(3) or ("kan" if m.group(2) is None else None)
        if alias is None:  # `import kan.utils` binds the name `kan`; keep that binding under the new package
            return f"{m.group(1)}import kanlab.pykan{m.group(2)}; import kanlab.pykan as kan"
        return f"{m.group(1)}import kanlab.pykan{m.group(2) or ''} as {alias}"
    return line


def notebook_script(source: str, port: bool) -> str:
    """One notebook's code cells as a Python script (shell and magic lines dropped)."""
    cells = json.loads(source)["cells"]
    out = ["import matplotlib; matplotlib.use('Agg')", "import matplotlib.pyplot as _plt; _plt.show = lambda *a, **k: None"]
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in text.splitlines():
            if line.lstrip().startswith(("%", "!")):
                line = line[: len(line) - len(line.lstrip())] + "pass"
            out.append(port_line(line) if port else line)
        out.append("")
    return "\n".join(out) + "\n"


def list_notebooks(repo: Path, folders: tuple[str, ...] = FOLDERS) -> dict[str, str]:
    """name -> notebook JSON, from a work tree or a bare git directory."""
    found: dict[str, str] = {}
    if (repo / "tutorials").is_dir():
        for folder in folders:
            for p in sorted((repo / folder).glob("*.ipynb")):
                found[p.stem] = p.read_text()
        return found
    names = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-z", "--name-only", "HEAD",
                            *[f + "/" for f in folders]],
                           capture_output=True, text=True, check=True).stdout.split("\0")  # names may hold spaces
    for name in sorted(n for n in names if n.endswith(".ipynb")):
        found[Path(name).stem] = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{name}"],
                                                capture_output=True, text=True, check=True).stdout
    return found


@dataclass
class Outcome:
    ok: bool
    seconds: float
    error: str


def run_script(script: str, timeout: float) -> Outcome:
    """Run a script in a fresh temporary folder; its last error line if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notebook.py"
        path.write_text(script)
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(path)], cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(False, time.perf_counter() - t0, f"over the {timeout:.0f} s limit")
        seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        return Outcome(True, seconds, "")
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return Outcome(False, seconds, lines[-1].strip() if lines else f"exit {proc.returncode}")


def natural_key(name: str) -> tuple:
    head, _, num = name.partition("_")
    digits = re.match(r"\d+", num)
    return (head, int(digits.group()) if digits else 0, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path, help="pykan checkout (work tree or bare git directory)")
    ap.add_argument("--lib", choices=("pykan", "kanlab", "both"), default="both")
    ap.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. API_1 Example_3")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per notebook per library")
    ap.add_argument("--folders", nargs="*", help="tutorial folders instead of API_demo and Example, e.g. Interp "
                    "Physics")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    folders = tuple(f"tutorials/{f}" for f in args.folders) if args.folders else FOLDERS
    notebooks = list_notebooks(args.repo, folders)
    names = sorted(notebooks, key=natural_key)
    if args.only:
        names = [n for n in names if any(n == o or n.startswith(o + "_") for o in args.only)]
    libs = ("pykan", "kanlab") if args.lib == "both" else (args.lib,)
    rows: list[tuple[str, dict[str, Outcome]]] = []
    for name in names:
        outcomes = {}
        for lib in libs:
            outcomes[lib] = run_script(notebook_script(notebooks[name], port=lib == "kanlab"), args.timeout)
            o = outcomes[lib]
            print(f"{name:40s} {lib:7s} {'ok' if o.ok else 'FAIL':4s} {o.seconds:7.1f} s  {o.error[:100]}",
                  flush=True)
        rows.append((name, outcomes))
    write_table(rows, libs, args.out)


def write_table(rows: list[tuple[str, dict[str, Outcome]]], libs: tuple[str, ...], out: Path) -> None:
    def cell(o: Outcome) -> str:
        return f"runs, {o.seconds:.1f} s" if o.ok else f"fails ({o.seconds:.1f} s): `{o.error[:90]}`"

    head = ["notebook", *[("pykan 0.2.8" if lib == "pykan" else "kanlab.pykan") for lib in libs]]
    if libs == ("pykan", "kanlab"):
        head.append("time, kanlab / pykan")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, outcomes in rows:
        cols = [name, *[cell(outcomes[lib]) for lib in libs]]
        if libs == ("pykan", "kanlab"):
            p, k = outcomes["pykan"], outcomes["kanlab"]
            cols.append(f"{k.seconds / p.seconds:.2f}" if p.ok and k.ok else "-")
        lines.append("| " + " | ".join(cols) + " |")
    lines.append("")
    for lib in libs:
        n_ok = sum(o[lib].ok for _, o in rows)
        lines.append(f"{'pykan 0.2.8' if lib == 'pykan' else 'kanlab.pykan'}: {n_ok} of {len(rows)} run end to end.")
    if libs == ("pykan", "kanlab"):
        both = [(o["pykan"].seconds, o["kanlab"].seconds) for _, o in rows if o["pykan"].ok and o["kanlab"].ok]
        lost = [name for name, o in rows if o["pykan"].ok and not o["kanlab"].ok]
        if both:
            tp, tk = sum(p for p, _ in both), sum(k for _, k in both)
            lines.append(f"Where both run ({len(both)} notebooks): {tp:.0f} s under pykan, {tk:.0f} s under "
                         f"kanlab.pykan ({tp / tk:.1f}x less time; every notebook faster: "
                         f"{'yes' if all(k < p for p, k in both) else 'no'}).")
        lines.append(f"Run by pykan but not by kanlab.pykan: {', '.join(lost) if lost else 'none'}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# pykan's tutorial notebooks under pykan 0.2.8 and kanlab.pykan\n\n"
                   "Written by `benchmarks/bench_notebooks.py` (each notebook run in its own process, one after the "
                   "other, on this machine).\n\n" + "\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

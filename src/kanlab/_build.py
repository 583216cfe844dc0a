"""Build the native kernels once per machine into a per-user cache, and load them from there.

The first process that needs the kernels compiles ``_native/kernels.c`` (the float and double halves as two
translation units, in parallel) with the system C compiler and stores the shared library in the cache folder;
every later process loads it in milliseconds. This is what torch extensions, Triton and numba do. It beats building
at install time because the library is tuned for the CPU it runs on (``-march=native``): a wheel built at install
time lands in pip's wheel cache and would be reused on another machine (SIGILL), an editable install would go
stale when the C source changes, and an install would fail outright on a machine without a compiler.

- Folder: ``$KANLAB_CACHE_DIR``, else the platform's cache folder (``$XDG_CACHE_HOME/kanlab``, ``~/.cache/kanlab``;
  ``~/Library/Caches/kanlab`` on macOS; ``%LOCALAPPDATA%/kanlab/cache`` on Windows).
- Key: a hash of the C sources, the compiler command (``$CC`` may hold arguments, e.g. ``ccache gcc``), the
  compiler binary (path, size, mtime), the flags and the CPU (architecture, model, feature flags). A change in any
  of them builds a new library beside the old ones.
- Safe under concurrency: builds happen under a file lock, into a private file that is renamed into place, and a
  sidecar records the library's SHA-256, checked before every load, so a truncated or corrupt library is rebuilt,
  never loaded.
- Failures never stop kanlab: a folder that cannot be written falls back to a private temporary build; a folder
  on a ``noexec`` file system, a missing compiler or a failed build log one warning naming the cause, and the
  layers use the torch path.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

log = logging.getLogger("kanlab.native")

SRC = Path(__file__).parent / "_native"
SOURCES = ("kernels.c", "kernels_impl.h", "pool.h")
PARTS = ("32", "64")  # kernels.c is compiled once per dtype (-DKANLAB_ONLY=32 / 64), in parallel
FORMAT = 2  # bump when the cache layout changes

# (compile flags, link flags), first choice first: tuned for this CPU, threaded (pool.h), vector exp from libmvec;
# else a portable serial build. -fno-strict-aliasing: the kernels load float rows through GCC vector types.
Build = tuple[list[str], list[str]]
BUILDS: list[Build] = [
    (["-O3", "-march=native", "-fopenmp-simd", "-pthread", "-fno-math-errno", "-fno-strict-aliasing", "-fPIC"],
     ["-pthread", "-lmvec", "-lm"]),
    (["-O3", "-fno-math-errno", "-fno-strict-aliasing", "-fPIC", "-DKANLAB_PORTABLE"], ["-lm"]),
]


class BuildError(RuntimeError):
    """The compiler failed or could not run; the message carries its output."""


def cache_dir() -> Path:
    """The folder that holds the built kernels (not created here)."""
    env = os.environ.get("KANLAB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "kanlab" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "kanlab"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kanlab"


def compiler() -> list[str] | None:
    """The C compiler command: ``$CC`` split like a shell would (``ccache gcc`` works), else cc, gcc or clang."""
    cc = os.environ.get("CC", "").strip()
    if cc:
        return shlex.split(cc)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _file_identity(word: str) -> str:
    path = shutil.which(word)
    if path is None:
        return word
    st = os.stat(path)
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def _cpu_identity() -> str:
    """What -march=native depends on: the architecture and, on Linux, the CPU model and its feature flags."""
    parts = [platform.machine(), platform.system()]
    with contextlib.suppress(OSError):
        seen = set()
        with open("/proc/cpuinfo") as f:
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags", "Features", "CPU part") and key not in seen:
                    seen.add(key)
                    parts.append(line.strip())
    return "\n".join(parts)


def cache_key(cc: Sequence[str], build: Build) -> str:
    """A hex digest that changes with the sources, the compiler, its flags and the CPU."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((SRC / name).read_bytes())
    h.update(json.dumps([FORMAT, list(cc), [_file_identity(w) for w in cc], build, PARTS]).encode())
    h.update(_cpu_identity().encode())
    return h.hexdigest()[:24]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _noexec(folder: Path) -> bool:
    st_noexec = getattr(os, "ST_NOEXEC", None)
    if st_noexec is None:
        return False
    try:
        return bool(os.statvfs(folder).f_flag & st_noexec)
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) between processes; a no-op where flock is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: the rename below is still atomic, at worst two processes build
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def compile_library(cc: Sequence[str], build: Build, out: Path) -> list[str]:
    """Compile the kernels into the shared library ``out``; returns the link command. Raises BuildError."""
    cflags, ldflags = build
    objs = [out.with_name(f"{out.name}.{p}.o") for p in PARTS]
    cmds = [[*cc, *cflags, f"-DKANLAB_ONLY={p}", "-c", str(SRC / "kernels.c"), "-o", str(o)]
            for p, o in zip(PARTS, objs)]
    link = [*cc, *cflags, "-shared", *map(str, objs), "-o", str(out), *ldflags]
    try:
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
        errs = [p.communicate(timeout=300)[1] for p in procs]
        if any(p.returncode for p in procs):
            raise BuildError("\n".join(e[-1500:] for e, p in zip(errs, procs) if p.returncode))
        res = subprocess.run(link, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise BuildError(res.stderr[-1500:])
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildError(f"{' '.join(cmds[0])}: {err}") from err
    finally:
        for o in objs:
            with contextlib.suppress(OSError):
                o.unlink()
    return link


def _valid(lib: Path, meta: Path) -> bool:
    try:
        return json.loads(meta.read_text())["sha256"] == _sha256(lib)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cached_library(cc: Sequence[str], build: Build, folder: Path) -> Path:
    """The path of a verified library for this key in ``folder``, built there first if missing or corrupt.

    Raises BuildError (compiler failure) or OSError (the folder cannot be written)."""
    key = cache_key(cc, build)
    lib, meta = folder / f"kernels-{key}.so", folder / f"kernels-{key}.json"
    if _valid(lib, meta):
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / f"kernels-{key}.lock"):
        if _valid(lib, meta):  # another process built it while we waited
            return lib
        if lib.exists():
            log.warning("kanlab: the cached kernels %s were corrupt or incomplete; rebuilding them", lib)
        log.info("kanlab: compiling the native kernels into %s (once per machine and version)", folder)
        tmp = folder / f".kernels-{key}.{os.getpid()}.tmp.so"
        try:
            cmd = compile_library(cc, build, tmp)
            tmp_meta = tmp.with_suffix(".json")
            tmp_meta.write_text(json.dumps({"sha256": _sha256(tmp), "command": cmd}))
            os.replace(tmp, lib)
            os.replace(tmp_meta, meta)
        finally:
            for t in (tmp, tmp.with_suffix(".json")):
                with contextlib.suppress(OSError):
                    t.unlink()
    return lib


def _load(path: Path) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(str(path))
    except OSError as err:
        if _noexec(path.parent) or "failed to map segment" in str(err):
            raise OSError(f"{path.parent} is on a file system mounted noexec, so a library built there cannot be "
                          f"loaded; point KANLAB_CACHE_DIR at a folder that allows execution ({err})") from err
        raise


def load_kernels() -> ctypes.CDLL | None:
    """Load the kernels, building them into the cache on first use; None (after one warning) when impossible."""
    cc = compiler()
    if cc is None:
        log.warning("kanlab: no C compiler found (set CC); the layers use the slower torch path")
        return None
    folder = cache_dir()
    errors: list[str] = []
    for n, build in enumerate(BUILDS):
        try:
            try:
                if folder.exists() and _noexec(folder):
                    raise OSError(f"the kernel cache {folder} is on a file system mounted noexec; point "
                                  f"KANLAB_CACHE_DIR at a folder that allows execution")
                path = cached_library(cc, build, folder)
            except PermissionError as err:  # unwritable cache: a private build, gone after loading
                log.warning("kanlab: cannot write the kernel cache %s (%s); building in a temporary folder for "
                            "this process only (set KANLAB_CACHE_DIR)", folder, err)
                with tempfile.TemporaryDirectory(prefix="kanlab-", ignore_cleanup_errors=True) as tmp:
                    path = Path(tmp) / "kernels.so"
                    compile_library(cc, build, path)
                    lib = _load(path)
            else:
                lib = _load(path)
        except BuildError as err:
            errors.append(str(err))
            continue
        except OSError as err:
            log.warning("kanlab: the native kernels cannot be loaded: %s; the layers use the slower torch path", err)
            return None
        if n > 0:
            log.warning("kanlab: native kernels built without threads/libmvec (single-threaded): %s", errors[0])
        return lib
    log.warning("kanlab: compiling the native kernels with %s failed; the layers use the slower torch path:\n%s",
                " ".join(cc), "\n".join(errors))
    return None

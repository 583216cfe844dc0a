"""Building the kernels once into the per-user cache: concurrency, corruption, noexec, the switches."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kanlab import _build, native

# a fresh process: loads (or builds) the kernels, checks one layer against the torch path, says what it did
CHILD = r"""
import logging, sys, torch
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from kanlab import KANLayer, native
layer = KANLayer(3, 4, grid=5, dtype=torch.float64)
x = torch.rand(50, 3, dtype=torch.float64) * 2 - 1
y = layer(x)
what = "native" if native.enabled() else "torch"
native.set_enabled(False)
print(what, float((layer(x) - y).abs().max()))
"""


def _child(cache: Path, env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, KANLAB_CACHE_DIR=str(cache), **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _result(p: subprocess.Popen) -> tuple[str, float, str]:
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    what, diff = out.split()
    return what, float(diff), err


def _libraries(cache: Path) -> list[Path]:
    return sorted(cache.glob("kernels-*.so"))


def test_two_processes_building_at_once(tmp_path):
    """Both get working kernels from one build (a file lock; the loser waits and loads); CC holds a command with
    arguments (`env gcc`, as `ccache gcc` would)."""
    cc = " ".join(["env", *(_build.compiler() or ["cc"])])
    procs = [_child(tmp_path, {"CC": cc, "OMP_NUM_THREADS": "1"}) for _ in range(2)]  # each its share of 2 cores
    results = [_result(p) for p in procs]
    for what, diff, _ in results:
        assert what == "native" and diff < 1e-12
    assert sum("compiling the native kernels" in err for _, _, err in results) == 1
    libs = _libraries(tmp_path)
    assert len(libs) == 1 and libs[0].with_suffix(".json").exists()
    assert not list(tmp_path.glob(".kernels-*"))  # no temporary files left behind
    # a later process loads it without compiling
    what, diff, err = _result(_child(tmp_path, {"CC": cc}))
    assert what == "native" and "compiling" not in err


def test_corrupt_cached_library_is_rebuilt_not_loaded(tmp_path):
    native.available()  # this process's own cache holds a valid build for the default compiler
    src = _build.cache_dir()
    key = _build.cache_key(_build.compiler(), _build.BUILDS[0])
    lib, meta = src / f"kernels-{key}.so", src / f"kernels-{key}.json"
    assert lib.exists() and meta.exists()
    shutil.copy(lib, tmp_path / lib.name)
    shutil.copy(meta, tmp_path / meta.name)
    # the second process only loads: no compile
    what, _, err = _result(_child(tmp_path))
    assert what == "native" and "compiling" not in err
    data = bytearray((tmp_path / lib.name).read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64  # flipped bytes in the middle of the code
    (tmp_path / lib.name).write_bytes(bytes(data[: len(data) - 1000]))  # and truncated
    what, diff, err = _result(_child(tmp_path))
    assert "corrupt" in err and "compiling" in err
    assert what == "native" and diff < 1e-12
    assert _build._valid(tmp_path / lib.name, tmp_path / meta.name)


def test_disabled_kernels_build_nothing(tmp_path):
    what, diff, err = _result(_child(tmp_path, {"KANLAB_NATIVE": "0"}))
    assert what == "torch" and diff == 0.0
    assert not list(tmp_path.iterdir())


def test_noexec_cache_is_a_named_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KANLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_build, "_noexec", lambda folder: True)
    with caplog.at_level(logging.WARNING, logger="kanlab.native"):
        assert _build.load_kernels() is None
    assert "noexec" in caplog.text and "KANLAB_CACHE_DIR" in caplog.text and "torch path" in caplog.text


def test_missing_compiler_is_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(_build, "compiler", lambda: None)
    with caplog.at_level(logging.WARNING, logger="kanlab.native"):
        assert _build.load_kernels() is None
    assert len(caplog.records) == 1 and "no C compiler" in caplog.text


def test_failed_build_falls_back_with_the_compiler_output(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KANLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_build, "BUILDS", [(["-fno-such-flag-kanlab"], []), (["-fno-such-flag-kanlab2"], [])])
    with caplog.at_level(logging.WARNING, logger="kanlab.native"):
        assert _build.load_kernels() is None
    assert "failed" in caplog.text and "no-such-flag-kanlab" in caplog.text
    assert not _libraries(tmp_path)


def test_cache_key_covers_sources_compiler_flags_and_cpu(monkeypatch):
    cc = _build.compiler()
    base = _build.cache_key(cc, _build.BUILDS[0])
    assert _build.cache_key(cc, _build.BUILDS[1]) != base
    assert _build.cache_key(["env", *cc], _build.BUILDS[0]) != base
    monkeypatch.setattr(_build, "_cpu_identity", lambda: "another cpu")
    assert _build.cache_key(cc, _build.BUILDS[0]) != base


def test_cache_folder_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.delenv("KANLAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert _build.cache_dir() == tmp_path / "kanlab"
    monkeypatch.setenv("KANLAB_CACHE_DIR", str(tmp_path / "mine"))
    assert _build.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("CC", "ccache  gcc -m64")
    assert _build.compiler() == ["ccache", "gcc", "-m64"]

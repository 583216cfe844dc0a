import json
import os
import struct

import pytest
import sympy
import torch

from kanlab import KAN, create_dataset
from kanlab.io import FORMAT_VERSION, KanFileError, load, save
from kanlab.symbolic import DEFAULT_LIBRARY
from conftest import seed_fn


@pytest.fixture(scope="module")
def model():
    ds = create_dataset(seed_fn, n_var=2, train_num=200, test_num=50, dtype=torch.float64)
    m = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    m.fit(ds, steps=5)
    m = m.refine(7)
    m.fix_symbolic(0, 0, 0, "sin")
    m.fix_symbolic(1, 1, 0, "x^2")
    with torch.no_grad():
        m.layers[0].mask[1, 2] = 0
    return m


@pytest.mark.parametrize("layout", ["model.kan", "folder/"])
def test_round_trip_is_exact(model, tmp_path, layout):
    path = tmp_path / layout if layout.endswith(".kan") else str(tmp_path / "folder") + "/"
    model.save(path, extra={"note": "hi"})
    back = KAN.load(path)
    x = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
    assert torch.equal(back(x), model(x))
    assert back.width == model.width and back.grid == [7, 7] and back.dtype == torch.float64
    assert [l.uniform for l in back.layers] == [l.uniform for l in model.layers]
    assert back.symbolic[0].names == model.symbolic[0].names
    assert back.extra_ == {"note": "hi"}
    model_numeric_free = [str(e) for e in _formula_or_none(model)]
    assert [str(e) for e in _formula_or_none(back)] == model_numeric_free
    if layout.endswith("/"):
        assert sorted(os.listdir(tmp_path / "folder")) == ["config.json", "model.safetensors"]
    else:
        assert os.listdir(tmp_path) == ["model.kan"]


def _formula_or_none(m):
    m = m.copy()
    x = torch.rand(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m.auto_symbolic(lib=["x", "x^2", "sin"], x=x)
    return m.symbolic_formula()[0]


def test_float32_and_no_pickle(tmp_path):
    m = KAN([2, 2, 1], seed=0)
    m.save(tmp_path / "f32.kan")
    raw = (tmp_path / "f32.kan").read_bytes()
    assert b"pickle" not in raw and not raw.startswith(b"\x80")  # a safetensors header, not a pickle stream
    assert KAN.load(tmp_path / "f32.kan").dtype == torch.float32


def _header(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw, n, json.loads(raw[8 : 8 + n])


def _rewrite(path, header, body):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + body)


def test_bad_files_raise_clear_errors(model, tmp_path):
    good = tmp_path / "good.kan"
    model.save(good)
    raw, n, header = _header(good)
    # truncated
    (tmp_path / "short.kan").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(KanFileError, match="corrupt or truncated"):
        load(tmp_path / "short.kan")
    # garbage
    (tmp_path / "junk.kan").write_bytes(b"not a model at all")
    with pytest.raises(KanFileError):
        load(tmp_path / "junk.kan")
    # wrong version
    cfg = json.loads(header["__metadata__"]["kanlab_config"])
    cfg["format_version"] = FORMAT_VERSION + 1
    header["__metadata__"]["kanlab_config"] = json.dumps(cfg)
    _rewrite(tmp_path / "v2.kan", header, raw[8 + n :])
    with pytest.raises(KanFileError, match="format version"):
        load(tmp_path / "v2.kan")
    # unknown symbolic function
    cfg["format_version"] = FORMAT_VERSION
    cfg["symbolic"][0]["names"][0][0] = "sinc"
    header["__metadata__"]["kanlab_config"] = json.dumps(cfg)
    _rewrite(tmp_path / "sinc.kan", header, raw[8 + n :])
    with pytest.raises(KanFileError, match="sinc"):
        load(tmp_path / "sinc.kan")
    lib = DEFAULT_LIBRARY.with_function("sinc", torch.sinc, lambda x: sympy.sin(sympy.pi * x) / (sympy.pi * x), 3)
    assert load(tmp_path / "sinc.kan", library=lib).symbolic[0].names[0][0] == "sinc"
    # a safetensors file without a kanlab config
    del header["__metadata__"]
    _rewrite(tmp_path / "plain.kan", header, raw[8 + n :])
    with pytest.raises(KanFileError, match="without a kanlab config"):
        load(tmp_path / "plain.kan")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.kan")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(KanFileError, match="lacks"):
        load(tmp_path / "empty_dir")


def test_extra_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        save(KAN([2, 1]), tmp_path / "m.kan", extra={"x": object()})
    assert not (tmp_path / "m.kan").exists()


def test_grid_extension_rule_round_trips(tmp_path):
    x = torch.rand(200, 2, generator=torch.Generator().manual_seed(0)) ** 3 * 2 - 1  # skewed: adaptive grid
    model = KAN([2, 3, 1], grid=4, seed=0, grid_extend="average")
    model.update_grid(x)
    back = KAN.load(model.save(tmp_path / "m"))
    assert back.config.grid_extend == "average" and back.layers[0].grid_extend == "average"
    back.update_grid(x)
    model.update_grid(x)
    torch.testing.assert_close(back.layers[0].grid, model.layers[0].grid)
    h = (model.layers[0].grid[:, -4] - model.layers[0].grid[:, 3]) / 4  # the inner grid's average interval
    torch.testing.assert_close(model.layers[0].grid[:, -1] - model.layers[0].grid[:, -2], h)
    with pytest.raises(ValueError, match="grid_extend"):
        KAN([2, 1], grid_extend="mirror")

import json
import os
import pathlib
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


def _folder_model(tmp_path, name="m"):
    model = KAN(width=[2, 3, 1], grid=4, k=3, seed=0)
    model.fix_symbolic(0, 1, 2, "sin", fit_params=False)
    path = tmp_path / name
    model.save(str(path) + "/")
    return model, path, json.loads((path / "config.json").read_text())


@pytest.mark.parametrize("edit,field", [
    (lambda c: c.update(dtype="int64"), "dtype"),
    (lambda c: c["architecture"].update(seed="abc"), "architecture.seed"),
    (lambda c: c["layers"][0].update(trainable={"forward": True}), "layers\\[0\\].trainable names 'forward'"),
    (lambda c: c["layers"][0].update(trainable={"grid": True}), "layers\\[0\\].trainable names 'grid'"),
    (lambda c: c["layers"][1].update(trainable={"coef": "yes"}), "layers\\[1\\].trainable.coef"),
    (lambda c: c.update(extra=[1, 2, 3]), "extra must be a JSON object"),
    (lambda c: c["symbolic"][0].update(names=[["x"] * 3]), "symbolic\\[0\\].names"),
    (lambda c: c["symbolic"][1]["names"][0].append("x"), "symbolic\\[1\\].names"),
    (lambda c: c["architecture"].update(grid=[200000, 200000]), "tensor layers.0.coef has shape"),
    (lambda c: c["architecture"].update(width=[2, 3]), "architecture.grid must be a list of 1"),
    (lambda c: c["architecture"].update(k=[99, 3]), "architecture.k entry"),
    (lambda c: c["architecture"].update(width=[2, [2, 1], 1], mult_arity=[[], [2], []]),
     "tensor layers.0.coef has shape"),
    (lambda c: c["architecture"].update(width=[2, [2, 1, 0], 1]), "width / mult_arity"),
    (lambda c: c["architecture"].update(mult_arity=[[], [1], []]), "mult_arity arity"),
    (lambda c: c["architecture"].update(mult_arity=[[], []]), "architecture.mult_arity must be a list of 3"),
    (lambda c: c["architecture"].update(mult_arity=[[], [2], []]), "mult_arity\[1\] lists 1 arities"),
    (lambda c: c["architecture"].update(grid_range=[1, -1]), "grid_range must be increasing"),
    (lambda c: c["architecture"].update(base_fun="relu"), "architecture.base_fun"),
    (lambda c: c["architecture"].update(sparse_init="no"), "architecture.sparse_init"),
    (lambda c: c["architecture"].update(noise_scale=float("nan")), "architecture.noise_scale"),
    (lambda c: c["architecture"].update(hidden=4), "unknown field"),
])
def test_malformed_configs_are_refused_before_anything_is_built(tmp_path, monkeypatch, edit, field):
    """Every malformed field gives a KanFileError naming it, and no model is constructed first (a file that
    declares a huge grid used to allocate it before being refused)."""
    import kanlab.io

    _, path, cfg = _folder_model(tmp_path)
    edit(cfg)
    (path / "config.json").write_text(json.dumps(cfg))
    built = []
    monkeypatch.setattr(kanlab.io, "KAN", lambda *a, **k: built.append(1))
    with pytest.raises(KanFileError, match=field):
        load(path)
    assert not built


@pytest.mark.parametrize("bad", ["nan", "reversed"])
def test_broken_grids_are_refused(tmp_path, bad):
    from safetensors.torch import load_file, save_file

    _, path, _ = _folder_model(tmp_path)
    tensors = load_file(path / "model.safetensors")
    g = tensors["layers.1.grid"]
    tensors["layers.1.grid"] = g.flip(1) if bad == "reversed" else g.index_fill(1, torch.tensor([2]), float("nan"))
    save_file(tensors, path / "model.safetensors")
    with pytest.raises(KanFileError, match="layers.1.grid must be finite and strictly increasing"):
        load(path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_every_supported_dtype_round_trips(tmp_path, dtype):
    model = KAN(width=[2, 3, 1], grid=4, k=3, seed=0, dtype=dtype)
    model.save(tmp_path / "m.kan")
    back = load(tmp_path / "m.kan")
    assert back.dtype == dtype
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_save_is_atomic(tmp_path, monkeypatch):
    """A save that fails half-way (a full disk, a crash) leaves the previous file whole and no temporary files."""
    import safetensors.torch

    path = tmp_path / "m.kan"
    first = KAN(width=[2, 3, 1], seed=0)
    first.save(path)
    before = path.read_bytes()

    def dies_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_half_way)
    with pytest.raises(OSError, match="No space"):
        KAN(width=[2, 3, 1], seed=1).save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.kan"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_fuzzed_files_load_or_fail_cleanly(tmp_path):
    """Truncations, bit flips and random JSON mutations of a valid file: each either loads a model that runs or
    raises KanFileError, never another exception."""
    import random

    rng = random.Random(0)
    model, path, cfg = _folder_model(tmp_path)
    single = tmp_path / "one.kan"
    model.save(single)
    raw = single.read_bytes()
    x = torch.rand(5, 2)
    outcomes = {"loaded": 0, "refused": 0}

    def attempt(p):
        try:
            m = load(p)
        except KanFileError:
            outcomes["refused"] += 1
            return
        m(x)
        outcomes["loaded"] += 1

    case = tmp_path / "case.kan"
    for _ in range(60):
        case.write_bytes(raw[: rng.randrange(len(raw))])
        attempt(case)
    for _ in range(120):
        flipped = bytearray(raw)
        pos = rng.randrange(len(flipped))
        flipped[pos] ^= 1 << rng.randrange(8)
        case.write_bytes(bytes(flipped))
        attempt(case)
    junk = [None, -1, 0, 1e300, "abc", [], {}, [1, 2], True, 2**70, float("inf")]

    def mutate(node, depth=0):
        if isinstance(node, dict) and node and (depth < 3 and rng.random() < 0.7):
            key = rng.choice(sorted(node))
            node[key] = mutate(node[key], depth + 1)
            return node
        if isinstance(node, list) and node and (depth < 3 and rng.random() < 0.7):
            i = rng.randrange(len(node))
            node[i] = mutate(node[i], depth + 1)
            return node
        return rng.choice(junk)

    for _ in range(150):
        bad = mutate(json.loads(json.dumps(cfg)))
        (path / "config.json").write_text(json.dumps(bad))
        attempt(path)
    assert outcomes["refused"] > 200 and sum(outcomes.values()) == 330


# --- the edges of save/load that mutation testing found unguarded (issue 18) ---

@pytest.mark.parametrize("extra", ["abc", {1: "one"}, ["a"]])
def test_extra_must_be_a_dict_with_string_keys(tmp_path, extra):
    with pytest.raises(TypeError, match="extra must be a dict with string keys") as info:
        save(KAN([2, 1], seed=0), tmp_path / "m.kan", extra=extra)
    assert not (tmp_path / "m.kan").exists()
    huge = {1: "x" * 1000}
    with pytest.raises(TypeError) as info:
        save(KAN([2, 1], seed=0), tmp_path / "m.kan", extra=huge)
    assert len(str(info.value)) == 200  # the repr of a large object is cut, so the message stays readable


def test_folder_layout_creates_parents_and_overwrites(tmp_path):
    model = KAN([2, 3, 1], seed=0)
    path = str(tmp_path / "a" / "b" / "c") + "/"
    model.save(path)
    model.save(path)  # saving again into the same folder replaces the files
    text = (tmp_path / "a" / "b" / "c" / "config.json").read_text()
    assert text.startswith('{\n  "format": "kanlab"')  # indented for people who open the file
    cfg = json.loads(text)
    assert cfg["layers"][0] == {"uniform": True, "grid_eps": model.layers[0].grid_eps, "base_fun": "silu",
                                "trainable": {"coef": True, "scale_base": True, "scale_sp": True}}
    assert torch.equal(KAN.load(path)(torch.zeros(3, 2)), model(torch.zeros(3, 2)))


def test_file_mode_keeps_an_existing_files_permissions_and_honours_the_umask(tmp_path):
    model = KAN([2, 1], seed=0)
    path = tmp_path / "m.kan"
    model.save(path)
    os.chmod(path, 0o640)
    model.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "new.kan")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.kan").st_mode & 0o777 == 0o640


@pytest.mark.parametrize("status", [None, "Name:\tpython\n", "Umask:\tzz\n"])
def test_file_mode_falls_back_to_022_when_the_umask_cannot_be_read(tmp_path, monkeypatch, status):
    """Without /proc/self/status (not Linux), or with one that has no Umask line or a garbled one."""
    import builtins
    import io as stdio

    import kanlab.io

    real_open = builtins.open

    def fake_open(name, *args, **kwargs):
        if str(name) == "/proc/self/status":
            if status is None:
                raise FileNotFoundError(name)
            return stdio.StringIO(status)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(kanlab.io, "open", fake_open, raising=False)
    old = os.umask(0o077)
    try:
        KAN([2, 1], seed=0).save(tmp_path / "m.kan")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.kan").st_mode & 0o777 == 0o644


def test_atomic_writes_a_hidden_temporary_beside_the_target(tmp_path):
    from kanlab.io import _atomic

    seen = []
    _atomic(tmp_path / "m.kan", lambda tmp: (seen.append(tmp), pathlib.Path(tmp).write_bytes(b"1")))
    tmp = pathlib.Path(seen[0])
    assert tmp.parent == tmp_path and tmp.name.startswith(".m.kan.") and tmp.name.endswith(".tmp")
    assert os.listdir(tmp_path) == ["m.kan"]

    def removes_then_fails(tmp):
        os.remove(tmp)
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):  # the writer's error, not the clean-up's
        _atomic(tmp_path / "n.kan", removes_then_fails)


def test_read_errors_name_the_problem(tmp_path):
    model, path, cfg = _folder_model(tmp_path)
    (path / "model.safetensors").unlink()
    with pytest.raises(KanFileError, match="lacks model.safetensors or config.json"):
        load(path)
    _, path, _ = _folder_model(tmp_path, "m2")
    (path / "config.json").write_text("{not json")
    with pytest.raises(KanFileError, match="config.json is not valid JSON"):
        load(path)
    with pytest.raises(FileNotFoundError, match="no kanlab model at"):
        load(tmp_path / "nothing.kan")
    cfg["format"] = "other"
    _, path, _ = _folder_model(tmp_path, "m3")
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(KanFileError, match="is not a kanlab model file"):
        load(path)
    single = tmp_path / "one.kan"
    model.save(single)
    raw, n, header = _header(single)
    header["__metadata__"]["kanlab_config"] = "{broken"
    _rewrite(single, header, raw[8 + n:])
    with pytest.raises(KanFileError, match="the kanlab config is not valid JSON"):
        load(single)


def test_unknown_symbolic_function_error_says_how_to_load_it(tmp_path):
    _, path, cfg = _folder_model(tmp_path)
    cfg["symbolic"][0]["names"][1][2] = "sinc"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(KanFileError, match=r"pass library=DEFAULT_LIBRARY\.with_function\(\.\.\.\) to load it"):
        load(path)


def test_an_inconsistent_config_names_the_error_type(tmp_path, monkeypatch):
    import kanlab.io

    _, path, _ = _folder_model(tmp_path)

    def refuses(**kwargs):
        raise ValueError("grid too coarse")

    monkeypatch.setattr(kanlab.io, "KAN", refuses)
    with pytest.raises(KanFileError, match=r"inconsistent kanlab config \(ValueError: grid too coarse\)"):
        load(path)


def test_load_builds_on_the_requested_device(tmp_path, monkeypatch):
    import kanlab.io

    _, path, _ = _folder_model(tmp_path)
    with pytest.raises(ValueError, match="device='meta' is not supported") as info:
        load(path, device="meta")
    assert not isinstance(info.value, KanFileError)  # the caller's error, not the file's
    devices = []
    real = kanlab.io.KAN

    def recording(**kwargs):
        devices.append(kwargs.get("device", "missing"))
        return real(**kwargs)

    monkeypatch.setattr(kanlab.io, "KAN", recording)
    load(path, device="cpu")
    assert devices == ["cpu"]


def test_a_file_without_extra_loads_with_empty_extra(tmp_path):
    _, path, cfg = _folder_model(tmp_path)
    del cfg["extra"]
    (path / "config.json").write_text(json.dumps(cfg))
    assert load(path).extra_ == {}

import pytest
import torch

from kanlab import create_dataset, create_dataset_from_data
from conftest import seed_fn


def test_create_dataset_shapes_ranges_and_seed():
    ds = create_dataset(seed_fn, n_var=2, ranges=[[0, 1], [-2, -1]], train_num=50, test_num=20, seed=3)
    assert ds["train_input"].shape == (50, 2) and ds["test_label"].shape == (20, 1)
    assert ds["train_input"][:, 0].min() >= 0 and ds["train_input"][:, 1].max() <= -1
    assert torch.allclose(ds["train_label"], seed_fn(ds["train_input"]))
    again = create_dataset(seed_fn, n_var=2, ranges=[[0, 1], [-2, -1]], train_num=50, test_num=20, seed=3)
    assert torch.equal(ds["train_input"], again["train_input"])


def test_create_dataset_row_mode_normalize_and_1d_labels():
    ds = create_dataset(lambda x: x[0] * x[1], n_var=2, f_mode="row", normalize_input=True, normalize_label=True,
                        dtype=torch.float64)
    assert ds["train_label"].shape == (1000, 1)
    assert abs(ds["train_input"].mean().item()) < 1e-10 and abs(ds["train_label"].std().item() - 1) < 1e-10


def test_create_dataset_bad_input():
    with pytest.raises(ValueError, match="f_mode"):
        create_dataset(seed_fn, f_mode="diag")
    with pytest.raises(ValueError, match="ranges"):
        create_dataset(seed_fn, n_var=2, ranges=[[0, 1]] * 3)
    with pytest.raises(ValueError, match="shape"):
        create_dataset(lambda x: x.sum(), n_var=2)


def test_create_dataset_from_data():
    x, y = torch.rand(100, 3), torch.rand(100)
    ds = create_dataset_from_data(x, y, train_ratio=0.7, seed=1)
    assert ds["train_input"].shape == (70, 3) and ds["test_label"].shape == (30, 1)
    merged = torch.cat([ds["train_input"], ds["test_input"]])
    assert torch.equal(merged.sort(0).values, x.sort(0).values)
    with pytest.raises(ValueError, match="NaN"):
        create_dataset_from_data(torch.full((10, 2), float("nan")), torch.zeros(10))
    with pytest.raises(ValueError, match="labels"):
        create_dataset_from_data(torch.zeros(10, 2), torch.zeros(9))


def test_augment_input_appends_auxiliary_variables():
    """Relativistic velocity addition's rapidities: atanh(u), atanh(v) appended to (u, v), in a dataset dict too."""
    import sympy

    from kanlab.data import augment_input

    u, v = sympy.symbols("u v")
    x = torch.rand(20, 2, dtype=torch.float64) * 1.6 - 0.8
    out = augment_input([u, v], [sympy.atanh(u), sympy.atanh(v)], x)
    assert out.shape == (20, 4) and out.dtype == torch.float64
    torch.testing.assert_close(out[:, 2:], torch.atanh(x))
    ds = {"train_input": x, "train_label": x[:, :1], "test_input": x[:5], "test_label": x[:5, :1]}
    aug = augment_input(["u", "v"], [u * v], ds)
    torch.testing.assert_close(aug["test_input"][:, 2], x[:5, 0] * x[:5, 1])
    assert aug["train_label"] is ds["train_label"]
    with pytest.raises(ValueError, match="not among the original variables"):
        augment_input([u], [u * v], x[:, :1])
    with pytest.raises(ValueError, match="not finite"):
        augment_input([u, v], [sympy.log(u)], x)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        augment_input([u, v], [u], x[:, :1])

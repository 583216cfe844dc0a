"""Bad input gets a clear exception that names the problem: never a silent NaN, a bare IndexError from deep inside,
or a message that suggests the wrong fix. Each case here was a finding of the hardening review (issue 13)."""

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.optim import _cubic_minimum


@pytest.fixture
def model():
    return KAN(width=[2, 3, 1], grid=5, k=3, seed=0)


def test_integer_input_is_told_to_convert(model):
    with pytest.raises(TypeError, match=r"must be a floating-point tensor, got torch.int64; convert it"):
        model(torch.ones(3, 2, dtype=torch.int64))


def test_update_grid_on_an_empty_batch(model):
    with pytest.raises(ValueError, match="update_grid needs at least one sample"):
        model.update_grid(torch.zeros(0, 2))


def test_meta_device_is_refused_by_name():
    with pytest.raises(ValueError, match="device='meta' is not supported"):
        KAN(width=[2, 1], device="meta")


def test_plot_on_overflowing_data(model):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="edge scores are not finite"):
        model.plot(x=torch.rand(50, 2) * 1e30)


def test_fit_on_data_that_overflows_float32(model):
    """fp32 on 1e30 inputs used to stop at step 0 with an empty history (and could divide by zero in the line
    search); now fit refuses up front, naming the magnitudes, and the model is untouched."""
    ds = create_dataset(lambda x: x[:, [0]], n_var=2, train_num=50, test_num=10)
    ds["train_input"] = ds["train_input"] * 1e30
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"not finite \(largest \|input\| 1e\+30|not finite \(largest \|input\| 9"):
        model.fit(ds, steps=2)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_line_search_interpolation_never_divides_by_zero():
    assert _cubic_minimum(1.0, 2.0, -1.0, 1.0, 2.0, -1.0, 0.5, 1.5) == 1.0  # coinciding points: the middle
    assert _cubic_minimum(0.0, float("inf"), -1.0, 1.0, 2.0, 1.0, 0.1, 0.9) == 0.5


def test_lamb_must_be_finite(model):
    ds = create_dataset(lambda x: x[:, [0]], n_var=2, train_num=20, test_num=10)
    with pytest.raises(ValueError, match="lamb must be a finite number"):
        model.fit(ds, steps=1, lamb=float("nan"))

"""kanlab.surgery: reordering hidden nodes keeps the function and can only lower the connection cost."""

import pytest
import torch

from kanlab import KAN, create_dataset
from kanlab.surgery import auto_swap, connection_cost, swap

from conftest import seed_fn


@pytest.fixture(scope="module")
def trained():
    ds = create_dataset(seed_fn, n_var=2, train_num=200, test_num=50, dtype=torch.float64)
    model = KAN(width=[2, 4, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(1, 2, 1, "sin", fit_params=False)  # symbolic edges move with their nodes too
    model.fit(ds, steps=3, lamb=0.01)
    return model, ds["test_input"]


def test_swap_keeps_the_function_and_moves_the_node(trained):
    model, x = trained
    swapped = swap(model, 1, 0, 2)
    torch.testing.assert_close(swapped(x), model(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(swapped.layers[0].coef[:, 0], model.layers[0].coef[:, 2])  # node 2's inputs
    torch.testing.assert_close(swapped.layers[1].grid[0], model.layers[1].grid[2])  # node 2's own grid
    assert swapped.symbolic[1].names[0][1] == "sin" and model.symbolic[1].names[2][1] == "sin"
    assert swap(swap(model, 1, 0, 2), 1, 0, 2).state_dict().keys() == model.state_dict().keys()
    with pytest.raises(IndexError, match="no hidden nodes"):
        swap(model, 0, 0, 1)
    with pytest.raises(IndexError, match="cannot swap"):
        swap(model, 1, 0, 9)


def test_connection_cost_from_its_definition():
    """[1, 2, 1] with one strong path through node 1: cost = sum of score x distance, positions (k + 0.5) / n."""
    from kanlab import attribute

    model = KAN(width=[1, 2, 1], seed=0, dtype=torch.float64)
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)[:, None]
    s = attribute(model, x).edge_scores
    want = (s[0][0, 0] * 0.25 + s[0][0, 1] * 0.25 + s[1][0, 0] * 0.25 + s[1][1, 0] * 0.25).item()
    assert connection_cost(model, x) == pytest.approx(want, rel=1e-12)


def test_auto_swap_lowers_the_cost_and_keeps_the_function(trained):
    model, x = trained
    tangled = swap(model, 2, 0, 2)
    tidy = auto_swap(tangled, x)
    torch.testing.assert_close(tidy(x), model(x), rtol=1e-12, atol=1e-12)
    assert connection_cost(tidy, x) <= connection_cost(tangled, x) + 1e-12  # each greedy step may keep the order


def test_pykan_names_edit_in_place(trained):
    from kanlab.pykan import KAN as PyKAN

    model = PyKAN(width=[2, 3, 2, 1], seed=0, auto_save=True)
    x = torch.rand(40, 2) * 2 - 1
    before = model(x).detach()
    coef = model.layers[0].coef[:, 0].detach().clone()
    assert model.swap(1, 0, 2) is None  # in place, as in pykan
    torch.testing.assert_close(model.layers[0].coef[:, 2], coef)
    torch.testing.assert_close(model(x).detach(), before, rtol=1e-5, atol=1e-6)
    cost = model.connection_cost
    model.auto_swap()
    assert model.connection_cost <= cost + 1e-9
    assert model.history(2).splitlines() == ["0.0 => swap => 0.1", "0.1 => auto_swap => 0.2"]

"""Training by epochs at scale: 200,000 rows in minibatches against full-batch training on a subset. In a file of
its own so that mutation testing can leave this slow test out of epochs.py's selection (scripts/mutate.py)."""

import torch

from kanlab import KAN
from test_epochs import _rmse, f


def test_minibatches_on_200k_rows_match_full_batch_on_a_subset():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200_000, 2, generator=gen) * 2 - 1
    y = f(x)
    xt = torch.rand(5000, 2, generator=gen) * 2 - 1
    yt = f(xt)
    mini = KAN([2, 5, 1], grid=5, seed=0)
    hist = mini.fit((x, y), batch=1000, epochs=3, lr=1e-2)
    assert len(hist["train_loss"]) == 3 and hist["train_loss"][-1] < hist["train_loss"][0]
    full = KAN([2, 5, 1], grid=5, seed=0)
    subset = {"train_input": x[:2000], "train_label": y[:2000], "test_input": xt, "test_label": yt}
    full.fit(subset, opt="Adam", lr=1e-2, steps=600, stop_grid_update_step=1)
    assert _rmse(mini, xt, yt) < 1.5 * _rmse(full, xt, yt)
    assert mini.fit_input_.shape == (10_000, 2)

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from kanlab import KAN


def f(x):
    return torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2


def _rmse(model, x, y):
    with torch.no_grad():
        return float(((model(x) - y) ** 2).mean().sqrt())


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


def test_dataloader_validation_early_stopping_and_callbacks():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(4000, 2, generator=gen) * 2 - 1
    y = f(x)
    loader = DataLoader(TensorDataset(x[:3000], y[:3000]), batch_size=256, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = KAN([2, 3, 1], seed=0)
    seen = []
    hist = model.fit(loader, epochs=30, lr=0.05, val_data=(x[3000:], y[3000:]), patience=2,
                     callbacks=[lambda epoch, logs: seen.append((epoch, logs["val_loss"]))])
    n = len(hist["val_loss"])
    assert [e for e, _ in seen] == list(range(n))
    best = min(hist["val_loss"])
    assert abs(_rmse(model, x[3000:], y[3000:]) - best) < 1e-6  # the best state is restored
    if n < 30:  # stopped early: the best epoch is the one `patience` (2) epochs before the last
        assert hist["val_loss"].index(best) == n - 3


def test_validation_split_and_bad_input():
    x = torch.rand(1000, 2) * 2 - 1
    model = KAN([2, 2, 1], seed=0)
    hist = model.fit((x, f(x)), epochs=2, validation_split=0.2)
    assert len(hist["val_loss"]) == 2
    with pytest.raises(ValueError, match="opt"):
        model.fit((x, f(x)), opt="LBFGS")
    with pytest.raises(ValueError, match="NaN"):
        bad = x.clone()
        bad[5, 0] = float("nan")
        model.fit((bad, f(x)))
    with pytest.raises(ValueError, match="width"):
        model.fit((x[:, :1], f(x)))
    with pytest.raises(ValueError, match="validation_split"):
        model.fit((x, f(x)), validation_split=1.5)
    with pytest.warns(UserWarning, match="reshaping"):
        model.fit((x, f(x)[:, 0]), epochs=1)


def test_interrupt_mid_epoch_leaves_the_last_completed_epoch():
    import torch

    from kanlab import KAN

    x = torch.rand(256, 2, dtype=torch.float64) * 2 - 1
    y = x[:, :1] ** 2
    model = KAN(width=[2, 3, 1], seed=0, dtype=torch.float64)
    done = {}
    calls = {"n": 0}

    def loss_fn(pred, target):
        calls["n"] += 1
        if calls["n"] == 19:  # in the third epoch (4 batches an epoch, the loss called twice a batch)
            raise KeyboardInterrupt
        return torch.mean((pred - target) ** 2)

    def remember(epoch, logs):
        done.update(epoch=epoch, state={k: v.clone() for k, v in model.state_dict().items()})

    with pytest.raises(KeyboardInterrupt):
        model.fit((x, y), batch=64, epochs=5, loss_fn=loss_fn, callbacks=[remember])
    assert done["epoch"] == 1
    assert all(torch.equal(v, done["state"][k]) for k, v in model.state_dict().items())

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from kanlab import KAN
from conftest import singular_kan


def f(x):
    return torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2


def _rmse(model, x, y):
    with torch.no_grad():
        return float(((model(x) - y) ** 2).mean().sqrt())


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


# --- with lr=0 the parameters never move, so every number fit_epochs reports can be recomputed here (issue 18) ---

X64 = torch.rand(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1
Y64 = f(X64)


def _still(**kw):
    from kanlab.epochs import fit_epochs

    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hist = fit_epochs(model, kw.pop("data", (X64, Y64)), lr=0.0, update_grid=False, **kw)
    return model, before, hist


def test_reported_losses_are_the_rmse_of_the_unchanged_model():
    model, before, hist = _still(epochs=2, batch=64, val_data=(X64[:50], Y64[:50]))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert hist["train_loss"] == pytest.approx([_rmse(model, X64, Y64)] * 2, rel=1e-12)
    assert hist["val_loss"] == pytest.approx([_rmse(model, X64[:50], Y64[:50])] * 2, rel=1e-12)
    assert hist["reg"] == [0.0, 0.0]
    loader = DataLoader(TensorDataset(X64[:50], Y64[:50]), batch_size=16)
    _, _, by_loader = _still(epochs=1, val_data=loader)
    assert by_loader["val_loss"] == pytest.approx(hist["val_loss"][:1], rel=1e-12)


def test_reported_penalty_is_the_models_regularizer():
    from kanlab.fit import objective_terms

    model, _, hist = _still(epochs=1, batch=1000, lamb=0.01, lamb_l1=2.0, lamb_entropy=3.0, lamb_coef=0.5,
                            lamb_coefdiff=0.25)
    _, _, reg = objective_terms(model, X64, Y64, lambda p, y: torch.mean((p - y) ** 2), lamb=0.01, lamb_l1=2.0,
                                lamb_entropy=3.0, lamb_coef=0.5, lamb_coefdiff=0.25, singularity_avoiding=True,
                                y_th=1000.0, reg_metric="edge_forward_spline_n")
    assert hist["reg"] == pytest.approx([float(reg)], rel=1e-10) and float(reg) > 0


def test_classification_reports_the_mean_loss_not_its_root():
    from kanlab.epochs import fit_epochs

    model = KAN([2, 3, 2], grid=4, seed=0, dtype=torch.float64)
    labels = (Y64[:, 0] > 0.5).long()
    ce = torch.nn.CrossEntropyLoss()
    hist = fit_epochs(model, (X64, labels), epochs=1, lr=0.0, loss_fn=ce, val_data=(X64[:40], labels[:40]))
    with torch.no_grad():
        assert hist["train_loss"][0] == pytest.approx(float(ce(model(X64), labels)), rel=1e-12)
        assert hist["val_loss"][0] == pytest.approx(float(ce(model(X64[:40]), labels[:40])), rel=1e-12)


def test_validation_split_holds_out_the_seeded_rows():
    model, _, hist = _still(epochs=1, validation_split=0.1, seed=5)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(5))
    val, train = perm[:30], perm[30:]
    assert hist["val_loss"][0] == pytest.approx(_rmse(model, X64[val], Y64[val]), rel=1e-12)
    assert hist["train_loss"][0] == pytest.approx(_rmse(model, X64[train], Y64[train]), rel=1e-12)
    assert sorted(model.fit_input_[:, 0].tolist()) == sorted(X64[train, 0].tolist())  # the rows it trained on
    _, _, tiny = _still(epochs=1, validation_split=0.001)  # rounds to 0 rows: at least one is held out
    assert "val_loss" in tiny


def test_batches_count_and_default_batch():
    calls = []

    def loss_fn(pred, y):
        calls.append(pred.shape[0])
        return torch.mean((pred - y) ** 2)

    x = torch.rand(2100, 2, dtype=torch.float64) * 2 - 1
    _still(data=(x, f(x)), epochs=1, batch=-1, loss_fn=loss_fn)  # -1: the default 1024 rows
    assert sorted(calls, reverse=True)[::2] == [1024, 1024, 52]  # the loss is called twice a batch


@pytest.mark.parametrize("kw,message", [
    (dict(validation_split=-0.1), r"validation_split must lie in \[0, 1\), got -0.1"),
    (dict(validation_split=1.0), r"validation_split must lie in \[0, 1\), got 1.0"),
    (dict(validation_split=0.2, val_data=(X64, Y64)), "^pass either val_data or validation_split, not both$"),
    (dict(epochs=0), "epochs must be an integer >= 1, got 0"),
    (dict(batch=0), "batch must be an integer >= 1, got 0"),
    (dict(data=[X64, Y64.numpy()]), r"training data: expected \(x, y\) tensors"),
    (dict(data=(X64[:0], Y64[:0])), "training data is empty"),
    (dict(val_data=(X64[:0], Y64[:0])), "validation data is empty"),
    (dict(data=DataLoader(TensorDataset(X64, Y64)), validation_split=0.2),
     r"^validation_split needs \(x, y\) tensors; with a DataLoader pass val_data$"),
])
def test_bad_arguments_are_named(kw, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _still(**kw)


def test_a_loader_batch_is_checked_and_grids_follow_the_first_batch():
    from kanlab.epochs import fit_epochs

    bad = X64.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="a training batch inputs"):
        _still(data=DataLoader(TensorDataset(bad, Y64), batch_size=50))
    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    first = X64[:64] * 0.5
    fit_epochs(model, DataLoader(TensorDataset(torch.cat([first, X64[64:]]), Y64), batch_size=64), epochs=2,
               lr=0.0)
    ref = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    ref.update_grid(first)
    torch.testing.assert_close(model.layers[0].grid, ref.layers[0].grid, rtol=0, atol=0)


def test_a_nan_loss_stops_and_restores_the_last_good_epoch():
    from kanlab.epochs import fit_epochs

    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    calls = {"n": 0}
    states = []

    def loss_fn(pred, y):
        calls["n"] += 1
        return torch.mean((pred - y) ** 2) * (float("nan") if calls["n"] > 10 else 1.0)  # epoch 0: 5 batches

    with pytest.warns(RuntimeWarning, match=r"fit: epoch 1 produced NaN/inf; stopped and restored the parameters "
                                            r"from before it"):
        hist = fit_epochs(model, (X64, Y64), batch=64, epochs=4, lr=0.01, loss_fn=loss_fn,
                          callbacks=[lambda e, logs: states.append({k: v.clone() for k, v in
                                                                    model.state_dict().items()})])
    assert len(hist["train_loss"]) == 1 and len(states) == 1
    assert all(torch.equal(v, states[0][k]) for k, v in model.state_dict().items())


def test_progress_bar_only_when_asked(capsys):
    _, _, hist = _still(epochs=2, progress=True)
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert last.startswith("epochs: 100%") and last.endswith(
        f"train_loss={hist['train_loss'][-1]:.2e}, reg={hist['reg'][-1]:.2e}]")
    _still(epochs=2)
    assert capsys.readouterr().err == ""


def test_defaults_of_fit_epochs():
    import inspect

    from kanlab.epochs import fit_epochs

    got = {k: v.default for k, v in inspect.signature(fit_epochs).parameters.items() if v.default is not v.empty}
    assert got == dict(epochs=10, batch=1024, lr=1e-2, loss_fn=None, lamb=0.0, lamb_l1=1.0, lamb_entropy=2.0,
                       lamb_coef=0.0, lamb_coefdiff=0.0, update_grid=True, val_data=None, validation_split=0.0,
                       patience=None, callbacks=None, progress=False, seed=0, singularity_avoiding=True, y_th=1000.0,
                       reg_metric="edge_forward_spline_n")


def test_batches_are_shuffled_by_the_seeded_generator():
    from kanlab.epochs import fit_epochs

    for seed in (0, 3):
        model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
        fit_epochs(model, (X64, Y64), epochs=1, batch=50, lr=0.0, seed=seed)
        loader = DataLoader(TensorDataset(X64, Y64), batch_size=50, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        first = next(iter(loader))[0]
        ref = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
        ref.update_grid(first)
        torch.testing.assert_close(model.layers[0].grid, ref.layers[0].grid, rtol=0, atol=0)


def test_data_is_cast_to_the_models_dtype_and_labels_keep_theirs():
    from kanlab.epochs import fit_epochs

    model = KAN([2, 3, 1], grid=4, seed=0)  # float32
    hist = fit_epochs(model, (X64, Y64), epochs=1, lr=0.0, update_grid=False, val_data=(X64[:30], Y64[:30]))
    assert model.fit_input_.dtype == torch.float32
    with torch.no_grad():
        want = float(((model(X64.float()) - Y64.float()) ** 2).mean().sqrt())
    assert hist["train_loss"][0] == pytest.approx(want, rel=1e-5)
    clf = KAN([2, 3, 2], grid=4, seed=0)
    labels = (Y64[:, 0] > 0.5).long()
    fit_epochs(clf, (X64, labels), epochs=1, loss_fn=torch.nn.CrossEntropyLoss(), update_grid=False,
               val_data=(X64[:20], labels[:20]))  # cross-entropy needs long labels: kept as they are


def test_a_single_held_out_row_and_one_dimensional_validation_labels():
    model, _, hist = _still(epochs=1, validation_split=0.001, seed=2)  # round(0.3) = 0 rows: one is held out
    row = torch.randperm(300, generator=torch.Generator().manual_seed(2))[:1]
    assert hist["val_loss"][0] == pytest.approx(_rmse(model, X64[row], Y64[row]), rel=1e-12)
    with pytest.warns(UserWarning, match=r"^validation data labels has shape \(40,\); reshaping it to \(40, 1\)"):
        _still(epochs=1, val_data=(X64[:40], Y64[:40, 0]))


@pytest.mark.parametrize("data,message", [
    ((X64[:, :1], Y64), "^training data inputs"),
    ((X64, Y64[:7]), r"^training data labels has 7 rows but the inputs have 300$"),
    ((X64, Y64.clone().index_fill(0, torch.tensor([2]), float("nan"))), "^training data labels"),
])
def test_errors_name_which_data(data, message):
    with pytest.raises(ValueError, match=message):
        _still(data=data)


def test_symbolic_edges_are_evaluated_as_asked():
    from kanlab.epochs import fit_epochs

    def model_with_inverse():
        model = KAN([2, 1], grid=4, seed=0, dtype=torch.float64)
        model.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
        return model

    x = X64 * 0.01  # near the singularity
    y = Y64
    for avoid, y_th in ((True, 5.0), (False, 1000.0)):
        model = model_with_inverse()
        hist = fit_epochs(model, (x, y), epochs=1, lr=0.0, update_grid=False, singularity_avoiding=avoid,
                          y_th=y_th, val_data=(x, y))
        with torch.no_grad():
            want = float(((model(x, avoid, y_th) - y) ** 2).mean().sqrt())
        assert hist["train_loss"][0] == pytest.approx(want, rel=1e-10)
        assert hist["val_loss"][0] == pytest.approx(want, rel=1e-10)


def test_the_penalty_uses_the_chosen_metric():
    from kanlab.fit import objective_terms

    model, _, hist = _still(epochs=1, batch=1000, lamb=0.01, reg_metric="edge_backward")
    _, _, reg = objective_terms(model, X64, Y64, lambda p, y: torch.mean((p - y) ** 2), lamb=0.01, lamb_l1=1.0,
                                lamb_entropy=2.0, lamb_coef=0.0, lamb_coefdiff=0.0, singularity_avoiding=True,
                                y_th=1000.0, reg_metric="edge_backward")
    assert hist["reg"] == pytest.approx([float(reg)], rel=1e-10)
    with pytest.raises(ValueError, match="reg_metric"):
        _still(reg_metric="nodes")


@pytest.mark.parametrize("patience,epochs_run", [(1, 2), (2, 3)])
def test_patience_counts_epochs_without_a_strictly_better_loss(patience, epochs_run):
    _, _, hist = _still(epochs=6, val_data=(X64[:30], Y64[:30]), patience=patience)  # lr=0: the same loss again
    assert len(hist["val_loss"]) == epochs_run


def test_a_single_row_and_the_penalty_averaged_over_batches():
    from kanlab.epochs import fit_epochs
    from kanlab.fit import objective_terms

    model, _, hist = _still(data=(X64[:1], Y64[:1]), epochs=1)
    assert hist["train_loss"][0] == pytest.approx(_rmse(model, X64[:1], Y64[:1]), rel=1e-12)
    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    loader = DataLoader(TensorDataset(X64, Y64), batch_size=120)  # 120, 120, 60 rows, in order
    hist = fit_epochs(model, loader, epochs=1, lr=0.0, lamb=0.01, update_grid=False)
    regs = [float(objective_terms(model, xb, yb, lambda p, y: torch.mean((p - y) ** 2), lamb=0.01, lamb_l1=1.0,
                                  lamb_entropy=2.0, lamb_coef=0.0, lamb_coefdiff=0.0, singularity_avoiding=True,
                                  y_th=1000.0)[2]) for xb, yb in loader]
    assert hist["reg"][0] == pytest.approx((120 * regs[0] + 120 * regs[1] + 60 * regs[2]) / 300, rel=1e-10)


def test_loader_batches_one_dimensional_labels_and_dtype():
    from kanlab.epochs import fit_epochs

    model = KAN([2, 3, 1], grid=4, seed=0)  # float32, fed float64 batches with labels of shape (N,)
    loader = DataLoader(TensorDataset(X64, Y64[:, 0]), batch_size=100)
    with pytest.warns(UserWarning, match=r"^a training batch labels has shape \(100,\); reshaping"):
        hist = fit_epochs(model, loader, epochs=2, lr=0.0, update_grid=False)
    with torch.no_grad():
        want = float(((model(X64.float()) - Y64.float()) ** 2).mean().sqrt())
    assert hist["train_loss"] == pytest.approx([want, want], rel=1e-5)
    assert model.fit_input_.shape == (300, 2)  # the first epoch's rows only


def test_only_the_first_loader_batch_is_checked():
    """Later batches are not inspected (that would cost a pass over the data); a NaN there stops training."""
    from kanlab.epochs import fit_epochs

    bad = X64.clone()
    bad[150, 0] = float("nan")
    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match=r"^fit: epoch 0 produced NaN/inf; stopped and restored the parameters "
                                            r"from before it$"):
        hist = fit_epochs(model, DataLoader(TensorDataset(bad, Y64), batch_size=100), epochs=2, lr=0.01)
    assert hist["train_loss"] == []


def test_the_defaults_as_fit_epochs_applies_them():
    """A run without the arguments equals one that passes the documented defaults. 1025 rows: 2 batches of the
    default 1024 (so that the batch size and the shuffling seed show), and rows at the pole (y_th)."""
    import copy

    from kanlab.epochs import fit_epochs

    model, x, y = singular_kan(1025)
    runs = []
    for kw in ({}, dict(epochs=10, batch=1024, lr=1e-2, seed=0, singularity_avoiding=True, y_th=1000.0)):
        m = copy.deepcopy(model)
        hist = fit_epochs(m, (x, y), update_grid=False, **kw)
        runs.append((hist, [p.detach().clone() for p in m.parameters()]))
    (h0, p0), (h1, p1) = runs
    assert len(h0["train_loss"]) == 10 and h0 == h1
    assert all(torch.equal(a, b) for a, b in zip(p0, p1))
    other = copy.deepcopy(model)
    assert fit_epochs(other, (x, y), update_grid=False, batch=1025)["train_loss"] != h0["train_loss"]


@pytest.mark.parametrize("loader", [False, True])
def test_labels_take_the_models_dtype(loader):
    """float64 labels for a float32 model train (and validate) exactly as the same labels rounded to float32 do."""
    import copy

    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, generator=g) * 2 - 1
    y = f(x).double() + 1e-9 * torch.rand(64, 1, generator=g, dtype=torch.float64)  # not float32 numbers
    model = KAN([2, 3, 1], seed=0)
    hists = []
    for labels in (y, y.float()):
        data = DataLoader(TensorDataset(x, labels), batch_size=32) if loader else (x, labels)
        val = DataLoader(TensorDataset(x[:16], labels[:16]), batch_size=8) if loader else (x[:16], labels[:16])
        hists.append(copy.deepcopy(model).fit(data, epochs=2, batch=32, update_grid=False, val_data=val))
    assert hists[0] == hists[1] and len(hists[0]["val_loss"]) == 2


import pytest
import torch

from kanlab import KAN, create_dataset, fit
from conftest import seed_fn


@pytest.fixture
def ds():
    return create_dataset(seed_fn, n_var=2, train_num=200, test_num=100, dtype=torch.float64)


def _model(**kw):
    return KAN(width=[2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64, **kw)


def test_fit_reduces_loss_and_returns_history(ds):
    model = _model()
    before = (model(ds["test_input"]) - ds["test_label"]).pow(2).mean().sqrt().item()
    hist = model.fit(ds, opt="LBFGS", steps=10)
    assert set(hist) == {"train_loss", "test_loss", "reg"} and len(hist["train_loss"]) == 10
    assert hist["test_loss"][-1] < 0.2 * before
    # test_loss is the RMSE of the final model on the test set
    rmse = (model(ds["test_input"]) - ds["test_label"]).pow(2).mean().sqrt().item()
    assert abs(hist["test_loss"][-1] - rmse) < 1e-12
    assert model.fit_input_ is not None and model.fit_input_.shape == (200, 2)


def test_adam_minibatch_metrics_and_callbacks(ds):
    model = _model()
    seen = []

    def train_rmse():
        return (model(ds["train_input"]) - ds["train_label"]).pow(2).mean().sqrt()

    def n_params(m, data):
        return sum(p.numel() for p in m.parameters())

    hist = fit(model, ds, opt="Adam", lr=0.02, steps=30, batch=50, metrics=[train_rmse, n_params],
               callbacks=[lambda step, logs: seen.append((step, logs["train_rmse"]))], update_grid=False)
    assert hist["train_rmse"][-1] < hist["train_rmse"][0]
    assert hist["n_params"][0] == sum(p.numel() for p in model.parameters())
    assert [s for s, _ in seen] == list(range(30))


def test_regularization_is_reported_and_sparsifies(ds):
    dense, sparse = _model(), _model()
    dense.fit(ds, steps=10)
    hist = sparse.fit(ds, steps=10, lamb=0.01, lamb_entropy=10.0, lamb_coef=0.1, lamb_coefdiff=0.1)
    assert all(r > 0 for r in hist["reg"])
    l1 = lambda m: sum(l.edge_std(x).sum() for l, x in zip(m.layers, m.layer_inputs(ds["train_input"])))  # noqa
    assert l1(sparse) < l1(dense)


def test_label_of_shape_n_is_reshaped_with_warning_never_broadcast(ds):
    flat = dict(ds, train_label=ds["train_label"][:, 0], test_label=ds["test_label"][:, 0])
    a, b = _model(), _model()
    with pytest.warns(UserWarning, match="reshaping"):
        ha = a.fit(flat, steps=3)
    hb = b.fit(ds, steps=3)
    assert ha["test_loss"] == hb["test_loss"]
    two = KAN(width=[2, 2], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="2 outputs"):
        two.fit(flat, steps=1)


@pytest.mark.parametrize("mutate,err,match", [
    (lambda d: d.pop("test_label"), ValueError, "missing"),
    (lambda d: d.update(train_input=d["train_input"][:, :1]), ValueError, "width"),
    (lambda d: d.update(train_input=d["train_input"][:0], train_label=d["train_label"][:0]), ValueError, "empty"),
    (lambda d: d["train_input"].__setitem__((3, 0), float("nan")), ValueError, "NaN"),
    (lambda d: d["test_label"].__setitem__((0, 0), float("inf")), ValueError, "NaN"),
    (lambda d: d.update(train_label=d["train_label"][:10]), ValueError, "rows"),
    (lambda d: d.update(train_label=d["train_label"].repeat(1, 2)), ValueError, "shape"),
    (lambda d: d.update(train_input=d["train_input"].numpy()), TypeError, "Tensor"),
])
def test_bad_datasets_are_rejected_before_training(ds, mutate, err, match):
    data = {k: v.clone() for k, v in ds.items()}
    mutate(data)
    model = _model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(err, match=match):
        model.fit(data, steps=2)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_bad_options(ds):
    with pytest.raises(ValueError, match="opt"):
        _model().fit(ds, opt="SGD")
    with pytest.raises(ValueError, match="batch"):
        _model().fit(ds, batch=0)
    with pytest.raises(TypeError, match="dict"):
        _model().fit([1, 2, 3])


def test_nan_step_stops_and_restores_last_good_parameters(ds):
    model = _model()
    calls = {"n": 0}

    def loss_fn(pred, y):
        calls["n"] += 1
        loss = torch.mean((pred - y) ** 2)
        return loss * float("nan") if calls["n"] > 25 else loss

    model.fit(ds, opt="Adam", steps=25, loss_fn=loss_fn, update_grid=False)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(RuntimeWarning, match="NaN"):
        hist = model.fit(ds, opt="Adam", steps=10, loss_fn=loss_fn, update_grid=False)
    assert hist["train_loss"] == []
    assert all(torch.equal(good[k], v) for k, v in model.state_dict().items())


def test_classification_with_class_index_labels():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 2, generator=gen, dtype=torch.float64) * 2 - 1
    y = (x[:, 0] * x[:, 1] > 0).long()
    data = {"train_input": x[:200], "train_label": y[:200], "test_input": x[200:], "test_label": y[200:]}
    model = KAN(width=[2, 4, 2], grid=5, seed=0, dtype=torch.float64)

    def acc():
        return (model(x[200:]).argmax(1) == y[200:]).double().mean()

    hist = model.fit(data, steps=15, loss_fn=torch.nn.CrossEntropyLoss(), metrics=[acc])
    assert hist["acc"][-1] > 0.9


def test_fit_is_silent_and_progress_bar_on_request(ds, capsys):
    _model().fit(ds, steps=2)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    _model().fit(ds, steps=2, progress=True)
    assert "fit" in capsys.readouterr().err


def test_fused_sparsity_penalty_matches_the_op_by_op_one():
    """The one-node penalty (hand-written gradient) against autograd through the plain ops, and gradcheck."""
    from kanlab.regularize import _penalty_torch, sparsity_penalty

    gen = torch.Generator().manual_seed(0)
    for shape in ((1, 1), (5, 2), (3, 7)):
        s = (torch.rand(shape, dtype=torch.float64, generator=gen) * 2).requires_grad_(True)
        s.data[0, 0] = 0.0  # a pruned edge: scale exactly zero
        a = sparsity_penalty(s, 0.7, 10.0)
        b = _penalty_torch(s, 0.7, 10.0)
        assert torch.allclose(a, b, rtol=1e-13, atol=1e-13)
        (ga,) = torch.autograd.grad(a, s)
        (gb,) = torch.autograd.grad(b, s)
        assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12)
        s2 = s.detach().clamp_min(0.05).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda t: sparsity_penalty(t, 0.7, 10.0), (s2,))
        assert torch.autograd.gradgradcheck(lambda t: sparsity_penalty(t, 0.7, 10.0), (s2,))


class _Interrupt:
    """Raises KeyboardInterrupt on its n-th call, then records nothing more."""

    def __init__(self, fn, n: int):
        self.fn, self.n, self.calls = fn, n, 0

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.fn(*args)


@pytest.mark.parametrize("path", ["autograd", "flat"])
def test_interrupt_mid_step_leaves_the_last_accepted_step(ds, path, monkeypatch):
    """A KeyboardInterrupt inside a step (here in the L-BFGS line search of step 3, after a grid update) leaves
    the model exactly as the last accepted step left it, then propagates."""
    import kanlab.objective as objective_mod

    model = _model()
    accepted = {}

    def remember(step, logs):
        accepted.update(step=step, state={k: v.clone() for k, v in model.state_dict().items()})

    kw = dict(steps=10, lamb=0.01, update_grid=True, grid_update_num=50, stop_grid_update_step=50,
              callbacks=[remember])
    if path == "autograd":
        counter = _Interrupt(lambda p, y: torch.mean((p - y) ** 2), n=50)
        kw["loss_fn"] = counter
    else:
        counter = _Interrupt(objective_mod.FlatObjective.__call__, n=50)
        monkeypatch.setattr(objective_mod.FlatObjective, "__call__", lambda self, v: counter(self, v))
    with pytest.raises(KeyboardInterrupt):
        model.fit(ds, **kw)
    assert counter.calls == 50 and "step" in accepted  # interrupted after at least one accepted step
    for key, value in model.state_dict().items():
        assert torch.equal(value, accepted["state"][key]), key


@pytest.mark.parametrize("opt", ["Adam", "LBFGS"])
def test_a_transient_nan_step_is_undone_and_retried_with_a_smaller_lr(ds, opt):
    """Two NaN evaluations in the middle of a fit: each step is undone and retried with half the learning rate,
    and training goes on without a warning; the history has no NaN."""
    import warnings

    model = _model()
    calls = {"n": 0}

    def loss_fn(pred, y):
        calls["n"] += 1
        loss = torch.mean((pred - y) ** 2)
        return loss * float("nan") if calls["n"] in (5, 6) else loss

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        hist = model.fit(ds, opt=opt, steps=8, lr=0.01 if opt == "Adam" else 1.0, loss_fn=loss_fn,
                         update_grid=False)
    assert 5 <= len(hist["train_loss"]) <= 7 and all(v == v for v in hist["train_loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())

import importlib
import pytest
import torch

from kanlab import KAN, create_dataset, fit
from conftest import seed_fn, singular_kan


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


# --- fit's contract pinned down number by number (issue 18: mutation testing) ---

def test_with_lr_zero_the_history_is_the_unchanged_models_rmse(ds):
    model = _model()
    hist = model.fit(ds, opt="Adam", lr=0.0, steps=3, update_grid=False)

    def rmse(x, y):
        return float(((model(x) - y) ** 2).mean().sqrt())

    assert hist["train_loss"] == pytest.approx([rmse(ds["train_input"], ds["train_label"])] * 3, rel=1e-12)
    assert hist["test_loss"] == pytest.approx([rmse(ds["test_input"], ds["test_label"])] * 3, rel=1e-12)
    assert hist["reg"] == [0.0] * 3
    assert model.fit_input_ is not None and torch.equal(model.fit_input_, ds["train_input"])


def test_minibatches_draw_from_the_seeded_generator(ds):
    model = _model()
    seen = []
    real = model.forward

    def spy(x, *args):
        seen.append(x)
        return real(x, *args)

    model.forward = spy
    model.fit(ds, opt="Adam", lr=0.0, steps=2, batch=30, update_grid=False, seed=4)
    gen = torch.Generator().manual_seed(4)
    tr0 = torch.randperm(200, generator=gen)[:30]
    te0 = torch.randperm(100, generator=gen)[:30]
    tr1 = torch.randperm(200, generator=gen)[:30]
    train_batches = [x for x in seen if x.shape[0] == 30]
    assert torch.equal(train_batches[0], ds["train_input"][tr0])
    assert torch.equal(train_batches[1], ds["test_input"][te0])  # the test metric uses its own random rows
    assert torch.equal(train_batches[2], ds["train_input"][tr1])


@pytest.mark.parametrize("kw,want", [
    (dict(), [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]),  # every 50 // 10 steps until step 50
    (dict(grid_update_num=4, stop_grid_update_step=20), [0, 5, 10, 15]),
    (dict(start_grid_update_step=12, stop_grid_update_step=30, grid_update_num=5), [12, 18, 24]),
    (dict(grid_update_num=0, stop_grid_update_step=6), [0]),  # no division by zero: once
    (dict(grid_update_num=10, stop_grid_update_step=5), [0, 1, 2, 3, 4]),  # at least one step apart
    (dict(update_grid=False), []),
])
def test_the_grid_update_schedule(ds, monkeypatch, kw, want):
    model, calls, step = _model(), [], {"now": 0}
    monkeypatch.setattr(model, "update_grid", lambda x: calls.append(step["now"]))
    model.fit(ds, opt="Adam", lr=0.0, steps=60, callbacks=[lambda s, logs: step.update(now=s + 1)], **kw)
    assert calls == want


def test_metrics_are_recorded_by_name_in_both_forms(ds):
    model = _model()

    def n_params():
        return 7

    def train_rows(m, data):
        assert m is model
        return torch.tensor(float(data["train_input"].shape[0]))

    hist = model.fit(ds, opt="Adam", lr=0.0, steps=2, metrics=[n_params, train_rows], update_grid=False)
    assert hist["n_params"] == [7.0, 7.0] and hist["train_rows"] == [200.0, 200.0]


def test_log_lines_every_log_steps(ds, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="kanlab.fit"):
        hist = _model().fit(ds, opt="Adam", lr=0.0, steps=5, log=2, update_grid=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "kanlab.fit"]
    assert lines == [f"step {s}: train_loss={hist['train_loss'][s]:.3e} test_loss={hist['test_loss'][s]:.3e} "
                     f"reg={hist['reg'][s]:.3e}" for s in (0, 2, 4)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kanlab.fit"):
        _model().fit(ds, opt="Adam", lr=0.0, steps=3, log=0, update_grid=False)
    assert not [r for r in caplog.records if r.name == "kanlab.fit"]


def test_the_arguments_reach_fit_epochs(monkeypatch):
    import kanlab.epochs

    got = {}
    monkeypatch.setattr(kanlab.epochs, "fit_epochs", lambda model, data, **kw: got.update(kw) or {"ok": [1.0]})
    x = torch.rand(10, 2, dtype=torch.float64)
    cb, loss = [lambda s, l: None], torch.nn.MSELoss()
    out = _model().fit((x, x[:, :1]), epochs=3, batch=4, loss_fn=loss, lamb=0.1, lamb_l1=0.2, lamb_entropy=0.3,
                       lamb_coef=0.4, lamb_coefdiff=0.5, update_grid=False, val_data=(x, x[:, :1]),
                       patience=2, callbacks=cb, reg_metric="edge_backward", progress=True, seed=9,
                       singularity_avoiding=False, y_th=50.0)
    assert out == {"ok": [1.0]}
    val = got.pop("val_data")
    assert torch.equal(val[0], x)
    assert got == dict(epochs=3, batch=4, lr=1e-2, loss_fn=loss, lamb=0.1, lamb_l1=0.2, lamb_entropy=0.3,
                       lamb_coef=0.4, lamb_coefdiff=0.5, update_grid=False, validation_split=0.0, patience=2,
                       callbacks=cb, reg_metric="edge_backward", progress=True, seed=9, singularity_avoiding=False,
                       y_th=50.0)
    _model().fit((x, x[:, :1]), lr=0.5, opt="Adam")
    assert got["lr"] == 0.5
    with pytest.raises(ValueError, match=r"training from a DataLoader or \(x, y\) tensors uses Adam by epochs; "
                                         r"opt='LBFGS' needs a dataset dict"):
        _model().fit((x, x[:, :1]), opt="LBFGS")


def test_the_arguments_reach_fit_distributed(ds, monkeypatch):
    import kanlab.distributed

    got = {}
    monkeypatch.setattr(kanlab.distributed, "fit_distributed",
                        lambda model, data, **kw: got.update(kw) or {"ok": [2.0]})
    cb = [lambda s, l: None]
    out = _model().fit(ds, opt="Adam", steps=4, log=2, lamb=0.1, lamb_l1=0.2, lamb_entropy=0.3, lamb_coef=0.4,
                       lamb_coefdiff=0.5, update_grid=False, grid_update_num=3, loss_fn=None, lr=0.7,
                       start_grid_update_step=1, stop_grid_update_step=9, batch=16, progress=True, seed=5,
                       callbacks=cb, singularity_avoiding=False, y_th=9.0, reg_metric="edge_backward", epochs=2,
                       checkpoint="c.pt", checkpoint_every=2, resume=True, sharded=True, threads=1)
    assert out == {"ok": [2.0]}
    assert got == dict(opt="Adam", steps=4, log=2, lamb=0.1, lamb_l1=0.2, lamb_entropy=0.3, lamb_coef=0.4,
                       lamb_coefdiff=0.5, update_grid=False, grid_update_num=3, loss_fn=None, lr=0.7,
                       start_grid_update_step=1, stop_grid_update_step=9, batch=16, progress=True, seed=5,
                       callbacks=cb, singularity_avoiding=False, y_th=9.0, reg_metric="edge_backward", epochs=2,
                       distributed=False, checkpoint="c.pt", checkpoint_every=2, resume=True, sharded=True, threads=1)
    for kw in (dict(distributed=True), dict(checkpoint_every=3), dict(resume="r.pt"), dict(world_size=2)):
        got.clear()
        _model().fit(ds, **kw)
        assert got, kw  # each of these alone routes to the distributed loop
    got.clear()
    _model().fit(ds, steps=1, resume=False)
    assert not got  # resume=False is the plain fit
    with pytest.raises(TypeError, match=r"fit\(\) got unexpected keyword argument\(s\) \['shards'\]"):
        _model().fit(ds, shards=2)
    with pytest.raises(ValueError, match="fit: metrics, patience cannot be combined with distributed=True, "
                                         "checkpoint= or resume="):
        _model().fit(ds, checkpoint="c.pt", metrics=[len], patience=3)


@pytest.mark.parametrize("kw,message", [
    (dict(opt="SGD"), r"unknown opt 'SGD'; choose one of \['LBFGS', 'Adam'\]"),
    (dict(steps=-1), "steps must be an integer >= 0, got -1"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(lamb=-0.1), "lamb must be a finite number >= 0, got -0.1"),
    (dict(lamb=float("nan")), "lamb must be a finite number >= 0, got nan"),
    (dict(batch=-2), "batch must be -1 or a positive integer, got -2"),
    (dict(batch=0), "batch must be -1 or a positive integer, got 0"),
    (dict(reg_metric="size"), "reg_metric"),
])
def test_bad_options_are_named(ds, kw, message):
    with pytest.raises(ValueError, match=message):
        _model().fit(ds, **kw)


def test_zero_steps_and_full_batches(ds):
    model = _model()
    assert model.fit(ds, steps=0) == {"train_loss": [], "test_loss": [], "reg": []}
    a, b = _model(), _model()
    ha = a.fit(ds, opt="Adam", steps=3, batch=200)  # batch = n_train: full batch, no random draws
    hb = b.fit(ds, opt="Adam", steps=3, batch=-1)
    assert ha == hb


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.pop("train_input"), r"dataset is missing key\(s\) \['train_input'\]"),
    (lambda d: d.update(test_input=d["test_input"][:, 0]), r"dataset\['test_input'\] must have shape \(N, 2\), "
                                                          r"got \(100,\)"),
    (lambda d: d.update(test_input=d["test_input"][:0]), r"dataset\['test_input'\] is empty"),
    (lambda d: d.update(test_input=d["test_input"].repeat(1, 2)), r"dataset\['test_input'\] has 4 columns but "
                                                                  r"the model's width\[0\] is 2"),
    (lambda d: d["train_label"].__setitem__((1, 0), float("nan")), r"dataset\['train_label'\]"),
    (lambda d: d.update(test_label=d["test_label"][:7]), r"dataset\['test_label'\] has 7 rows but the inputs "
                                                         r"have 100"),
    (lambda d: d.update(test_label=d["test_label"].repeat(1, 3)), r"dataset\['test_label'\] must have shape "
                                                                  r"\(100, 1\) to match the model's outputs, "
                                                                  r"got \(100, 3\)"),
    (lambda d: d.update(test_label=d["test_label"][0, 0]), r"dataset\['test_label'\] has 0 rows"),
    (lambda d: d.update(test_label=[1.0]), r"dataset\['test_label'\] must be a torch.Tensor, got list"),
])
def test_dataset_errors_name_the_key(ds, mutate, message):
    data = dict(ds)
    mutate(data)
    with pytest.raises((ValueError, TypeError), match=message):
        _model().fit(data, steps=1)


def test_a_dataset_that_is_not_a_dict():
    with pytest.raises(TypeError, match=r"dataset must be a dict with keys \['train_input', 'train_label', "
                                        r"'test_input', 'test_label'\], got str"):
        _model().fit("data.csv", steps=1)


def test_one_dimensional_labels_warn_with_their_shape(ds):
    flat = dict(ds, train_label=ds["train_label"][:, 0])
    with pytest.warns(UserWarning, match=r"dataset\['train_label'\] has shape \(200,\); reshaping it to \(200, 1\) "
                                         r"\(it is never broadcast\)"):
        _model().fit(flat, steps=1)
    two = KAN(width=[2, 2], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"dataset\['train_label'\] has shape \(200,\) but the model has 2 "
                                         r"outputs; pass labels of shape \(200, 2\)"):
        two.fit(flat, steps=1)


def test_data_outside_the_grid_warns_once_with_the_share(ds):
    far = dict(ds, train_input=ds["train_input"] * 3)  # |x| <= 3 on a grid over [-1, 1]
    share = float(((far["train_input"].abs() > 1).any(dim=1)).double().mean())
    model = _model()
    with pytest.warns(UserWarning, match=rf"fit: {share:.0%} of the training inputs lie outside the first layer's "
                                         r"grid \[-1, 1\] and no grid update is scheduled"):
        model.fit(far, steps=1, update_grid=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(far, steps=1, update_grid=False)  # once per model
        _model().fit(far, steps=1)  # a scheduled grid update moves the grid to the data: no warning
        near = dict(ds, train_input=ds["train_input"].clamp(-1, 1))
        _model().fit(near, steps=1, update_grid=False)


def test_the_outside_grid_warning_at_its_boundaries():
    import warnings

    def data(x):
        x = torch.tensor(x, dtype=torch.float64)
        return {"train_input": x, "train_label": x[:, :1], "test_input": x, "test_label": x[:, :1]}

    # the grid's ends are inside; exactly 10% outside is not more than OUTSIDE_SHARE
    edges = [[1.5, 0.0]] + [[(-1.0) ** i, 1.0] for i in range(9)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(data(edges), steps=1, update_grid=False)
    # one training row is data too; the advice is given in full
    with pytest.warns(UserWarning, match=r"^fit: 100% of the training inputs lie outside the first layer's grid "
                                         r"\[-1, 1\] and no grid update is scheduled; the splines are 0 there \(only "
                                         r"the base function carries them\)\. Use update_grid=True, call "
                                         r"model\.update_grid\(x\), or build the model with grid_range covering "
                                         r"the data$"):
        _model().fit(data([[2.0, 0.0]]), steps=1, update_grid=False)


def test_a_model_that_cannot_evaluate_the_data_is_refused(ds):
    huge = dict(ds, train_label=ds["train_label"] * 1e300 * 1e10)  # inf labels are caught as NaN/inf data
    with pytest.raises(ValueError, match="NaN"):
        _model().fit(huge, steps=1)
    model = KAN(width=[2, 1], grid=3, seed=0)  # float32
    big = dict(ds, train_input=ds["train_input"].float() * 1e30, train_label=ds["train_label"].float() * 1e30,
               test_input=ds["test_input"].float(), test_label=ds["test_label"].float())
    with pytest.raises(ValueError, match=r"the model's output or loss on the training data is not finite \(largest "
                                         r"\|input\| 9.97e\+29, largest \|label\| 5.54e\+30, computed in "
                                         r"torch.float32\); "
                                         r"standardise the data or train in float64"):
        model.fit(big, steps=1, update_grid=False)


def test_a_nan_step_is_logged_with_the_halved_lr_and_the_fourth_gives_up(ds, caplog):
    import logging

    model = _model()
    calls = {"n": 0}

    def loss_fn(pred, y):  # Adam calls the loss once a step: steps 2.. are NaN
        calls["n"] += 1
        loss = torch.mean((pred - y) ** 2)
        return loss * float("nan") if calls["n"] >= 3 else loss

    with caplog.at_level(logging.INFO, logger="kanlab.fit"):
        with pytest.warns(RuntimeWarning, match=r"^fit: step 5 produced NaN/inf after 3 undone steps, each retried "
                                                r"with half the learning rate; stopped and kept the best parameters "
                                                r"seen$"):
            hist = model.fit(ds, opt="Adam", lr=0.08, steps=10, loss_fn=loss_fn, update_grid=False, log=0)
    assert [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()] == [
        "fit: step 2 produced NaN/inf; undone, retrying with lr=0.04",  # a retry takes the next step's turn
        "fit: step 3 produced NaN/inf; undone, retrying with lr=0.02",
        "fit: step 4 produced NaN/inf; undone, retrying with lr=0.01"]
    assert len(hist["train_loss"]) == 2
    ref = _model()
    ref.fit(ds, opt="Adam", lr=0.08, steps=2, update_grid=False, log=0)
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in model.state_dict().items())  # the best seen


def test_what_counts_as_streamed_data(monkeypatch):
    import kanlab.epochs

    routed = []
    monkeypatch.setattr(kanlab.epochs, "fit_epochs", lambda model, data, **kw: routed.append(data) or {})
    x = torch.rand(8, 2, dtype=torch.float64)
    _model().fit([x, x[:, :1]])  # a list pair is an (x, y) pair too
    from torch.utils.data import DataLoader, TensorDataset

    _model().fit(DataLoader(TensorDataset(x, x[:, :1])))
    assert len(routed) == 2
    for not_a_pair in ((x, x, x), (x, x[:, :1].numpy()), (x,)):
        with pytest.raises(TypeError, match=r"^dataset must be a dict with keys"):
            _model().fit(not_a_pair, steps=1)
    assert len(routed) == 2


def test_the_progress_bar_shows_the_last_losses(ds, capsys):
    hist = _model().fit(ds, opt="Adam", lr=0.0, steps=2, progress=True, update_grid=False)
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert last.startswith("fit: 100%") and last.endswith(
        f"reg={hist['reg'][-1]:.2e}, test={hist['test_loss'][-1]:.2e}, train={hist['train_loss'][-1]:.2e}]")  # sorted


def test_a_custom_loss_is_called_by_training_only(ds):
    calls = []

    def loss_fn(pred, y):
        calls.append(pred.shape[0])
        return torch.mean((pred - y) ** 2)

    _model().fit(ds, opt="Adam", steps=3, loss_fn=loss_fn, update_grid=False)
    assert calls == [200, 200, 200]  # one call a step, none to probe the data first


def test_symbolic_edges_outside_their_domain_warn_instead_of_refusing(ds):
    model = KAN(width=[2, 1], grid=3, seed=0)  # float32
    model.fix_symbolic(0, 0, 0, "exp", fit_params=False)
    with torch.no_grad():
        model.symbolic[0].affine[0, 0, 0] = 200.0  # exp(200 x) overflows float32 for x > 0.45
    data = {k: v.float() for k, v in ds.items()}
    with pytest.warns(RuntimeWarning, match=r"^the model's output or loss on the training data is not finite .*: "
                                            r"symbolic edges may be outside their domain; singularity_avoiding=True "
                                            r"evaluates their safe variants$"):
        model.fit(data, opt="Adam", steps=1, update_grid=False)


# ---------------------------------------------------------------- mutation-testing follow-ups (issue 18)
def test_prepare_dataset_defaults_to_regression_and_casts(ds):
    import warnings

    from kanlab.fit import prepare_dataset

    model = _model()
    flat = dict(ds, train_label=ds["train_label"][:, 0].float(), train_input=ds["train_input"].float())
    with pytest.warns(UserWarning, match=r"^dataset\['train_label'\] has shape \(200,\); reshaping"):
        out = prepare_dataset(model, flat)  # regression by default: (N,) labels become (N, 1)
    assert out["train_label"].shape == (200, 1)
    assert out["train_input"].dtype == out["train_label"].dtype == out["test_input"].dtype == torch.float64
    classes = dict(ds, train_label=torch.zeros(200, dtype=torch.long), test_label=torch.ones(100, dtype=torch.long))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = prepare_dataset(model, classes, regression=False)
    assert out["train_label"].dtype == torch.long and out["train_label"].shape == (200,)


@pytest.mark.parametrize("key", ["train_input", "test_input"])
def test_non_finite_inputs_are_named(ds, key):
    bad = dict(ds, **{key: ds[key].clone()})
    bad[key][3, 1] = float("nan")
    with pytest.raises(ValueError, match=rf"^dataset\['{key}'\] "):
        _model().fit(bad, steps=1)


def _symbolic_reciprocal():
    """[1, 1] whose only edge is 1/x, so that the safe variant (clipped at y_th) differs from the plain one at 0."""
    model = KAN(width=[1, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
    return model


@pytest.mark.parametrize("lamb", [0.0, 0.5])
def test_objective_terms_pass_the_singularity_options_and_penalty_weights(lamb):
    from kanlab.fit import objective_terms
    from kanlab.regularize import regularization

    model = _symbolic_reciprocal()
    x = torch.tensor([[0.0], [1e-6], [0.5]], dtype=torch.float64)
    y = torch.zeros(3, 1, dtype=torch.float64)
    mse = lambda p, t: torch.mean((p - t) ** 2)  # noqa: E731
    kw = dict(lamb_l1=0.7, lamb_entropy=0.3, lamb_coef=0.2, lamb_coefdiff=0.1, reg_metric="edge_backward")
    _, pred, reg = objective_terms(model, x, y, mse, lamb, singularity_avoiding=True, y_th=5.0, **kw)
    safe = model(x, True, 5.0)
    torch.testing.assert_close(pred, safe)
    assert float(safe.abs().max()) <= 5.0 + 1e-9 and not torch.equal(safe, model(x, True, 1000.0))
    assert not torch.isfinite(model(x, False, 5.0)).all()  # the plain 1/x at 0
    if not lamb:
        assert float(reg) == 0.0
        return
    # the penalty, on a numeric model: the weights reach regularization, each of them changing it
    net = _model()
    xs = torch.linspace(-1, 1, 40, dtype=torch.float64).reshape(20, 2)
    _, _, reg = objective_terms(net, xs, torch.zeros(20, 1, dtype=torch.float64), mse, lamb,
                                singularity_avoiding=True, y_th=1000.0, **kw)
    acts = net.layer_inputs(xs, True, 1000.0)
    torch.testing.assert_close(reg, regularization(net, acts, 0.7, 0.3, 0.2, 0.1, "edge_backward"))
    for other in ((0.7, 0.3, 0.0, 0.1, "edge_backward"), (0.7, 0.3, 0.2, 0.0, "edge_backward"),
                  (0.7, 0.3, 0.2, 0.1, "edge_forward_spline_n")):
        assert not torch.allclose(reg, regularization(net, acts, *other)), other


def test_the_probe_uses_the_safe_variants(ds):
    import warnings

    model = _symbolic_reciprocal()
    grid = torch.linspace(-1, 1, 21, dtype=torch.float64)[:, None]
    grid[10] = 0.0  # exactly
    data = {k: grid.clone() for k in ("train_input", "test_input")}
    data.update(train_label=torch.zeros(21, 1, dtype=torch.float64), test_label=torch.zeros(21, 1, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the safe 1/x is finite at 0: no "outside their domain" warning
        model.fit(data, steps=1, opt="Adam", lr=0.0)
    with pytest.warns(RuntimeWarning, match="symbolic edges may be outside their domain"):
        model.fit(data, steps=0, singularity_avoiding=False)  # the plain 1/x at 0 is not finite


def test_fit_defaults_are_pykans():
    import inspect

    from kanlab.fit import fit as fit_fn

    defaults = {k: p.default for k, p in inspect.signature(fit_fn).parameters.items()}
    assert {k: defaults[k] for k in ("opt", "steps", "log", "lamb", "lamb_l1", "lamb_entropy", "lamb_coef",
                                      "lamb_coefdiff", "update_grid", "grid_update_num", "lr",
                                      "start_grid_update_step", "stop_grid_update_step", "batch", "seed",
                                      "singularity_avoiding", "y_th", "epochs")} == dict(
        opt=None, steps=100, log=1, lamb=0.0, lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.0, lamb_coefdiff=0.0,
        update_grid=True, grid_update_num=10, lr=None, start_grid_update_step=-1, stop_grid_update_step=50,
        batch=-1, seed=0, singularity_avoiding=True, y_th=1000.0, epochs=10)


def test_the_optimizer_fit_builds(ds, monkeypatch):
    fit_mod = importlib.import_module("kanlab.fit")
    from kanlab.optim import LBFGS

    params = [torch.zeros(3, requires_grad=True)]
    lbfgs = fit_mod.make_optimizer("LBFGS", params, 0.25)
    assert isinstance(lbfgs, LBFGS)
    group = lbfgs.param_groups[0]
    assert (group["lr"], group["history_size"], group["line_search_fn"]) == (0.25, 10, "strong_wolfe")
    adam = fit_mod.make_optimizer("Adam", params, 0.125)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 0.125
    made = []
    real = fit_mod.make_optimizer
    monkeypatch.setattr(fit_mod, "make_optimizer", lambda opt, p, lr: made.append((opt, lr)) or real(opt, p, lr))
    _model().fit(ds, steps=1)
    _model().fit(ds, steps=1, opt="Adam", lr=0.01)
    assert made == [("LBFGS", 1.0), ("Adam", 0.01)]


def test_lbfgs_on_the_autograd_path_reports_the_accepted_point(ds):
    model = _model()
    hist = model.fit(ds, steps=3, lamb=0.01, lamb_coef=0.5, update_grid=False)  # lamb_coef: autograd, not flat
    with torch.no_grad():
        rmse = float(torch.sqrt(torch.mean((model(ds["train_input"]) - ds["train_label"]) ** 2)))
    assert hist["train_loss"][-1] == pytest.approx(rmse, rel=1e-12)


def test_a_batch_of_one_and_bad_batch_types(ds):
    hist = _model().fit(ds, steps=2, opt="Adam", batch=1)
    assert len(hist["train_loss"]) == 2
    with pytest.raises(ValueError, match=r"^batch must be an integer, got 1\.5$"):
        _model().fit(ds, steps=1, batch=1.5)


def test_a_grid_schedule_that_does_not_divide(ds, monkeypatch):
    model, calls, step = _model(), [], {"now": 0}
    monkeypatch.setattr(model, "update_grid", lambda x: calls.append(step["now"]))
    model.fit(ds, opt="Adam", lr=0.0, steps=12, stop_grid_update_step=10, grid_update_num=3,
              callbacks=[lambda s, logs: step.update(now=s + 1)])
    assert calls == [0, 3, 6, 9]  # every 10 // 3 = 3 steps


@pytest.mark.parametrize("kw", [dict(lamb=0.0, reg_metric="edge_backward"), dict(lamb=0.1)])
def test_which_runs_take_the_flat_objective(ds, monkeypatch, kw):
    fit_mod = importlib.import_module("kanlab.fit")

    built = []
    real = fit_mod.FlatObjective
    monkeypatch.setattr(fit_mod, "FlatObjective", lambda *a: built.append(a) or real(*a))
    _model().fit(ds, steps=1, update_grid=False, **kw)
    assert len(built) == 1  # lamb=0 never evaluates the penalty, whatever its metric
    built.clear()
    _model().fit(ds, steps=1, update_grid=False, lamb=0.1, reg_metric="edge_backward")
    assert built == []  # a penalty the flat objective does not have: autograd


def test_the_distributed_options_by_name(ds, monkeypatch):
    import kanlab.distributed

    got = []
    monkeypatch.setattr(kanlab.distributed, "fit_distributed",
                        lambda model, data, **kw: got.append((model, data, kw)) or {})
    model, loss = _model(), (lambda p, t: torch.mean((p - t) ** 2))
    model.fit(ds, backend="gloo", grid_samples=100, world_size=1, threads=1, sharded=False, loss_fn=loss)
    (m, d, kw), = got
    assert m is model and d is ds and kw["loss_fn"] is loss
    assert {k: kw[k] for k in ("backend", "grid_samples", "world_size", "threads", "sharded")} == dict(
        backend="gloo", grid_samples=100, world_size=1, threads=1, sharded=False)
    with pytest.raises(ValueError, match=r"^fit: val_data, validation_split cannot be combined with distributed"):
        model.fit(ds, distributed=True, val_data=ds, validation_split=0.2)


def _singular_data(n: int = 60):
    """conftest.singular_kan, its rows split in half into a training and a test set."""
    model, x, y = singular_kan(n)
    half = n // 2
    return model, {"train_input": x[:half], "train_label": y[:half], "test_input": x[half:], "test_label": y[half:]}


def test_the_defaults_as_fit_applies_them(caplog):
    """Each default acts as its documented value: a run without the argument equals one that passes it (a
    signature check alone would not see a default that the code replaces on the way)."""
    import copy
    import logging

    model, data = _singular_data()
    explicit = dict(steps=100, log=1, lamb_l1=1.0, lamb_entropy=2.0, seed=0, y_th=1000.0)
    runs = []
    for kw in ({}, explicit):
        m = copy.deepcopy(model)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kanlab.fit"):
            hist = m.fit(data, opt="Adam", lr=0.01, lamb=0.1, batch=10, update_grid=False, **kw)
        runs.append((hist, [p.detach().clone() for p in m.parameters()], len(caplog.records)))
    (h0, p0, logs0), (h1, p1, logs1) = runs
    assert len(h0["train_loss"]) == 100 and h0 == h1 and logs0 == logs1 > 0
    assert all(torch.equal(a, b) for a, b in zip(p0, p1))
    x = torch.rand(30, 2, dtype=torch.float64)
    assert len(KAN(width=[2, 1], grid=3, seed=0, dtype=torch.float64).fit((x, x[:, :1]))["train_loss"]) == 10


@pytest.mark.parametrize("opt", ["LBFGS", "Adam"])
def test_the_singularity_options_reach_every_evaluation(opt, monkeypatch):
    fit_mod = importlib.import_module("kanlab.fit")

    model, data = _singular_data()
    seen = []
    real = fit_mod.objective_terms
    monkeypatch.setattr(fit_mod, "objective_terms", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    hist = model.fit(data, opt=opt, lr=0.01 if opt == "Adam" else None, steps=2, update_grid=False, lamb=0.1,
                     lamb_coef=0.3, lamb_coefdiff=0.2, reg_metric="edge_backward", singularity_avoiding=True,
                     y_th=5.0)
    assert seen and all(kw == dict(lamb=0.1, lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.3, lamb_coefdiff=0.2,
                                   singularity_avoiding=True, y_th=5.0, reg_metric="edge_backward") for kw in seen)
    # the reported losses are the safe model's, clipped at y_th=5, not at the default 1000 (Adam reports the
    # training loss of the batch before its step, so only its test loss is the final model's)
    with torch.no_grad():
        for key, split in (("train_loss", "train"), ("test_loss", "test"))[opt == "Adam":]:
            pred = model(data[f"{split}_input"], True, 5.0)
            rmse = float(torch.sqrt(torch.mean((pred - data[f"{split}_label"]) ** 2)))
            assert hist[key][-1] == pytest.approx(rmse, rel=1e-12), key


def test_the_flat_objective_gets_the_singularity_options(ds, monkeypatch):
    fit_mod = importlib.import_module("kanlab.fit")

    built = []
    real = fit_mod.FlatObjective
    monkeypatch.setattr(fit_mod, "FlatObjective", lambda *a: built.append(a) or real(*a))
    _model().fit(ds, steps=1, update_grid=False, singularity_avoiding=False, y_th=7.0)
    assert len(built) == 1 and built[0][-2:] == (False, 7.0)

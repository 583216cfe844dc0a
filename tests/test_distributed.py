"""Data-parallel training (kanlab.distributed): 2 processes under torchrun (gloo, localhost), a killed rank resumed
from its checkpoint, the CLI form, and checkpoints/resume in one process.

Each torchrun launch starts two Python processes (about 10 s here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dist_worker
from kanlab import KAN, create_dataset
from kanlab.distributed import CheckpointError, Context, _split_threads, load_checkpoint
from kanlab.optim import LBFGS

WORKER = Path(__file__).with_name("dist_worker.py")


def launch(out: Path, *args: str, module: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """torchrun --standalone --nproc_per_node=2 (the worker script, or ``-m kanlab`` when module=True)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    target = ["-m", "kanlab", *args] if module else [str(WORKER), str(out), *args]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *target]
    return subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=timeout)


def results(out: Path) -> list[dict]:
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, worker_id) -> list[dict]:
    """The 2-rank job run without interruption, launched once per session: under xdist the workers share the
    session's temp folder, and a lock makes the second one wait for the first one's result."""
    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp()
    root = root.parent if worker_id != "master" else root
    out = root / "dist-uninterrupted"
    with FileLock(str(root / "dist-uninterrupted.lock")):
        if not (out / "rank1.pt").is_file():
            out.mkdir(exist_ok=True)
            proc = launch(out, "--steps", "3", "--checkpoint", str(out / "run.ckpt"), "--every", "1", "--epochs", "2")
            assert proc.returncode == 0, proc.stderr[-3000:]
    return results(out)


def test_two_ranks_hold_identical_models_equal_to_one_process(uninterrupted):
    r0, r1 = uninterrupted
    # identical on both ranks, bit for bit: parameters and the grids (buffers) after the grid updates
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert not torch.equal(r0["state"]["layers.0.grid"], dist_worker.new_model().layers[0].grid)
    assert r0["history"] == r1["history"]
    # equal to one process training on the same global batches (Adam on random batches, then L-BFGS, both with the
    # penalty). The sums are taken in another order, so they agree to rounding: 1e-15 after Adam, 5e-9 after the
    # first L-BFGS step (20 line-searched iterations); each further step amplifies the difference (the penalty's
    # entropy term is far from convex), so the last state is compared through the losses
    single = dist_worker.new_model()
    after_adam, first, hist = dist_worker.train(single, dist_worker.dataset(), 3)
    assert max_diff(after_adam, r0["after_adam"]) < 1e-12
    assert max_diff(first, r0["first_lbfgs"]) < 1e-6
    assert r0["history"]["train_loss"] == pytest.approx(hist["train_loss"], rel=1e-3)
    assert r0["history"]["reg"] == pytest.approx(hist["reg"], rel=1e-3)
    # torchrun gives each rank one thread on this machine: ranks x threads <= cores
    assert r0["threads"] * 2 <= max(2, os.cpu_count() or 1)


def test_training_by_epochs_over_a_distributed_sampler(uninterrupted):
    r0, r1 = uninterrupted
    for key in r0["epochs_state"]:
        assert torch.equal(r0["epochs_state"][key], r1["epochs_state"][key]), key
    losses = r0["epochs_history"]["train_loss"]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert r0["epochs_history"] == r1["epochs_history"]


def test_sharded_data_equals_one_process_on_all_rows(uninterrupted):
    r0, r1 = uninterrupted
    for key in r0["sharded_state"]:
        assert torch.equal(r0["sharded_state"][key], r1["sharded_state"][key]), key
    single = dist_worker.new_model()
    hist = single.fit(dist_worker.dataset(), opt="LBFGS", steps=1, lamb=dist_worker.LAMB)
    assert max_diff(single.state_dict(), r0["sharded_state"]) < 1e-6
    assert r0["sharded_history"]["test_loss"] == pytest.approx(hist["test_loss"], rel=1e-6)


def test_a_killed_rank_resumes_from_the_checkpoint_to_the_same_result(uninterrupted, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    killed = launch(tmp_path, "--steps", "3", "--checkpoint", str(ckpt), "--every", "1", "--kill-at", "1")
    assert killed.returncode != 0
    assert not (tmp_path / "rank0.pt").exists()
    saved = load_checkpoint(ckpt)
    # rank 1 died at the end of its second step; rank 0 had finished that step and saved it, then lost its peer
    assert saved["done"] == 2 and saved["world_size"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left behind
    resumed = launch(tmp_path, "--steps", "3", "--checkpoint", str(ckpt), "--every", "1", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    r0, r1 = results(tmp_path)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], uninterrupted[0]["state"][key]), key
        assert torch.equal(r1["state"][key], uninterrupted[0]["state"][key]), key
    assert r0["history"] == uninterrupted[0]["history"]
    # the same checkpoint cannot resume a run of another size
    model = dist_worker.new_model()
    with pytest.raises(CheckpointError, match="2 process"):
        model.fit(dist_worker.dataset(), steps=3, lamb=dist_worker.LAMB, checkpoint=ckpt, resume=ckpt)


def test_world_size_mismatch_is_a_clear_error(tmp_path):
    proc = launch(tmp_path, "--world-size", "3")
    assert proc.returncode != 0
    assert "world_size=3 but the job runs 2 process(es)" in proc.stderr


def test_cli_fit_distributed(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = x[:, 0] ** 2 + torch.sin(x[:, 1])
    (tmp_path / "data.csv").write_text("a,b,y\n" + "".join(f"{r[0]},{r[1]},{v}\n" for r, v in zip(x.tolist(),
                                                                                                y.tolist())))
    proc = launch(tmp_path, "fit", "data.csv", "--target", "y", "--steps", "3", "--distributed", "--out",
                  "m.kan", "--checkpoint", "run.ckpt", "--checkpoint-every", "2", module=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained KAN") == 1  # rank 0 alone prints and saves
    model = KAN.load(tmp_path / "m.kan")
    assert model.width == [2, 5, 1]
    assert load_checkpoint(tmp_path / "run.ckpt")["done"] == 3


# ------------------------------------------------------------------ one process
def data():
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    return {k: v.double() for k, v in create_dataset(f, n_var=2, train_num=200, test_num=50, seed=0).items()}


def model():
    return KAN(width=[2, 3, 1], grid=5, seed=0, dtype=torch.float64)


def test_distributed_without_a_process_group_is_a_clear_error(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="needs a process group.*torchrun"):
        model().fit(data(), steps=1, distributed=True)


@pytest.mark.parametrize("kw", [dict(opt="LBFGS", lamb=0.01), dict(opt="Adam", lr=0.02, batch=64, lamb=0.01),
                                dict(opt="LBFGS", batch=100)])
def test_checkpointed_fit_equals_fit_and_resume_equals_uninterrupted(tmp_path, kw):
    d = data()
    plain, ck = model(), model()
    if kw.get("lamb"):
        kw = dict(kw, lamb_coef=1e-300)  # fit's autograd path (the flat L-BFGS objective rounds differently)
    h_plain = plain.fit(d, steps=4, **kw)
    h_ck = ck.fit(d, steps=4, checkpoint=tmp_path / "a.ckpt", **kw)
    assert max_diff(plain.state_dict(), ck.state_dict()) == 0.0
    assert h_plain["train_loss"] == h_ck["train_loss"]
    part = model()
    part.fit(d, steps=2, checkpoint=tmp_path / "b.ckpt", checkpoint_every=1, **kw)  # "killed" after 2 steps
    assert load_checkpoint(tmp_path / "b.ckpt")["done"] == 2
    resumed = model()
    h = resumed.fit(d, steps=4, checkpoint=tmp_path / "b.ckpt", checkpoint_every=1, resume=True, **kw)
    assert max_diff(resumed.state_dict(), ck.state_dict()) == 0.0
    assert h["train_loss"] == h_ck["train_loss"]


def test_checkpoint_and_resume_with_multiplication_nodes(tmp_path):
    d = data()
    kw = dict(steps=3, lamb=0.01, checkpoint=tmp_path / "m.ckpt")
    full = KAN(width=[2, [1, 1], 1], seed=0, dtype=torch.float64)
    full.fit(d, **kw)
    part = KAN(width=[2, [1, 1], 1], seed=0, dtype=torch.float64)
    part.fit(d, **dict(kw, steps=1, checkpoint=tmp_path / "p.ckpt"))
    resumed = KAN(width=[2, [1, 1], 1], seed=0, dtype=torch.float64)
    resumed.fit(d, **dict(kw, checkpoint=tmp_path / "p.ckpt", resume=True))
    assert max_diff(resumed.state_dict(), full.state_dict()) == 0.0
    plain = KAN(width=[2, [1, 1], 1], seed=0, dtype=torch.float64)
    plain.fit(d, steps=3, lamb=0.01)  # mult models train through autograd in fit too: the same loop, bit for bit
    assert max_diff(plain.state_dict(), full.state_dict()) == 0.0


def test_epochs_resume_equals_uninterrupted(tmp_path):
    d = data()
    xy = (d["train_input"], d["train_label"])
    full = model()
    full.fit(xy, epochs=3, batch=50, lr=0.02, checkpoint=tmp_path / "a.ckpt")
    part = model()
    part.fit(xy, epochs=1, batch=50, lr=0.02, checkpoint=tmp_path / "b.ckpt")
    resumed = model()
    h = resumed.fit(xy, epochs=3, batch=50, lr=0.02, checkpoint=tmp_path / "b.ckpt", resume=True)
    assert len(h["train_loss"]) == 3
    assert max_diff(resumed.state_dict(), full.state_dict()) == 0.0


def test_resume_refuses_other_arguments_and_foreign_files(tmp_path):
    d = data()
    model().fit(d, steps=1, checkpoint=tmp_path / "a.ckpt")
    with pytest.raises(CheckpointError, match="fit arguments differ"):
        model().fit(d, steps=2, lr=0.5, checkpoint=tmp_path / "a.ckpt", resume=True)
    with pytest.raises(CheckpointError, match="model differ"):
        KAN(width=[2, 4, 1], seed=0, dtype=torch.float64).fit(d, steps=2, checkpoint=tmp_path / "a.ckpt",
                                                               resume=True)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable kanlab checkpoint"):
        model().fit(d, steps=1, resume=tmp_path / "junk.ckpt")
    torch.save({"format": "other"}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a kanlab checkpoint"):
        model().fit(d, steps=1, resume=tmp_path / "other.ckpt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        model().fit(d, steps=1, resume=tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint"):
        model().fit(d, steps=1, checkpoint_every=2, resume=False)
    with pytest.raises(ValueError, match="cannot be combined"):
        model().fit(d, steps=1, checkpoint=tmp_path / "c.ckpt", metrics=[lambda: 0.0])
    with pytest.raises(TypeError, match="unexpected keyword"):
        model().fit(d, steps=1, shardd=True)
    # resume=True with no file yet starts afresh (a restartable job runs the same command every time)
    h = model().fit(d, steps=1, checkpoint=tmp_path / "new.ckpt", resume=True)
    assert len(h["train_loss"]) == 1 and (tmp_path / "new.ckpt").is_file()


def test_lbfgs_state_round_trips_through_torch_load(tmp_path):
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    target = torch.randn(5, dtype=torch.float64)

    def closure(opt):
        def c():
            opt.zero_grad()
            loss = ((p - target) ** 4).sum()
            loss.backward()
            return loss
        return c

    opt = LBFGS([p], max_iter=3)
    opt.step(closure(opt))
    torch.save(opt.state_dict(), tmp_path / "s.pt")
    saved_p = p.detach().clone()
    opt.step(closure(opt))
    expected = p.detach().clone()
    with torch.no_grad():
        p.copy_(saved_p)
    fresh = LBFGS([p], max_iter=3)
    fresh.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    fresh.step(closure(fresh))
    assert torch.equal(p.detach(), expected)


def test_ranks_split_the_cores():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        _split_threads(Context(rank=0, world_size=4, local_world_size=4, backend="gloo"), "auto")
        cores = len(os.sched_getaffinity(0))
        assert torch.get_num_threads() == min(8, max(1, cores // 4))
        _split_threads(Context(), 3)
        assert torch.get_num_threads() == 3
        _split_threads(Context(), None)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_bench_gpu_without_cuda_says_so_and_exits_0():
    script = Path(__file__).parent.parent / "benchmarks" / "bench_gpu.py"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no CUDA device" in proc.stdout

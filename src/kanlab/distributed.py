"""Data-parallel training over processes with ``torch.distributed``: DDP, launched by ``torchrun``.

>>> # torchrun --nproc_per_node=2 train.py          (one machine; add --nnodes/--rdzv-endpoint for several)
>>> model.fit(dataset, opt="LBFGS", steps=50, distributed=True, checkpoint="run.ckpt", checkpoint_every=10)

What each rank does:

- **Data.** With a dataset dict every rank passes the same dict (``sharded=False``, the default) and keeps the
  contiguous block of rows ``[r N / W, (r + 1) N / W)``; or each passes only its own rows (``sharded=True``). With
  ``(x, y)`` tensors or a DataLoader (training by epochs) a :class:`~torch.utils.data.DistributedSampler` deals out
  the rows.
- **Gradients** are averaged by :class:`~torch.nn.parallel.DistributedDataParallel`. Each rank's loss is weighted by
  its share of the rows, so the result is the gradient of the global objective, for shards of any sizes. The sparsity
  penalty is a function of whole-batch statistics (standard deviations): its inputs are all-gathered, with a
  backward that returns each rank its own rows' gradient, so the penalty is the global one too.
- **L-BFGS** gets the global loss (one all-reduce per evaluation) and the DDP-averaged gradient; every rank then
  runs the same line search on the same numbers and the parameters stay identical, bit for bit.
- **Grid updates** fit the grid to the all-gathered batch (at most ``grid_samples`` rows, evenly spaced on every
  rank), so all ranks hold the same grids.
- Full-batch and random-batch training on a dict equal a single-process ``fit`` on the same global data (up to
  rounding: the sums are taken in another order).
- **Rank 0** logs, shows the progress bar and writes checkpoints (atomically, every ``checkpoint_every`` steps);
  ``resume=path`` restores the model, the optimizer's state, the random batch generator and the history, so a killed
  run continues to the same result as an uninterrupted one.
- **Cores.** Ranks on one machine split its cores (ranks x threads <= cores) unless ``threads=`` says otherwise:
  an oversubscribed CPU makes every step wait for the slowest rank.

``fit(..., checkpoint=...)`` without ``distributed=True`` runs the same loop in one process (checkpoints, resume).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import sys
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._ints import as_int
from .epochs import _KEEP_INPUTS, _check_pair
from .fit import _OPTS, _is_stream, make_optimizer, prepare_dataset
from .model import KAN
from .optim import LBFGS
from .regularize import check_reg_metric, regularization

__all__ = ["Context", "setup", "is_main", "fit_distributed", "load_checkpoint", "CheckpointError"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "kanlab-checkpoint"
CHECKPOINT_VERSION = 1
GRID_SAMPLES = 100_000  # rows of the global batch a grid update sees at most (spread evenly over the ranks)


class CheckpointError(ValueError):
    """A checkpoint that cannot resume this run: another format, world size, model or set of fit arguments."""


# ---------------------------------------------------------------------------------------------- process group
@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` and among the ``local_world_size`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def setup(device: torch.device | str | None = None, backend: str | None = None,
          threads: int | str | None = "auto") -> Context:
    """Join the process group (initialising it from torchrun's environment if needed) and split the cores.

    backend: defaults to 'nccl' for a CUDA ``device``, 'gloo' otherwise. threads: 'auto' lowers
    ``torch.get_num_threads()`` so that the ranks on this machine do not use more threads than it has cores; an int
    sets it; None leaves it alone.
    Raises RuntimeError, naming what to do, when there is no process group and no torchrun environment.
    """
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError("distributed=True: this torch build has no torch.distributed")
    if not dist.is_initialized():
        missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise RuntimeError(
                "distributed=True needs a process group, and none is initialised (environment variable(s) "
                f"{', '.join(missing)} not set): launch with `torchrun --nproc_per_node=N script.py`, or call "
                "torch.distributed.init_process_group(...) first")
        if backend is None:
            backend = "nccl" if device is not None and torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
        # the group is ours: shut it down before the interpreter does (a gloo group left to the interpreter's
        # teardown can abort the process with "terminate called without an active exception")
        import atexit

        atexit.register(_destroy_group)
    world = dist.get_world_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    ctx = Context(rank=dist.get_rank(), world_size=world, local_world_size=local, backend=dist.get_backend())
    _split_threads(ctx, threads)
    return ctx


# The tensors of the last collectives. Gloo's worker threads free a finished collective a moment after the caller
# has its result; a tensor made in Python then drops its Python object, which takes the GIL. Left to the interpreter's
# teardown, that aborted rank 1 at exit ("terminate called without an active exception", a core dump showed the GIL
# taken in ~AsyncAllreduceWork inside ProcessGroupGloo::runLoop during finalisation; 2 of 37 runs of the resume test
# on a busy machine). At exit these are waited for: while a worker still holds one, its use count is above ours.
_IN_FLIGHT: deque[Tensor] = deque(maxlen=16)
SETTLE_SECONDS = 10.0


def _track(*tensors: Tensor) -> None:
    _IN_FLIGHT.extend(tensors)


def _settle(timeout: float = SETTLE_SECONDS) -> bool:
    """Wait (sleeping, the GIL released) until no collective's worker holds a tracked tensor; False on timeout."""
    import time

    end = time.monotonic() + timeout
    while any(t._use_count() > 1 for t in _IN_FLIGHT):
        if time.monotonic() > end:
            return False
        time.sleep(0.001)
    _IN_FLIGHT.clear()
    return True


def _destroy_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()  # every rank leaves together: one rank's teardown must not pull the group from the others
        if not _settle():
            logger.debug("distributed: a collective's tensors were still held after %.0f s", SETTLE_SECONDS)
        dist.destroy_process_group()


def _split_threads(ctx: Context, threads: int | str | None) -> None:
    if threads is None:
        return
    if threads == "auto":
        share = max(1, _usable_cores() // max(1, ctx.local_world_size))
        if torch.get_num_threads() > share:
            logger.info("rank %d: %d ranks on this machine with %d cores: using %d thread(s) per rank (was %d)",
                        ctx.rank, ctx.local_world_size, _usable_cores(), share, torch.get_num_threads())
            torch.set_num_threads(share)
        return
    torch.set_num_threads(as_int(threads, "threads", minimum=1))


def is_main() -> bool:
    """True on rank 0, or when no process group is running (a plain script): where to save and print."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class _Comm:
    """The collectives the loop needs; with one process they do nothing."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.world, self.rank = ctx, ctx.world_size, ctx.rank
        self.on = ctx.backend is not None and ctx.world_size > 1

    def sum(self, values: Sequence[float], like: Tensor) -> list[float]:
        """Sums over the ranks of a few numbers (one all-reduce)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=like.device)
        if self.on:
            import torch.distributed as dist

            dist.all_reduce(t)
            _track(t)
        return t.tolist()

    def gather(self, x: Tensor) -> Tensor:
        """All ranks' rows of x, concatenated in rank order (the ranks may hold different numbers of rows)."""
        return self.gather_sized(x)[0]

    def gather_sized(self, x: Tensor) -> tuple[Tensor, list[int]]:
        """:meth:`gather`, and every rank's number of rows (two all-gathers: the sizes, then the padded rows)."""
        if not self.on:
            return x, [x.shape[0]]
        import torch.distributed as dist

        n = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.zeros_like(n) for _ in range(self.world)]
        dist.all_gather(sizes, n)
        _track(n, *sizes)
        sizes = [int(s) for s in sizes]
        pad = x.new_zeros((max(sizes), *x.shape[1:]))
        pad[: x.shape[0]] = x.detach()
        parts = [torch.empty_like(pad) for _ in range(self.world)]
        pad = pad.contiguous()
        dist.all_gather(parts, pad)
        _track(pad, *parts)
        return torch.cat([p[:s] for p, s in zip(parts, sizes)]), sizes

    def _objects(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (pickled, gathered as bytes: the tensors stay tracked, unlike all_gather_object's)."""
        raw = torch.frombuffer(bytearray(pickle.dumps(value)), dtype=torch.uint8)
        rows, sizes = self.gather_sized(raw)
        parts = torch.split(rows, sizes)
        return [pickle.loads(p.numpy().tobytes()) for p in parts]

    def same(self, what: str, value: Any) -> None:
        """Raise RuntimeError when ``value`` differs between the ranks (naming them and the values)."""
        if not self.on:
            return
        values = self._objects(value)
        odd = [r for r, v in enumerate(values) if v != values[0]]
        if odd:
            raise RuntimeError(f"distributed fit: the ranks disagree on {what}: rank 0 has {values[0]!r}, rank "
                               f"{odd[0]} has {values[odd[0]]!r}; every rank must build the same model and call fit "
                               "with the same arguments")

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.on:
            return obj
        return self._objects(obj if self.rank == 0 else None)[0]


class _GatherRows(torch.autograd.Function):
    """All ranks' rows, differentiable for the local ones. Its backward returns this rank's slice of the gradient
    times the world size: :class:`_Objective` adds the penalty undivided on every rank and DDP divides the summed
    gradient by the world size, so the penalty's direct part counts once and every rank's rows count once."""

    @staticmethod
    def forward(ctx, x: Tensor, comm: _Comm) -> Tensor:
        out, sizes = comm.gather_sized(x)
        ctx.start = sum(sizes[: comm.rank])
        ctx.n, ctx.world = x.shape[0], comm.world
        return out

    @staticmethod
    def backward(ctx, g: Tensor):
        return g[ctx.start: ctx.start + ctx.n] * ctx.world, None


class _Objective(nn.Module):
    """The module DDP wraps: forward(x, y) -> (loss to differentiate, this rank's share of the global objective,
    predictions, penalty). The global objective is mean_loss over all rows + lamb * penalty(all rows)."""

    def __init__(self, model: KAN, comm: _Comm, loss_fn: Callable, reg_kw: dict) -> None:
        super().__init__()
        self.model, self.comm, self.loss_fn, self.reg_kw = model, comm, loss_fn, reg_kw

    def forward(self, x: Tensor, y: Tensor, share: float):
        kw, world = self.reg_kw, self.comm.world
        if kw["lamb"] > 0:
            acts = self.model.layer_inputs(x, kw["singularity_avoiding"], kw["y_th"])
            pred = acts[-1]
            every = [_GatherRows.apply(a, self.comm) for a in acts] if self.comm.on else acts
            reg = regularization(self.model, every, kw["lamb_l1"], kw["lamb_entropy"], kw["lamb_coef"],
                                 kw["lamb_coefdiff"], kw["reg_metric"])
        else:
            pred = self.model(x, kw["singularity_avoiding"], kw["y_th"])
            reg = pred.new_zeros(())
        data = self.loss_fn(pred, y) * share
        value = data + kw["lamb"] * reg / world
        return world * data + kw["lamb"] * reg, value, pred, reg


# ---------------------------------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, payload: dict) -> None:
    from .io import _atomic

    _atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by a fit with ``checkpoint=`` (tensors, numbers and strings only: loading runs no
    code). Raises CheckpointError when the file is not one."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"resume: no checkpoint at {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for a corrupt or foreign file
        raise CheckpointError(f"{p} is not a readable kanlab checkpoint ({type(err).__name__}: {err})"[:400]) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} is not a kanlab checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p}: checkpoint version {ckpt.get('version')!r}; this kanlab reads "
                              f"{CHECKPOINT_VERSION}")
    return ckpt


def _signature(model: KAN, args: dict) -> dict:
    """What must match for a resumed run to continue the same computation."""
    arch = {"width": model.width_spec, "mult_arity": model.mult_arity, "grid": model.grid, "k": model.k,
            "dtype": str(model.dtype)}
    return {"architecture": repr(arch), "args": repr(sorted(args.items()))}


def _restore(ckpt: dict, path, model: KAN, optimizer, signature: dict, world: int, gen: torch.Generator | None):
    if ckpt["world_size"] != world:
        raise CheckpointError(f"{path} was written by a run of {ckpt['world_size']} process(es); this one has {world}. "
                              "Resume with the same number of processes (the batches each rank sees depend on it)")
    for key, what in (("architecture", "model"), ("args", "fit arguments")):
        if ckpt["signature"][key] != signature[key]:
            raise CheckpointError(f"{path}: the {what} differ from the run that wrote it: saved "
                                  f"{ckpt['signature'][key]}, now {signature[key]}"[:600])
    state = {k: v.to(device=model.device) for k, v in ckpt["model"].items()}
    model.load_state_dict(state)
    optimizer.load_state_dict(ckpt["optimizer"])
    if gen is not None:
        gen.set_state(ckpt["generator"])


# ---------------------------------------------------------------------------------------------- the loop
@dataclass
class _Shard:
    x: Tensor
    y: Tensor
    n_global: int


def _block(n: int, rank: int, world: int) -> slice:
    return slice(rank * n // world, (rank + 1) * n // world)


def _grid_rows(x: Tensor, comm: _Comm, limit: int) -> Tensor:
    per_rank = max(1, limit // comm.world)
    if x.shape[0] > per_rank:
        x = x[torch.linspace(0, x.shape[0] - 1, per_rank, device=x.device).round().long()]
    return comm.gather(x)


def fit_distributed(
    model: KAN,
    dataset,
    opt: str | None = None,
    steps: int = 100,
    log: int = 1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lr: float | None = None,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    progress: bool = False,
    seed: int = 0,
    callbacks: Sequence[Callable[[int, dict], None]] | None = None,
    singularity_avoiding: bool = True,
    y_th: float = 1000.0,
    reg_metric: str = "edge_forward_spline_n",
    epochs: int = 10,
    distributed: bool = True,
    sharded: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool | str | os.PathLike | None = None,
    world_size: int | None = None,
    threads: int | str | None = "auto",
    backend: str | None = None,
    grid_samples: int = GRID_SAMPLES,
) -> dict[str, list[float]]:
    """Train ``model`` in place, data-parallel over the process group (``distributed=True``), with checkpoints.

    The arguments shared with :func:`kanlab.fit.fit` mean the same. Others:

    sharded: False, every rank passes the whole dataset dict and keeps its block of rows; True, each passes its own.
    checkpoint, checkpoint_every: rank 0 writes the training state to ``checkpoint`` every ``checkpoint_every``
        steps (epochs, when training by epochs) and at the end.
    resume: a checkpoint path to continue from (it must exist), or True for ``checkpoint`` if that file exists.
    world_size: the number of processes expected; a clear error when the launch differs.
    threads: 'auto' splits the cores between the ranks on a machine; an int sets the threads per rank; None leaves
        torch's setting. backend: 'gloo' (CPU) or 'nccl' (CUDA) when the process group is not yet initialised.
    grid_samples: the most rows of the global batch a grid update gathers (evenly spaced on every rank).

    Returns the history, as ``fit`` does: ``train_loss`` and ``test_loss`` (RMSE over all ranks' rows), ``reg``.
    """
    ctx = setup(model.device, backend, threads) if distributed else Context()
    comm = _Comm(ctx)
    if world_size is not None and as_int(world_size, "world_size", minimum=1) != ctx.world_size:
        raise RuntimeError(f"fit was told world_size={world_size} but the job runs {ctx.world_size} process(es); "
                           f"launch with torchrun --nproc_per_node={world_size} (or fix world_size)")
    check_reg_metric(reg_metric)
    if not (math.isfinite(lamb) and lamb >= 0):
        raise ValueError(f"lamb must be a finite number >= 0, got {lamb}")
    if checkpoint_every is not None:
        checkpoint_every = as_int(checkpoint_every, "checkpoint_every", minimum=1)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs checkpoint=path")
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if resume is True:
        if ckpt_path is None:
            raise ValueError("resume=True continues from checkpoint=path; pass checkpoint too")
        resume = ckpt_path if ckpt_path.is_file() else None
    elif resume is False:
        resume = None
    stream = _is_stream(dataset)
    opt = ("Adam" if stream else "LBFGS") if opt is None else opt
    if opt not in _OPTS:
        raise ValueError(f"unknown opt {opt!r}; choose one of {list(_OPTS)}")
    if stream and opt != "Adam":
        raise ValueError(f"training from a DataLoader or (x, y) tensors uses Adam by epochs; opt={opt!r} needs a "
                         "dataset dict")
    lr = (1e-2 if stream else 1.0) if lr is None else lr
    regression = loss_fn is None
    objective_fn = loss_fn or (lambda p, y: torch.mean((p - y) ** 2))
    reg_kw = dict(lamb=lamb, lamb_l1=lamb_l1, lamb_entropy=lamb_entropy, lamb_coef=lamb_coef,
                  lamb_coefdiff=lamb_coefdiff, singularity_avoiding=singularity_avoiding, y_th=y_th,
                  reg_metric=reg_metric)
    args = dict(opt=opt, lr=lr, batch=batch, seed=seed, update_grid=update_grid, grid_update_num=grid_update_num,
                start=start_grid_update_step, stop=stop_grid_update_step, sharded=sharded, stream=stream,
                grid_samples=grid_samples, **reg_kw)
    signature = _signature(model, args)
    comm.same("the model and fit arguments", signature)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(opt, params, lr)
    wrapped = _Objective(model, comm, objective_fn, reg_kw)
    if comm.on:
        # DDP broadcasts rank 0's parameters and buffers once, here: every rank starts from the same model
        wrapped = nn.parallel.DistributedDataParallel(wrapped, forward_sync_buffers=False,
                                                      find_unused_parameters=True)
    run = _Run(model, wrapped, optimizer, params, comm, objective_fn, regression, reg_kw, progress and ctx.is_main,
               log if ctx.is_main else 0, callbacks, ckpt_path, checkpoint_every, signature, grid_samples)
    ckpt = None
    if resume is not None:
        ckpt = load_checkpoint(resume) if ctx.is_main else None
        ckpt = comm.broadcast(ckpt)
    if stream:
        return run.epochs(dataset, as_int(epochs, "epochs", minimum=1), batch, seed, update_grid, ckpt, resume)
    return run.steps(dataset, as_int(steps, "steps", minimum=0), batch, seed, sharded, update_grid, grid_update_num,
                     start_grid_update_step, stop_grid_update_step, ckpt, resume)


class _Run:
    """One training run's state and its two loops (steps on a dict, epochs on a stream)."""

    def __init__(self, model, wrapped, optimizer, params, comm, objective_fn, regression, reg_kw, progress, log,
                 callbacks, ckpt_path, checkpoint_every, signature, grid_samples) -> None:
        self.model, self.wrapped, self.optimizer, self.params, self.comm = model, wrapped, optimizer, params, comm
        self.objective_fn, self.regression, self.reg_kw = objective_fn, regression, reg_kw
        self.progress, self.log, self.callbacks = progress, log, list(callbacks or ())
        self.ckpt_path, self.checkpoint_every, self.signature = ckpt_path, checkpoint_every, signature
        self.grid_samples = grid_samples
        self.sa, self.y_th = reg_kw["singularity_avoiding"], reg_kw["y_th"]
        self._rmse_like = True  # report RMSE (labels shaped like the predictions) or the mean loss_fn value

    # ---------------------------------------------------------------- pieces
    def _objective(self, xb: Tensor, yb: Tensor, share: float) -> tuple[float, float, Tensor]:
        """(global objective, global train metric on these predictions, penalty) in one all-reduce; the
        gradients are reduced by DDP during the backward."""
        self.optimizer.zero_grad()
        loss, value, pred, reg = self.wrapped(xb, yb, share)
        loss.backward()
        total, *metric = self.comm.sum([float(value.detach()), *self._parts(pred.detach(), yb)], value)
        return total, self._metric(*metric), reg.detach()

    def _parts(self, pred: Tensor, y: Tensor) -> tuple[float, float]:
        """This rank's (sum, count) of the reported metric: squared errors, or loss_fn values times rows."""
        if pred.shape == y.shape:
            return float(((pred - y) ** 2).sum()), float(pred.numel())
        return float(self.objective_fn(pred, y)) * y.shape[0], float(y.shape[0])

    def _metric(self, total: float, n: float) -> float:
        """RMSE (or the mean loss_fn value) from summed parts; which one depends on the shapes, the same on all
        ranks."""
        mean = total / max(n, 1.0)
        return math.sqrt(mean) if self._rmse_like else mean

    def _params_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.params)

    def _save(self, done: int, history: dict, gen: torch.Generator | None, final: bool = False) -> None:
        if self.ckpt_path is None or not self.comm.ctx.is_main:
            return
        if not final and (self.checkpoint_every is None or done % self.checkpoint_every):
            return
        payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "done": done,
                   "world_size": self.comm.world, "signature": self.signature,
                   "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                   "optimizer": self.optimizer.state_dict(), "history": {k: list(v) for k, v in history.items()},
                   "generator": gen.get_state() if gen is not None else torch.empty(0, dtype=torch.uint8)}
        _save_checkpoint(self.ckpt_path, payload)
        logger.info("checkpoint after %d: %s", done, self.ckpt_path)

    def _after(self, i: int, history: dict, bar) -> None:
        logs = {key: vals[-1] for key, vals in history.items()}
        if self.progress:
            bar.set_postfix({k: f"{v:.2e}" for k, v in logs.items()}, refresh=False)
        if self.log and i % self.log == 0 and logger.isEnabledFor(logging.INFO):
            logger.info("step %d: %s", i, " ".join(f"{k}={v:.3e}" for k, v in logs.items()))
        for cb in self.callbacks:
            cb(i, logs)

    def _start(self, ckpt, resume, gen, history: dict) -> int:
        if ckpt is None:
            return 0
        _restore(ckpt, resume, self.model, self.optimizer, self.signature, self.comm.world, gen)
        for key, values in ckpt["history"].items():
            history[key] = list(values)
        logger.info("resumed from %s after %d", resume, ckpt["done"])
        return int(ckpt["done"])

    # ---------------------------------------------------------------- steps on a dataset dict
    def steps(self, dataset, steps, batch, seed, sharded, update_grid, grid_update_num, start_grid, stop_grid,
              ckpt, resume) -> dict[str, list[float]]:
        model, comm = self.model, self.comm
        data = prepare_dataset(model, dataset, regression=self.regression)
        (n_tr_all,) = comm.sum([data["train_input"].shape[0]], data["train_input"])
        n_tr_all = int(n_tr_all)
        if not sharded:
            comm.same("the dataset's size (with sharded=False every rank passes the whole dataset)",
                      (data["train_input"].shape[0], data["test_input"].shape[0]))
            n_tr_all = data["train_input"].shape[0]
        full = batch == -1 or batch >= n_tr_all
        if not full:
            as_int(batch, "batch", minimum=1)
        # random batches: with sharded=False every rank draws the same ids from the same generator (what a single
        # process draws) and keeps its block of them; with sharded=True each rank draws its share from its rows
        gen = torch.Generator(device="cpu").manual_seed(seed if not sharded else seed * 100_003 + comm.rank)
        if sharded:
            own_tr = data["train_input"].shape[0]
            b_rank = max(1, round(batch * own_tr / n_tr_all)) if not full else own_tr

        def rows(split: str, ids: Tensor | None) -> tuple[Tensor, Tensor]:
            """This rank's rows of the split (of the batch ``ids``, when given)."""
            x, y = data[f"{split}_input"], data[f"{split}_label"]
            if ids is not None:
                x, y = x[ids], y[ids]
            if not sharded:
                block = _block(x.shape[0], comm.rank, comm.world)
                x, y = x[block], y[block]
            return x, y

        grid_every = max(1, stop_grid // max(1, grid_update_num))
        history: dict[str, list[float]] = {"train_loss": [], "test_loss": [], "reg": []}
        begin = self._start(ckpt, resume, gen, history)
        bar = tqdm(range(begin, steps), disable=not self.progress, desc="fit", dynamic_ncols=True,
                   mininterval=0.1 if sys.stderr.isatty() else 5.0)
        for step in bar:
            if full:
                ids_tr = ids_te = None
            else:
                n_own = data["train_input"].shape[0]
                ids_tr = torch.randperm(n_own, generator=gen)[: (b_rank if sharded else batch)]
            backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
            try:
                xb, yb = rows("train", ids_tr)
                if sharded:
                    (n_batch,) = comm.sum([xb.shape[0]], xb)
                else:
                    n_batch = n_tr_all if ids_tr is None else len(ids_tr)
                self._rmse_like = yb.shape == (xb.shape[0], model.width[-1])
                if update_grid and start_grid <= step < stop_grid and step % grid_every == 0:
                    model.update_grid(_grid_rows(xb, comm, self.grid_samples))
                if not full:
                    n_te_own = data["test_input"].shape[0]
                    ids_te = torch.randperm(n_te_own, generator=gen)[: min(b_rank if sharded else batch, n_te_own)]
                xt, yt = rows("test", ids_te)
                share = xb.shape[0] / n_batch
                if isinstance(self.optimizer, LBFGS):
                    state: dict = {}

                    def closure():
                        total, _, reg = self._objective(xb, yb, share)
                        state["reg"] = reg
                        return torch.tensor(total, dtype=torch.float64)  # never the default dtype

                    self.optimizer.step(closure)
                    with torch.no_grad():  # the closure's last call may be a line-search probe
                        train_parts = self._parts(model(xb, self.sa, self.y_th), yb)
                    reg = state["reg"]
                else:
                    _, train, reg = self._objective(xb, yb, share)
                    self.optimizer.step()
                    train_parts = ()
                with torch.no_grad():  # one all-reduce: test metric, (train metric,) and whether any rank failed
                    sums = comm.sum([*self._parts(model(xt, self.sa, self.y_th), yt), *train_parts,
                                     0.0 if self._params_finite() else 1.0], xb)
                test = self._metric(*sums[:2])
                if train_parts:
                    train = self._metric(*sums[2:4])
            except BaseException:
                model.load_state_dict(backup)
                raise
            if sums[-1] or not math.isfinite(train):
                model.load_state_dict(backup)
                warnings.warn(f"fit: step {step} produced NaN/inf; stopped and restored the parameters from before "
                              "it", RuntimeWarning, stacklevel=3)
                break
            history["train_loss"].append(train)
            history["test_loss"].append(test)
            history["reg"].append(float(reg))
            self._after(step, history, bar)
            self._save(step + 1, history, gen)
        bar.close()
        self._save(len(history["train_loss"]), history, gen, final=True)
        model.fit_input_ = rows("train", None)[0][:_KEEP_INPUTS]
        return history

    # ---------------------------------------------------------------- epochs on (x, y) tensors or a DataLoader
    def epochs(self, data, epochs: int, batch: int, seed: int, update_grid: bool, ckpt, resume):
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

        model, comm = self.model, self.comm
        if isinstance(data, DataLoader):
            loader = data
            sampler = getattr(loader, "sampler", None)
            if comm.on and not isinstance(sampler, DistributedSampler):
                raise ValueError("distributed fit by epochs: the DataLoader must use a DistributedSampler (or pass "
                                 "(x, y) tensors and kanlab builds one)")
        else:
            x, y = _check_pair(model, data[0], data[1], "training data", self.regression)
            batch = 1024 if batch == -1 else as_int(batch, "batch", minimum=1)
            per_rank = max(1, batch // comm.world)
            sampler = DistributedSampler(TensorDataset(x, y), num_replicas=comm.world, rank=comm.rank,
                                         shuffle=True, seed=seed, drop_last=False)
            loader = DataLoader(TensorDataset(x, y), batch_size=per_rank, sampler=sampler)
        history: dict[str, list[float]] = {"train_loss": [], "reg": []}
        begin = self._start(ckpt, resume, None, history)
        bar = tqdm(range(begin, epochs), disable=not self.progress, desc="epochs",
                   mininterval=0.1 if sys.stderr.isatty() else 5.0)
        kept: list[Tensor] = []
        for epoch in bar:
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            good = {k: v.detach().clone() for k, v in model.state_dict().items()}
            sq, regs, seen, failed = 0.0, 0.0, 0, False
            try:
                for b, (xb, yb) in enumerate(loader):
                    xb = xb.to(device=model.device, dtype=model.dtype)
                    yb = yb.to(device=model.device, dtype=model.dtype if yb.is_floating_point() else yb.dtype)
                    if self.regression and yb.ndim == 1:
                        yb = yb.unsqueeze(1)
                    if update_grid and epoch == 0 and b == 0:
                        model.update_grid(_grid_rows(xb, comm, self.grid_samples))
                    if epoch == begin and len(kept) < 10:
                        kept.append(xb.detach())
                    (n_batch,) = comm.sum([xb.shape[0]], xb)
                    self._rmse_like = False  # the epoch's mean: parts are loss values times rows
                    total, part, reg = self._objective(xb, yb, xb.shape[0] / n_batch)
                    if not math.isfinite(total):
                        failed = True
                        break
                    self.optimizer.step()
                    sq += part * n_batch  # the global batch's mean loss, times its rows
                    regs += float(reg) * n_batch
                    seen += n_batch
            except BaseException:
                model.load_state_dict(good)
                raise
            (bad,) = comm.sum([0.0 if not failed and self._params_finite() else 1.0], self.params[0])
            if bad:
                model.load_state_dict(good)
                warnings.warn(f"fit: epoch {epoch} produced NaN/inf; stopped and restored the parameters from before "
                              "it", RuntimeWarning, stacklevel=3)
                break
            mean = sq / max(seen, 1)
            history["train_loss"].append(math.sqrt(mean) if self.regression else mean)
            history["reg"].append(regs / max(seen, 1))
            self._after(epoch, history, bar)
            self._save(epoch + 1, history, None)
        bar.close()
        self._save(len(history["train_loss"]), history, None, final=True)
        if kept:
            model.fit_input_ = torch.cat(kept)[:_KEEP_INPUTS]
        return history

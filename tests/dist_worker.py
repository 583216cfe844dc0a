"""A training job for tests/test_distributed.py, launched by torchrun (pytest does not collect it).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/dist_worker.py OUT [options]

It trains the job that :func:`reference` trains in one process: Adam random batches, then full-batch L-BFGS (with
checkpoints when asked), both with the sparsity penalty, on 301 rows (the ranks' shares differ by one), and then a
second model by epochs on (x, y) tensors. Every rank writes its parameters, grids and histories to OUT/rank<r>.pt.
"""

from __future__ import annotations

import argparse
import os
import signal

import torch

from kanlab import KAN, create_dataset

LAMB = 0.01


def dataset() -> dict[str, torch.Tensor]:
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    return {k: v.double() for k, v in create_dataset(f, n_var=2, train_num=301, test_num=101, seed=0).items()}


def new_model() -> KAN:
    return KAN(width=[2, 3, 1], grid=5, seed=0, dtype=torch.float64)


def train(model: KAN, data, lbfgs_steps: int, **kw) -> tuple[dict, dict, dict]:
    """The job: 3 Adam steps on batches of 100, then L-BFGS steps on the whole set (``kw`` go to the latter).
    Returns (the state after Adam, the state after the first L-BFGS step, the L-BFGS history)."""
    model.fit(data, opt="Adam", steps=3, lr=0.02, batch=100, lamb=LAMB, distributed=kw.get("distributed", False))
    after_adam = {k: v.clone() for k, v in model.state_dict().items()}
    first: dict = {}

    def snapshot(step: int, logs: dict) -> None:
        if step == 0:
            first.update({k: v.clone() for k, v in model.state_dict().items()})

    kw["callbacks"] = [snapshot, *kw.get("callbacks", [])]
    hist = model.fit(data, opt="LBFGS", steps=lbfgs_steps, lamb=LAMB, **kw)
    return after_adam, first, hist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--every", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--kill-at", type=int, default=-1)  # rank 1 SIGKILLs itself at the end of this L-BFGS step
    ap.add_argument("--epochs", type=int, default=0)  # > 0: also train a second model by epochs
    ap.add_argument("--world-size", type=int, default=None)
    a = ap.parse_args()
    rank = int(os.environ["RANK"])
    data = dataset()

    def killer(step: int, logs: dict) -> None:
        if step == a.kill_at and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    model = new_model()
    after_adam, first, hist = train(model, data, a.steps, distributed=True, checkpoint=a.checkpoint, checkpoint_every=a.every,
                 resume=a.resume or None, world_size=a.world_size, callbacks=[killer])
    out = {"state": model.state_dict(), "history": hist, "after_adam": after_adam, "first_lbfgs": first,
           "threads": torch.get_num_threads()}
    if a.epochs:
        # each rank passes only its own rows (sharded=True): rank r gets block r of the train and test sets
        n_tr, n_te = data["train_input"].shape[0], data["test_input"].shape[0]
        own = {k: v[rank * (n_tr if "train" in k else n_te) // 2:(rank + 1) * (n_tr if "train" in k else n_te) // 2]
               for k, v in data.items()}
        third = new_model()
        out["sharded_history"] = third.fit(own, opt="LBFGS", steps=1, lamb=LAMB, distributed=True, sharded=True)
        out["sharded_state"] = third.state_dict()
        second = new_model()
        out["epochs_history"] = second.fit((data["train_input"], data["train_label"]), epochs=a.epochs, batch=64,
                                           lr=0.02, lamb=LAMB, distributed=True)
        out["epochs_state"] = second.state_dict()
    torch.save(out, os.path.join(a.out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()

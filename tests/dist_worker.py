"""A training job for the distributed tests, launched by torchrun (not collected by pytest).

python -m torch.distributed.run --standalone --nproc_per_node=2 tests/dist_worker.py OUT [options]
Every rank writes its parameters, grids and history to OUT/rank<r>.pt.
"""

import argparse
import os
import signal

import torch

from kanlab import KAN, create_dataset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--opt", default="LBFGS")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--lamb", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=-1)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--train-num", type=int, default=301)  # odd: the ranks' shards differ in size
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--every", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--kill-at", type=int, default=-1)  # rank 1 SIGKILLs itself after this step
    ap.add_argument("--epochs", type=int, default=0)  # > 0: train by epochs on (x, y) tensors
    ap.add_argument("--world-size", type=int, default=None)
    ap.add_argument("--width", default="2,3,1")
    ap.add_argument("--adam-first", type=int, default=0)  # Adam steps before the --opt steps
    ap.add_argument("--coef-only", action="store_true")  # scales frozen: the fit is a least-squares problem
    ap.add_argument("--no-init", action="store_true")  # fit(distributed=True) without torchrun's environment
    a = ap.parse_args()
    if a.no_init:
        for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            os.environ.pop(var, None)
    n_var = int(a.width.split(",")[0])
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [n_var - 1]] ** 2)  # noqa: E731
    data = create_dataset(f, n_var=n_var, train_num=a.train_num, test_num=101, seed=0)
    data = {k: v.double() for k, v in data.items()}
    model = KAN(width=[int(w) for w in a.width.split(",")], grid=5, seed=0, dtype=torch.float64,
                sp_trainable=not a.coef_only, sb_trainable=not a.coef_only)
    rank = int(os.environ.get("RANK", 0))

    def killer(step, logs):
        if step == a.kill_at and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    kw = dict(distributed=True, checkpoint=a.checkpoint, checkpoint_every=a.every, resume=a.resume or None,
              world_size=a.world_size, callbacks=[killer])
    if a.epochs:
        hist = model.fit((data["train_input"], data["train_label"]), epochs=a.epochs, batch=a.batch, lr=a.lr,
                         lamb=a.lamb, **kw)
    else:
        if a.adam_first:
            model.fit(data, opt="Adam", steps=a.adam_first, lr=0.02, lamb=a.lamb, distributed=True)
        hist = model.fit(data, opt=a.opt, steps=a.steps, lamb=a.lamb, batch=a.batch, lr=a.lr, **kw)
    torch.save({"state": model.state_dict(), "history": hist, "threads": torch.get_num_threads()},
               os.path.join(a.out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main()

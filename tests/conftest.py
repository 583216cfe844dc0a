import os
import tempfile

import pytest
import torch

# hypothesis keeps caches in ./.hypothesis by default: tests write nothing into the working tree
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "kanlab-hypothesis"))

# Under pytest-xdist (`make test` runs `-n 2`) every worker process gets its share of the cores, so that the
# workers' threads do not oversubscribe the machine (kanlab's own test processes: their settings are ours to set).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // _workers))


@pytest.fixture
def f64():
    return torch.float64


def seed_fn(x):
    """The seed workflow's target, f(x1, x2) = exp(sin(pi x1) + x2^2)."""
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def singular_kan(n: int):
    """A [2, 1] KAN whose edge (0, 0, 0) is snapped to 1/x, and n rows (x (n, 2), y = x_1^2 (n, 1)) whose x_0
    comes within 1e-5 of the pole: the safe variant clips there (at y_th), so every singularity option changes
    the numbers."""
    from kanlab import KAN

    model = KAN(width=[2, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1
    x[::7, 0] = 1e-5
    return model, x, x[:, 1:] ** 2

"""The book's SimpleConvNet (ch07) and DeepConvNet (ch08) in PyTorch, for timing only.

Same layers, shapes and Adam settings as fastnn's networks, so one training
step (forward, loss, backward, Adam update) does the same work. PyTorch is a
benchmark peer, never a dependency: import this module only when torch is
installed.
"""
import numpy as np
import torch
from torch import nn


def simple_convnet(dtype):
    """conv 30x5x5 - ReLU - pool 2x2 - affine 4320x100 - ReLU - affine 100x10."""
    return nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10)).to(dtype)


def deep_convnet(dtype):
    """The book's 6-conv network: 16,16 | 32,32 (pad 2) | 64,64, pools, affine 50, dropout 0.5."""
    def conv(cin, cout, pad=1):
        return [nn.Conv2d(cin, cout, 3, padding=pad), nn.ReLU()]
    return nn.Sequential(
        *conv(1, 16), *conv(16, 16), nn.MaxPool2d(2, 2),
        *conv(16, 32), *conv(32, 32, pad=2), nn.MaxPool2d(2, 2),
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(50, 10), nn.Dropout(0.5)).to(dtype)


def train_step(model_fn, batch, dtype, seed=0):
    """A closure running one training step of ``model_fn`` on a fixed batch."""
    tdt = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype).type]
    torch.manual_seed(seed)
    model = model_fn(tdt).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7, foreach=True)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((batch, 1, 28, 28)).astype(dtype))
    t = torch.from_numpy(rng.integers(0, 10, batch).astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
    return step

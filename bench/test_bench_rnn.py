"""The sequel's language models and time layers: fastnn.nlp (compiled)
against its NumPy twin (the book's loops on NumpyOps) and, when
FASTNN_BOOK2_DIR names a clone of the book's repository, the book's own
model files.

One train step = forward + backward + remove_duplicate + clip_grads(0.25) +
SGD(20), float32, B = 20, T = 35, V = 10,000: Rnnlm (LSTM 100) and
BetterRnnlm (2 x LSTM 650, dropout 0.5, tied weights).  ``pytest bench
--benchmark-only -k rnn``; bench/compare.py has the same cases with
PyTorch and the GEMM floor beside them.
"""
import os
import sys

import numpy as np
import pytest

from fastnn.backends import get_ops

SIZES = {"Rnnlm": dict(vocab_size=10000, wordvec_size=100, hidden_size=100),
         "BetterRnnlm": dict(vocab_size=10000, wordvec_size=650, hidden_size=650)}
IMPLS = ["fastnn", "numpy-twin"] + (["book"] if os.environ.get("FASTNN_BOOK2_DIR") else [])


def _book():
    root = os.environ["FASTNN_BOOK2_DIR"]
    for d in (os.path.join(root, "ch06"), root):
        if d not in sys.path:
            sys.path.insert(0, d)
    import rnnlm
    import better_rnnlm
    from common.optimizer import SGD
    from common.trainer import remove_duplicate
    from common.util import clip_grads
    return dict(Rnnlm=rnnlm.Rnnlm, BetterRnnlm=better_rnnlm.BetterRnnlm, SGD=SGD,
                dup=remove_duplicate, clip=clip_grads)


def _fastnn():
    from fastnn.nlp.better_rnnlm import BetterRnnlm
    from fastnn.nlp.optimizer import SGD
    from fastnn.nlp.rnnlm import Rnnlm
    from fastnn.nlp.trainer import remove_duplicate
    from fastnn.nlp.util import clip_grads
    return dict(Rnnlm=Rnnlm, BetterRnnlm=BetterRnnlm, SGD=SGD, dup=remove_duplicate,
                clip=clip_grads)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model", ["Rnnlm", "BetterRnnlm"])
def test_lm_train_step(benchmark, model, impl):
    lib = _book() if impl == "book" else _fastnn()
    kw = SIZES[model]
    np.random.seed(0)
    net = lib[model](**kw)
    if impl == "numpy-twin":
        for layer in net.layers + [net.loss_layer]:
            if hasattr(layer, "ops"):
                layer.ops = get_ops("numpy")
    opt = lib["SGD"](20.0)
    rng = np.random.default_rng(1)
    xs = rng.integers(0, kw["vocab_size"], (20, 35)).astype(np.int32)
    ts = rng.integers(0, kw["vocab_size"], (20, 35)).astype(np.int32)
    benchmark.group = "%s train step f32" % model

    def step():
        net.forward(xs, ts)
        net.backward()
        params, grads = lib["dup"](net.params, net.grads)
        lib["clip"](grads, 0.25)
        opt.update(params, grads)
    benchmark.pedantic(step, rounds=5 if model == "Rnnlm" else 3, warmup_rounds=1)


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
@pytest.mark.parametrize("H", [100, 650])
def test_time_lstm_fwd_bwd(benchmark, H, ops):
    from fastnn.nlp.time_layers import TimeLSTM
    rng = np.random.default_rng(0)
    layer = TimeLSTM((rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype('f'),
                     (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype('f'),
                     np.zeros(4 * H, 'f'), stateful=True)
    layer.ops = get_ops(ops)
    xs = rng.standard_normal((20, 35, H)).astype('f')
    dhs = rng.standard_normal((20, 35, H)).astype('f')
    benchmark.group = "TimeLSTM fwd+bwd 20x35, H = D = %d f32" % H

    def run():
        layer.forward(xs)
        return layer.backward(dhs)
    benchmark(run)


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
def test_time_embedding_backward(benchmark, ops):
    """Repeated ids: 700 drawn from 50, into a 10,000 x 100 dW (the book's
    np.add.at per step on the twin)."""
    from fastnn.nlp.time_layers import TimeEmbedding
    rng = np.random.default_rng(2)
    layer = TimeEmbedding(rng.standard_normal((10000, 100)).astype('f'))
    layer.ops = get_ops(ops)
    layer.forward(rng.integers(0, 50, (20, 35)))
    dout = rng.standard_normal((20, 35, 100)).astype('f')
    benchmark.group = "TimeEmbedding backward 700 ids (50 distinct), 10000x100 f32"
    benchmark(layer.backward, dout)


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
def test_time_softmax_loss(benchmark, ops):
    from fastnn.nlp.time_layers import TimeSoftmaxWithLoss
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((20, 35, 10000)).astype('f')
    ts = rng.integers(0, 10000, (20, 35))
    layer = TimeSoftmaxWithLoss()
    layer.ops = get_ops(ops)
    benchmark.group = "TimeSoftmaxWithLoss fwd+bwd 20x35x10000 f32"

    def run():
        layer.forward(xs, ts)
        return layer.backward()
    benchmark(run)

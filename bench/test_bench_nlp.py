"""The sequel's util kernels (fastnn.nlp): fastnn against the book's own
functions (imported from $FASTNN_BOOK2_DIR when set) and NumPy's formulas
(NumpyOps: vectorized, the same numbers).

Cases are issue #20's targets: the Embedding backward with repeated ids
(the book's ``dW[...] = 0; np.add.at``), ppmi at V = 600, create_co_matrix,
clip_grads of Rnnlm's gradients.  For the timing in alternating processes
that the ratios in the report come from: bench/nlp_vs_book.py.
"""
import os
import sys

import numpy as np
import pytest

from fastnn.backends import get_ops
from fastnn.nlp import util

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
IMPLS = ["fastnn", "numpy-ops"] + (["book"] if BOOK2 else [])


def _book_util():
    if BOOK2 not in sys.path:
        sys.path.insert(0, BOOK2)
    from common import util as book_util
    return book_util


@pytest.mark.parametrize("impl", IMPLS)
def test_embedding_backward(benchmark, impl):
    rng = np.random.default_rng(0)
    V, D = 10000, 100
    idx = rng.integers(0, V // 20, (20, 35)).astype(np.int32)
    dout = rng.standard_normal((20, 35, D)).astype(np.float32)
    dW = np.zeros((V, D), np.float32)
    benchmark.group = "Embedding backward V=10000 D=100 ids (20, 35) float32"
    if impl == "fastnn":
        benchmark(get_ops().embedding_backward, dW, idx, dout)
    elif impl == "numpy-ops":       # the book's statement pair: dW[...] = 0; np.add.at
        benchmark(get_ops("numpy").embedding_backward, dW, idx, dout)
    else:                           # the book's own Embedding layer
        _book_util()
        from common.layers import Embedding
        layer = Embedding(np.zeros((V, D), np.float32))
        layer.forward(idx)
        benchmark(layer.backward, dout)


def _co(V, n, seed=0):
    return util.create_co_matrix(np.random.default_rng(seed).integers(0, V, n), V, 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_ppmi_600(benchmark, impl):
    C = _co(600, 200000)
    benchmark.group = "ppmi V=600"
    fn = {"fastnn": get_ops().ppmi, "numpy-ops": get_ops("numpy").ppmi,
          "book": _book_util().ppmi if impl == "book" else None}[impl]
    if impl == "book":
        benchmark.pedantic(fn, (C,), rounds=3, iterations=1)
    else:
        benchmark(fn, C)


@pytest.mark.parametrize("impl", IMPLS)
def test_create_co_matrix(benchmark, impl):
    corpus = np.random.default_rng(1).integers(0, 600, 100000)
    benchmark.group = "create_co_matrix 100,000 ids V=600 window 2"
    if impl == "book":
        benchmark.pedantic(_book_util().create_co_matrix, (corpus, 600, 2), rounds=3,
                           iterations=1)
    else:
        ops = get_ops() if impl == "fastnn" else get_ops("numpy")
        benchmark(ops.co_matrix, corpus, 600, 2)


@pytest.mark.parametrize("impl", IMPLS)
def test_clip_grads(benchmark, impl):
    rng = np.random.default_rng(2)
    shapes = [(10000, 100), (100, 400), (100, 400), (400,), (100, 10000), (10000,)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    benchmark.group = "clip_grads Rnnlm's gradients float32 (norm only)"
    fn = {"fastnn": get_ops().clip_grads, "numpy-ops": get_ops("numpy").clip_grads,
          "book": _book_util().clip_grads if impl == "book" else None}[impl]
    benchmark(fn, grads, 1e9)

"""word2vec with negative sampling (the sequel's chapters 3-4): EmbeddingDot,
NegativeSamplingLoss and the four models on the compiled ops, bit for bit
against their NumPy twins (the book's statements), against numerical
gradients, and against the book's own code when FASTNN_BOOK2_DIR is set."""
import copy
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _util import laid_out, num_grad
from fastnn.backends import get_ops
from fastnn.nlp.cbow import CBOW
from fastnn.nlp.negative_sampling_layer import (EmbeddingDot, NegativeSamplingLoss,
                                                UnigramSampler)
from fastnn.nlp.simple_cbow import SimpleCBOW
from fastnn.nlp.simple_skip_gram import SimpleSkipGram
from fastnn.nlp.skip_gram import SkipGram

NUMPY = get_ops("numpy")
BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")


def _numpy_twin(obj):
    """A deep copy of a layer or model whose every ops user runs NumpyOps."""
    other = copy.deepcopy(obj)
    seen = set()

    def visit(o):
        if id(o) in seen or isinstance(o, (np.ndarray, int, float, str)) or o is None:
            return
        seen.add(id(o))
        if hasattr(o, "ops"):
            o.ops = NUMPY
        if isinstance(o, (list, tuple)):
            for x in o:
                visit(x)
        elif hasattr(o, "__dict__"):
            for x in vars(o).values():
                visit(x)
    visit(other)
    return other


def _corpus(rng, V, n=3000):
    c = (rng.zipf(1.3, n) - 1) % V
    c[:V] = np.arange(V)
    return c


def _equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 30), V=st.integers(1, 50), H=st.integers(1, 140),
       dtype=st.sampled_from([np.float32, np.float64]), wide=st.booleans(),
       layout=st.sampled_from(["C", "F", "strided"]), seed=st.integers(0, 2**31))
def test_embedding_dot_is_its_numpy_twin_bit_for_bit(B, V, H, dtype, wide, layout, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, H)).astype(dtype)
    layer = EmbeddingDot(W)
    twin = _numpy_twin(layer)
    h = laid_out(rng.standard_normal((B, H)).astype(dtype), layout)
    idx = rng.integers(0, V, B)             # repeats when B > V: the scatter-add adds up
    _equal(layer.forward(h, idx), twin.forward(h, idx))
    dout = rng.standard_normal(B).astype(np.float64 if wide else dtype)
    _equal(layer.backward(dout), twin.backward(dout))
    _equal(layer.grads[0], twin.grads[0])
    assert layer.grads[0] is layer.embed.grads[0]


def test_embedding_dot_gradients_are_numerical_gradients():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((7, 5))
    h = rng.standard_normal((6, 5))
    idx = np.array([1, 3, 1, 6, 0, 1])
    w = rng.standard_normal(6)
    layer = EmbeddingDot(W)

    def f():
        return float(np.dot(layer.forward(h, idx), w))
    f()
    dh = layer.backward(w.copy())
    dW = layer.grads[0].copy()
    for x, analytic in ((h, dh), (W, dW)):
        np.testing.assert_allclose(analytic, num_grad(f, x), rtol=1e-6, atol=1e-8)


def _step(model, contexts, target):
    loss = model.forward(contexts, target)
    model.backward()
    return loss


@pytest.mark.parametrize("make", ["SimpleCBOW", "SimpleSkipGram", "CBOW", "SkipGram"])
def test_models_are_their_numpy_twins_bit_for_bit(make):
    rng = np.random.default_rng(3)
    V, H = 40, 8
    corpus = _corpus(rng, V, 400)
    np.random.seed(0)
    if make.startswith("Simple"):
        model = {"SimpleCBOW": SimpleCBOW, "SimpleSkipGram": SimpleSkipGram}[make](V, H)
        contexts = rng.integers(0, V, (12, 2))
        contexts = np.eye(V, dtype=np.int32)[contexts]
        target = np.eye(V, dtype=np.int32)[rng.integers(0, V, 12)]
    else:
        model = {"CBOW": CBOW, "SkipGram": SkipGram}[make](V, H, 2, corpus)
        contexts = rng.integers(0, V, (12, 4))
        target = rng.integers(0, V, 12)
    twin = _numpy_twin(model)
    for _ in range(2):
        state = np.random.get_state()
        a = _step(model, contexts, target)
        np.random.set_state(state)
        b = _step(twin, contexts, target)
        _equal(a, b)
        for g, g2 in zip(model.grads, twin.grads):
            _equal(g, g2)


def test_shared_weights_stay_shared():
    # CBOW's context embeddings share W_in, the loss layers W_out: the lists
    # repeat the same arrays, as the book's, for remove_duplicate to find.
    model = CBOW(30, 4, 2, _corpus(np.random.default_rng(4), 30, 200))
    assert all(p is model.params[0] for p in model.params[:4])
    assert all(p is model.params[4] for p in model.params[4:])
    assert model.word_vecs is model.params[0]
    assert len({id(g) for g in model.grads}) == len(model.grads)


def test_bad_input_gets_clear_errors():
    rng = np.random.default_rng(5)
    layer = EmbeddingDot(rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="token id 5"):
        layer.forward(rng.standard_normal((2, 3)), np.array([0, 5]))
    with pytest.raises(TypeError, match="integer token ids"):
        layer.forward(rng.standard_normal((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="negative word id"):
        UnigramSampler(np.array([0, 1, -1]), 0.75, 1)
    with pytest.raises(TypeError, match="integer word ids"):
        UnigramSampler(np.array([0.5, 1.0]), 0.75, 1)
    loss = NegativeSamplingLoss(rng.standard_normal((4, 3)), np.array([0, 1, 2, 3]), sample_size=2)
    with pytest.raises(ValueError, match="token id 4"):
        loss.forward(rng.standard_normal((1, 3)), np.array([4]))


def test_the_sampler_keeps_the_books_vocabulary_quirk():
    # vocab_size is the number of distinct ids; word_p covers ids below it.
    s = UnigramSampler(np.array([0, 0, 1, 5, 5, 5]), 1.0, 1)
    assert s.vocab_size == 3
    np.testing.assert_allclose(s.word_p, np.array([2, 1, 0]) / 3)


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
@pytest.mark.parametrize("name", ["CBOW", "SkipGram"])
def test_adam_steps_give_the_books_numbers(name, monkeypatch):
    monkeypatch.syspath_prepend(BOOK2)
    monkeypatch.syspath_prepend(os.path.join(BOOK2, "ch04"))
    for mod in ("common", "cbow", "skip_gram", "negative_sampling_layer"):
        for key in [k for k in sys.modules if k == mod or k.startswith(mod + ".")]:
            monkeypatch.delitem(sys.modules, key)
    import cbow
    import skip_gram
    from common.optimizer import Adam as BookAdam
    from common.trainer import remove_duplicate as book_rd
    from fastnn.nlp.optimizer import Adam
    from fastnn.nlp.trainer import remove_duplicate
    book_cls = {"CBOW": cbow.CBOW, "SkipGram": skip_gram.SkipGram}[name]
    mine_cls = {"CBOW": CBOW, "SkipGram": SkipGram}[name]
    rng = np.random.default_rng(6)
    V = 300
    corpus = _corpus(rng, V, 5000)
    results = []
    for cls, rd, opt_cls in ((book_cls, book_rd, BookAdam), (mine_cls, remove_duplicate, Adam)):
        np.random.seed(1)
        model, opt = cls(V, 16, 3, corpus), opt_cls()
        batch = np.random.default_rng(7)
        losses = []
        for _ in range(4):
            contexts = batch.integers(0, V, (32, 6))
            target = batch.integers(0, V, 32)
            losses.append(model.forward(contexts, target))
            model.backward()
            opt.update(*rd(model.params, model.grads))
        results.append((losses, model.params))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        _equal(a, b)


@settings(max_examples=30, deadline=None)
@given(V=st.integers(1, 60), D=st.integers(1, 40), n=st.integers(0, 200),
       seed=st.integers(0, 2**31))
def test_embedding_backward_of_float64_gradients_into_float32_is_np_add_at(V, D, n, seed):
    # CBOW's context embeddings get float64 gradients (SigmoidWithLoss's y - t
    # with int32 labels); np.add.at adds in float64 and rounds each sum.
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal((n, D))
    idx = rng.integers(0, V, n)
    a = rng.standard_normal((V, D)).astype(np.float32)
    b = a.copy()
    get_ops("compiled").embedding_backward(a, idx, dout)
    NUMPY.embedding_backward(b, idx, dout)
    _equal(a, b)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 70000), steps=st.integers(1, 3), seed=st.integers(0, 2**31),
       layout=st.sampled_from(["C", "F", "strided"]))
def test_the_sequels_adam_on_float32_is_numpys_float64_step(n, steps, seed, layout):
    # lr_t is a NumPy float64 (np.sqrt): NumPy steps float32 arrays in float64.
    from fastnn.nlp.optimizer import Adam
    rng = np.random.default_rng(seed)
    shapes = [(n,), (3, 5), (1,)]
    p1 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    p2 = [p.copy() for p in p1]
    fast, ref = Adam(lr=0.01), Adam(lr=0.01)
    ref.ops = NUMPY
    for _ in range(steps):
        g = [laid_out(rng.standard_normal(s).astype(np.float32), layout if len(s) == 2 else "C")
             for s in shapes]
        fast.update(p1, g)
        ref.update(p2, [x.copy() for x in g])
        for a, b in zip(p1, p2):
            _equal(a, b)
        for a, b in zip(fast.m + fast.v, ref.m + ref.v):
            _equal(a, b)

"""The sparse word2vec mode (#21, not the book's algorithm): the row kernels
of fastnn/_kernels/sparse_rows.pyx against plain NumPy oracles, LazyAdam
against a NumPy statement of the same algorithm and against dense Adam when
every row is touched, the sparse models' row gradients against the book
models' dense ones and against numerical gradients, and bad input."""
import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn._kernels import sparse_rows
from fastnn.nlp._word2vec_models import (SparseCBOW, SparseEmbeddingMean,
                                         SparseNegativeSamplingLoss, SparseSkipGram)
from fastnn.nlp.cbow import CBOW
from fastnn.nlp.layers import RowGrad
from fastnn.nlp.optimizer import Adam, LazyAdam
from fastnn.nlp.skip_gram import SkipGram
from fastnn.nlp.trainer import Trainer, remove_duplicate
from fastnn.nlp.util import create_contexts_target

DTYPES = [np.float32, np.float64]


def _corpus(rng, V, n=2000):
    c = (rng.zipf(1.3, n) - 1) % V
    c[:V] = np.arange(V)
    return c


# -- plain NumPy oracles of the same algorithm ----------------------------------------

def lazy_adam_oracle(p, m, v, ids, rows, lr_t, beta1, beta2, eps=1e-7):
    """LazyAdam's step, one row at a time, in NumPy's own types (a float64
    lr_t makes a float32 row step in float64, as the sequel's Adam)."""
    for k, r in enumerate(ids):
        m[r] += (1 - beta1) * (rows[k] - m[r])
        v[r] += (1 - beta2) * (rows[k] ** 2 - v[r])
        p[r] -= lr_t * m[r] / (np.sqrt(v[r]) + eps)


def first_occurrence_unique(ids):
    flat = np.asarray(ids).reshape(-1)
    _, first = np.unique(flat, return_index=True)
    uniq = flat[np.sort(first)]
    pos = {int(u): i for i, u in enumerate(uniq)}
    return uniq, np.array([pos[int(x)] for x in flat], dtype=np.int64)


def _ids(rng, V, shape):
    """Random ids in [0, V) with 0 and V-1 and repeats in them."""
    ids = rng.integers(0, V, size=shape)
    flat = ids.reshape(-1)
    if flat.size >= 1:
        flat[0] = 0
    if flat.size >= 2:
        flat[-1] = V - 1
    if flat.size >= 4:
        flat[1] = flat[2]
    return ids


# -- the kernels --------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(V=st.integers(1, 40), H=st.integers(1, 140), B=st.integers(0, 12), C=st.integers(1, 7),
       f32=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_rows_mean_and_backward_are_the_numpy_statements(V, H, B, C, f32, seed):
    rng = np.random.default_rng(seed)
    dt = np.float32 if f32 else np.float64
    W = rng.standard_normal((V, H)).astype(dt)
    ids = _ids(rng, V, (B, C))
    h = W[ids[:, 0]].copy()
    for c in range(1, C):
        h += W[ids[:, c]]
    h *= 1 / C
    got = sparse_rows.rows_mean(W, ids)
    assert got.dtype == dt
    np.testing.assert_array_equal(got, h)

    dh = rng.standard_normal((B, H)).astype(dt)
    uniq, rows = sparse_rows.rows_mean_backward(dh, ids, V)
    want_u, _ = first_occurrence_unique(ids)
    np.testing.assert_array_equal(uniq, want_u)
    dense = np.zeros((V, H), dt)
    np.add.at(dense, ids.reshape(-1), np.repeat(dh * (1 / C), C, axis=0))
    np.testing.assert_array_equal(rows, dense[uniq])
    assert rows.dtype == dt


@settings(max_examples=40, deadline=None)
@given(V=st.integers(1, 40), H=st.integers(1, 140), B=st.integers(0, 12), K=st.integers(1, 8),
       f32=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_rows_dot_and_backward_are_the_numpy_statements(V, H, B, K, f32, seed):
    rng = np.random.default_rng(seed)
    dt = np.float32 if f32 else np.float64
    W = rng.standard_normal((V, H)).astype(dt)
    h = rng.standard_normal((B, H)).astype(dt)
    ids = _ids(rng, V, (B, K))
    np.testing.assert_array_equal(sparse_rows.rows_dot(W, ids, h),
                                  np.sum(W[ids] * h[:, None, :], axis=2))
    d = rng.standard_normal((B, K)).astype(dt)
    uniq, rows, dh = sparse_rows.rows_dot_backward(W, ids, h, d)
    dense = np.zeros((V, H), dt)
    np.add.at(dense, ids.reshape(-1), (d[:, :, None] * h[:, None, :]).reshape(-1, H))
    want_dh = np.zeros((B, H), dt)
    for k in range(K):
        want_dh += d[:, k:k + 1] * W[ids[:, k]]
    np.testing.assert_array_equal(uniq, first_occurrence_unique(ids)[0])
    np.testing.assert_array_equal(rows, dense[uniq])
    np.testing.assert_array_equal(dh, want_dh)


@settings(max_examples=60, deadline=None)
@given(V=st.integers(1, 5000), n=st.integers(0, 3000), seed=st.integers(0, 2 ** 31))
def test_dedupe_is_first_occurrence_unique(V, n, seed):
    ids = _ids(np.random.default_rng(seed), V, (n,))
    uniq, inv = sparse_rows.dedupe(ids, V)
    want_u, want_inv = first_occurrence_unique(ids)
    np.testing.assert_array_equal(uniq, want_u)
    np.testing.assert_array_equal(inv, want_inv)
    np.testing.assert_array_equal(uniq[inv], ids)


def test_dedupe_of_huge_ids_that_collide_in_the_hash():
    V = 1 << 40                         # ids spaced so that their hashes share low bits
    ids = np.array([k << 34 for k in range(64)] * 3 + [0, V - 1], dtype=np.int64)
    uniq, inv = sparse_rows.dedupe(ids, V)
    np.testing.assert_array_equal(uniq, first_occurrence_unique(ids)[0])
    np.testing.assert_array_equal(uniq[inv], ids)


# -- LazyAdam -----------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
def test_lazy_adam_step_is_the_numpy_oracle(dt):
    rng = np.random.default_rng(5)
    V, H = 50, 13
    p = rng.standard_normal((V, H)).astype(dt)
    m = (0.1 * rng.standard_normal((V, H))).astype(dt)
    v = (0.1 * rng.random((V, H))).astype(dt)
    P, M, Vv = p.copy(), m.copy(), v.copy()
    for t in range(1, 6):
        ids = rng.permutation(V)[:rng.integers(1, V)]
        ids[0], ids[-1] = 0, V - 1
        ids = np.unique(ids)[::-1].copy()
        rows = rng.standard_normal((ids.size, H)).astype(dt)
        lr_t = 0.01 * np.sqrt(1.0 - 0.999 ** t) / (1.0 - 0.9 ** t)
        sparse_rows.lazy_adam_step(p, m, v, ids, rows, lr_t, 0.9, 0.999)
        lazy_adam_oracle(P, M, Vv, ids, rows, lr_t, 0.9, 0.999)
        np.testing.assert_array_equal(p, P)
        np.testing.assert_array_equal(m, M)
        np.testing.assert_array_equal(v, Vv)


@pytest.mark.parametrize("dt", DTYPES)
def test_lazy_adam_step_split_over_the_threads_is_the_numpy_oracle(dt):
    rng = np.random.default_rng(15)
    V, H = 4000, 100                  # 3000 rows of 100: pieces for fastnn's pool
    p = rng.standard_normal((V, H)).astype(dt)
    m, v = np.zeros_like(p), np.zeros_like(p)
    P, M, Vv = p.copy(), m.copy(), v.copy()
    ids = rng.permutation(V)[:3000]
    rows = rng.standard_normal((3000, H)).astype(dt)
    lr_t = np.float64(0.001) * np.sqrt(1.0 - 0.999) / (1.0 - 0.9)
    sparse_rows.lazy_adam_step(p, m, v, ids, rows, lr_t, 0.9, 0.999)
    # distinct ids: the oracle's rows at once, the same expressions elementwise
    mr, vr = M[ids], Vv[ids]
    mr += (1 - 0.9) * (rows - mr)
    vr += (1 - 0.999) * (rows ** 2 - vr)
    P[ids] -= lr_t * mr / (np.sqrt(vr) + 1e-7)
    M[ids], Vv[ids] = mr, vr
    np.testing.assert_array_equal(p, P)
    np.testing.assert_array_equal(m, M)
    np.testing.assert_array_equal(v, Vv)


@pytest.mark.parametrize("dt", DTYPES)
def test_lazy_adam_touching_every_row_is_dense_adam(dt):
    rng = np.random.default_rng(6)
    V, H = 40, 17
    p0 = rng.standard_normal((V, H)).astype(dt)
    q0 = rng.standard_normal((V, 3)).astype(dt)       # a dense gradient beside it
    sparse_p, dense_p = [p0.copy(), q0.copy()], [p0.copy(), q0.copy()]
    lazy, adam = LazyAdam(lr=0.01), Adam(lr=0.01)
    for _ in range(7):
        g = rng.standard_normal((V, H)).astype(dt)
        gq = rng.standard_normal((V, 3)).astype(dt)
        order = rng.permutation(V)
        lazy.update(sparse_p, [RowGrad(order, g[order], (V, H)), gq])
        adam.update(dense_p, [g, gq])
        np.testing.assert_array_equal(sparse_p[0], dense_p[0])
        np.testing.assert_array_equal(sparse_p[1], dense_p[1])
        np.testing.assert_array_equal(lazy.m[0], adam.m[0])
        np.testing.assert_array_equal(lazy.v[0], adam.v[0])


def test_lazy_adam_leaves_untouched_rows_and_their_moments():
    rng = np.random.default_rng(7)
    V, H = 10, 4
    p = rng.standard_normal((V, H)).astype(np.float32)
    lazy = LazyAdam()
    lazy.update([p], [RowGrad(np.arange(V), np.ones((V, H), np.float32), (V, H))])
    before = p.copy(), lazy.m[0].copy(), lazy.v[0].copy()
    lazy.update([p], [RowGrad([2, 7], np.ones((2, H), np.float32), (V, H))])
    for now, then in zip((p, lazy.m[0], lazy.v[0]), before):
        untouched = np.setdiff1d(np.arange(V), [2, 7])
        np.testing.assert_array_equal(now[untouched], then[untouched])
        assert not np.array_equal(now[[2, 7]], then[[2, 7]])
    # Dense Adam with zero gradients there moves those rows (the difference).
    q = before[0].copy()
    adam = Adam()
    adam.m, adam.v, adam.iter = [before[1].copy()], [before[2].copy()], 1
    g = np.zeros((V, H), np.float32)
    g[[2, 7]] = 1
    adam.update([q], [g])
    assert not np.array_equal(q[0], before[0][0])
    assert lazy.iter == 2


def test_lazy_adam_on_a_non_contiguous_parameter_takes_the_numpy_statements():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((12, 10)).astype(np.float32)
    p = base[:, ::2]                                  # (12, 5), not contiguous
    P = p.copy()
    lazy, ref = LazyAdam(), LazyAdam()
    g = RowGrad([0, 11, 4], rng.standard_normal((3, 5)).astype(np.float32), (12, 5))
    lazy.update([p], [g])
    ref.update([P], [g])
    np.testing.assert_array_equal(p, P)


# -- the models: row gradients against the book's dense ones ----------------------------

def _fixed_negatives(model, neg):
    """Both models' samplers return ``neg`` (B*G, S) for the next call."""
    def get(target):
        return neg[:np.asarray(target).size].astype(np.int32)
    if isinstance(model, (SparseCBOW, SparseSkipGram)):
        model.ns_loss.sampler.get_negative_sample = get
    elif isinstance(model, CBOW):
        model.ns_loss.sampler.get_negative_sample = get
    else:
        for i, layer in enumerate(model.loss_layers):
            B = neg.shape[0] // len(model.loss_layers)
            layer.sampler.get_negative_sample = (
                lambda target, i=i, B=B: neg.reshape(B, -1, neg.shape[1])[:, i].astype(np.int32))


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_sparse_row_gradients_are_the_book_models_dense_ones(cls):
    rng = np.random.default_rng(9)
    V, H, W, B = 30, 8, 2, 16
    corpus = _corpus(rng, V)
    contexts, target = create_contexts_target(corpus[:B + 2 * W], W)
    contexts[0, :] = 0                                 # repeated ids, and the ends
    contexts[1, 0] = V - 1
    np.random.seed(3)
    book = cls(V, H, W, corpus)
    np.random.seed(3)
    sparse = cls(V, H, W, corpus, sparse=True)
    assert type(sparse) is (SparseCBOW if cls is CBOW else SparseSkipGram)
    for a, b in zip(book.params[:1] + book.params[-1:], sparse.params):
        np.testing.assert_array_equal(a, b)
    G = 1 if cls is CBOW else 2 * W
    neg = rng.integers(0, V, (B * G, 5))
    _fixed_negatives(book, neg)
    _fixed_negatives(sparse, neg)
    lb = book.forward(contexts, target)
    ls = sparse.forward(contexts, target)
    np.testing.assert_allclose(ls, lb, rtol=1e-5)
    book.backward()
    sparse.backward()
    params, grads = remove_duplicate(book.params, book.grads)
    assert len(params) == 2                            # W_in and W_out, merged
    for dense, rg in zip(grads, sparse.grads):
        assert type(rg) is RowGrad and rg.shape == (V, H)
        assert len(np.unique(rg.ids)) == len(rg.ids)
        np.testing.assert_array_equal(np.sort(rg.ids), np.flatnonzero(np.any(dense != 0, axis=1)))
        np.testing.assert_allclose(rg.to_dense(), dense, rtol=2e-5, atol=1e-8)


def test_sparse_layers_gradient_against_numerical_float64():
    rng = np.random.default_rng(10)
    V, H, B, C, S = 12, 5, 6, 4, 3
    W_in = rng.standard_normal((V, H))
    W_out = rng.standard_normal((V, H))
    corpus = _corpus(rng, V, 200)
    contexts = _ids(rng, V, (B, C))
    target = rng.integers(0, V, B)
    target[0] = V - 1
    neg = rng.integers(0, V, (B, S))
    inl = SparseEmbeddingMean(W_in)
    loss = SparseNegativeSamplingLoss(W_out, corpus, sample_size=S)
    loss.sampler.get_negative_sample = lambda t: neg

    def f():
        return float(loss.forward(inl.forward(contexts), target))
    f()
    inl.backward(loss.backward())
    for W, g in ((W_in, inl.grads[0].to_dense()), (W_out, loss.grads[0].to_dense())):
        num = np.zeros_like(W)
        for i in range(V):
            for j in range(H):
                old = W[i, j]
                W[i, j] = old + 1e-6
                up = f()
                W[i, j] = old - 1e-6
                down = f()
                W[i, j] = old
                num[i, j] = (up - down) / 2e-6
        # atol: the loss is the book's -log(y + 1e-7), whose exact gradient
        # differs from the book's (y - t) by up to ~1e-7·(1-y)/y per score.
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6)
        assert np.abs(g - num).max() < 1e-3 * np.abs(num).max()


def test_trainer_fits_the_sparse_model_with_lazy_adam(capsys):
    rng = np.random.default_rng(11)
    V, H, W = 50, 10, 2
    corpus = _corpus(rng, V, 3000)
    contexts, target = create_contexts_target(corpus, W)
    np.random.seed(0)
    model = CBOW(V, H, W, corpus, sparse=True, sampler_mode="fast", seed=4)
    trainer = Trainer(model, LazyAdam())
    trainer.fit(contexts, target, max_epoch=3, batch_size=50, eval_interval=20)
    assert trainer.loss_list[-1] < trainer.loss_list[0] - 0.3
    assert "epoch 3" in capsys.readouterr().out
    again = pickle.loads(pickle.dumps(model))
    assert type(again) is SparseCBOW
    np.testing.assert_array_equal(again.word_vecs, model.word_vecs)
    twin = copy.deepcopy(model)
    twin.forward(contexts[:4], target[:4])


def test_alias_sample_draws_distinct_non_target_ids_with_the_unigram_frequencies():
    from fastnn.backends import get_ops
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    prob, alias = get_ops("numpy").alias_table(p)
    target = np.repeat(np.arange(6), 4000)
    out = sparse_rows.alias_sample(prob, alias, target, 2, np.random.default_rng(1))
    assert out.shape == (target.size, 2) and out.dtype == np.int64
    assert not np.any(out == target[:, None]) and np.all(out[:, 0] != out[:, 1])
    # The first draw of a row whose target is 5: p restricted to 0..4, renormalized.
    first = out[target == 5, 0]
    freq = np.bincount(first, minlength=6)[:5] / first.size
    np.testing.assert_allclose(freq, p[:5] / p[:5].sum(), atol=0.025)
    with pytest.raises(ValueError, match="distinct ids"):
        sparse_rows.alias_sample(*get_ops("numpy").alias_table(np.array([1.0, 0, 0])),
                                 np.array([1]), 2, np.random.default_rng(0), max_draws=1000)


# -- bad input ------------------------------------------------------------------------

def test_bad_ids_and_dtypes_raise_clear_errors():
    rng = np.random.default_rng(12)
    V, H = 10, 4
    W = rng.standard_normal((V, H)).astype(np.float32)
    m, v = np.zeros_like(W), np.zeros_like(W)
    with pytest.raises(ValueError, match="row id 10, outside"):
        sparse_rows.rows_mean(W, np.array([[0, 10]]))
    with pytest.raises(ValueError, match="row id -1, outside"):
        sparse_rows.rows_dot(W, np.array([[-1]]), np.zeros((1, H), np.float32))
    with pytest.raises(TypeError, match="integer row ids"):
        sparse_rows.rows_mean(W, np.array([[0.0, 1.0]]))
    with pytest.raises(TypeError, match="h must have W's dtype"):
        sparse_rows.rows_dot(W, np.array([[1]]), np.zeros((1, H)))
    with pytest.raises(TypeError, match="float32 or float64"):
        sparse_rows.rows_mean(W.astype(np.float16), np.array([[1]]))
    with pytest.raises(ValueError, match="distinct"):
        sparse_rows.lazy_adam_step(W, m, v, [3, 3], np.ones((2, H), np.float32), 0.1, 0.9,
                                   0.999)
    with pytest.raises(ValueError, match="outside"):
        sparse_rows.lazy_adam_step(W, m, v, [V], np.ones((1, H), np.float32), 0.1, 0.9, 0.999)
    with pytest.raises(TypeError, match="one dtype"):
        sparse_rows.lazy_adam_step(W, m, v, [1], np.ones((1, H)), 0.1, 0.9, 0.999)
    with pytest.raises(ValueError, match="C-contiguous"):
        sparse_rows.lazy_adam_step(np.asfortranarray(np.ones((V, 2), np.float32)),
                                   np.zeros((V, 2), np.float32), np.zeros((V, 2), np.float32),
                                   [1], np.ones((1, 2), np.float32), 0.1, 0.9, 0.999)
    with pytest.raises(ValueError, match="distinct"):
        RowGrad([1, 1], np.ones((2, H), np.float32), (V, H))
    with pytest.raises(ValueError, match="outside"):
        RowGrad([V], np.ones((1, H), np.float32), (V, H))
    with pytest.raises(TypeError, match="integer"):
        RowGrad([1.5], np.ones((1, H), np.float32), (V, H))
    with pytest.raises(ValueError, match="rows must have shape"):
        RowGrad([1], np.ones((1, H + 1), np.float32), (V, H))
    g = RowGrad([1], np.ones((1, H)), (V, H))
    lazy, W0 = LazyAdam(), W.copy()
    with pytest.raises(TypeError, match="RowGrad of shape"):
        lazy.update([W, W0], [RowGrad([1], np.ones((1, H), np.float32), (V, H)), g])
    assert lazy.iter == 0                                # nothing stepped
    np.testing.assert_array_equal(W, W0)
    with pytest.raises(TypeError, match="sparse gradient"):
        Adam().update([W.copy()], [RowGrad([1], np.ones((1, H), np.float32), (V, H))])
    from fastnn.nlp.util import clip_grads
    with pytest.raises(TypeError, match="sparse gradient"):
        clip_grads([RowGrad([1], np.ones((1, H), np.float32), (V, H))], 1.0)
    with pytest.raises(TypeError, match="LazyAdam"):
        np.asarray(g)
    with pytest.raises(ValueError, match="read-only"):
        g.ids[0] = 5
    corpus = _corpus(rng, V, 100)
    model = CBOW(V, H, 1, corpus, sparse=True)
    with pytest.raises(ValueError, match="outside"):
        model.forward(np.array([[0, V]]), np.array([1]))
    with pytest.raises(ValueError, match="outside"):
        model.forward(np.array([[0, 1]]), np.array([-1]))
    with pytest.raises(TypeError, match="integer"):
        model.forward(np.array([[0.0, 1.0]]), np.array([1]))
    with pytest.raises(ValueError, match="2\\*window_size"):
        model.forward(np.array([[0, 1, 2]]), np.array([1]))
    with pytest.raises(ValueError, match="sparse=True model"):
        SparseCBOW(V, H, 1, corpus, sparse=False)

    class MyCBOW(CBOW):
        pass
    with pytest.raises(ValueError, match="subclass SparseCBOW"):
        MyCBOW(V, H, 1, corpus, sparse=True)


def test_an_update_before_any_backward_moves_nothing():
    rng = np.random.default_rng(14)
    corpus = _corpus(rng, 10, 100)
    model = CBOW(10, 4, 1, corpus, sparse=True)
    before = [p.copy() for p in model.params]
    LazyAdam().update(model.params, model.grads)      # empty RowGrads
    for p, q in zip(model.params, before):
        np.testing.assert_array_equal(p, q)


def test_book_models_stay_dense():
    rng = np.random.default_rng(13)
    corpus = _corpus(rng, 10, 100)
    for cls in (CBOW, SkipGram):
        model = cls(10, 4, 1, corpus)
        assert type(model) is cls
        assert all(type(g) is np.ndarray and g.shape == (10, 4) for g in model.grads)

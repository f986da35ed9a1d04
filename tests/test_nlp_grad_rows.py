"""Embedding gradients kept as "zero outside these rows" (fastnn.nlp._grad_rows):
the arrays hold the book's values at every step, whether a backward zeroes
them whole or only the rows it last wrote, and whether remove_duplicate adds
them whole or on their rows; writes from outside are refused or noticed."""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn._kernels.nlp import dup_sum_into, dup_sum_rows_into, zero_rows
from fastnn.backends import use_ops
from fastnn.nlp import _grad_rows
from fastnn.nlp.cbow import CBOW
from fastnn.nlp.layers import Embedding
from fastnn.nlp.optimizer import Adam
from fastnn.nlp.skip_gram import SkipGram
from fastnn.nlp.trainer import remove_duplicate
from fastnn.nlp.util import clip_grads


def _corpus(rng, V, n=3000):
    c = (rng.zipf(1.3, n) - 1) % V
    c[:V] = np.arange(V)
    return c


def _bits(a):
    """The array's bytes: equal arrays here are equal to the sign of zero."""
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.tobytes()


def _make(cls, seed, V, H, W, ops=None):
    np.random.seed(seed)
    corpus = _corpus(np.random.default_rng(seed), V)
    if ops is None:
        return cls(V, H, W, corpus)
    with use_ops(ops):
        return cls(V, H, W, corpus)


def _step(model, opt, contexts, target, forget_all=False, max_grad=None):
    """One of the book's Trainer steps; forget_all: every gradient zeroed
    whole (the book's path) instead of on its recorded rows."""
    if forget_all:
        for g in model.grads:
            _grad_rows.forget(g)
    loss = model.forward(contexts, target)
    model.backward()
    if forget_all:
        for g in model.grads:
            _grad_rows.forget(g)
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    opt.update(params, grads)
    return loss, [g.copy() for g in model.grads]


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
@pytest.mark.parametrize("ops", [None, "numpy"])
@pytest.mark.parametrize("max_grad", [None, 0.05])
def test_steps_on_recorded_rows_are_the_whole_array_steps(cls, ops, max_grad):
    V, H, W = 60, 8, 2
    runs = []
    for forget_all in (False, True):
        model, opt = _make(cls, 5, V, H, W, ops), Adam()
        np.random.seed(11)
        batch = np.random.default_rng(3)
        out = []
        for _ in range(6):
            contexts = batch.integers(0, V, (16, 2 * W))
            target = batch.integers(0, V, 16)
            out.append(_step(model, opt, contexts, target, forget_all, max_grad))
        runs.append((out, [p.copy() for p in model.params]))
    (a, pa), (b, pb) = runs
    for (la, ga), (lb, gb) in zip(a, b):
        assert la == lb
        assert [_bits(g) for g in ga] == [_bits(g) for g in gb]
    assert [_bits(p) for p in pa] == [_bits(p) for p in pb]


def test_the_compiled_and_numpy_twins_record_the_same_arrays():
    V, H, W = 50, 6, 2
    models = [_make(CBOW, 2, V, H, W), _make(CBOW, 2, V, H, W, "numpy")]
    opts = [Adam(), Adam()]
    batch = np.random.default_rng(9)
    for _ in range(4):
        contexts = batch.integers(0, V, (12, 2 * W))
        target = batch.integers(0, V, 12)
        res = []
        for m, o in zip(models, opts):
            np.random.seed(1)
            res.append(_step(m, o, contexts, target))
        assert res[0][0] == res[1][0]
        assert [_bits(g) for g in res[0][1]] == [_bits(g) for g in res[1][1]]
    for g in models[0].grads + models[1].grads:
        assert not g.flags.writeable and _grad_rows.rows_of(g) is not None


def test_a_recorded_gradient_refuses_writes_and_an_unlocked_one_is_zeroed_whole():
    V, H, W = 40, 5, 2
    mine, ref = _make(CBOW, 4, V, H, W), _make(CBOW, 4, V, H, W)
    om, orf = Adam(), Adam()
    batch = np.random.default_rng(2)
    contexts = batch.integers(0, V, (10, 2 * W))
    target = batch.integers(0, V, 10)
    np.random.seed(0)
    _step(mine, om, contexts, target)
    np.random.seed(0)
    _step(ref, orf, contexts, target)
    g = mine.in_layers[1].grads[0]
    with pytest.raises(ValueError, match="read-only"):
        g[0] += 1
    # Written from outside (every row, the untouched ones too): the record
    # is ignored, and the next backward zeroes the whole array.
    for layer in mine.in_layers + [d.embed for d in mine.ns_loss.embed_dot_layers]:
        arr = layer.grads[0]
        arr.flags.writeable = True
        arr[...] = 7.0
    contexts = batch.integers(0, V, (10, 2 * W))
    target = batch.integers(0, V, 10)
    np.random.seed(1)
    la, ga = _step(mine, om, contexts, target)
    np.random.seed(1)
    lb, gb = _step(ref, orf, contexts, target)
    assert la == lb
    assert [_bits(x) for x in ga] == [_bits(x) for x in gb]
    assert [_bits(p) for p in mine.params] == [_bits(p) for p in ref.params]


def test_remove_duplicate_with_one_unrecorded_gradient_adds_the_whole_arrays():
    V, H = 30, 4
    W = np.zeros((V, H), dtype=np.float32)
    rng = np.random.default_rng(0)
    layers = [Embedding(W) for _ in range(4)]
    for layer in layers:
        idx = rng.integers(0, V, 7)
        layer.forward(idx)
        layer.backward(rng.standard_normal((7, H)).astype(np.float32))
    grads = [layer.grads[0] for layer in layers]
    expect = grads[0].astype(np.float32).copy()
    for g in grads[1:]:
        expect += g
    grads[2].flags.writeable = True         # unrecorded: added whole
    grads[2][3] += 0.0                      # (a write that changes nothing)
    _, out = remove_duplicate([W] * 4, list(grads))
    assert len(out) == 1 and out[0] is grads[0]
    assert _bits(out[0]) == _bits(expect)
    assert grads[0].flags.writeable and _grad_rows.rows_of(grads[0]) is None
    layers[0].backward(np.ones((7, H), dtype=np.float32))    # zeroed whole again
    ref = np.zeros((V, H), dtype=np.float32)
    np.add.at(ref, layers[0].idx, np.ones((7, H), dtype=np.float32))
    assert _bits(layers[0].grads[0]) == _bits(ref)


def test_a_pickled_model_trains_on_as_the_original():
    V, H, W = 40, 5, 2
    model, opt = _make(CBOW, 6, V, H, W), Adam()
    batch = np.random.default_rng(8)
    contexts = batch.integers(0, V, (10, 2 * W))
    target = batch.integers(0, V, 10)
    np.random.seed(2)
    _step(model, opt, contexts, target)
    twin, topt = pickle.loads(pickle.dumps((model, opt)))
    for _ in range(2):
        contexts = batch.integers(0, V, (10, 2 * W))
        target = batch.integers(0, V, 10)
        np.random.seed(3)
        la, ga = _step(model, opt, contexts, target)
        np.random.seed(3)
        lb, gb = _step(twin, topt, contexts, target)
        assert la == lb
        assert [_bits(x) for x in ga] == [_bits(x) for x in gb]


def _sparse_array(rng, V, H, dtype, rows, specials):
    a = np.zeros((V, H), dtype=dtype)
    if len(rows):
        a[rows] = rng.standard_normal((len(rows), H)).astype(dtype)
        if specials:
            flat = a[rows].reshape(-1)
            k = rng.integers(0, flat.size, 3)
            flat[k] = rng.choice(np.array([-0.0, np.nan, np.inf, -np.inf], dtype=dtype), 3)
            a[rows] = flat.reshape(len(rows), H)
    return a


@settings(max_examples=60, deadline=None)
@given(V=st.integers(1, 40), H=st.integers(1, 20), K=st.integers(1, 7),
       dtype=st.sampled_from([np.float32, np.float64]), wide=st.booleans(),
       specials=st.booleans(), seed=st.integers(0, 2**31))
def test_dup_sum_rows_into_is_dup_sum_into(V, H, K, dtype, wide, specials, seed):
    rng = np.random.default_rng(seed)
    rows = [rng.integers(0, V, rng.integers(0, 2 * V + 1)) for _ in range(K + 1)]
    out = _sparse_array(rng, V, H, dtype, rows[0], specials)
    ins = [_sparse_array(rng, V, H, np.float64 if wide and k % 2 else dtype, rows[1 + k],
                         specials) for k in range(K)]
    dense = out.copy()
    assert dup_sum_into(dense, ins)
    got = out.copy()
    union = dup_sum_rows_into(got, ins, rows)
    # The same values to the sign of zero; a NaN where the whole sum has one
    # (which of two NaNs an addition keeps is the compiler's operand order).
    nan = np.isnan(dense)
    np.testing.assert_array_equal(np.isnan(got), nan)
    assert _bits(np.where(nan, 0, got)) == _bits(np.where(nan, 0, dense))
    assert sorted(union.tolist()) == sorted(set(np.concatenate(rows).tolist()))
    assert len(union) == len(set(union.tolist()))


def test_dup_sum_rows_into_checks_its_rows():
    out = np.zeros((5, 3), dtype=np.float32)
    ins = [np.zeros((5, 3), dtype=np.float32)]
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        dup_sum_rows_into(out, ins, [np.array([0]), np.array([5])])
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        dup_sum_rows_into(out, ins, [np.array([-1]), np.array([0])])
    assert dup_sum_rows_into(out, ins, [np.array([0])]) is None       # one list short
    assert dup_sum_rows_into(out.T, ins, [np.array([0]), np.array([0])]) is None


def test_zero_rows_checks_its_arguments():
    a = np.ones((4, 3))
    zero_rows(a, np.array([1, -1, 1]))
    np.testing.assert_array_equal(a.sum(axis=1), [3, 0, 3, 0])
    with pytest.raises(ValueError, match=r"\[-4, 4\)"):
        zero_rows(a, np.array([4]))
    a.flags.writeable = False
    with pytest.raises(TypeError, match="writeable"):
        zero_rows(a, np.array([0]))
    with pytest.raises(TypeError, match="writeable"):
        zero_rows(np.ones((4, 3), dtype=np.int64), np.array([0]))


def test_a_failed_backward_forgets_the_record():
    W = np.zeros((10, 3), dtype=np.float32)
    layer = Embedding(W)
    layer.forward(np.array([1, 2]))
    layer.backward(np.ones((2, 3), dtype=np.float32))
    g = layer.grads[0]
    assert _grad_rows.rows_of(g) is not None
    layer.forward(np.array([4, 5, 6]))
    with pytest.raises((ValueError, IndexError)):
        layer.backward(np.ones((2, 3), dtype=np.float32))       # dout of the wrong shape
    assert g.flags.writeable and _grad_rows.rows_of(g) is None
    layer.backward(np.ones((3, 3), dtype=np.float32))
    ref = np.zeros((10, 3), dtype=np.float32)
    ref[[4, 5, 6]] = 1
    assert _bits(g) == _bits(ref)


# -- CBOW's fused layers (fastnn.nlp._word2vec_models: _fused_forward/backward) ----

def _hook_all(model):
    """Instance hooks that call the layers' own methods: the model then runs
    the book's layer-by-layer path."""
    for layer in model.in_layers + model.ns_loss.embed_dot_layers:
        layer.forward = layer.forward
        layer.backward = layer.backward


def _layer_state(model):
    out = []
    for layer in model.in_layers:
        out.append(_bits(np.asarray(layer.idx)))
    for dot, loss in zip(model.ns_loss.embed_dot_layers, model.ns_loss.loss_layers):
        h, tW = dot.cache
        out += [_bits(np.asarray(dot.embed.idx)), _bits(h), _bits(tW), _bits(loss.y),
                _bits(np.asarray(loss.t)), _bits(np.asarray(loss.loss))]
    return out


@pytest.mark.parametrize("ops", [None, "numpy"])
@pytest.mark.parametrize("hook_between", [False, True])
def test_cbows_fused_layers_are_its_layer_by_layer_path(ops, hook_between):
    V, H, W = 70, 9, 3
    fused, plain = _make(CBOW, 8, V, H, W, ops), _make(CBOW, 8, V, H, W, ops)
    _hook_all(plain)
    of, op = Adam(), Adam()
    batch = np.random.default_rng(5)
    for step in range(5):
        contexts = batch.integers(0, V, (13, 2 * W))
        target = batch.integers(0, V, 13).astype(np.int32)
        np.random.seed(step)
        lf = fused.forward(contexts, target)
        np.random.seed(step)
        lp = plain.forward(contexts, target)
        assert type(lf) is type(lp) and lf == lp
        assert _layer_state(fused) == _layer_state(plain)
        if hook_between and step == 2:        # a hook set after the forward: the book's backward
            _hook_all(fused)
        fused.backward()
        plain.backward()
        assert [_bits(g) for g in fused.grads] == [_bits(g) for g in plain.grads]
        of.update(*remove_duplicate(fused.params, fused.grads))
        op.update(*remove_duplicate(plain.params, plain.grads))
        assert [_bits(p) for p in fused.params] == [_bits(p) for p in plain.params]


def test_cbows_fused_forward_checks_its_ids():
    V, H, W = 30, 4, 2
    model = _make(CBOW, 1, V, H, W)
    contexts = np.zeros((5, 2 * W), dtype=np.int64)
    target = np.zeros(5, dtype=np.int64)
    contexts[2, 1] = V
    with pytest.raises(ValueError, match="idx holds the token id 30"):
        model.forward(contexts, target)
    contexts[2, 1] = -1
    with pytest.raises(ValueError, match="idx holds the token id -1"):
        model.forward(contexts, target)
    contexts[2, 1] = 0
    target[0] = V + 3
    with pytest.raises(ValueError, match="target"):
        model.forward(contexts, target)


def test_a_backward_with_another_dout_takes_the_books_path():
    V, H, W = 40, 5, 2
    a, b = _make(CBOW, 3, V, H, W), _make(CBOW, 3, V, H, W)
    _hook_all(b)
    batch = np.random.default_rng(1)
    contexts = batch.integers(0, V, (9, 2 * W))
    target = batch.integers(0, V, 9)
    for m in (a, b):
        np.random.seed(4)
        m.forward(contexts, target)
        m.backward(2.0)
    assert [_bits(g) for g in a.grads] == [_bits(g) for g in b.grads]


from fastnn.backends import get_ops  # noqa: E402

COMPILED, NUMPY = get_ops("compiled"), get_ops("numpy")


@settings(max_examples=40, deadline=None)
@given(V=st.integers(1, 30), H=st.integers(1, 140), B=st.integers(1, 12),
       C=st.integers(1, 6), K=st.integers(1, 4), dtype=st.sampled_from([np.float32, np.float64]),
       contiguous=st.booleans(), seed=st.integers(0, 2**31))
def test_the_fused_cbow_ops_are_numpys(V, H, B, C, K, dtype, contiguous, seed):
    rng = np.random.default_rng(seed)
    W_in = rng.standard_normal((V, H)).astype(dtype)
    W_out = rng.standard_normal((V, H)).astype(dtype)
    ctx = rng.integers(0, V, (C, B))
    ids = rng.integers(0, V, (K, B))
    if not contiguous:
        ctx, ids = np.asfortranarray(ctx), np.asfortranarray(ids)
    res = [ops.embedding_mean_dots(W_in, ctx, W_out, ids, 1 / C) for ops in (COMPILED, NUMPY)]
    for a, b in zip(*res):
        assert _bits(a) == _bits(b)
    h, tW, _ = res[1]
    d = rng.standard_normal((K, B))
    stale = [None if k % 2 else rng.integers(0, V, 3) for k in range(K)]
    outs = []
    for ops in (COMPILED, NUMPY):
        dWs = [np.zeros((V, H), dtype=dtype) for _ in range(K)]
        for k, s in enumerate(stale):
            if s is not None:
                dWs[k][s] = 5.0          # nonzero only on the rows it lists
        dh = ops.embedding_dots_backward(dWs, ids, h, tW, d, list(stale))
        dWi = [np.zeros((V, H), dtype=dtype) for _ in range(C)]
        ops.embeddings_backward(dWi, ctx, np.ascontiguousarray(dh), [None] * C)
        outs.append([dh] + dWs + dWi)
    for a, b in zip(*outs):
        assert _bits(a) == _bits(b)


def test_the_fused_cbow_ops_check_their_ids():
    V, H, B = 6, 3, 4
    W = np.zeros((V, H), dtype=np.float32)
    h = np.zeros((B, H), dtype=np.float32)
    tW = np.zeros((2, B, H), dtype=np.float32)
    d = np.zeros((2, B))
    ids = np.zeros((2, B), dtype=np.int64)
    dWs = [np.zeros((V, H), dtype=np.float32) for _ in range(2)]
    bad = ids.copy()
    bad[1, 2] = V
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        COMPILED.embedding_dots_backward(dWs, bad, h, tW, d, [None, None])
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        COMPILED.embedding_dots_backward(dWs, ids, h, tW, d, [None, np.array([7])])
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        COMPILED.embeddings_backward(dWs, bad, np.zeros((B, H)), [None, None])
    with pytest.raises(IndexError):
        COMPILED.embedding_mean_dots(W, bad, W, ids, 0.5)      # NumPy's own error

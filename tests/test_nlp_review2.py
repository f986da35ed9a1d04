"""Review of the Embedding gradient records (fastnn.nlp._grad_rows), CBOW's
fused layers and the exact sampler's class table: each test here is a way a
user's code could have seen other numbers than the book's (reproduced, then
fixed), or a guard on something found correct."""
import copy
import os
import pickle
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from fastnn.backends import get_ops
from fastnn.experiments._nlp import step as train_step
from fastnn.nlp import _grad_rows
from fastnn.nlp.cbow import CBOW
from fastnn.nlp.layers import Embedding
from fastnn.nlp.optimizer import Adam
from fastnn.nlp.skip_gram import SkipGram
from fastnn.nlp.trainer import remove_duplicate
from fastnn.nlp.util import clip_grads

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
COMPILED, NUMPY = get_ops("compiled"), get_ops("numpy")


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.tobytes()


def _grads(model):
    return [_bits(g) for g in model.grads]


def _make(cls=CBOW, seed=3, V=40, H=6, W=2):
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    corpus = (rng.zipf(1.3, 2000) - 1) % V
    corpus[:V] = np.arange(V)
    return cls(V, H, W, corpus)


def _layered(model):
    """Instance hooks calling the layers' own methods: the model runs the
    book's layer-by-layer path (and every backward zeroes whole arrays)."""
    layers = getattr(model, "in_layers", None) or [model.in_layer]
    nss = [model.ns_loss] if hasattr(model, "ns_loss") else model.loss_layers
    for layer in layers + [d for ns in nss for d in ns.embed_dot_layers]:
        layer.forward = layer.forward
        layer.backward = layer.backward
    return model


def _forget_all(model):
    for g in model.grads:
        _grad_rows.forget(g)


# -- the fused CBOW's ids: its own copy, and the book's ids at the backward -------------

def test_an_f_ordered_contexts_buffer_reused_across_steps():
    # contexts = buf.T with buf (C, B) int64: np.ascontiguousarray(contexts.T)
    # was buf itself, recorded as the gradients' rows; refilling buf for the
    # next batch changed the record, and the next backward left stale rows.
    V, B, W = 40, 12, 2
    fused, ref = _make(V=V, W=W), _layered(_make(V=V, W=W))
    opts = [Adam(), Adam()]
    buf = np.empty((2 * W, B), dtype=np.int64)
    tbuf = np.empty(B, dtype=np.int64)
    rng = np.random.default_rng(1)
    for step in range(4):
        buf[...] = rng.integers(0, V, buf.shape)
        tbuf[...] = rng.integers(0, V, B)
        for m, o in zip((fused, ref), opts):
            np.random.seed(step)
            m.forward(buf.T, tbuf)
            m.backward()
            o.update(*remove_duplicate(m.params, m.grads))
        assert _grads(fused) == _grads(ref)
        assert [_bits(p) for p in fused.params] == [_bits(p) for p in ref.params]


@pytest.mark.parametrize("what", ["contexts", "target", "negative", "none"])
def test_ids_written_between_forward_and_backward(what):
    # The layers' idx are views of contexts, target and the sampler's draws:
    # the book's backward scatters what they hold then.
    V, B, W = 40, 10, 2
    grads = []
    for model in (_make(V=V, W=W), _layered(_make(V=V, W=W))):
        rng = np.random.default_rng(2)
        contexts = rng.integers(0, V, (B, 2 * W))
        target = rng.integers(0, V, B).astype(np.int32)
        np.random.seed(5)
        model.forward(contexts, target)
        if what == "contexts":
            contexts[3, 1] = (contexts[3, 1] + 1) % V
        elif what == "target":
            target[0] = (target[0] + 7) % V
        elif what == "negative":
            model.ns_loss.embed_dot_layers[2].embed.idx[4] = 0
        model.backward()
        grads.append(_grads(model))
        # and the record of each array is what the next backward must zero
        contexts = rng.integers(0, V, (B, 2 * W))
        np.random.seed(6)
        model.forward(contexts, target)
        model.backward()
        grads.append(_grads(model))
    assert grads[0] == grads[2] and grads[1] == grads[3]


@pytest.mark.parametrize("dtype", [np.int32, np.uint64, np.uint8, np.int16])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_id_dtypes_and_layouts_through_the_fused_model(dtype, layout):
    V, B, W = 40, 9, 2
    rng = np.random.default_rng(4)
    base = rng.integers(0, V, (2 * B, 4 * W))
    t = rng.integers(0, V, 2 * B)
    contexts = {"C": base[:B, :2 * W].copy(), "F": np.asfortranarray(base[:B, :2 * W]),
                "strided": base[::2, ::2]}[layout].astype(dtype, order="K")
    target = t[::2].astype(dtype) if layout == "strided" else t[:B].astype(dtype)
    out = []
    for model in (_make(V=V, W=W), _layered(_make(V=V, W=W))):
        for step in range(2):
            np.random.seed(step)
            loss = model.forward(contexts, target)
            model.backward()
        out.append((loss, _grads(model)))
    assert out[0] == out[1]


# -- the records: born read-only, released for pickling, kept only by safe writes --------

def test_a_new_embeddings_gradient_and_its_views_are_read_only():
    # A view made before the first backward stayed writeable when the array
    # was locked then: a write through it (a flat view's weight decay, say)
    # was not seen by the record, and the next backward left it in place.
    layer = Embedding(np.ones((20, 3), dtype=np.float32))
    g = layer.grads[0]
    flat = g.reshape(-1)
    assert not g.flags.writeable and not flat.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        flat += 1
    assert _grad_rows.rows_of(g) is not None and len(_grad_rows.rows_of(g)) == 0
    layer.forward(np.array([3, 3, 19]))
    layer.backward(np.ones((3, 3), dtype=np.float32))
    ref = np.zeros((20, 3), dtype=np.float32)
    np.add.at(ref, [3, 3, 19], 1)
    assert _bits(g) == _bits(ref)


def _train(model, opt, steps, seed, max_grad=None):
    rng = np.random.default_rng(seed)
    V = model.params[0].shape[0]
    C = 2 * (len(model.in_layers) // 2) if hasattr(model, "in_layers") else 4
    out = []
    for i in range(steps):
        contexts = rng.integers(0, V, (8, C))
        target = rng.integers(0, V, 8)
        np.random.seed(seed * 100 + i)
        loss = train_step(model, opt, contexts, target, max_grad)
        out.append((loss, _grads(model)))
    return out


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
@pytest.mark.parametrize("how", [2, 4, 5, "deepcopy", "between"])
def test_a_model_pickled_mid_training_trains_on(cls, how):
    # Protocol 5 (pickle.dump(obj, f, -1), cloudpickle) stores a read-only
    # array as immutable bytes: the unpickled model's gradients could not be
    # written ("assignment destination is read-only").
    model, opt = _make(cls, W=2), Adam()
    _train(model, opt, 2, 1)
    if how == "between":            # between a forward and its backward
        np.random.seed(9)
        rng = np.random.default_rng(9)
        contexts, target = rng.integers(0, 40, (8, 4)), rng.integers(0, 40, 8)
        model.forward(contexts, target)
        twin = pickle.loads(pickle.dumps(model, protocol=5))
        model.backward()
        twin.backward()
        assert _grads(model) == _grads(twin)
        topt = copy.deepcopy(opt)
    elif how == "deepcopy":
        twin, topt = copy.deepcopy((model, opt))
    else:
        twin, topt = pickle.loads(pickle.dumps((model, opt), protocol=how))
    assert _train(model, opt, 3, 2) == _train(twin, topt, 3, 2)
    for g in twin.grads + model.grads:       # recorded again after a backward
        assert not g.flags.writeable and _grad_rows.rows_of(g) is not None


@pytest.mark.parametrize("max_norm", [-1.0, -0.0, 0.0, 1e-3])
def test_clip_grads_of_any_sign_leaves_the_books_zeros(max_norm):
    # A negative rate turned the zero rows -0.0, which a backward zeroing
    # only its recorded rows left; the book's whole zeroing makes them +0.0.
    a, b = _make(), _make()
    oa, ob = Adam(), Adam()
    rng = np.random.default_rng(7)
    for step in range(3):
        contexts, target = rng.integers(0, 40, (8, 4)), rng.integers(0, 40, 8)
        for m, o, whole in ((a, oa, False), (b, ob, True)):
            if whole:
                _forget_all(m)
            np.random.seed(step)
            m.forward(contexts, target)
            m.backward()
            params, grads = remove_duplicate(m.params, m.grads)
            clip_grads(grads, max_norm)
            o.update(params, grads)
        assert _grads(a) == _grads(b)


def test_rewriting_a_gradient_by_the_documented_way_is_seen():
    model, opt = _make(), Adam()
    _train(model, opt, 1, 3)
    g = model.grads[1]
    g.flags.writeable = True            # the record is then ignored
    g[...] = 5.0
    model.forward(np.zeros((4, 4), dtype=np.int64), np.ones(4, dtype=np.int64))
    model.backward()
    ref = np.zeros_like(g)
    assert _bits(g[2:]) == _bits(ref[2:])    # only row 0 written by this batch


def test_remove_duplicate_with_an_input_array_listed_twice():
    V, H = 30, 3
    W = np.zeros((V, H), dtype=np.float32)
    layers = [Embedding(W) for _ in range(3)]
    rng = np.random.default_rng(0)
    for layer in layers:
        layer.forward(rng.integers(0, V, 5))
        layer.backward(rng.standard_normal((5, H)).astype(np.float32))
    g0, g1 = layers[0].grads[0], layers[1].grads[0]
    expect = g0 + g1 + g1
    params, grads = remove_duplicate([W, W, W], [g0, g1, g1])
    assert len(grads) == 1 and grads[0] is g0
    assert _bits(g0) == _bits(expect)
    layers[0].forward(np.array([1]))         # the union of rows recorded: zeroed next
    layers[0].backward(np.ones((1, H), dtype=np.float32))
    ref = np.zeros((V, H), dtype=np.float32)
    ref[1] = 1
    assert _bits(g0) == _bits(ref)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_the_same_gradients(threads):
    old = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(threads)
        got = _train(_make(V=300, H=40, W=3), Adam(), 3, 4)
    finally:
        fastnn.set_num_threads(old)
    ref = _train(_layered(_make(V=300, H=40, W=3)), Adam(), 3, 4)
    assert got == ref


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
def test_the_books_own_remove_duplicate_and_clip_grads_refuse_rather_than_miss(monkeypatch):
    # Documented: the book's in-place adds on a recorded (read-only) array
    # raise NumPy's read-only ValueError; never a silently stale gradient.
    monkeypatch.syspath_prepend(BOOK2)
    for key in [k for k in sys.modules if k == "common" or k.startswith("common.")]:
        monkeypatch.delitem(sys.modules, key)
    from common.trainer import remove_duplicate as book_rd
    from common.util import clip_grads as book_clip
    model = _make()
    _train(model, Adam(), 1, 5)
    np.random.seed(0)
    model.forward(np.ones((4, 4), dtype=np.int64), np.ones(4, dtype=np.int64))
    model.backward()
    with pytest.raises(ValueError, match="read-only"):
        book_rd(model.params, model.grads)
    with pytest.raises(ValueError, match="read-only"):
        book_clip(model.grads, 1e-9)


# -- the exact sampler's table of distinct values -------------------------------------

def _draw(ops, word_p, target, S, seed):
    np.random.seed(seed)
    try:
        out = ops.unigram_sample(word_p, target, S).tobytes()
    except ValueError:
        out = "ValueError"
    st_ = np.random.get_state()
    return out, st_[1].tobytes(), st_[2], st_[3], st_[4]


_SPECIAL = [0.0, -0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 0.1, 1.0, 3.0, 1e300]


@settings(max_examples=60, deadline=None)
@given(V=st.integers(1, 48), B=st.integers(0, 19), data=st.data(), seed=st.integers(0, 2**31))
def test_few_distinct_values_special_ones_and_in_place_changes(V, B, data, seed):
    vals = data.draw(st.lists(st.sampled_from(_SPECIAL), min_size=1, max_size=4))
    rng = np.random.default_rng(seed)
    w = np.array(vals)[rng.integers(0, len(vals), V)]
    S = data.draw(st.integers(0, min(V, 6)))
    target = rng.integers(0, V, B)
    assert _draw(COMPILED, w, target, S, seed) == _draw(NUMPY, w, target, S, seed)
    w[rng.integers(0, V)] = data.draw(st.sampled_from(_SPECIAL))     # in place: the table
    assert _draw(COMPILED, w, target, S, seed) == _draw(NUMPY, w, target, S, seed)
    other = w[::-1].copy()                                          # alternating tables
    assert _draw(COMPILED, other, target, S, seed) == _draw(NUMPY, other, target, S, seed)
    assert _draw(COMPILED, w, target, S, seed) == _draw(NUMPY, w, target, S, seed)


@pytest.mark.parametrize("S", [0, 1, 2])
@pytest.mark.parametrize("target", [[2], [0, 2], [2, 0], [0] * 9 + [3]])
def test_a_row_whose_sum_overflows_raises_as_numpys_choice(S, target):
    # p.sum() = inf makes p / p.sum() all 0: choice's "probabilities do not
    # sum to 1" (before any draw of that row, even when S is 0, where the
    # kernel returned the rows silently).
    w = np.array([1.7e308, 1.7e308, 1.0, 2.0])
    t = np.array(target)
    with np.errstate(over="ignore", invalid="ignore"):
        got, want = _draw(COMPILED, w, t, S, 0), _draw(NUMPY, w, t, S, 0)
    assert got == want and got[0] == "ValueError"
    with pytest.raises(ValueError, match="do not sum to 1"):
        COMPILED.unigram_sample(w, t, S)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_an_unpickled_embeddings_gradient_is_recorded_on_its_nonzero_rows(how):
    layer = Embedding(np.ones((20, 3), dtype=np.float32))
    layer.forward(np.array([4, 9, 9]))
    dout = np.array([[1, 2, 3], [0, np.nan, 0], [0, 0, -0.0]], dtype=np.float32)
    layer.backward(dout)
    twin = pickle.loads(pickle.dumps(layer, protocol=5)) if how == "pickle" \
        else copy.deepcopy(layer)
    g = twin.grads[0]
    assert _bits(g) == _bits(layer.grads[0])
    assert not g.flags.writeable and not g.reshape(-1).flags.writeable
    assert sorted(_grad_rows.rows_of(g)) == [4, 9]
    twin.forward(np.array([1]))
    twin.backward(np.ones((1, 3), dtype=np.float32))
    ref = np.zeros((20, 3), dtype=np.float32)
    ref[1] = 1
    assert _bits(g) == _bits(ref)


def test_relock_counts_negative_zeros_and_nans_as_nonzero():
    a = np.zeros((6, 2))
    a[1, 1], a[3, 0], a[4, 1] = -0.0, np.nan, 2.0
    _grad_rows.relock(a)
    assert list(_grad_rows.rows_of(a)) == [1, 3, 4] and not a.flags.writeable
    b = np.zeros((3, 2), dtype=np.int64)          # not a float gradient: left alone
    _grad_rows.relock(b)
    assert b.flags.writeable and _grad_rows.rows_of(b) is None


# -- a random sequence of a user's operations: every gradient array holds the
# -- bits of a twin whose every backward zeroes whole arrays (the book's path)

_OPS = st.sampled_from(["step", "backward", "rd", "clip", "write", "pickle", "layer_forward"])


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(_OPS, min_size=1, max_size=12), seed=st.integers(0, 2**31),
       max_norm=st.sampled_from([-1.0, -0.0, 0.0, 1e-3, 10.0]))
def test_any_sequence_of_user_operations_keeps_the_books_bits(ops, seed, max_norm):
    V, B = 30, 6
    mine, ref = _make(V=V, H=4), _layered(_make(V=V, H=4))
    rng = np.random.default_rng(seed)
    started = False
    for k, op in enumerate(ops):
        _forget_all(ref)
        contexts, target = rng.integers(0, V, (B, 4)), rng.integers(0, V, B)
        ids = rng.integers(0, V, B)
        which, value = int(rng.integers(0, len(mine.grads))), float(rng.standard_normal())
        for m in (mine, ref):
            if op == "step" or (not started and op in ("backward", "layer_forward")):
                np.random.seed(seed % 1000 + k)
                m.forward(contexts, target)
                m.backward()
            elif op == "backward":
                m.backward()
            elif op == "rd":
                remove_duplicate(m.params, m.grads)
            elif op == "clip":
                clip_grads(list(m.grads), max_norm)
            elif op == "write":          # the documented way: writeable, and left so
                g = m.grads[which]
                g.flags.writeable = True
                g[int(ids[0])] += value
            elif op == "layer_forward":
                m.in_layers[1].forward(ids)
                m.backward()
        if op == "pickle":
            mine = pickle.loads(pickle.dumps(mine, protocol=5))
        started = started or op in ("step", "backward", "layer_forward")
        assert _grads(mine) == _grads(ref), (k, op)


def test_an_empty_batch_raises_as_the_books_layers_do():
    # The book's cross_entropy_error takes t of y's size for one-hot labels:
    # with B = 0 it calls t.argmax(axis=1) on a 1-D t (AxisError); the fused
    # forward returned a nan loss.
    for model in (_make(), _layered(_make())):
        with pytest.raises(np.exceptions.AxisError):
            model.forward(np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64))


@pytest.mark.parametrize("ops", [COMPILED, NUMPY])
def test_a_backward_with_ids_out_of_range_leaves_the_books_zeros(ops):
    # The book's Embedding backward zeroes dW, then np.add.at raises
    # IndexError: dW is left all zeros (the kernel raised before zeroing).
    from fastnn.nlp.negative_sampling_layer import EmbeddingDot
    W = np.ones((10, 3), dtype=np.float32)
    layer = Embedding(W)
    layer.ops = ops
    layer.forward(np.array([1, 2]))
    layer.backward(np.ones((2, 3), dtype=np.float32))
    layer.idx = np.array([3, 10])            # set by hand: forward checks its ids
    with pytest.raises(IndexError):
        layer.backward(np.ones((2, 3), dtype=np.float32))
    assert _bits(layer.grads[0]) == _bits(np.zeros_like(W))
    dot = EmbeddingDot(W)
    dot.ops = dot.embed.ops = ops
    h = np.ones((2, 3), dtype=np.float32)
    dot.forward(h, np.array([1, 2]))
    dout = np.array([0.5, 2.0])
    dot.backward(dout)
    dot.embed.idx = np.array([-1, 4])        # NumPy's negative ids: row 9
    dh = dot.backward(dout)
    ref = np.zeros_like(W)
    np.add.at(ref, [-1, 4], dout[:, None] * h)
    assert _bits(dot.grads[0]) == _bits(ref)
    assert _bits(dh) == _bits(dout[:, None] * dot.cache[1])
    dot.embed.idx = np.array([3, 10])
    with pytest.raises(IndexError):
        dot.backward(dout)
    assert _bits(dot.grads[0]) == _bits(np.zeros_like(W))

"""fastnn.nlp.util, trainer and optimizer: hand-worked cases, the compiled
ops against NumpyOps (bit for bit where the kernels promise it), and loop
transcriptions of the book's per-element formulas written here."""
import contextlib
import io
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

from fastnn.backends import get_ops
from fastnn.nlp import optimizer as nopt
from fastnn.nlp import util
from fastnn.nlp.trainer import RnnlmTrainer, Trainer, remove_duplicate

COMPILED, NUMPY = get_ops(), get_ops("numpy")


def _printed(fn, *args, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args, **kw)
    return out, buf.getvalue()


# -- preprocess, co-occurrence, PPMI ------------------------------------------------

def test_preprocess_and_co_matrix_hand_case():
    corpus, w2i, i2w = util.preprocess("You say goodbye and I say hello.")
    np.testing.assert_array_equal(corpus, [0, 1, 2, 3, 4, 1, 5, 6])
    assert w2i["say"] == 1 and i2w[6] == "."
    C = util.create_co_matrix(corpus, len(w2i))
    assert C.dtype == np.int32
    np.testing.assert_array_equal(C[0], [0, 1, 0, 0, 0, 0, 0])     # you: say
    np.testing.assert_array_equal(C[1], [1, 0, 1, 0, 1, 1, 0])     # say: you goodbye i hello
    np.testing.assert_array_equal(C, C.T)


def _co_loop(corpus, V, window):
    co = np.zeros((V, V), np.int32)
    for idx, w in enumerate(corpus):
        for i in range(1, window + 1):
            if idx - i >= 0:
                co[w, corpus[idx - i]] += 1
            if idx + i < len(corpus):
                co[w, corpus[idx + i]] += 1
    return co


@given(st.integers(1, 20), st.integers(0, 80), st.integers(0, 4), st.integers(0, 2 ** 32 - 1))
def test_co_matrix_ops_match_loop(V, n, window, seed):
    corpus = np.random.default_rng(seed).integers(0, V, n)
    want = _co_loop(corpus, V, window)
    np.testing.assert_array_equal(COMPILED.co_matrix(corpus, V, window), want)
    np.testing.assert_array_equal(NUMPY.co_matrix(corpus, V, window), want)
    np.testing.assert_array_equal(util.create_co_matrix(corpus.astype(np.int32), V, window),
                                  want)


def _ppmi_loop(C, eps=1e-8):
    """The book's per-entry formula, entry by entry in NumPy scalars."""
    M = np.zeros_like(C, dtype=np.float32)
    N = np.sum(C)
    S = np.sum(C, axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(C.shape[0]):
            for j in range(C.shape[1]):
                pmi = np.log2(C[i, j] * N / (S[j] * S[i]) + eps)
                M[i, j] = max(0, pmi)
    return M


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_ppmi_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    C = util.create_co_matrix(rng.integers(0, 30, 2000), 30, 2).astype(dtype)
    C[3, :] = 0                    # a word never seen: 0/0 -> NaN -> 0, as the book
    C[:, 3] = 0
    want = _ppmi_loop(C)
    for got in (COMPILED.ppmi(C), NUMPY.ppmi(C), util.ppmi(C)):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_ppmi_large_counts_take_the_int64_path():
    rng = np.random.default_rng(2)
    C = rng.integers(0, 2 ** 30, (5, 5)).astype(np.int32)
    np.testing.assert_array_equal(COMPILED.ppmi(C), _ppmi_loop(C))


def test_ppmi_float_matrix_falls_back():
    C = np.random.default_rng(3).random((6, 6)).astype(np.float32)
    np.testing.assert_array_equal(COMPILED.ppmi(C), _ppmi_loop(C))


def test_ppmi_several_blocks_and_verbose_lines():
    rng = np.random.default_rng(4)
    C = util.create_co_matrix(rng.integers(0, 300, 20000), 300, 2)   # 90,000 entries: 2 blocks
    got, text = _printed(util.ppmi, C, verbose=True)
    want, text_numpy = _printed(NUMPY.ppmi, C, verbose=True)
    np.testing.assert_array_equal(got, want)
    total = C.size
    step = total // 100 + 1
    lines = ['%.1f%% done' % (100 * cnt / total) for cnt in range(step, total + 1, step)]
    assert text.splitlines() == lines == text_numpy.splitlines()


def test_ppmi_and_co_matrix_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        util.ppmi(np.zeros(5))
    with pytest.raises(ValueError, match="word id 7"):
        util.create_co_matrix(np.array([0, 7]), 5)
    with pytest.raises(ValueError, match="word id -1"):
        util.create_co_matrix(np.array([0, -1]), 5)
    with pytest.raises(TypeError, match="integer"):
        util.create_co_matrix(np.array([0.5, 1.0]), 5)
    with pytest.raises(ValueError, match="1-D"):
        util.create_co_matrix(np.zeros((2, 2), int), 5)


# -- the other util functions ----------------------------------------------------------

def test_cos_similarity_and_most_similar():
    assert abs(util.cos_similarity(np.array([1.0, 0]), np.array([1.0, 1])) - 2 ** -0.5) < 1e-7
    w2i = {"a": 0, "b": 1, "c": 2}
    i2w = {0: "a", 1: "b", 2: "c"}
    W = np.array([[1.0, 0], [1.0, 0.1], [0.0, 1]])
    _, text = _printed(util.most_similar, "a", w2i, i2w, W, top=2)
    lines = text.strip().splitlines()
    assert lines[0] == "[query] a" and lines[1].startswith(" b: 0.99")
    _, text = _printed(util.most_similar, "zz", w2i, i2w, W)
    assert text == "zz is not found\n"


@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_convert_one_hot(shape):
    corpus = np.random.default_rng(5).integers(0, 6, shape)
    oh = util.convert_one_hot(corpus, 6)
    assert oh.dtype == np.int32 and oh.shape == shape + (6,)
    np.testing.assert_array_equal(oh.argmax(-1), corpus)
    assert oh.sum() == corpus.size
    with pytest.raises(ValueError, match="word id 6"):
        util.convert_one_hot(np.array([6]), 6)


def test_create_contexts_target():
    contexts, target = util.create_contexts_target(np.array([0, 1, 2, 3, 4, 1, 5, 6]), 1)
    np.testing.assert_array_equal(target, [1, 2, 3, 4, 1, 5])
    np.testing.assert_array_equal(contexts[:2], [[0, 2], [1, 3]])
    contexts, target = util.create_contexts_target(np.arange(6), 2)
    np.testing.assert_array_equal(contexts, [[0, 1, 3, 4], [1, 2, 4, 5]])


def test_normalize_analogy_and_to_gpu():
    x = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(util.normalize(x), [[0.6, 0.8], [0, 1]])
    w2i = {"a": 0, "b": 1, "c": 2, "d": 3}
    i2w = {v: k for k, v in w2i.items()}
    W = np.eye(4)
    _, text = _printed(util.analogy, "a", "b", "c", w2i, i2w, W, top=1)
    assert "[analogy] a:b = c:?" in text and " d: 0.0" in text
    from fastnn.nlp.config import GPUNotSupportedError
    with pytest.raises(GPUNotSupportedError):
        util.to_gpu(x)
    assert util.to_cpu(x) is x


class _Model:
    def forward(self, xs, ts, train_flg=True):
        assert xs.dtype == ts.dtype == np.int32
        return np.float32(np.mean(xs) * 0.01 + 1)


def test_eval_perplexity_batches():
    corpus = np.arange(101) % 17
    ppl, text = _printed(util.eval_perplexity, _Model(), corpus, batch_size=3, time_size=5)
    # the batches, written out as the book's loop builds them
    jump = 100 // 3
    total = 0
    for it in range(100 // 15):
        xs = np.array([[corpus[(it * 5 + i * jump + t) % 101] for t in range(5)]
                       for i in range(3)])
        total += np.float32(np.mean(xs) * 0.01 + 1)
    assert ppl == np.exp(total / (100 // 15))
    assert text.startswith("evaluating perplexity ...\n\r0 / 6")


# -- clip_grads ----------------------------------------------------------------------

def _clip_book(grads, max_norm):
    total_norm = 0
    for grad in grads:
        total_norm += np.sum(grad ** 2)
    total_norm = np.sqrt(total_norm)
    rate = max_norm / (total_norm + 1e-6)
    if rate < 1:
        for grad in grads:
            grad *= rate


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes", [[(3,)], [(7, 5), (100,), (1,)], [(300, 500), (129,)],
                                   [(5,), (200001,)]])
@pytest.mark.parametrize("max_norm", [0.25, 1e9])
def test_clip_grads_bit_for_bit(dtype, sizes, max_norm):
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal(s).astype(dtype) for s in sizes]
    want = [g.copy() for g in grads]
    _clip_book(want, max_norm)
    ids = [id(g) for g in grads]
    util.clip_grads(grads, max_norm)
    assert [id(g) for g in grads] == ids
    for g, w in zip(grads, want):
        np.testing.assert_array_equal(g, w)


def test_clip_grads_fallbacks():
    rng = np.random.default_rng(7)
    cases = [[rng.standard_normal((6, 4))[:, ::2]],                         # strided
             [rng.standard_normal(5).astype(np.float32), rng.standard_normal(5)],  # mixed
             []]
    for grads in cases:
        want = [g.copy() for g in grads]
        _clip_book(want, 0.1)
        util.clip_grads(grads, 0.1)
        for g, w in zip(grads, want):
            np.testing.assert_array_equal(g, w)
    g = [np.ones(4, np.float32)]
    w = [g[0].copy()]
    _clip_book(w, np.float64(0.5))             # a NumPy float64 max_norm: float64 rate
    util.clip_grads(g, np.float64(0.5))
    np.testing.assert_array_equal(g[0], w[0])


def test_clip_grads_nan_propagates():
    g = [np.array([1.0, np.nan], np.float32)]
    util.clip_grads(g, 1.0)
    assert np.isnan(g[0][1])


# -- optimizers ------------------------------------------------------------------------

OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _transcribed(name, params, grads, state):
    """The sequel's update rules, statement for statement (state: a dict)."""
    if name == "SGD":
        for i in range(len(params)):
            params[i] -= 0.01 * grads[i]
        return
    if name == "Adam":
        state.setdefault("m", [np.zeros_like(p) for p in params])
        state.setdefault("v", [np.zeros_like(p) for p in params])
        state["iter"] = state.get("iter", 0) + 1
        it = state["iter"]
        lr_t = 0.001 * np.sqrt(1.0 - 0.999 ** it) / (1.0 - 0.9 ** it)
        for i in range(len(params)):
            state["m"][i] += (1 - 0.9) * (grads[i] - state["m"][i])
            state["v"][i] += (1 - 0.999) * (grads[i] ** 2 - state["v"][i])
            params[i] -= lr_t * state["m"][i] / (np.sqrt(state["v"][i]) + 1e-7)
        return
    s = state.setdefault("s", [np.zeros_like(p) for p in params])
    for i in range(len(params)):
        if name == "Momentum":
            s[i] = 0.9 * s[i] - 0.01 * grads[i]
            params[i] += s[i]
        elif name == "Nesterov":
            s[i] *= 0.9
            s[i] -= 0.01 * grads[i]
            params[i] += 0.9 * 0.9 * s[i]
            params[i] -= (1 + 0.9) * 0.01 * grads[i]
        elif name == "AdaGrad":
            s[i] += grads[i] * grads[i]
            params[i] -= 0.01 * grads[i] / (np.sqrt(s[i]) + 1e-7)
        elif name == "RMSprop":
            s[i] *= 0.99
            s[i] += (1 - 0.99) * grads[i] * grads[i]
            params[i] -= 0.01 * grads[i] / (np.sqrt(s[i]) + 1e-7)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_give_the_books_numbers(name, dtype):
    rng = np.random.default_rng(8)
    shapes = [(30, 20), (20,), (7, 7, 3)]
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    runs = {}
    for ops in ("compiled", "numpy", "book"):
        params = [p.copy() for p in start]
        held = list(params)
        opt, state = getattr(nopt, name)(), {}
        if ops != "book":
            opt.ops = get_ops(ops)
        step_rng = np.random.default_rng(9)
        for _ in range(4):
            grads = [step_rng.standard_normal(s).astype(dtype) for s in shapes]
            if ops == "book":
                _transcribed(name, params, grads, state)
            else:
                opt.update(params, grads)
        assert all(p is h for p, h in zip(params, held))      # updated in place
        runs[ops] = params
    for ops in ("compiled", "numpy"):
        for p, b in zip(runs[ops], runs["book"]):
            assert p.dtype == dtype
            np.testing.assert_array_equal(p, b)


def test_optimizer_state_lists():
    p = [np.zeros(3, np.float32)]
    opt = nopt.Adam()
    opt.update(p, [np.ones(3, np.float32)])
    assert isinstance(opt.m, list) and isinstance(opt.v, list) and opt.iter == 1
    mom = nopt.Momentum()
    mom.update(p, [np.ones(3, np.float32)])
    assert isinstance(mom.v, list) and mom.v[0].dtype == np.float32


# -- trainer ---------------------------------------------------------------------------

def test_remove_duplicate_same_and_transposed():
    W = np.arange(6.0).reshape(2, 3)
    b = np.zeros(3)
    params = [W, b, W, W.T]
    grads = [np.ones((2, 3)), np.ones(3), 2 * np.ones((2, 3)), 3 * np.ones((3, 2))]
    first = grads[0]
    p, g = remove_duplicate(params, grads)
    assert len(p) == 2 and p[0] is W and p[1] is b
    assert g[0] is first                           # added in place, as the book
    np.testing.assert_array_equal(g[0], 6 * np.ones((2, 3)))
    assert len(params) == 4                        # the model's lists are untouched


class _TwoLayer:
    def __init__(self):
        from fastnn.nlp.two_layer_net import TwoLayerNet
        np.random.seed(0)
        self.net = TwoLayerNet(2, 5, 3)
        self.params, self.grads = self.net.params, self.net.grads

    def forward(self, x, t):
        return self.net.forward(x, t)

    def backward(self):
        return self.net.backward()


def test_trainer_fit_prints_and_learns():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((90, 2))
    t = np.eye(3)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)]
    model = _TwoLayer()
    trainer = Trainer(model, nopt.SGD(lr=1.0))
    _, text = _printed(trainer.fit, x, t, max_epoch=20, batch_size=30, max_grad=5.0,
                       eval_interval=1)
    assert re.match(r"\| epoch 1 \|  iter 1 / 3 \| time \d+\[s\] \| loss \d+\.\d\d\n", text)
    assert trainer.loss_list[-1] < trainer.loss_list[0]
    assert trainer.current_epoch == 20


def test_rnnlm_trainer_batches_are_the_books():
    x = np.arange(50)
    tr = RnnlmTrainer(None, None)
    tr.time_idx = 4
    bx, bt = tr.get_batch(x, x + 100, 3, 5)
    want = np.array([[x[(i * 16 + 4 + t) % 50] for t in range(5)] for i in range(3)])
    np.testing.assert_array_equal(bx, want)
    np.testing.assert_array_equal(bt, want + 100)
    assert bx.dtype == np.int32 and tr.time_idx == 9


def test_plot_needs_matplotlib_only_when_called(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    trainer = Trainer(None, None)          # building and training need no matplotlib
    with pytest.raises(ImportError):
        trainer.plot()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_with_a_tied_weight_listed_twice(name):
    """Without remove_duplicate the book updates a shared array once per listing,
    in list order (and its transpose view as another parameter)."""
    rng = np.random.default_rng(11)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    results = []
    for ops in ("compiled", "numpy"):
        W = start.copy()
        params = [W, W, W.T]
        opt = getattr(nopt, name)()
        opt.ops = get_ops(ops)
        g_rng = np.random.default_rng(12)
        for _ in range(3):
            g = g_rng.standard_normal((4, 3)).astype(np.float32)
            opt.update(params, [g, 2 * g, 3 * g.T])
        results.append(W)
    np.testing.assert_array_equal(results[0], results[1])


def test_ppmi_non_square_as_the_book():
    C = np.random.default_rng(12).integers(0, 5, (3, 5)).astype(np.int32)
    np.testing.assert_array_equal(util.ppmi(C), _ppmi_loop(C))
    with pytest.raises(IndexError):          # the book reads S[i] past the columns
        util.ppmi(np.ones((5, 3), np.int32))


def test_remove_duplicate_ties_only_true_transposes_whatever_their_first_entry():
    from fastnn.nlp.trainer import remove_duplicate
    rng = np.random.default_rng(11)
    W = rng.standard_normal((5, 3)).astype(np.float32)
    cases = [(W.T.copy(), True)]                       # a tied copy: one parameter
    other = W.T.copy()
    other[2, 4] += 1                                   # same first entry, differs later
    cases.append((other, False))
    other = W.T.copy()
    other[0, 0] += 1                                   # differs at the first entry
    cases.append((other, False))
    nan = W.copy()
    nan[0, 0] = np.nan
    cases.append((nan.T.copy(), False))                # NaN is unequal to itself
    for q, tied in cases:
        p = nan if np.isnan(q[0, 0]) else W
        params, grads = remove_duplicate([p, q], [np.ones_like(p), np.ones_like(q)])
        assert len(params) == (1 if tied else 2)
        if tied:
            np.testing.assert_array_equal(grads[0], np.full_like(p, 2))

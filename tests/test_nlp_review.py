"""Review of the fused output layer of Rnnlm/BetterRnnlm (the loss's softmax
over the scores in place, the affine's bias gradient from the loss's
backward pass) and the vector loops of rnn_loops.h: the fused path against
the book's layer-by-layer path bit for bit in the flows a user can take,
and the kernels against the NumPy twin at odd lengths and special values."""
import numpy as np
import pytest

import fastnn
from fastnn.backends import get_ops
from fastnn.nlp import time_layers as tl
from fastnn.nlp.rnnlm import Rnnlm
from fastnn.nlp.better_rnnlm import BetterRnnlm
from test_nlp_time_layers import _lm_twins     # the layer-by-layer twin of a model

V = 50
MODELS = {"Rnnlm": (Rnnlm, dict(vocab_size=V, wordvec_size=8, hidden_size=10)),
          "BetterRnnlm": (BetterRnnlm, dict(vocab_size=V, wordvec_size=10, hidden_size=10))}


@pytest.fixture(params=[1, 2])
def threads(request):
    old = fastnn.get_num_threads()
    fastnn.set_num_threads(request.param)
    yield request.param
    fastnn.set_num_threads(old)


def _bits(a):
    a = np.asarray(a)
    return a.dtype.str, a.shape, a.tobytes()


def _twins(name, seed=0):
    cls, kw = MODELS[name]
    return _lm_twins(cls, kw, seed)


def _flow(model, flow, N, T):
    rng = np.random.default_rng(1)
    xs, ts, xs2, ts2 = (rng.integers(0, V, (N, T)) for _ in range(4))
    np.random.seed(7)           # BetterRnnlm's dropout masks
    if flow == "ignored rows":
        ts[0] = -1
    if flow == "all ignored":
        ts[...] = -1
    if flow == "forward twice":
        model.forward(xs2, ts2)
    loss = model.forward(xs, ts)
    if flow == "predict between":      # the book keeps the loss's softmax
        held = model.predict(xs2)
    dout = {"numpy scalar dout": np.float32(1), "float dout": 0.37,
            "negative dout": -2}.get(flow, 1)
    model.backward(dout)
    if flow == "backward twice":       # the book's loss backward works in place twice
        model.backward(dout)
    if flow == "predict between":
        assert np.isfinite(held).all()
    return loss, [g.copy() for g in model.grads], model.loss_layer.cache[1].copy()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("flow", ["plain", "forward twice", "backward twice", "predict between",
                                  "numpy scalar dout", "float dout", "negative dout",
                                  "ignored rows", "all ignored"])
@pytest.mark.parametrize("N,T", [(4, 6), (1, 1)])
def test_fused_output_layer_matches_the_books_path_in_every_flow(threads, name, flow, N, T):
    fused, plain = _twins(name)
    with np.errstate(all="ignore"):
        got = _flow(fused, flow, N, T)
        want = _flow(plain, flow, N, T)
    assert _bits(got[0]) == _bits(want[0])
    for g, w in zip(got[1], want[1]):
        assert _bits(g) == _bits(w)
    assert _bits(got[2]) == _bits(want[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Vc", [1, 2, 3, 15, 16, 17, 33, 257])
def test_bias_gradient_by_columns_is_numpy_sum_bit_for_bit(threads, dtype, Vc):
    """Many rows (a column block walks all of them), widths around the
    piece alignment (16), one ignored row; float64 too."""
    rng = np.random.default_rng(Vc)
    N, T = 9, 40
    xs = (rng.standard_normal((N, T, Vc)) * 5).astype(dtype)
    ts = rng.integers(0, Vc, (N, T))
    ts[0, 0] = -1
    fused = tl.TimeSoftmaxWithLoss()
    loss_f = fused._forward(xs.copy(), ts, True)
    db = np.full(Vc, np.nan, dtype)
    dx = fused._backward(1, db).copy()
    twin = tl.TimeSoftmaxWithLoss()
    twin.ops = get_ops("numpy")
    loss_t = twin.forward(xs.copy(), ts)
    dx_t = twin.backward()
    assert loss_f == loss_t
    assert _bits(dx) == _bits(dx_t)
    assert _bits(db) == _bits(np.sum(dx_t.reshape(-1, Vc), axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_lanes_first_element_nan_and_tails(dtype):
    """The row max seeds its lanes with x[0]: a NaN there, a NaN only in
    the scalar tail, +inf only in the tail, a row of -inf, at widths that
    fill 0, 1 or 2 vector pairs plus a tail: all as the NumPy twin (NaN
    where NumPy's np.max gives NaN)."""
    L = 32 // np.dtype(dtype).itemsize
    for Vr in (1, L - 1, 2 * L, 2 * L + 1, 4 * L + 3):
        rows = []
        r = np.linspace(-3, 3, Vr).astype(dtype)
        for case in range(5):
            x = r.copy()
            if case == 0:
                x[0] = np.nan
            elif case == 1:
                x[-1] = np.nan
            elif case == 2:
                x[-1] = np.inf
            elif case == 3:
                x[:] = -np.inf
            rows.append(x)
        xs = np.stack(rows)[None]
        ts = np.zeros((1, len(rows)), np.int64)
        res = []
        for ops in ("compiled", "numpy"):
            layer = tl.TimeSoftmaxWithLoss()
            layer.ops = get_ops(ops)
            with np.errstate(all="ignore"):
                layer._forward(xs.copy(), ts, ops == "compiled")
            res.append(layer.cache[1].copy())
        np.testing.assert_array_equal(res[0], res[1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_calls_a_predict_patched_on_the_instance(name):
    """The book's forward is ``loss_layer.forward(self.predict(xs), ts)``: a
    predict set on the instance (a wrapper recording the scores) is called,
    and the scores it saw are not overwritten by the loss's softmax."""
    model, _ = _twins(name)
    seen = []
    inner = model.predict

    def predict(xs, *args, **kws):
        scores = inner(xs, *args, **kws)
        seen.append((scores, scores.copy()))
        return scores
    model.predict = predict
    rng = np.random.default_rng(2)
    model.forward(rng.integers(0, V, (3, 4)), rng.integers(0, V, (3, 4)))
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0][0], seen[0][1])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("which", ["affine.forward", "affine.backward", "loss.forward",
                                   "loss.backward"])
def test_layer_methods_patched_on_the_instance_are_called(name, which):
    """model.forward/backward go through the layers' own forward/backward as
    the book's do: a method set on a layer instance (a hook) is called."""
    model, _ = _twins(name)
    layer = model.layers[-1] if which.startswith("affine") else model.loss_layer
    meth = which.split(".")[1]
    inner = getattr(layer, meth)
    calls = []

    def hook(*args, **kws):
        calls.append(1)
        return inner(*args, **kws)
    setattr(layer, meth, hook)
    rng = np.random.default_rng(2)
    model.forward(rng.integers(0, V, (3, 4)), rng.integers(0, V, (3, 4)))
    model.backward()
    assert calls == [1]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scores_kept_by_an_affine_forward_hook_are_not_overwritten(name):
    """A forward set on the output affine's instance may keep the scores it
    returns (the book's loss makes new arrays): the loss's softmax must not
    go over them."""
    model, _ = _twins(name)
    affine = model.layers[-1]
    inner = affine.forward
    kept = []

    def hook(x):
        out = inner(x)
        kept.append((out, out.copy()))
        return out
    affine.forward = hook
    rng = np.random.default_rng(2)
    model.forward(rng.integers(0, V, (3, 4)), rng.integers(0, V, (3, 4)))
    model.backward()
    np.testing.assert_array_equal(kept[0][0], kept[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H", [1, 3, 4, 7, 8, 9, 17])
def test_one_step_cells_with_carries_and_tails_match_twin_bits(dtype, H):
    """The LSTM backward gate loop on vectors of lanes with a given dc_next
    (dco is a separate buffer then, dc itself on the later steps of a
    sequence), NaN, inf and -0 in the carries, widths with a tail; the
    forward gate loops' AVX2 clones (LSTM, RNN): the twin's bits.  (GRU's
    twin multiplies by column slices of Wx and Wh, which BLAS may round
    otherwise than the whole product: a few ulps, checked elsewhere.)"""
    rng = np.random.default_rng(H)
    N, D = 5, 5
    res = {}
    for ops in ("compiled", "numpy"):
        rng = np.random.default_rng(H)
        out = []
        for cls, k in ((tl.LSTM, 4), (tl.RNN, 1)):
            Wx, Wh, b = (rng.standard_normal(s).astype(dtype)
                         for s in ((D, k * H), (H, k * H), (k * H,)))
            x, h, c, dh, dc = (rng.standard_normal((N, s)).astype(dtype)
                               for s in (D, H, H, H, H))
            dc[0, 0], dh[-1, -1], dc[-1, 0] = np.nan, np.inf, -0.0
            layer = cls(Wx, Wh, b)
            layer.ops = get_ops(ops)
            if cls is tl.LSTM:
                hn, cn = layer.forward(x, h, c)
                with np.errstate(all="ignore"):
                    _, _, dcp = layer.backward(dh, dc)
                out += [hn.copy(), cn.copy(), dcp.copy(), layer.grads[2].copy()]
            else:
                out.append(layer.forward(x, h).copy())
        res[ops] = out
    for got, want in zip(res["compiled"], res["numpy"]):
        assert _bits(got) == _bits(want)


def test_rnn_kernels_have_no_fma():
    """FASTNN_CLONES' AVX2 clones must not contract a*b+c into an FMA (one
    rounding where NumPy makes two): no vfmadd/vfmsub/vfnmadd in the rnn
    module, which does hold AVX (ymm) code."""
    import re
    import shutil
    import subprocess
    from fastnn._kernels import rnn
    if shutil.which("objdump") is None:
        pytest.skip("no objdump")
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", rnn.__file__],
                          capture_output=True, text=True, check=True).stdout
    fma = re.compile(r"\bvfn?m(add|sub)")
    assert fma.search("  vfmadd231ps %ymm1,%ymm2,%ymm3")      # the pattern finds one
    assert "ymm" in text
    assert not fma.search(text)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trainer_and_perplexity_flow_matches_the_books_path(name, capsys):
    """RnnlmTrainer.fit (clipping, tied weights' duplicates for BetterRnnlm)
    then eval_perplexity, as the book's scripts run them: the same
    perplexities and parameters as the layer-by-layer path."""
    from fastnn.nlp.trainer import RnnlmTrainer
    from fastnn.nlp.optimizer import SGD
    from fastnn.nlp.util import eval_perplexity
    corpus = np.random.default_rng(4).integers(0, V, 400)
    out = []
    for model in _twins(name):
        np.random.seed(3)
        trainer = RnnlmTrainer(model, SGD(5.0))
        trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=4, time_size=5,
                    max_grad=0.25, eval_interval=5)
        model.reset_state()
        np.random.seed(3)
        ppl = eval_perplexity(model, corpus, batch_size=4, time_size=5)
        out.append((trainer.ppl_list, ppl, [p.copy() for p in model.params]))
    capsys.readouterr()
    assert out[0][0] == out[1][0] and _bits(out[0][1]) == _bits(out[1][1])
    for p_f, p_p in zip(out[0][2], out[1][2]):
        assert _bits(p_f) == _bits(p_p)


@pytest.mark.parametrize("kind", ["read-only", "strided", "float64 twin"])
def test_overwrite_leaves_scores_it_may_not_write(kind):
    """_forward(..., overwrite=True) goes over the scores only when they are
    a writeable C-contiguous array of the kernels; otherwise (and on the
    NumPy twin) the scores stay as they were, with the same loss and dx."""
    rng = np.random.default_rng(8)
    base = rng.standard_normal((3, 4, 2 * 19)).astype(np.float32)
    ts = rng.integers(0, 19, (3, 4))
    if kind == "read-only":
        xs = base[:, :, :19].copy()
        xs.flags.writeable = False
    elif kind == "strided":
        xs = base[:, :, ::2]
    else:
        xs = base[:, :, :19].astype(np.float64)
    shown = xs.copy()
    layer, ref = tl.TimeSoftmaxWithLoss(), tl.TimeSoftmaxWithLoss()
    if kind == "float64 twin":
        layer.ops = get_ops("numpy")
    assert layer._forward(xs, ts, True) == ref.forward(shown.copy(), ts)
    np.testing.assert_array_equal(xs, shown)
    assert _bits(layer.backward()) == _bits(ref.backward())

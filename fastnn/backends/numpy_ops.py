"""NumpyOps: the layers' math as plain functions of arrays, in NumPy.

Each method is the book's formula (``common/layers.py``, ``optimizer.py``),
statement for statement, with the state passed in and out instead of kept
on a layer: the package's one NumPy transcription of each.  The layers of
:mod:`fastnn.layers` and the optimizers of :mod:`fastnn.optimizer` call
these methods through ``self.ops``; :mod:`fastnn.reference` binds them to
this class (tests/book_oracle/ keeps the book's own classes to check that
against).  :class:`fastnn.backends.compiled.CompiledOps` subclasses it,
overrides the hot methods with compiled kernels and calls ``super()`` for
the inputs its kernels do not take: this class is both the oracle and the
fallback.

``pool`` (a :class:`fastnn._kernels.pool.Pool` or None) is where an
implementation may take its output arrays from; NumPy's own results are new
arrays, so this class ignores it.
"""
import numpy as np

from .._checks import check_window
from ..reference.functions import cross_entropy_error, sigmoid, softmax
from ..reference.util import col2im, im2col

__all__ = ["NumpyOps"]


class NumpyOps:
    name = "numpy"
    # Whether a network may run a Pooling before the Relu in front of it
    # (they commute exactly; see fastnn/_convnet.py): the book's order here.
    pool_before_relu = False

    def __reduce_ex__(self, protocol):
        # The shared ops object of get_ops() (which every layer holds) stays
        # shared in a copied or unpickled layer; an instance of one's own is
        # copied as any object.
        from . import get_ops, is_shared_ops
        if is_shared_ops(self):
            return (get_ops, (self.name,))
        return super().__reduce_ex__(protocol)

    # -- affine -----------------------------------------------------------------
    def affine_forward(self, x, W, b, pool=None):
        """``(out, x2, x_dtype)``: out = x2·W + b with x2 = x flattened to
        (N, -1) (what backward needs), x_dtype the dtype of x as given (an
        implementation may keep x2 converted to W's dtype)."""
        x2 = x.reshape(x.shape[0], -1)
        return np.dot(x2, W) + b, x2, x.dtype

    def affine_backward(self, dout, x, W, x_dtype=None, need_dx=True, weight_decay=0.0,
                        pool=None, dW=None, db=None):
        """``(dx, dW, db)``: dx = dout·Wᵀ (None unless ``need_dx``),
        dW = xᵀ·dout (+ weight_decay·W), db = Σ_rows dout; x back in its own
        dtype first if it was converted (exact: the conversion widened it)."""
        if x_dtype is not None and x.dtype != x_dtype:
            x = x.astype(x_dtype)
        dW = np.dot(x.T, dout)
        if weight_decay:
            dW = dW + weight_decay * W
        db = np.sum(dout, axis=0)
        return (np.dot(dout, W.T) if need_dx else None), dW, db

    # -- activations -----------------------------------------------------------
    def relu_forward(self, x, pool=None):
        """``(out, mask)``: ``mask = x <= 0``, ``out`` = x with the masked entries 0."""
        mask = (x <= 0)
        out = x.copy()
        out[mask] = 0
        return out, mask

    def relu_backward(self, dout, mask, pool=None):
        """``dout`` with the masked entries 0 (a new array)."""
        dx = dout.copy()
        dx[mask] = 0
        return dx

    def sigmoid_forward(self, x, pool=None):
        return sigmoid(x)

    def sigmoid_backward(self, dout, y, pool=None):
        """Gradient from the forward output ``y``: ``dout·(1 - y)·y``."""
        return dout * (1.0 - y) * y

    def tanh_forward(self, x, pool=None):
        return np.tanh(x)

    def tanh_backward(self, dout, y, pool=None):
        """Gradient from the forward output ``y``: ``dout·(1 - y²)`` (the
        sequel's RNN writes it ``dh·(1 - h_next ** 2)``)."""
        return dout * (1 - y ** 2)

    # -- softmax with cross-entropy ---------------------------------------------
    def softmax_cross_entropy_forward(self, x, t, label_smoothing=0.0, pool=None):
        """``(loss, y)``: y = softmax(x) by rows; the mean cross-entropy against
        class indices or one-hot rows ``t``, label-smoothed when asked."""
        y = softmax(x)
        if label_smoothing:
            target = _smoothed_target(y, t, label_smoothing)
            return -np.sum(target * np.log(y + 1e-7)) / y.shape[0], y
        return cross_entropy_error(y, t), y

    def softmax_cross_entropy_backward(self, y, t, label_smoothing=0.0, pool=None):
        """Gradient w.r.t. the scores: ``(y - target) / N``."""
        batch_size = t.shape[0]
        if label_smoothing:
            return (y - _smoothed_target(y, t, label_smoothing)) / batch_size
        if t.size == y.size:
            return (y - t) / batch_size
        dx = y.copy()
        dx[np.arange(batch_size), t] -= 1
        return dx / batch_size

    # -- dropout ---------------------------------------------------------------
    def dropout_mask(self, shape, dropout_ratio, mode="exact", rng=None):
        """The bool mask ``u > dropout_ratio`` the book draws.

        ``mode='exact'``: u is ``rng.random`` (``np.random.rand`` when rng is
        None), the book's stream.  ``mode='fast'``: u is a 32-bit word of
        ``rng`` (a Generator) compared with ``floor(dropout_ratio·2³²)``."""
        if mode == "fast":
            words = rng.integers(0, 2**32, size=shape, dtype=np.uint32)
            return words > np.uint32(int(dropout_ratio * 4294967296.0))
        if rng is None:
            return np.random.rand(*shape) > dropout_ratio
        return rng.random(shape) > dropout_ratio

    def dropout_forward(self, x, dropout_ratio, train_flg=True, mode="exact", rng=None,
                        inverted=False, pool=None):
        """``(out, mask)``: training ``x·mask`` (divided by ``1 - dropout_ratio``
        when ``inverted``); inference ``x·(1 - dropout_ratio)``, or x itself
        when inverted, and mask None."""
        if not train_flg:
            return (x if inverted else x * (1.0 - dropout_ratio)), None
        mask = self.dropout_mask(x.shape, dropout_ratio, mode, rng)
        if inverted:
            return x * mask / (1.0 - dropout_ratio), mask
        return x * mask, mask

    def dropout_backward(self, dout, mask, dropout_ratio=0.5, inverted=False, pool=None):
        if inverted:
            return dout * mask / (1.0 - dropout_ratio)
        return dout * mask

    # -- the sequel (fastnn.nlp): attention (chapter 8) ---------------------------
    def attention_scores(self, hs, h):
        """AttentionWeight before its softmax: s[n, t] = hs[n, t]·h[n]."""
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        t = hs * hr
        return np.sum(t, axis=2)

    def attention_weight_backward(self, hs, h, ds):
        """``(dhs, dh)`` of AttentionWeight from its softmax's input gradient ds."""
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        dt = ds.reshape(N, T, 1).repeat(H, axis=2)
        dhs = dt * hr
        dhr = dt * hs
        dh = np.sum(dhr, axis=1)
        return dhs, dh

    def weight_sum_forward(self, hs, a):
        """WeightSum: c[n] = Σ_t a[n, t]·hs[n, t]."""
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        t = hs * ar
        return np.sum(t, axis=1)

    def weight_sum_backward(self, hs, a, dc):
        """``(dhs, da)`` of WeightSum."""
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)
        dar = dt * hs
        dhs = dt * ar
        da = np.sum(dar, axis=2)
        return dhs, da

    def time_attention_forward(self, hs, hd):
        """``(out, a)``: the book's TimeAttention over the decoder states hd
        (N, Td, H), one Attention a step: out[:, k] the weighted sum of the
        encoder states hs (N, T, H), a[k] (N, T) its weights."""
        N, Td, H = hd.shape
        out = np.empty_like(hd)
        weights = []
        for k in range(Td):
            a = self.softmax_forward(self.attention_scores(hs, hd[:, k, :]))
            out[:, k, :] = self.weight_sum_forward(hs, a)
            weights.append(a)
        return out, np.stack(weights) if weights else np.empty((0, N, hs.shape[1]), hs.dtype)

    def time_attention_backward(self, hs, hd, a, dout):
        """``(dhs, dhd)``: the book's TimeAttention backward, step by step,
        dhs summed over the steps in order."""
        N, Td, H = dout.shape
        dhs_enc = 0
        dhs_dec = np.empty_like(dout)
        for k in range(Td):
            dhs0, da = self.weight_sum_backward(hs, a[k], dout[:, k, :])
            ds = self.softmax_backward(da, a[k])
            dhs1, dh = self.attention_weight_backward(hs, hd[:, k, :], ds)
            dhs_enc += dhs0 + dhs1
            dhs_dec[:, k, :] = dh
        return dhs_enc, dhs_dec

    # -- the sequel (fastnn.nlp): word2vec (EmbeddingDot, the negative sampler) ----
    def embedding_dot_forward(self, W, idx, h):
        """``(out, target_W)``: the book's EmbeddingDot forward, out[i] = W[idx[i]]·h[i]."""
        target_W = W[idx]
        return np.sum(target_W * h, axis=1), target_W

    def embedding_dot_backward(self, dW, idx, h, target_W, dout, stale=None):
        """dh = dout·target_W; dW (in place) = 0, then dout[i]·h[i] added at
        row idx[i] (the book's Embedding backward, np.add.at).  ``stale``:
        rows outside which dW is already zero (only they are zeroed)."""
        dout = dout.reshape(dout.shape[0], 1)
        dtarget_W = dout * h
        _zero(dW, stale)
        np.add.at(dW, idx, dtarget_W)
        return dout * target_W

    def embedding_mean_dots(self, W_in, ctx, W_out, ids, scale):
        """The book's CBOW forward up to its scores: ``(h, tW, score)`` with
        h = (0 + W_in[ctx[0]] + W_in[ctx[1]] + ...) * scale (its Embedding
        layers' rows added in order, then ``h *= 1 / len(in_layers)``), and
        for each k, tW[k] = W_out[ids[k]] and score[k] = np.sum(tW[k] * h,
        axis=1) (its EmbeddingDot layers).  ctx (C, B), ids (K, B)."""
        h = 0
        for c in range(ctx.shape[0]):
            h += W_in[ctx[c]]
        h *= scale
        tW = W_out[ids]
        score = np.empty(ids.shape, dtype=np.result_type(tW, h))
        for k in range(ids.shape[0]):
            score[k] = np.sum(tW[k] * h, axis=1)
        return h, tW, score

    def sigmoid_losses_forward(self, x, t):
        """``sigmoid_loss_forward`` of each row of x (K, B) against the 0/1
        labels of the same row of t: ``(losses, y)``, the K losses (NumPy
        scalars, the book's types) and y (K, B)."""
        y = sigmoid(x)
        picked = np.where(t != 0, y, 1 - y)     # column t of the book's np.c_[1 - y, y]
        logs = np.log(picked + 1e-7)
        B = x.shape[1]
        return [-np.sum(logs[k]) / B for k in range(x.shape[0])], y

    def embedding_dots_backward(self, dWs, ids, h, tW, d, stales):
        """NegativeSamplingLoss's backward past its loss layers: for each k in
        order, ``embedding_dot_backward(dWs[k], ids[k], h, tW[k], d[k],
        stales[k])``, the returned dh's added up from 0 (the book's
        ``dh = 0; dh += ...``); returns dh."""
        dh = 0
        for k in range(len(dWs)):
            dh += self.embedding_dot_backward(dWs[k], ids[k], h, tW[k], d[k], stales[k])
        return dh

    def embeddings_backward(self, dWs, idx, dout, stales):
        """``embedding_backward(dWs[i], idx[i], dout, stales[i])`` for each i
        in order (the book's CBOW context layers)."""
        for i in range(len(dWs)):
            self.embedding_backward(dWs[i], idx[i], dout, stales[i])

    def alias_table(self, word_p):
        """Walker's alias table of the distribution word_p: ``(prob, alias)``,
        so that drawing i uniformly and keeping it with probability prob[i],
        else taking alias[i], draws from word_p (Vose's construction)."""
        V = word_p.shape[0]
        scaled = np.asarray(word_p, dtype=np.float64) * (V / np.sum(word_p))
        prob = np.ones(V)
        alias = np.arange(V)
        small = [i for i in range(V) if scaled[i] < 1.0]
        large = [i for i in range(V) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s] = scaled[s]
            alias[s] = g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        return prob, alias

    def unigram_sample_fast(self, prob, alias, target, sample_size, rng):
        """``sample_size`` distinct ids a row, none its row's target, drawn
        from the alias table with the Generator ``rng``: the distribution of
        the book's sampler (by rejection of repeats and targets), not its
        random stream.  (B, S) int32."""
        B, S, V = target.shape[0], sample_size, prob.shape[0]
        out = np.empty((B, S), dtype=np.int32)

        def draw(n):
            i = rng.integers(0, V, size=n)
            return np.where(rng.random(n) < prob[i], i, alias[i])
        cand = draw(B * S).reshape(B, S)
        srt = np.sort(cand, axis=1)
        bad = (cand == target[:, None]).any(axis=1) | (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        out[~bad] = cand[~bad]
        # A row with a repeat or its target goes on from its own draws, in order,
        # keeping each new id: successive sampling without replacement (the
        # book's distribution); restarting the row would condition on "no
        # repeat", another distribution.
        for row in np.flatnonzero(bad):
            chosen, pending = [], list(cand[row])
            while len(chosen) < S:
                w = int(pending.pop(0)) if pending else int(draw(1)[0])
                if w != target[row] and w not in chosen:
                    chosen.append(w)
            out[row] = chosen
        return out

    def unigram_sample(self, word_p, target, sample_size):
        """The book's ``UnigramSampler.get_negative_sample`` (CPU): per row,
        ``sample_size`` distinct word ids drawn from ``word_p`` with the row's
        target id excluded, from the global ``np.random``; (B, S) int32."""
        batch_size = target.shape[0]
        negative_sample = np.zeros((batch_size, sample_size), dtype=np.int32)
        for i in range(batch_size):
            p = word_p.copy()
            p[target[i]] = 0
            p /= p.sum()
            negative_sample[i, :] = np.random.choice(word_p.shape[0], size=sample_size,
                                                     replace=False, p=p)
        return negative_sample

    # -- the sequel (fastnn.nlp): its layers and util (MatMul, Embedding, ppmi, ...)
    # (kept apart from the sections around it: another family edits them)

    def nesterov_new_v_step(self, params, grads, v, lr, momentum, keys=None):
        """The sequel's Nesterov: v = μ·v - lr·g;  p += μ²·v (the new v);
        p -= (1+μ)·lr·g, statement for statement as its common/optimizer.py."""
        for key in (params.keys() if keys is None else keys):
            vk = _state_for(v, params, key)
            vk *= momentum
            vk -= lr * grads[key]
            params[key] += momentum * momentum * vk
            params[key] -= (1 + momentum) * lr * grads[key]

    def matmul_forward(self, x, W, pool=None):
        """x·W (the sequel's MatMul, and Affine on inputs of other ranks)."""
        return np.dot(x, W)

    def matmul_backward(self, dout, x, W, pool=None):
        """``(dx, dW)``: dx = dout·Wᵀ, dW = xᵀ·dout."""
        return np.dot(dout, W.T), np.dot(x.T, dout)

    def softmax_forward(self, x, pool=None):
        """The sequel's softmax (fastnn.nlp.functions.softmax): by rows of a
        2-D x, over a whole 1-D x."""
        from ..nlp.functions import softmax as sequel_softmax
        return sequel_softmax(x)

    def softmax_backward(self, dout, y, pool=None):
        """dx = y·dout - y·Σ_row(y·dout)."""
        dx = y * dout
        sumdx = np.sum(dx, axis=1, keepdims=True)
        dx -= y * sumdx
        return dx

    def softmax_loss_backward(self, y, t, dout=1, pool=None):
        """The sequel's SoftmaxWithLoss gradient for class indices ``t``:
        (y - onehot)·dout / N, in that order."""
        batch_size = t.shape[0]
        dx = y.copy()
        dx[np.arange(batch_size), t] -= 1
        dx *= dout
        return dx / batch_size

    def sigmoid_loss_forward(self, x, t, pool=None):
        """``(loss, y)``: y = 1/(1 + e^-x), loss the cross-entropy of the
        two-column probabilities [1 - y, y] against labels ``t``."""
        y = sigmoid(x)
        return cross_entropy_error(np.c_[1 - y, y], t), y

    def sigmoid_loss_backward(self, y, t, dout=1, pool=None):
        """(y - t)·dout / N."""
        return (y - t) * dout / t.shape[0]

    def embedding_forward(self, W, idx, pool=None):
        """The rows ``W[idx]``."""
        return W[idx]

    def embedding_backward(self, dW, idx, dout, stale=None):
        """dW = 0, then dW[idx[i]] += dout[i] for every i in order (repeated
        ids add up: ``np.add.at``), in place; returns dW.  ``stale``: rows
        outside which dW is already zero (only they are zeroed)."""
        _zero(dW, stale)
        np.add.at(dW, idx, dout)
        return dW

    def co_matrix(self, corpus, vocab_size, window_size=1):
        """The co-occurrence counts (int32, vocab_size²) of a 1-D corpus of
        ids in [0, vocab_size): for each position and each distance 1 ..
        window_size, +1 at [word, left neighbour] and [word, right neighbour]."""
        corpus = np.asarray(corpus)
        co = np.zeros((vocab_size, vocab_size), dtype=np.int32)
        for d in range(1, window_size + 1):
            if d >= len(corpus):
                break
            np.add.at(co, (corpus[d:], corpus[:-d]), 1)     # left neighbours
            np.add.at(co, (corpus[:-d], corpus[d:]), 1)     # right neighbours
        return co

    def ppmi(self, C, verbose=False, eps=1e-8):
        """Positive PMI of a co-occurrence matrix, float32: per entry
        max(0, log2(C[i,j]·N / (S[j]·S[i]) + eps)) with N = ΣC, S the column
        sums, in the types the book's scalar loop computes them (an integer C:
        int64 products, float64 quotient and log), NaN giving 0.  With
        ``verbose`` the book's progress lines ('%.1f%% done' at every
        (total//100 + 1)-th entry)."""
        C = np.asarray(C)
        M = np.zeros_like(C, dtype=np.float32)
        N = np.sum(C)
        S = np.sum(C, axis=0)
        rows = C.shape[0]
        if rows > S.shape[0]:       # the book reads S[i] for every row i
            raise IndexError("index %d is out of bounds for axis 0 with size %d"
                             % (S.shape[0], S.shape[0]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            pmi = np.log2(C * N / (S[None, :] * S[:rows, None]) + eps)
        M[...] = np.where(pmi > 0, pmi, 0)
        if verbose:
            _ppmi_progress(C.shape[0] * C.shape[1], 0, C.shape[0] * C.shape[1])
        return M

    def clip_grads(self, grads, max_norm):
        """The sequel's clip_grads: total = √Σ_g Σ g² (each array's sum
        NumPy's, added in list order); when max_norm / (total + 1e-6) < 1,
        every gradient is scaled by it in place."""
        total_norm = 0
        for grad in grads:
            total_norm += np.sum(grad ** 2)
        total_norm = np.sqrt(total_norm)
        rate = max_norm / (total_norm + 1e-6)
        if rate < 1:
            for grad in grads:
                grad *= rate

    # -- optimizer updates (the book's common/optimizer.py) ----------------------
    # Each updates ``params[key]`` in place for every key of ``keys`` (all of
    # ``params`` when None), statement for statement as
    # the book's common/optimizer.py; Python floats are rebound in the dict.  The
    # per-key state arrays live in the dicts passed in (``v``, ``h``, ``m``),
    # created as zeros on first use.

    def sgd_step(self, params, grads, lr, keys=None):
        """p -= lr·g."""
        for key in (params.keys() if keys is None else keys):
            params[key] -= lr * grads[key]

    def momentum_step(self, params, grads, v, lr, momentum, keys=None):
        """v = μ·v - lr·g (a new array, as the book rebinds it);  p += v."""
        for key in (params.keys() if keys is None else keys):
            vk = _state_for(v, params, key)
            v[key] = momentum * vk - lr * grads[key]
            params[key] += v[key]

    def nesterov_step(self, params, grads, v, lr, momentum, keys=None):
        """p += μ²·v - (1+μ)·lr·g with the old v;  then v = μ·v - lr·g."""
        for key in (params.keys() if keys is None else keys):
            vk = _state_for(v, params, key)
            params[key] += momentum * momentum * vk
            params[key] -= (1 + momentum) * lr * grads[key]
            vk *= momentum
            vk -= lr * grads[key]

    def adagrad_step(self, params, grads, h, lr, eps=1e-7, keys=None):
        """h += g²;  p -= lr·g / (√h + eps)."""
        for key in (params.keys() if keys is None else keys):
            hk = _state_for(h, params, key)
            hk += grads[key] * grads[key]
            params[key] -= lr * grads[key] / (np.sqrt(hk) + eps)

    def rmsprop_step(self, params, grads, h, lr, decay_rate, eps=1e-7, keys=None):
        """h = ρ·h + (1-ρ)·g²;  p -= lr·g / (√h + eps)."""
        for key in (params.keys() if keys is None else keys):
            hk = _state_for(h, params, key)
            hk *= decay_rate
            hk += (1 - decay_rate) * grads[key] * grads[key]
            params[key] -= lr * grads[key] / (np.sqrt(hk) + eps)

    def adam_step(self, params, grads, m, v, lr_t, beta1, beta2, eps=1e-7, keys=None):
        """m += (1-β1)(g - m);  v += (1-β2)(g² - v);  p -= lr_t·m / (√v + eps)
        (``lr_t``: the bias-corrected step, ``Adam.step_size()``)."""
        for key in (params.keys() if keys is None else keys):
            mk = _state_for(m, params, key)
            vk = _state_for(v, params, key)
            g = grads[key]
            mk += (1 - beta1) * (g - mk)
            vk += (1 - beta2) * (g ** 2 - vk)
            params[key] -= lr_t * mk / (np.sqrt(vk) + eps)

    # -- batch normalization (the book's: per column of (N, D), biased variance) ----
    def batchnorm_forward_train(self, x, gamma, beta, running_mean, running_var,
                                momentum=0.9, eps=1e-6, pool=None):
        """``(out, xc, xn, std, running_mean, running_var)``, the running
        statistics as new arrays (an implementation may update them in place
        and return them)."""
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc ** 2, axis=0)
        std = np.sqrt(var + eps)
        xn = xc / std
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        return gamma * xn + beta, xc, xn, std, running_mean, running_var

    def batchnorm_forward_infer(self, x, gamma, beta, running_mean, running_var, eps=1e-6,
                                pool=None):
        xc = x - running_mean
        xn = xc / np.sqrt(running_var + eps)
        return gamma * xn + beta

    def batchnorm_backward(self, dout, xn, xc, std, gamma, batch_size, pool=None,
                           dgamma=None, dbeta=None):
        """``(dx, dgamma, dbeta)``: the book's chain rule through xc, std, var
        and mean (``dgamma``/``dbeta`` given are buffers an implementation
        may reuse; NumPy ignores them)."""
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(xn * dout, axis=0)
        dxn = gamma * dout
        dxc = dxn / std
        dstd = -np.sum((dxn * xc) / (std * std), axis=0)
        dvar = 0.5 * dstd / std
        dxc += (2.0 / batch_size) * xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / batch_size, dgamma, dbeta

    # -- the sequel (fastnn.nlp): time layers (RNN, LSTM, GRU over whole sequences)
    # (kept apart from the sections around it: another family edits them)
    #
    # The book's time loops (common/time_layers.py), one step after the other
    # in Python, with its formulas in its order: the oracle of the compiled
    # RnnOps (fastnn/_kernels/rnn.pyx).  A forward pass returns a ``cache``
    # that the backward pass takes back; both implementations use one layout
    # for it, so either backward reads either forward's cache:
    #   RNN:  (xs, hprev, hs)                      hprev[:, t] = h_{t-1}
    #   LSTM: (xs, hprev, c0, gates, cs, tcs)      gates[:, t] = [f g i o] activated,
    #                                              cs[:, t] = c_t, tcs = tanh(cs) or None
    #   GRU:  (xs, hprev, gates)                   gates[:, t] = [z r h_hat]
    # Buffers are of the computation's dtype (the book's are always float32:
    # the same for float32 layers, and a float64 layer keeps float64).
    # dWx, dWh, db are the layer's gradient arrays, overwritten in place.

    def rnn_forward(self, xs, Wx, Wh, b, h0, pool=None):
        """``(hs, h_last, cache)``: h_t = tanh(h_{t-1}·Wh + x_t·Wx + b)."""
        n, t_len, _ = xs.shape
        dt = np.result_type(xs, Wx, Wh, b, h0)
        hs = np.empty((n, t_len, Wh.shape[0]), dtype=dt)
        hprev = np.empty_like(hs)
        h = h0
        for t in range(t_len):
            hprev[:, t, :] = h
            h = np.tanh(np.dot(h, Wh) + np.dot(xs[:, t, :], Wx) + b)
            hs[:, t, :] = h
        return hs, h, (xs, hprev, hs)

    def rnn_backward(self, dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, pool=None):
        """``(dxs, dh_prev)``; dh_next (N, H) or None (0) enters after the last step."""
        xs, hprev, hs = cache
        n, t_len, d = xs.shape
        dxs = np.empty((n, t_len, d), dtype=np.result_type(dhs, Wx))
        dh = 0 if dh_next is None else dh_next
        acc = [0, 0, 0]
        for t in reversed(range(t_len)):
            h_next = hs[:, t, :]
            dt = (dhs[:, t, :] + dh) * (1 - h_next ** 2)
            step = (np.dot(xs[:, t, :].T, dt), np.dot(hprev[:, t, :].T, dt), np.sum(dt, axis=0))
            dh = np.dot(dt, Wh.T)
            dxs[:, t, :] = np.dot(dt, Wx.T)
            for k in range(3):
                acc[k] += step[k]
        dWx[...], dWh[...], db[...] = acc
        return dxs, dh

    def lstm_forward(self, xs, Wx, Wh, b, h0, c0, pool=None):
        """``(hs, h_last, c_last, cache)``: the book's LSTM step over t."""
        n, t_len, _ = xs.shape
        hd = Wh.shape[0]
        dt = np.result_type(xs, Wx, Wh, b, h0, c0)
        hs = np.empty((n, t_len, hd), dtype=dt)
        hprev = np.empty_like(hs)
        cs = np.empty_like(hs)
        gates = np.empty((n, t_len, 4 * hd), dtype=dt)
        h, c = h0, c0
        for t in range(t_len):
            hprev[:, t, :] = h
            a = np.dot(xs[:, t, :], Wx) + np.dot(h, Wh) + b
            f = sigmoid(a[:, :hd])
            g = np.tanh(a[:, hd:2 * hd])
            i = sigmoid(a[:, 2 * hd:3 * hd])
            o = sigmoid(a[:, 3 * hd:])
            c = f * c + g * i
            h = o * np.tanh(c)
            gates[:, t, :hd], gates[:, t, hd:2 * hd] = f, g
            gates[:, t, 2 * hd:3 * hd], gates[:, t, 3 * hd:] = i, o
            cs[:, t, :] = c
            hs[:, t, :] = h
        return hs, h, c, (xs, hprev, c0, gates, cs, None)

    def lstm_backward(self, dhs, dh_next, dc_next, cache, Wx, Wh, dWx, dWh, db, pool=None):
        """``(dxs, dh_prev, dc_prev)``; dh_next/dc_next (N, H) or None (0)
        enter after the last step."""
        xs, hprev, c0, gates, cs, _ = cache
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        dxs = np.empty((n, t_len, d), dtype=np.result_type(dhs, Wx))
        dh = 0 if dh_next is None else dh_next
        dc = 0 if dc_next is None else dc_next
        acc = [0, 0, 0]
        for t in reversed(range(t_len)):
            f, g = gates[:, t, :hd], gates[:, t, hd:2 * hd]
            i, o = gates[:, t, 2 * hd:3 * hd], gates[:, t, 3 * hd:]
            c_prev = c0 if t == 0 else cs[:, t - 1, :]
            dh_t = dhs[:, t, :] + dh
            tanh_c = np.tanh(cs[:, t, :])
            ds = dc + (dh_t * o) * (1 - tanh_c ** 2)
            dc = ds * f
            di = ds * g
            df = ds * c_prev
            do = dh_t * tanh_c
            dg = ds * i
            di *= i * (1 - i)
            df *= f * (1 - f)
            do *= o * (1 - o)
            dg *= (1 - g ** 2)
            da = np.hstack((df, dg, di, do))
            step = (np.dot(xs[:, t, :].T, da), np.dot(hprev[:, t, :].T, da), da.sum(axis=0))
            dxs[:, t, :] = np.dot(da, Wx.T)
            dh = np.dot(da, Wh.T)
            for k in range(3):
                acc[k] += step[k]
        dWx[...], dWh[...], db[...] = acc
        return dxs, dh, dc

    def gru_forward(self, xs, Wx, Wh, b, h0, pool=None):
        """``(hs, h_last, cache)``: the book's GRU step over t."""
        n, t_len, _ = xs.shape
        hd = Wh.shape[0]
        dt = np.result_type(xs, Wx, Wh, b, h0)
        hs = np.empty((n, t_len, hd), dtype=dt)
        hprev = np.empty_like(hs)
        gates = np.empty((n, t_len, 3 * hd), dtype=dt)
        h = h0
        for t in range(t_len):
            x = xs[:, t, :]
            hprev[:, t, :] = h
            z = sigmoid(np.dot(x, Wx[:, :hd]) + np.dot(h, Wh[:, :hd]) + b[:hd])
            r = sigmoid(np.dot(x, Wx[:, hd:2 * hd]) + np.dot(h, Wh[:, hd:2 * hd]) + b[hd:2 * hd])
            h_hat = np.tanh(np.dot(x, Wx[:, 2 * hd:]) + np.dot(r * h, Wh[:, 2 * hd:]) + b[2 * hd:])
            h = (1 - z) * h + z * h_hat
            gates[:, t, :hd], gates[:, t, hd:2 * hd], gates[:, t, 2 * hd:] = z, r, h_hat
            hs[:, t, :] = h
        return hs, h, (xs, hprev, gates)

    def gru_backward(self, dhs, dh_next, cache, Wx, Wh, dWx, dWh, db, pool=None):
        """``(dxs, dh_prev)``, the book's GRU.backward over t."""
        xs, hprev, gates = cache
        n, t_len, d = xs.shape
        hd = Wh.shape[0]
        dxs = np.empty((n, t_len, d), dtype=np.result_type(dhs, Wx))
        dh = 0 if dh_next is None else dh_next
        acc = [0, 0, 0]
        for t in reversed(range(t_len)):
            x, h_prev = xs[:, t, :], hprev[:, t, :]
            z, r, h_hat = gates[:, t, :hd], gates[:, t, hd:2 * hd], gates[:, t, 2 * hd:]
            dh_next_t = dhs[:, t, :] + dh
            dh_hat = dh_next_t * z
            dh_prev = dh_next_t * (1 - z)
            dt = dh_hat * (1 - h_hat ** 2)
            dbh = np.sum(dt, axis=0)
            dWhh = np.dot((r * h_prev).T, dt)
            dhr = np.dot(dt, Wh[:, 2 * hd:].T)
            dWxh = np.dot(x.T, dt)
            dx = np.dot(dt, Wx[:, 2 * hd:].T)
            dh_prev += r * dhr
            dz = dh_next_t * h_hat - dh_next_t * h_prev
            dt = dz * z * (1 - z)
            dbz = np.sum(dt, axis=0)
            dWhz = np.dot(h_prev.T, dt)
            dh_prev += np.dot(dt, Wh[:, :hd].T)
            dWxz = np.dot(x.T, dt)
            dx += np.dot(dt, Wx[:, :hd].T)
            dr = dhr * h_prev
            dt = dr * r * (1 - r)
            dbr = np.sum(dt, axis=0)
            dWhr = np.dot(h_prev.T, dt)
            dh_prev += np.dot(dt, Wh[:, hd:2 * hd].T)
            dWxr = np.dot(x.T, dt)
            dx += np.dot(dt, Wx[:, hd:2 * hd].T)
            step = (np.hstack((dWxz, dWxr, dWxh)), np.hstack((dWhz, dWhr, dWhh)),
                    np.hstack((dbz, dbr, dbh)))
            dxs[:, t, :] = dx
            dh = dh_prev
            for k in range(3):
                acc[k] += step[k]
        dWx[...], dWh[...], db[...] = acc
        return dxs, dh

    def time_affine_forward(self, x, W, b, pool=None):
        """The book's TimeAffine product on (N·T, D) rows: x·W + b."""
        return np.dot(x, W) + b

    def time_affine_backward(self, dout, x, W, dW, db, pool=None):
        """The book's TimeAffine.backward on the (N·T, ·) matrices: returns
        dx = dout·Wᵀ; dW (overwritten) = xᵀ·dout, db (overwritten) = Σ_rows dout
        (db None: left alone, the caller has it from the pass that made dout:
        ``time_softmax_loss_backward(..., db=)``)."""
        if db is not None:
            db[...] = np.sum(dout, axis=0)
        dW[...] = np.dot(x.T, dout)
        return np.dot(dout, W.T)

    def time_embedding_forward(self, W, idx, pool=None):
        """``W[idx]``: rows of W for the ids ``idx`` (N, T) (checked by the caller)."""
        return W[idx]

    def time_embedding_backward(self, dout, idx, dW, pool=None):
        """dW (overwritten) = Σ_t scatter-add of dout[:, t] at rows idx[:, t]:
        the book's TimeEmbedding (one np.add.at a step, the steps added)."""
        grad = 0
        for t in range(idx.shape[1]):
            dw = np.zeros_like(dW)
            np.add.at(dw, idx[:, t], dout[:, t, :])
            grad += dw
        dW[...] = grad
        return dW

    def time_softmax_loss_forward(self, xs, ts, ignore_label=-1, pool=None, overwrite=False):
        """``(loss, cache)``: the book's TimeSoftmaxWithLoss (ts (N, T) ids,
        ``ignore_label`` rows masked).  ``overwrite``: xs is the caller's own
        scratch, which an implementation may overwrite with the softmax (the
        compiled ops do; the book's arithmetic here makes new arrays)."""
        n, t_len, v = xs.shape
        mask = (ts != ignore_label).reshape(n * t_len)
        ts = ts.reshape(n * t_len)
        x2 = xs.reshape(n * t_len, v)
        ys = x2 - x2.max(axis=1, keepdims=True)
        ys = np.exp(ys)
        ys /= ys.sum(axis=1, keepdims=True)
        ls = np.log(ys[np.arange(n * t_len), ts])
        ls *= mask
        loss = -np.sum(ls)
        loss /= mask.sum()
        return loss, (ts, ys, mask, (n, t_len, v))

    def time_softmax_loss_backward(self, dout, cache, pool=None, db=None):
        """dx (N, T, V), over the cached softmax; with ``db`` (V,), also db
        (overwritten) = Σ_rows dx: the bias gradient of the TimeAffine that
        made the scores, which the compiled ops add up in the same pass."""
        ts, ys, mask, (n, t_len, v) = cache
        dx = ys
        dx[np.arange(n * t_len), ts] -= 1
        dx *= dout
        dx /= mask.sum()
        dx *= mask[:, np.newaxis]
        if db is not None:
            db[...] = np.sum(dx, axis=0)
        return dx.reshape((n, t_len, v))

    def __repr__(self):
        return "%s()" % type(self).__name__

    # -- convolution and max pooling (the book's Convolution/Pooling) ------------
    # Kept apart from the sections above (another family edits them).
    def conv_forward(self, x, W, b, stride=1, pad=0, pool=None):
        """``(out, x, col, col_W)``: the book's im2col and one product,
        out = col·col_W + b as an (N, FN, OH, OW) view; ``x`` as kept for
        backward (an implementation may keep it converted to W's dtype),
        ``col`` the im2col matrix (None where an implementation does not
        build it: backward then recomputes what it needs from x) and
        ``col_W`` W as a (C·FH·FW, FN) matrix."""
        fn, c, fh, fw = _filter_shape(W)
        out_h, out_w = check_window(x, fh, fw, stride, pad, channels=c)
        col = im2col(x, fh, fw, stride, pad)
        col_W = W.reshape(fn, -1).T
        out = np.dot(col, col_W) + b
        return out.reshape(x.shape[0], out_h, out_w, -1).transpose(0, 3, 1, 2), x, col, col_W

    def conv_backward(self, dout, x, col, col_W, W, stride=1, pad=0, need_dx=True, pool=None,
                      dW=None, db=None):
        """``(dx, dW, db)``: the book's backward (dx = col2im(dout·col_Wᵀ),
        None unless ``need_dx``); ``col`` None is recomputed from x;
        ``dW``/``db`` given are buffers an implementation may reuse."""
        fn, c, fh, fw = W.shape
        if col is None:
            col = im2col(x, fh, fw, stride, pad)
        rows = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        db = np.sum(rows, axis=0)
        dW = np.dot(col.T, rows).transpose(1, 0).reshape(fn, c, fh, fw)
        if not need_dx:
            return None, dW, db
        return col2im(np.dot(rows, col_W.T), x.shape, fh, fw, stride, pad), dW, db

    def maxpool_forward(self, x, pool_h, pool_w, stride=2, pad=0, pool=None):
        """``(out, x, arg)``: the maximum of each window (padding read as 0)
        and ``arg`` (N, C, OH, OW), the (fh, fw)-flat index of each window's
        first maximum (np.argmax's rule); the book's ``arg_max`` is
        ``arg.transpose(0, 2, 3, 1).ravel()``."""
        out_h, out_w = check_window(x, pool_h, pool_w, stride, pad, pooling=True)
        n, c = x.shape[:2]
        windows = im2col(x, pool_h, pool_w, stride, pad).reshape(-1, pool_h * pool_w)
        arg = np.argmax(windows, axis=1).reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)
        out = np.max(windows, axis=1)
        return out.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2), x, arg

    def maxpool_backward(self, dout, x, arg, pool_h, pool_w, stride=2, pad=0, pool=None):
        """dx: each dout entry at its window's argmax, overlaps added by col2im."""
        dout = dout.transpose(0, 2, 3, 1)
        arg_max = arg.transpose(0, 2, 3, 1).ravel()
        size = pool_h * pool_w
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(arg_max.size), arg_max] = dout.flatten()
        dcol = dmax.reshape(-1, x.shape[1] * size)
        return col2im(dcol, x.shape, pool_h, pool_w, stride, pad)


def _state_for(store, params, key):
    """The zero-initialised state array for ``key``, created on first use."""
    if key not in store:
        store[key] = np.zeros_like(params[key])
    return store[key]


def _filter_shape(W):
    shape = getattr(W, "shape", ())
    if len(shape) != 4:
        raise ValueError("W must be 4-D (FN, C, FH, FW), got shape %s" % (tuple(shape),))
    return shape


def _smoothed_target(y, t, eps):
    """(1 - eps)·onehot(t) + eps/C, in y's dtype for one-hot rows (as the reference)."""
    n, c = y.shape
    if t.size == y.size:
        onehot = t.reshape(n, c).astype(y.dtype)
    else:
        onehot = np.zeros_like(y)
        onehot[np.arange(n), t] = 1
    return (1.0 - eps) * onehot + eps / c


def _ppmi_progress(total, done_before, done_after):
    """The book's ppmi progress lines for the entries done_before+1 ..
    done_after (counted from 1) of ``total``."""
    step = total // 100 + 1
    first = (done_before // step + 1) * step
    for cnt in range(first, done_after + 1, step):
        print('%.1f%% done' % (100 * cnt / total))


def _zero(dW, stale):
    """The book's ``dW[...] = 0``; with ``stale`` (the rows outside which dW
    is known to be zero: fastnn.nlp._grad_rows) those rows alone."""
    if stale is None:
        dW[...] = 0
    else:
        dW[stale] = 0

"""The book's ``common/trainer.py`` (the sequel's): Trainer, RnnlmTrainer,
remove_duplicate.

The training loops, their printed lines and the ``np.random`` draws are the
book's (a seeded script prints its numbers); ``clip_grads`` is the fused
kernel of :mod:`fastnn.nlp.util`, and RnnlmTrainer's batches are gathered
with one indexing operation instead of a Python double loop (the same
arrays).  ``plot`` imports matplotlib when called: training needs no
matplotlib.
"""
import time

import numpy

from . import _grad_rows
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)
from .util import clip_grads

try:
    from .._kernels.nlp import dup_sum_into as _dup_sum_into
    from .._kernels.nlp import dup_sum_rows_into as _dup_sum_rows_into
except ImportError:     # a build without the kernels: the book's adds one by one
    _dup_sum_into = _dup_sum_rows_into = None

__all__ = ["Trainer", "RnnlmTrainer", "remove_duplicate"]


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


class Trainer:
    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        data_size = len(x)
        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        model, optimizer = self.model, self.optimizer
        total_loss = 0
        loss_count = 0

        start_time = time.time()
        for _epoch in range(max_epoch):
            # shuffle
            idx = numpy.random.permutation(numpy.arange(data_size))
            x = x[idx]
            t = t[idx]

            for iters in range(max_iters):
                batch_x = x[iters*batch_size:(iters+1)*batch_size]
                batch_t = t[iters*batch_size:(iters+1)*batch_size]

                loss = model.forward(batch_x, batch_t)
                model.backward()
                params, grads = remove_duplicate(model.params, model.grads)  # tied weights once
                if max_grad is not None:
                    clip_grads(grads, max_grad)
                optimizer.update(params, grads)
                total_loss += loss
                loss_count += 1

                if (eval_interval is not None) and (iters % eval_interval) == 0:
                    avg_loss = total_loss / loss_count
                    elapsed_time = time.time() - start_time
                    print('| epoch %d |  iter %d / %d | time %d[s] | loss %.2f'
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0, 0

            self.current_epoch += 1

    def plot(self, ylim=None):
        plt = _pyplot()
        x = numpy.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label='train')
        plt.xlabel('iterations (x' + str(self.eval_interval) + ')')
        plt.ylabel('loss')
        plt.show()


class RnnlmTrainer:
    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.time_idx = None
        self.ppl_list = None
        self.eval_interval = None
        self.current_epoch = 0

    def get_batch(self, x, t, batch_size, time_size):
        data_size = len(x)
        jump = data_size // batch_size
        offsets = numpy.arange(batch_size) * jump   # where each row of the batch reads
        pos = (offsets[:, None] + (self.time_idx + numpy.arange(time_size))[None, :]) % data_size
        batch_x = numpy.asarray(x)[pos].astype('i')
        batch_t = numpy.asarray(t)[pos].astype('i')
        self.time_idx += time_size
        return batch_x, batch_t

    def fit(self, xs, ts, max_epoch=10, batch_size=20, time_size=35,
            max_grad=None, eval_interval=20):
        data_size = len(xs)
        max_iters = data_size // (batch_size * time_size)
        self.time_idx = 0
        self.ppl_list = []
        self.eval_interval = eval_interval
        model, optimizer = self.model, self.optimizer
        total_loss = 0
        loss_count = 0

        start_time = time.time()
        for _epoch in range(max_epoch):
            for iters in range(max_iters):
                batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)

                loss = model.forward(batch_x, batch_t)
                model.backward()
                params, grads = remove_duplicate(model.params, model.grads)  # tied weights once
                if max_grad is not None:
                    clip_grads(grads, max_grad)
                optimizer.update(params, grads)
                total_loss += loss
                loss_count += 1

                if (eval_interval is not None) and (iters % eval_interval) == 0:
                    ppl = np.exp(total_loss / loss_count)
                    elapsed_time = time.time() - start_time
                    print('| epoch %d |  iter %d / %d | time %d[s] | perplexity %.2f'
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, ppl))
                    self.ppl_list.append(float(ppl))
                    total_loss, loss_count = 0, 0

            self.current_epoch += 1

    def plot(self, ylim=None):
        plt = _pyplot()
        x = numpy.arange(len(self.ppl_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.ppl_list, label='train')
        plt.xlabel('iterations (x' + str(self.eval_interval) + ')')
        plt.ylabel('perplexity')
        plt.show()


def _tied(p, q):
    """The book's two ways a weight is shared: the same array, or (weight
    tying) a 2-D array equal to the other's transpose."""
    if p is q:
        return "same"
    if p.ndim == 2 and q.ndim == 2 and p.T.shape == q.shape:
        # One element first: two different matrices (Rnnlm's embedding and
        # output weights, every step) differ there, and the book's whole
        # comparison of 1M entries is then skipped; its answer is the same
        # (a NaN there is unequal in both).
        if p.size and not p[0, 0] == q[0, 0]:
            return None
        if np.all(p.T == q):
            return "transposed"
    return None


def remove_duplicate(params, grads):
    '''
    Shared weights listed once: the gradient of each further occurrence is
    added to the first one's (in place, transposed for a tied transpose),
    as the book does before every update.

    The book rescans the list from the start after each merge; this scans
    it once (whether two entries are tied depends on the params alone, so
    the pairs found, their order and any exception raised are the book's),
    and a weight's "same array" gradients are summed in one fused pass
    (:func:`fastnn._kernels.nlp.dup_sum_into`): element by element the
    book's ``((g0 + g1) + g2) + ...`` in list order and in its types.
    '''
    params, grads = params[:], grads[:]  # copies of the lists

    i = 0
    while i < len(params) - 1:
        merged = []                 # (gradient, kind) of entries tied to params[i], in order
        j = i + 1
        try:
            while j < len(params):
                kind = _tied(params[i], params[j])
                if kind is None:
                    j += 1
                    continue
                merged.append((grads[j], kind))
                params.pop(j)
                grads.pop(j)
        except BaseException:
            _add_grads(grads, i, merged)    # the book added these before the failing test
            raise
        if merged:
            _add_grads(grads, i, merged)
        i += 1

    return params, grads


def _add_grads(grads, i, merged):
    """The book's ``grads[i] += g`` (``g.T`` for a tied transpose) for each
    merged gradient in order: in one fused pass where the kernel takes the
    arrays (same-array ties, arrays it can read), else one by one.

    Embedding gradients known to be zero outside a few rows
    (fastnn.nlp._grad_rows: the book's CBOW's sixteen (V, H) arrays) are
    added on the union of those rows only, which is the same sum."""
    out = grads[i]
    same = all(kind == "same" for _, kind in merged)
    stale = _grad_rows.unlock(out)
    if stale is not None and same and _dup_sum_rows_into is not None:
        rows = [stale] + [_grad_rows.rows_of(g) for g, _ in merged]
        if all(r is not None for r in rows):
            try:
                union = _dup_sum_rows_into(out, [g for g, _ in merged], rows)
            except BaseException:
                _grad_rows.forget(out)
                raise
            if union is not None:
                _grad_rows.track(out, union)
                return
    _grad_rows.forget(out)      # written whole below: the next backward zeroes it whole
    if same and _dup_sum_into is not None:
        if _dup_sum_into(out, [g for g, _ in merged]):
            return
    for g, kind in merged:
        if kind == "same":
            grads[i] += g
        else:
            grads[i] += g.T

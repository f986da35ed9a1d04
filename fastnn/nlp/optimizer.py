"""The book's ``common/optimizer.py`` (the sequel's): list-based SGD, Momentum,
Nesterov, AdaGrad, RMSprop, Adam.

``update(params, grads)`` takes the lists a model keeps and updates the
arrays in place, with the book's constructor defaults, attributes (``lr``,
``momentum``, ``v``, ``h``, ``m``, ``iter``; the state lists are created on
the first update) and numbers.  Each update is one call of an ops step
(``self.ops``, the compiled ops by default: one fused pass over the arrays
the kernels take, NumPy's formula for the rest), keyed by list position.

Where the sequel differs from the first book:

* Nesterov decays ``v`` first and then moves the parameters with the new
  ``v`` (``ops.nesterov_new_v_step``, NumPy's formula);
* Adam's ``lr_t`` is NumPy's ``np.sqrt`` of a Python float, a float64 scalar,
  so float32 parameters take their step in float64 (rounded back on the
  store) as in the book: those arrays take NumPy's formula, float64 ones
  the kernel.

Not in the book: :class:`LazyAdam`, the Adam of sparse gradients (the
``sparse=True`` word2vec models' :class:`fastnn.nlp.layers.RowGrad`).
"""
from ..backends import get_ops
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "LazyAdam"]


class _ListOptimizer:
    """The ops steps take dicts keyed by parameter; a model's lists become
    ``{i: array}`` for the call, and what the step rebinds (Python floats,
    Momentum's new ``v``) goes back into the lists."""

    ops = get_ops()

    @staticmethod
    def _keyed(items):
        return dict(enumerate(items))

    @staticmethod
    def _back(items, keyed):
        for i, item in keyed.items():
            if items[i] is not item:
                items[i] = item

    def _states(self, params, *names):
        for name in names:
            if getattr(self, name) is None:
                setattr(self, name, [np.zeros_like(p) for p in params])
        return [self._keyed(getattr(self, name)) for name in names]

    def _step(self, method, params, grads, states, *hyper):
        keyed = self._keyed(params)
        method(keyed, self._keyed(grads), *states, *hyper)
        self._back(params, keyed)
        return keyed


class SGD(_ListOptimizer):
    '''Stochastic gradient descent: p -= lr·g.'''

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        self._step(self.ops.sgd_step, params, grads, (), self.lr)


class Momentum(_ListOptimizer):
    '''Momentum SGD: v = μ·v - lr·g;  p += v.'''

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        v, = self._states(params, "v")
        self._step(self.ops.momentum_step, params, grads, (v,), self.lr, self.momentum)
        self._back(self.v, v)


class Nesterov(_ListOptimizer):
    '''Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), as the
    sequel writes it: v = μ·v - lr·g;  p += μ²·v - (1+μ)·lr·g (the new v).'''

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        v, = self._states(params, "v")
        self._step(self.ops.nesterov_new_v_step, params, grads, (v,), self.lr, self.momentum)
        self._back(self.v, v)


class AdaGrad(_ListOptimizer):
    '''AdaGrad: h += g²;  p -= lr·g / (√h + 1e-7).'''

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        h, = self._states(params, "h")
        self._step(self.ops.adagrad_step, params, grads, (h,), self.lr)


class RMSprop(_ListOptimizer):
    '''RMSprop: h = ρ·h + (1-ρ)·g²;  p -= lr·g / (√h + 1e-7).'''

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        h, = self._states(params, "h")
        self._step(self.ops.rmsprop_step, params, grads, (h,), self.lr, self.decay_rate)


class Adam(_ListOptimizer):
    '''Adam (http://arxiv.org/abs/1412.6980v8): t += 1;
    lr_t = lr·√(1-β2^t) / (1-β1^t) (a NumPy float64, as the book's np.sqrt gives);
    m += (1-β1)(g - m);  v += (1-β2)(g² - v);  p -= lr_t·m / (√v + 1e-7).'''

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def _next_lr_t(self):
        self.iter += 1
        return self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)

    def update(self, params, grads):
        m, v = self._states(params, "m", "v")
        lr_t = self._next_lr_t()
        self._step(self.ops.adam_step, params, grads, (m, v), lr_t, self.beta1, self.beta2)


class LazyAdam(Adam):
    '''Lazy Adam (not the book's algorithm): Adam on the rows a sparse
    gradient touched.  TensorFlow Addons calls it LazyAdam, PyTorch
    SparseAdam.  Use it with the ``sparse=True`` word2vec models::

        model = CBOW(vocab_size, hidden_size, window_size, corpus, sparse=True)
        optimizer = LazyAdam()          # where the book writes Adam()

    For a :class:`~fastnn.nlp.layers.RowGrad` ``g`` of a (V, H) parameter,
    each step, with t the number of ``update`` calls so far (the global step)
    and lr_t = lr·√(1-β2^t) / (1-β1^t) as Adam's, only the rows r in g.ids
    change:  m[r] += (1-β1)(g[r] - m[r]);  v[r] += (1-β2)(g[r]² - v[r]);
    p[r] -= lr_t·m[r] / (√v[r] + 1e-7).

    How it differs from the book's (dense) Adam, which updates every row
    every step with g = 0 where a batch did not reach:

    * an untouched row keeps its m and v (stale): dense Adam decays them,
      m *= β1, v *= β2, and still moves the row by lr_t·m/(√v + eps), a
      step driven by gradients of earlier batches;
    * so an untouched row does not move at all here;
    * the bias correction uses the global step t (the optimizer's ``iter``),
      not a per-row count of the steps that touched the row: a row first
      touched at step 1000 gets the bias correction of step 1000.
      TensorFlow's LazyAdam and PyTorch's SparseAdam do the same (PyTorch
      counts the steps per parameter; each parameter here has a gradient
      every step).

    When every row is touched every step the two are the same (the same
    expressions in the same types: float32 arrays take the step in float64
    from the float64 lr_t, as the sequel's Adam).  Cost: reading and
    writing p, m, v and g on the touched rows, ~1600 rows of 100 a CBOW
    step at B=100 against 2×10,000 for Adam at V=10,000.

    A dense ndarray gradient (a parameter the model keeps dense) takes
    Adam's step with the same t.  m and v are dense (V, H) arrays, as Adam's.
    '''

    def update(self, params, grads):
        from .._kernels import sparse_rows
        from .layers import RowGrad
        if self.m is not None and len(self.m) != len(params):
            raise ValueError("LazyAdam was started on %d parameters, got %d"
                             % (len(self.m), len(params)))
        dense = []
        for i, (p, g) in enumerate(zip(params, grads)):     # checked before any step
            if type(g) is not RowGrad:
                dense.append(i)
            elif g.shape != p.shape or g.rows.dtype != p.dtype:
                raise TypeError("grads[%d] is a RowGrad of shape %s and dtype %s for a "
                                "parameter of shape %s and dtype %s"
                                % (i, g.shape, g.rows.dtype, p.shape, p.dtype))
        ms, vs = self._states(params, "m", "v")
        lr_t = self._next_lr_t()
        for i, (p, g) in enumerate(zip(params, grads)):
            if type(g) is not RowGrad:
                continue
            if sparse_rows.takes(p):
                sparse_rows.lazy_adam_step(p, ms[i], vs[i], g.ids, g.rows, lr_t,
                                           self.beta1, self.beta2, 1e-7, False)
            else:           # NumPy's statements on the rows
                r = g.ids
                m, v = ms[i][r], vs[i][r]
                m += (1 - self.beta1) * (g.rows - m)
                v += (1 - self.beta2) * (g.rows ** 2 - v)
                p[r] -= lr_t * m / (np.sqrt(v) + 1e-7)
                ms[i][r], vs[i][r] = m, v
        if dense:
            keyed = {i: params[i] for i in dense}
            self.ops.adam_step(keyed, {i: grads[i] for i in dense}, {i: ms[i] for i in dense},
                               {i: vs[i] for i in dense}, lr_t, self.beta1, self.beta2)
            self._back(params, keyed)

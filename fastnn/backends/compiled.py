"""CompiledOps: NumpyOps with its hot methods on fastnn's compiled kernels.

Each kernel family (``fastnn/_kernels/<family>.pyx``) defines a mixin of
overrides; this class stacks them over :class:`NumpyOps`.  An override runs
its kernel on the inputs it takes (native-order float32/float64 arrays, made
C-contiguous once if need be) and hands anything else to ``super()``, which
is NumpyOps, so dtype, layout and byte-order dispatch and the fallback happen
here and nowhere else.
"""
import inspect
import operator
from itertools import repeat

from .._kernels.activations import ActivationOps
from .._kernels.affine import AffineOps
from .._kernels.attention import AttentionOps
from .._kernels.batchnorm_ops import BatchNormOps
from .._kernels.conv import ConvOps
from .._kernels.dropout import DropoutOps
from .._kernels.maxpool import MaxPoolOps
from .._kernels.nlp import NlpOps
from .._kernels.optim_ops import OptimOps
from .._kernels.rnn import RnnOps
from .._kernels.word2vec import Word2VecFusedOps, Word2VecOps
from .._kernels.softmax import SoftmaxOps
from .numpy_ops import NumpyOps

__all__ = ["CompiledOps"]

_BASE = operator.attrgetter("base")


def _keys_apart(params, grads):
    """True when no two keys' arrays can share memory, so the order in which
    the keys are updated cannot change the result: every parameter and
    gradient owns its memory (no views), no array is the parameter of two
    keys, and a gradient that is a parameter is its own key's.  Costs a few
    microseconds for a network's two dozen keys (a few % of Adam's update of
    the book's 784-[100]x5-10 network with batch norm)."""
    ps, gs = list(params.values()), list(grads.values())
    try:
        if any(map(operator.is_not, map(_BASE, ps + gs), repeat(None))):
            return False
    except AttributeError:       # Python floats (the book's 2-D demo), lists, ...
        return False
    ids = set(map(id, ps))
    if len(ids) != len(ps):
        return False
    if ids.isdisjoint(map(id, gs)):
        return True
    owner = {id(p): key for key, p in params.items()}
    return all(owner.get(id(g), key) == key for key, g in grads.items())


class InDictOrder:
    """The optimizer steps of OptimOps, with the reference's order kept.

    OptimOps updates the keys its kernels take in one pass and the others
    (non-contiguous, other dtypes, ...) with NumPy after it.  That is the
    reference's result only when the keys' arrays are apart; when one array
    sits under two keys, or a gradient is another key's parameter, the keys
    go one at a time, in dict order, each to the kernel or to NumPy."""


def _in_dict_order(name):
    def step(self, params, grads, *args, keys=None, **kwargs):
        compiled = getattr(super(InDictOrder, self), name)
        if _keys_apart(params, grads):
            return compiled(params, grads, *args, keys=keys, **kwargs)
        for key in list(params.keys() if keys is None else keys):
            compiled(params, grads, *args, keys=(key,), **kwargs)
        return None
    step.__name__ = step.__qualname__ = name
    step.__doc__ = getattr(NumpyOps, name).__doc__
    step.__signature__ = inspect.signature(getattr(NumpyOps, name))   # what it forwards
    return step


for _name in ("sgd_step", "momentum_step", "nesterov_step", "adagrad_step",
              "rmsprop_step", "adam_step"):
    setattr(InDictOrder, _name, _in_dict_order(_name))


class CompiledOps(ActivationOps, AttentionOps, AffineOps, BatchNormOps, ConvOps, DropoutOps,
                  MaxPoolOps, NlpOps, InDictOrder, OptimOps, RnnOps, Word2VecOps,
                  Word2VecFusedOps, SoftmaxOps, NumpyOps):
    name = "compiled"
    # Max pooling first, then ReLU on a quarter of the entries (exact).
    pool_before_relu = True

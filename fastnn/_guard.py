"""One layer object, one training thread: concurrent entry raises RuntimeError.

The compiled kernels release the GIL, so two threads can be inside one layer
at once; a training call (``backward``, or a ``forward`` with
``train_flg=True`` of BatchNormalization/Dropout) then races on the state
the layer keeps for its backward pass.  Such a call is *exclusive*: it
raises ``RuntimeError`` naming the layer when another thread is inside the
layer.  Other forward calls are *shared*: any number may run at once, as
inference from several threads (``predict(x, train_flg=False)``) does, but
not while an exclusive call runs.

The flags live in a small C object on the layer (``layer._guard``) and are
tested and set in C (fastnn/_kernels/guard.pyx) with no Python code in
between, so the GIL makes that atomic; no lock object is kept (layers stay
picklable) and a call costs a few tenths of a microsecond.

A network has a guard of its own (``network_call``), since a layer's guard
sees only one call at a time: inference on one thread between the forward
and the backward pass of ``gradient`` on another would overwrite what the
backward pass reads, and give wrong gradients.  A training call of a network
(``gradient``, ``numerical_gradient``, a forward pass with
``train_flg=True``) is exclusive for its whole length: it raises
``RuntimeError`` naming the network while another thread is inside the
network, and so does any call while another thread trains it.  Inference
calls are shared (the layers are the same classes on both backends, and
what an inference pass leaves on a layer is never read back by it).  The
calls a thread makes inside its own call (``gradient``
running the forward pass) are its own business.
"""
import functools
import inspect
import threading

from ._kernels.guard import GuardedMethod

__all__ = ["exclusive", "shared", "exclusive_when_training", "network_call"]


def exclusive(method):
    """Decorate a layer method that changes the state its backward pass reads."""
    return GuardedMethod(method, 1)


def shared(method):
    """Decorate a layer method several threads may run at once (inference)."""
    return GuardedMethod(method, 0)


def exclusive_when_training(method):
    """``forward(x, train_flg=True)``: exclusive when training, else shared."""
    return GuardedMethod(method, 2)


class NetworkGuard:
    """Who is inside one network: the thread in a training call (and how
    deep), and the threads in inference calls.  A copied or unpickled network
    starts with nobody inside."""

    def __init__(self):
        self._lock = threading.Lock()   # held only to read and set the fields
        self._writer = None
        self._depth = 0
        self._readers = {}              # thread ident -> nesting

    def __reduce__(self):
        return (NetworkGuard, ())

    def enter(self, network, training):
        me = threading.get_ident()
        with self._lock:
            if self._writer not in (None, me) or (
                    training and any(thread != me for thread in self._readers)):
                raise RuntimeError(
                    "%s object at %#x is in use by another thread: a network may be "
                    "trained (gradient, or a forward pass with train_flg=True) by one "
                    "thread at a time, and not while another thread runs predict, loss "
                    "or accuracy on it; inference alone (train_flg=False) may be shared"
                    % (type(network).__name__, id(network)))
            if training:
                self._writer = me
                self._depth += 1
            else:
                self._readers[me] = self._readers.get(me, 0) + 1

    def leave(self, training):
        me = threading.get_ident()
        with self._lock:
            if training:
                self._depth -= 1
                if not self._depth:
                    self._writer = None
            elif self._readers[me] == 1:
                del self._readers[me]
            else:
                self._readers[me] -= 1


def _network_guard(network):
    guard = network.__dict__.get("_guard")
    if guard is None:
        # setdefault: two threads arriving first at once get the same guard.
        guard = network.__dict__.setdefault("_guard", NetworkGuard())
    return guard


def network_call(training):
    """Decorate a network method with the network's guard: ``training`` True
    (exclusive), False (shared), or ``"train_flg"``: exclusive when the
    method's ``train_flg`` argument is true."""
    def decorate(method):
        flag_at, flag_default = None, True
        if training == "train_flg":
            names = list(inspect.signature(method).parameters)
            flag_at = names.index("train_flg") - 1     # in args, after self
            default = inspect.signature(method).parameters["train_flg"].default
            if default is not inspect.Parameter.empty:
                flag_default = default

        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            excl = training
            if flag_at is not None:
                if len(args) > flag_at:
                    excl = bool(args[flag_at])
                else:
                    excl = bool(kwargs.get("train_flg", flag_default))
            guard = _network_guard(self)
            guard.enter(self, excl)
            try:
                return method(self, *args, **kwargs)
            finally:
                guard.leave(excl)

        return guarded
    return decorate

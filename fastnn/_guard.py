"""One layer object, one training thread: concurrent entry raises RuntimeError.

The compiled kernels release the GIL, so two threads can be inside one layer
at once; a training call (``backward``, or a ``forward`` with
``train_flg=True`` of BatchNormalization/Dropout) then races on the state
the layer keeps for its backward pass.  Such a call is *exclusive*: it
raises ``RuntimeError`` naming the layer when another thread is inside the
layer.  Other forward calls are *shared*: any number may run at once, as
inference from several threads (``predict(x, train_flg=False)``) does, but
not while an exclusive call runs.

Both flags are set and tested with single operations the GIL makes atomic
(``dict.setdefault``, ``list.append``), so no lock object is kept (layers
stay picklable) and a call costs a few hundred nanoseconds.
"""
import functools

__all__ = ["exclusive", "shared", "exclusive_when_training"]

_KEY = "exclusive"


def _busy(layer):
    return RuntimeError(
        "%s object at %#x is already in use by another thread: a layer (and a network) "
        "may be trained by one thread at a time; inference (train_flg=False) may be "
        "shared" % (type(layer).__name__, id(layer)))


def _state(layer):
    try:
        return layer._entered, layer._readers
    except AttributeError:   # made without __init__ (copy.copy, unpickling an old object)
        layer._entered, layer._readers = {}, []
        return layer._entered, layer._readers


def _enter_exclusive(layer):
    entered, readers = _state(layer)
    token = []
    if entered.setdefault(_KEY, token) is not token:
        raise _busy(layer)
    if readers:
        del entered[_KEY]
        raise _busy(layer)


def _leave_exclusive(layer):
    del layer._entered[_KEY]


def _enter_shared(layer):
    entered, readers = _state(layer)
    readers.append(None)
    if _KEY in entered:
        readers.pop()
        raise _busy(layer)


def _leave_shared(layer):
    layer._readers.pop()


def exclusive(method):
    """Decorate a layer method that changes the state its backward pass reads."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        _enter_exclusive(self)
        try:
            return method(self, *args, **kwargs)
        finally:
            _leave_exclusive(self)
    return wrapper


def shared(method):
    """Decorate a layer method several threads may run at once (inference)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        _enter_shared(self)
        try:
            return method(self, *args, **kwargs)
        finally:
            _leave_shared(self)
    return wrapper


def exclusive_when_training(method):
    """``forward(x, train_flg=True)``: exclusive when training, else shared."""
    @functools.wraps(method)
    def wrapper(self, x, train_flg=True):
        if train_flg:
            _enter_exclusive(self)
            try:
                return method(self, x, train_flg)
            finally:
                _leave_exclusive(self)
        _enter_shared(self)
        try:
            return method(self, x, train_flg)
        finally:
            _leave_shared(self)
    return wrapper

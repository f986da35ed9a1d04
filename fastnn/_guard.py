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
"""
from ._kernels.guard import GuardedMethod

__all__ = ["exclusive", "shared", "exclusive_when_training"]


def exclusive(method):
    """Decorate a layer method that changes the state its backward pass reads."""
    return GuardedMethod(method, 1)


def shared(method):
    """Decorate a layer method several threads may run at once (inference)."""
    return GuardedMethod(method, 0)


def exclusive_when_training(method):
    """``forward(x, train_flg=True)``: exclusive when training, else shared."""
    return GuardedMethod(method, 2)

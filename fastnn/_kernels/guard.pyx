# cython: language_level=3
"""The entry guard of fastnn/_guard.py in C: a flag tested and set with no
Python code in between (so the GIL makes it atomic) for ~0.1 us a call."""
cdef extern from "Python.h":
    object PyMethod_New(object func, object self)


cdef class GuardState:
    """Who is inside one layer: ``writers`` (0 or 1) and ``readers``."""
    cdef public int writers, readers

    def __reduce__(self):
        return (GuardState, ())   # nobody is inside a copied layer


cdef GuardState _state(object layer):
    cdef object st = getattr(layer, "_guard", None)
    if st is None:
        st = GuardState()
        layer._guard = st
    return <GuardState>st


cdef _busy(object layer):
    raise RuntimeError(
        "%s object at %#x is already in use by another thread: a layer (and a network) "
        "may be trained by one thread at a time; inference (train_flg=False) may be "
        "shared" % (type(layer).__name__, id(layer)))


cdef class GuardedMethod:
    """A layer method wrapped by the guard: kind 0 shared, 1 exclusive,
    2 exclusive when its ``train_flg`` (second argument, default True) is true."""
    cdef object func
    cdef int kind
    cdef dict __dict__

    def __init__(self, func, int kind):
        self.func = func
        self.kind = kind
        self.__doc__ = getattr(func, "__doc__", None)
        self.__name__ = getattr(func, "__name__", "method")
        self.__wrapped__ = func

    def __get__(self, obj, objtype):
        if obj is None:
            return self
        return PyMethod_New(self, obj)

    def __call__(self, layer, *args, **kwargs):
        cdef GuardState st = _state(layer)
        cdef bint excl = self.kind == 1
        if self.kind == 2:
            if len(args) > 1:
                excl = bool(args[1])
            else:
                excl = bool(kwargs.get("train_flg", True))
        if excl:
            if st.writers or st.readers:
                _busy(layer)
            st.writers = 1
            try:
                return self.func(layer, *args, **kwargs)
            finally:
                st.writers = 0
        if st.writers:
            _busy(layer)
        st.readers += 1
        try:
            return self.func(layer, *args, **kwargs)
        finally:
            st.readers -= 1

# cython: language_level=3
"""The buffer pool of the fast layers: output arrays reused between calls,
never overwritten while someone else holds them.

A layer writes its outputs (a forward result, a mask, backward's dx, a
scratch buffer) into arrays taken from its pool, so a training step
allocates nothing.  An array is handed out again only while nothing outside
the pool references it (its reference count is the pool's own), which
counts views, memoryviews and the next layer holding it as its input.

Most recently used first.  ``take`` looks for a free array of the shape and
dtype asked for, starting from the one taken last, and moves the one it
finds to the end.  The layers of a network share one pool (see
``fastnn._on_ops.share_buffers``): an output the next layer has consumed is
free again at once and is the next one handed out, while it is still in the
cache.  Measured on the book's 784-[100]x5-10 MLP (batch 100, float64), one
pool for the network instead of one per layer made the training step 5-7%
faster: a pool per layer kept 73 arrays (4.5 MB) in rotation where the
shared one keeps 34 (1.5 MB), and each kernel wrote its output into lines
that had gone cold since the step before.

``capacity`` bounds how many arrays the pool keeps: past it, the one taken
longest ago is dropped (it lives on while its holder keeps it).  Two rules
let go of free arrays that are no longer asked for (buffers of other batch
sizes, from inference between training steps), so they do not stay for the
network's life:

* a network calls ``next_pass()`` as each forward pass begins (its
  ``_predict``); the free arrays taken in neither of the last two passes go.
  Training then evaluating on another batch size, step after step, keeps
  both sets; a run of predictions on changing batch sizes keeps about three
  passes' worth;
* every ``capacity`` takes, the free arrays nobody took since the sweep
  before go (for pools no network drives).  A network's pool has room for 8
  arrays per layer and a training step takes about 3 per layer (measured:
  the MLP above 68 takes for 22 layers, SimpleConvNet 18 for 7, DeepConvNet
  65-70 for 21), so a sweep looks back over two steps or more and, in a
  steady loop, finds nothing to drop.

Measured on SimpleConvNet, trained, then predicting 8 batch sizes near
1,000, then trained again: without these rules the pool grew to its 56
arrays, 1.3 GB, and still held 915 MB after 100 more training steps; with
them it peaks at 650 MB during the predictions (the old pools, two arrays
per output per layer, peaked around 540 MB) and is back to its 15
training arrays, 43 MB, on the third step.  Tried and dropped: sweeping
whenever the pool had to make a new array (a few misses in one step swept
away arrays needed later in the same step, which missed in turn, step after
step), and letting go on a miss of every free array of the same output at
another batch size (two outputs of one step that differ only in their first
dimension, as two convolutions' im2col matrices can, could evict each other
every step).
"""
cimport numpy as cnp
from cpython.object cimport PyObject
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM

cnp.import_array()

cdef extern from *:
    Py_ssize_t Py_REFCNT(PyObject* o)

# Arrays kept per layer that uses a pool: a layer holds at most a few
# outputs for its backward pass, and a step's transient outputs come back.
PER_LAYER = 8


# The pool's list is ordered by when each array was last taken (taking
# moves it to the end), so "not taken since moment m" is a prefix of it;
# _since[j] is that prefix's length for three moments:
cdef enum:
    SWEEP = 0       # the last periodic sweep
    THIS_PASS = 1   # the start of the network's current forward pass
    LAST_PASS = 2   # the start of the pass before


cdef class Pool:
    def __cinit__(self, Py_ssize_t capacity=PER_LAYER):
        if capacity < 1:
            raise ValueError("capacity must be >= 1, got %d" % capacity)
        self._arrays = []
        self.capacity = capacity
        self._takes = 0

    cdef void _left_prefix(self, Py_ssize_t k):
        """The array at index k leaves the list (or moves to its end)."""
        cdef int j
        for j in range(3):
            if k < self._since[j]:
                self._since[j] -= 1

    cdef void _drop_free(self, int mark):
        """Let go of the free arrays not taken since ``mark``."""
        cdef list arrays = self._arrays
        cdef Py_ssize_t k, u = self._since[mark]
        cdef PyObject* p
        cdef list keep = []
        for k in range(u - 1, -1, -1):   # from the end: the indices below stay valid
            p = PyList_GET_ITEM(arrays, k)
            if Py_REFCNT(p) == 1:
                self._left_prefix(k)
            else:
                keep.append(<object>p)
        if len(keep) != u:
            keep.reverse()
            arrays[:u] = keep

    def next_pass(self):
        """A network's forward pass begins (``_predict``): let go of the free
        arrays taken in neither of the last two passes."""
        self._drop_free(LAST_PASS)
        self._since[LAST_PASS] = self._since[THIS_PASS]
        self._since[THIS_PASS] = PyList_GET_SIZE(self._arrays)

    cdef cnp.ndarray take(self, int nd, cnp.npy_intp* dims, int typenum):
        """An array of that shape and native dtype (contents garbage): the
        free one taken most recently, else a new one."""
        cdef list arrays = self._arrays
        cdef Py_ssize_t k, n
        cdef PyObject* p
        cdef cnp.ndarray a
        cdef int i
        cdef bint ok
        self._takes += 1
        if self._takes >= self.capacity:
            self._drop_free(SWEEP)
            self._since[SWEEP] = PyList_GET_SIZE(arrays)
            self._takes = 0
        n = PyList_GET_SIZE(arrays)
        for k in range(n - 1, -1, -1):
            p = PyList_GET_ITEM(arrays, k)
            # Borrowed: a refcount of 1 is the pool's own reference.
            if Py_REFCNT(p) != 1:
                continue
            a = <cnp.ndarray>p
            if cnp.PyArray_NDIM(a) != nd or cnp.PyArray_TYPE(a) != typenum:
                continue
            ok = True
            for i in range(nd):
                if cnp.PyArray_DIMS(a)[i] != dims[i]:
                    ok = False
                    break
            if ok:
                self._left_prefix(k)
                if k != n - 1:
                    del arrays[k]
                    arrays.append(a)
                return a
        a = cnp.PyArray_EMPTY(nd, dims, typenum, 0)
        if n >= self.capacity:
            self._left_prefix(0)
            del arrays[0]
        arrays.append(a)
        return a

    def get(self, shape, dtype):
        """``take`` from Python: an array of ``shape`` and native ``dtype``."""
        dims = tuple(shape)
        cdef cnp.npy_intp cdims[32]
        cdef int i, nd = len(dims)
        if nd > 32:
            raise ValueError("at most 32 dimensions, got %d" % nd)
        for i in range(nd):
            cdims[i] = dims[i]
        return self.take(nd, cdims, cnp.dtype(dtype).newbyteorder("=").num)

    def __len__(self):
        return len(self._arrays)

    def arrays(self):
        """The arrays the pool keeps, the one taken longest ago first."""
        return tuple(self._arrays)

    def __reduce__(self):
        return (Pool, (self.capacity,))   # buffers are a cache: a copy starts empty

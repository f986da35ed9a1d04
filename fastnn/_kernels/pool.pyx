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
longest ago is dropped (it lives on while its holder keeps it).  And every
``capacity`` takes the pool lets go of the free arrays nobody took since
the sweep before, so buffers of shapes no longer asked for (inference on
other batch sizes between training steps) do not stay for the network's
life.  A network's pool has room for 8 arrays per layer and a training step
takes about 3 per layer (measured: the MLP above 68 takes for 22 layers,
SimpleConvNet 18 for 7, DeepConvNet 65-70 for 21), so a sweep looks back
over two steps or more: an array the step needs is always taken in between,
and in a steady training loop a sweep finds nothing to drop and nothing is
allocated.  (Sweeping also whenever the pool had to make a new array was
tried: a few misses in one step then swept away arrays needed later in the
same step, which missed in turn, step after step.)
Measured on SimpleConvNet, predicting 8 batch sizes near 1,000 and then
training: the pool held 1.3 GB after the predictions (up to its capacity,
56 arrays, of large ones) and, without sweeps, still 915 MB after 100
training steps; with them, 43 MB (its 15 training arrays) from the 12th
step on.  (Letting go, on a miss, of every free array of the same output
at another batch size was left out: two outputs of one step that differ
only in their first dimension, as two convolutions' im2col matrices can,
could then evict each other every step.)
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


cdef class Pool:
    def __cinit__(self, Py_ssize_t capacity=PER_LAYER):
        if capacity < 1:
            raise ValueError("capacity must be >= 1, got %d" % capacity)
        self._arrays = []
        self.capacity = capacity
        self._untouched = 0
        self._takes = 0

    cdef void _sweep(self):
        """Drop the free arrays among the first ``_untouched`` (those not
        taken since the last sweep: taking moves an array to the end)."""
        cdef list arrays = self._arrays
        cdef Py_ssize_t i, u = self._untouched
        cdef PyObject* p
        cdef list keep = []
        for i in range(u):
            p = PyList_GET_ITEM(arrays, i)
            if Py_REFCNT(p) != 1:
                keep.append(<object>p)
        if len(keep) != u:
            arrays[:u] = keep
        self._untouched = PyList_GET_SIZE(arrays)
        self._takes = 0

    cdef cnp.ndarray take(self, int nd, cnp.npy_intp* dims, int typenum):
        """An array of that shape and native dtype (contents garbage): the
        free one taken most recently, else a new one."""
        cdef list arrays = self._arrays
        cdef Py_ssize_t k, n = PyList_GET_SIZE(arrays)
        cdef PyObject* p
        cdef cnp.ndarray a
        cdef int i
        cdef bint ok
        self._takes += 1
        if self._takes >= self.capacity:
            self._sweep()
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
                if k < self._untouched:
                    self._untouched -= 1
                if k != n - 1:
                    del arrays[k]
                    arrays.append(a)
                return a
        a = cnp.PyArray_EMPTY(nd, dims, typenum, 0)
        if n >= self.capacity:
            del arrays[0]
            if self._untouched > 0:
                self._untouched -= 1
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

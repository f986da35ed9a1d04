# cython: language_level=3
"""The one buffer pool a fast layer owns: output arrays reused between calls,
never overwritten while someone else holds them.

A layer writes its outputs (a forward result, a mask, backward's dx) into
arrays it keeps from one call to the next, so a training step allocates
nothing.  Each output has a named slot of at most two arrays; an array is
reused only while nothing outside the pool references it (its reference
count is the pool's own), which counts views, memoryviews and the next layer
holding it as its input.  Otherwise the pool makes a new array and drops its
oldest.  Two per slot suffice in a training loop: the array returned on the
last step may still be held by the next layer (Affine keeps its input for
its backward pass); the one from the step before is free by then.
"""
cimport numpy as cnp
from fastnn._kernels._fastpath cimport take as _take

cnp.import_array()


cdef class Pool:
    def __cinit__(self):
        self._slots = {}

    cdef cnp.ndarray take(self, str slot, int nd, cnp.npy_intp* dims, int typenum):
        """An array of that shape and native dtype from ``slot`` (contents garbage)."""
        cdef object arrays = self._slots.get(slot)
        if arrays is None:
            arrays = self._slots[slot] = []
        return _take(<list>arrays, nd, dims, typenum)

    cdef cnp.ndarray take_like(self, str slot, cnp.ndarray like, int typenum):
        """An array of ``like``'s shape and dtype ``typenum`` (-1: like's own)."""
        return self.take(slot, cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                         cnp.PyArray_TYPE(like) if typenum < 0 else typenum)

    def get(self, slot, shape, dtype):
        """``take`` from Python: an array of ``shape``/native ``dtype`` from ``slot``."""
        dims = tuple(shape)
        cdef cnp.npy_intp cdims[32]
        cdef int i, nd = len(dims)
        if nd > 32:
            raise ValueError("at most 32 dimensions, got %d" % nd)
        for i in range(nd):
            cdims[i] = dims[i]
        return self.take(slot, nd, cdims, cnp.dtype(dtype).num)

    def __reduce__(self):
        return (Pool, ())   # buffers are a cache: a copied layer starts empty

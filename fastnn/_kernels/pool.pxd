cimport numpy as cnp

cdef class Pool:
    cdef list _arrays
    cdef readonly Py_ssize_t capacity
    cdef Py_ssize_t _takes
    cdef Py_ssize_t _since[3]
    cdef void _left_prefix(self, Py_ssize_t k)
    cdef void _drop_free(self, int mark)
    cdef cnp.ndarray take(self, int nd, cnp.npy_intp* dims, int typenum)


cdef inline cnp.ndarray pool_take(Pool pool, int nd, cnp.npy_intp* dims, int typenum):
    """An output array: from the layer's pool, or new when pool is None."""
    if pool is None:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    return pool.take(nd, dims, typenum)


cdef inline cnp.ndarray pool_take_like(Pool pool, cnp.ndarray like, int typenum):
    """``pool_take`` of ``like``'s shape, dtype ``typenum`` (-1: like's own)."""
    return pool_take(pool, cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                     cnp.PyArray_TYPE(like) if typenum < 0 else typenum)

cimport numpy as cnp

cdef class Pool:
    cdef dict _slots
    cdef cnp.ndarray take(self, str slot, int nd, cnp.npy_intp* dims, int typenum)
    cdef cnp.ndarray take_like(self, str slot, cnp.ndarray like, int typenum)


cdef inline cnp.ndarray pool_take(Pool pool, str slot, int nd, cnp.npy_intp* dims,
                                  int typenum):
    """An output array: from the layer's pool (``slot``), or new when pool is None."""
    if pool is None:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    return pool.take(slot, nd, dims, typenum)


cdef inline cnp.ndarray pool_take_like(Pool pool, str slot, cnp.ndarray like, int typenum):
    """``pool_take`` of ``like``'s shape, dtype ``typenum`` (-1: like's own)."""
    return pool_take(pool, slot, cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                     cnp.PyArray_TYPE(like) if typenum < 0 else typenum)

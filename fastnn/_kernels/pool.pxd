cimport numpy as cnp

cdef class Pool:
    cdef dict _slots
    cdef cnp.ndarray take(self, str slot, int nd, cnp.npy_intp* dims, int typenum)
    cdef cnp.ndarray take_like(self, str slot, cnp.ndarray like, int typenum)

# The one .pxd a kernel family cimports from.  What the families share --
# argument handling (_args.pxd), the override fast-path tests
# (_fastpath.pxd), the layers' buffer pools (pool.pxd), the thread pool and
# BLAS (parallel.pxd), and the helpers more than one family's override class
# uses (below) -- is declared or re-exported here, so that a family's .pyx
# reads: its C externs, its drivers, one override class, and no family
# cimports another family's .pxd.  (A family split in two modules -- the
# drivers in batchnorm.pyx/optim.pyx, the overrides in batchnorm_ops.pyx/
# optim_ops.pyx -- still cimports its own drivers' .pxd.)
#
# Touching this file, or a .pxd it cimports, re-cythonizes every family.
cimport numpy as cnp

from fastnn._kernels._args cimport (
    NOGIL_MIN, PyThreadState, _contiguous, _disjoint, check_blas_sizes, check_kernel_arrays,
    check_shape, elem_at, is_f32, release_gil_if, retake_gil, window_count)
from fastnn._kernels._fastpath cimport (
    is_c_float, is_float_array, is_vector, kernel_input, may_overlap, same_dtype, same_shape)
from fastnn._kernels.pool cimport Pool, pool_take, pool_take_like
from fastnn._kernels.parallel cimport (
    GRAIN_ELEMS, bias_grad, blas_gemm, blas_serial, parallel_range, pool_threads, range_fn,
    run_parallel, task_fn, threads_arg)


cdef inline object grad_buffer(object buf, cnp.ndarray like):
    """``buf`` if it can be overwritten as a gradient of ``like``'s shape and
    dtype (C-contiguous, writeable, native), else a new array (affine, conv)."""
    if (type(buf) is cnp.ndarray and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>buf)
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>buf)
            and cnp.PyArray_NDIM(<cnp.ndarray>buf) == cnp.PyArray_NDIM(like)
            and same_dtype(like, <cnp.ndarray>buf)):
        for i in range(cnp.PyArray_NDIM(like)):
            if cnp.PyArray_DIMS(<cnp.ndarray>buf)[i] != cnp.PyArray_DIMS(like)[i]:
                break
        else:
            return buf
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                             cnp.PyArray_TYPE(like), 0)


cdef inline object kernel_input_as(object a, int typenum, Pool pool):
    """``a`` as the kernels read it: a native, aligned, C-contiguous array of
    ``typenum`` -- ``a`` itself, or converted once into a buffer of ``pool``
    when NumPy promotes a's dtype to that one (other byte order or layout,
    float32 into a float64 layer, integers) -- or None for anything else
    (then NumpyOps runs): the dispatch predicate of the convolution and
    pooling overrides."""
    cdef cnp.ndarray arr, buf
    if type(a) is not cnp.ndarray:
        return None
    arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) == typenum and not cnp.PyArray_ISBYTESWAPPED(arr)
            and cnp.PyArray_ISCARRAY_RO(arr)):
        return arr
    import numpy as np                 # the slow path only
    dt = cnp.PyArray_DescrFromType(typenum)
    if arr.dtype.kind not in "biuf" or np.result_type(arr.dtype, dt) != dt:
        return None
    buf = pool_take_like(pool, arr, typenum)
    np.copyto(buf, arr, casting="unsafe")
    return buf

/* fastnn's one thread pool: its size, and the C face threadpoolctl reads.
 *
 * The pool itself is the OpenMP runtime this module is linked with; every
 * parallel region of fastnn (kernels and the GEMM split) asks
 * fastnn_threads() for its team size, so this one integer is the whole
 * configuration.  A process made by fork() runs on one thread from then on:
 * an OpenMP team does not survive fork, and a parallel region in the child
 * would wait for threads only the parent has.
 *
 * fastnn_get_num_threads / fastnn_set_num_threads are exported (default
 * visibility) for fastnn._threadpool's threadpoolctl controller, which calls
 * them through ctypes; the Python layer checks the cap before either is
 * reached.
 */
#ifndef FASTNN_PARALLEL_H
#define FASTNN_PARALLEL_H

#if defined(_WIN32)
#define FASTNN_EXPORT __declspec(dllexport)
#else
#define FASTNN_EXPORT __attribute__((visibility("default")))
#include <pthread.h>
#endif

/* Read and written whole (an aligned int): a thread reading it while
 * another sets it sees the old or the new count, either valid. */
static volatile int fastnn_g_threads = 1;
static volatile int fastnn_g_forked = 0;

static inline int fastnn_threads(void)
{
    return fastnn_g_forked ? 1 : fastnn_g_threads;
}

FASTNN_EXPORT int fastnn_get_num_threads(void)
{
    return fastnn_threads();
}

FASTNN_EXPORT void fastnn_set_num_threads(int n)
{
    if (n >= 1)
        fastnn_g_threads = n;
}

static inline int fastnn_forked(void)
{
    return fastnn_g_forked;
}

static void fastnn_after_fork_child(void)
{
    fastnn_g_forked = 1;
}

static int fastnn_register_fork_handler(void)
{
#if defined(_WIN32)
    return 0;
#else
    return pthread_atfork(NULL, NULL, fastnn_after_fork_child);
#endif
}

#endif

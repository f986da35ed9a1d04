/* fastnn's one thread pool.
 *
 * fastnn_run(fn, ctx, pieces, nthreads) runs fn(ctx, i, slot) for every
 * piece i in [0, pieces) on up to nthreads threads: the caller and up to
 * nthreads - 1 workers of the pool, each taking the next piece not yet
 * taken of its own block of the pieces, then of the others' (so a thread
 * whose core another program holds delays one piece, not a fixed share of
 * the work, and the caller's pieces are the same share of the data run
 * after run: fastnn_take_pieces).  ``slot`` (0 for the caller, 1 .. nthreads-1
 * for the workers that joined) numbers the threads of one run, for
 * per-thread scratch.
 *
 * Why not OpenMP: an OpenMP parallel region ends in a barrier that every
 * thread of the team must reach, so when one of them waits for a core
 * (another program runs there), the whole region waits a scheduler time
 * slice for it, even when the other threads did all the work; a training
 * step runs dozens of regions.  Here the caller waits only for pieces that
 * are running: a worker that wakes late finds nothing left and goes back to
 * sleep, and no one waits for it.
 *
 * Each claim word carries the run's generation beside the next piece index,
 * so a late worker can never take a piece of a later run with the function
 * of an earlier one; a worker copies a run's fields under the pool's mutex
 * when it joins.  The caller waits for `finished` == pieces: spinning for a
 * few microseconds, then asleep on a condition variable (its core goes idle,
 * and the scheduler may move a waiting worker there).  Idle workers spin a
 * little longer (FASTNN_SPIN_US) before they sleep, so the next region of a
 * step finds them awake.
 *
 * One run at a time: a second caller (another Python thread) runs its pieces
 * itself, as does a piece that calls fastnn_run again (nested), and every
 * run in a process made by fork() (the workers are the parent's).
 *
 * Never slower than one thread: a worker holding a piece can lose its core
 * to another program for a whole scheduler time slice (milliseconds), and
 * the caller must wait for that piece.  So the caller times each run against
 * what its own pieces say the whole run would have taken on the caller
 * alone.  A run that was slower than that and ended with a stall of a time
 * slice's order (FASTNN_STALL_US, 500 us), or a running average of runs
 * slower than alone (runs whose worker woke late, again and again), makes
 * the pool run everything on the calling thread for a while (1 ms, doubling
 * at each new such run up to 128 ms, an eighth less at each clean one: under
 * a lasting load the probes, which cost a stall each, come every 128 ms);
 * then it tries its workers again.  On a quiet machine a worker that wakes late
 * costs a run a fraction of a millisecond and trips nothing; with another
 * program on a core, most runs go serial and a probe now and then costs at
 * most one time slice.
 *
 * And a run that recurs (the same function, pieces and size key: the same
 * layer call, step after step) is timed both ways: after its first runs on
 * the pool, two on the calling thread alone, then whichever was faster
 * (the fastest of the last four runs each way), with one run in 32 the
 * other way to keep both timings current.  When the second core gains nothing (a
 * kernel bound by memory bandwidth that one core already fills, another
 * program slowing that core without stalling it), the run stays on one
 * thread.
 *
 * fastnn_get_num_threads / fastnn_set_num_threads are exported for
 * fastnn._threads' threadpoolctl controller (through ctypes); the Python
 * layer checks the cap before either is reached.
 */
#ifndef FASTNN_PARALLEL_H
#define FASTNN_PARALLEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef void (*fastnn_task_fn)(void *ctx, ptrdiff_t piece, int slot);

#if defined(_WIN32)
#define FASTNN_EXPORT __declspec(dllexport)
#else
#define FASTNN_EXPORT __attribute__((visibility("default")))
#endif

/* Read and written whole (relaxed atomics): a thread reading the count while
 * another sets it sees the old or the new one, either valid. */
#if defined(_MSC_VER)
#define FASTNN_LOAD_INT(p) (*(volatile int *)(p))
#define FASTNN_STORE_INT(p, v) (*(volatile int *)(p) = (v))
#else
#define FASTNN_LOAD_INT(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define FASTNN_STORE_INT(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#endif

static int fastnn_g_threads = 1;
static int fastnn_g_forked = 0;

static inline int fastnn_forked(void) { return FASTNN_LOAD_INT(&fastnn_g_forked); }

static inline int fastnn_threads(void)
{
    return fastnn_forked() ? 1 : FASTNN_LOAD_INT(&fastnn_g_threads);
}

FASTNN_EXPORT int fastnn_get_num_threads(void) { return fastnn_threads(); }

FASTNN_EXPORT void fastnn_set_num_threads(int n)
{
    if (n >= 1)
        FASTNN_STORE_INT(&fastnn_g_threads, n);
}

/* A scratch buffer of at least ``bytes`` for the calling thread, kept and
 * reused (grown when asked for more): the GEMM split's partial products,
 * which would otherwise be fresh pages (a page fault each) on every call.
 * NULL when out of memory. */
#if defined(_WIN32)
static __declspec(thread) void *fastnn_tls_scratch = NULL;
static __declspec(thread) size_t fastnn_tls_scratch_bytes = 0;
#else
static __thread void *fastnn_tls_scratch = NULL;
static __thread size_t fastnn_tls_scratch_bytes = 0;
#endif

static inline void *fastnn_scratch(size_t bytes)
{
    if (bytes > fastnn_tls_scratch_bytes) {
        void *p = realloc(fastnn_tls_scratch, bytes);
        if (p == NULL)
            return NULL;
        fastnn_tls_scratch = p;
        fastnn_tls_scratch_bytes = bytes;
    }
    return fastnn_tls_scratch;
}

#if defined(_WIN32) || defined(FASTNN_NO_THREADS)

/* No pool: every run on the calling thread. */
static int fastnn_pool_init(void) { return 0; }
static void fastnn_run(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces, int nthreads)
{
    (void)nthreads;
    for (ptrdiff_t i = 0; i < pieces; i++)
        fn(ctx, i, 0);
}
static void fastnn_run_keyed(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces, int nthreads,
                             long long key)
{
    (void)key;
    fastnn_run(fn, ctx, pieces, nthreads);
}
static inline int fastnn_in_pool(void) { return 0; }
static int fastnn_pool_workers(void) { return 0; }
static void fastnn_pool_stats(long *out) { out[0] = out[1] = out[2] = 0; }

#else

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define FASTNN_RELAX() __asm__ __volatile__("yield")
#else
#define FASTNN_RELAX() ((void)0)
#endif

#define FASTNN_MAX_WORKERS 1023

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* workers sleep here between runs */
    pthread_cond_t done;          /* the caller sleeps here */
    /* the current run (written under mu) */
    fastnn_task_fn fn;
    void *ctx;
    ptrdiff_t pieces;
    int slots;                    /* threads that may take part */
    int next_slot;
    int busy;                     /* a caller owns the pool */
    uint64_t gen;                 /* bumped by every run; read unlocked while spinning */
    int64_t finished;             /* pieces done in the current run */
    int caller_sleeping;
    int sleeping;                 /* workers in pthread_cond_wait */
    int nworkers;
    long spin_ns_worker, spin_ns_caller;
    long serial_until, penalty;   /* the back-off (under mu) */
    long stall_ns;
    double ratio_avg;             /* running average of run time / time alone */
    long runs, serial_runs, slow_runs;
    pthread_t threads[FASTNN_MAX_WORKERS];
    int steer;                    /* keep workers off the caller's CPU (Linux) */
    int steered_from;             /* the caller's CPU the workers were last kept off */
    int steer_ncpu;               /* CPUs in the caller's mask when last read */
} fastnn_P = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
              .done = PTHREAD_COND_INITIALIZER};

/* The per-run timings (under mu): a small table indexed by a hash of the
 * run's identity; a run whose slot holds another identity takes it over. */
#define FASTNN_AB_SLOTS 256
#define FASTNN_AB_EVERY 32
#define FASTNN_AB_KEEP 4
/* Runs on the pool before the first on the caller alone: the first starts
 * the threads (not timed), the next FASTNN_AB_KEEP fill the ring.  With two
 * timed runs, the first ones of a process (its buffers' pages faulted in,
 * its caches cold) made the pool look slower than the caller's probes a few
 * runs later, and a layer called once a step stayed on one thread until its
 * probe 32 runs on: the b1000 MLP's steps 6-20 at 12-13 ms, then 10.3. */
#define FASTNN_AB_WARM (1 + FASTNN_AB_KEEP)
typedef struct {
    fastnn_task_fn fn;
    ptrdiff_t pieces;
    long long key;
    double par, ser;              /* the fastest of the last FASTNN_AB_KEEP runs each way, ns */
    double pars[FASTNN_AB_KEEP], sers[FASTNN_AB_KEEP];
    int n_par, n_ser;
    unsigned runs;
    int last_serial;              /* the last run went on the caller alone */
    int reprobe;                  /* the next run goes to the pool, and is timed */
} fastnn_ab_t;
static fastnn_ab_t fastnn_ab[FASTNN_AB_SLOTS];

static fastnn_ab_t *fastnn_ab_entry(fastnn_task_fn fn, ptrdiff_t pieces, long long key)
{
    uint64_t h = (uint64_t)(uintptr_t)fn * 0x9e3779b97f4a7c15ULL
                 ^ (uint64_t)pieces * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)key * 0x94d049bb133111ebULL;
    fastnn_ab_t *e = &fastnn_ab[(h >> 32) % FASTNN_AB_SLOTS];
    if (e->fn != fn || e->pieces != pieces || e->key != key) {
        e->fn = fn;
        e->pieces = pieces;
        e->key = key;
        e->par = e->ser = 0.0;
        e->n_par = e->n_ser = 0;
        e->runs = 0;
        e->last_serial = e->reprobe = 0;
    }
    return e;
}

/* Whether this run of ``e`` goes on the calling thread alone. */
static int fastnn_ab_serial(fastnn_ab_t *e)
{
    e->runs++;
    if (e->n_par < FASTNN_AB_WARM)  /* the first run on the pool starts its threads: */
        return 0;                 /* its time is not counted (see fastnn_ab_record) */
    if (e->reprobe) {             /* a probe that had to wake the workers: again */
        e->reprobe = 0;
        return 0;
    }
    if (e->n_ser < 2)
        return 1;
    /* the caller alone only when clearly faster: a tie goes to the pool */
    /* the probe the other way at a phase of the entry's own (its slot): the
       runs of different layers probe in different steps, not all in one */
    return (e->ser < 0.9 * e->par)
           ^ ((e->runs + (unsigned)(e - fastnn_ab)) % FASTNN_AB_EVERY == 0);
}

/* Keep the i-th timing (i counted from 0) in the ring of the last
 * FASTNN_AB_KEEP; returns the fastest of them.  The fastest, not an
 * average: a run slowed down by something else (the host taking a vCPU, a
 * page fault) only ever adds time, and one such run in an average kept a
 * convolution's backward of DeepConvNet on one thread for ~30 steps (the
 * probe comes one run in FASTNN_AB_EVERY): 3.65 ms a step against 2.64.
 * A pool that is slower for a while (another program on a core) makes every
 * run slower, so its fastest is too; stalls are the back-off's job. */
static double fastnn_ab_keep(double *ring, int i, double ns)
{
    ring[i % FASTNN_AB_KEEP] = ns;
    int n = i + 1 < FASTNN_AB_KEEP ? i + 1 : FASTNN_AB_KEEP;
    double best = ring[0];
    for (int k = 1; k < n; k++)
        if (ring[k] < best)
            best = ring[k];
    return best;
}

/* woke: the run had to wake sleeping workers.  After a stretch on the caller
 * alone the workers have gone to sleep (nothing kept them spinning), so the
 * probe that asks whether the pool is faster again would pay their wake-up,
 * which the pool's runs in a row do not: such a probe is not timed, and the
 * next run is a probe again, with the workers awake.  (Seen before it: a
 * 128 x 128 x 512 GEMM, Seq2seq's recurrent product, kept on one thread for
 * a whole process, 178 us a call against 109 us on two, in 5 of 7 processes
 * started within a few minutes; not reproduced later, with or without it.) */
static void fastnn_ab_record(fastnn_task_fn fn, ptrdiff_t pieces, long long key, int serial,
                             long ns, int woke)
{
    fastnn_ab_t *e = fastnn_ab_entry(fn, pieces, key);
    int after_serial = e->last_serial;
    e->last_serial = serial;
    if (serial) {
        e->ser = fastnn_ab_keep(e->sers, e->n_ser, (double)ns);
        e->n_ser++;
    } else if (woke && after_serial && e->n_par >= FASTNN_AB_WARM) {
        e->reprobe = 1;
    } else {
        if (e->n_par >= 1)
            e->par = fastnn_ab_keep(e->pars, e->n_par - 1, (double)ns);
        e->n_par++;
    }
}

static __thread int fastnn_tls_in_pool = 0;

static inline int fastnn_in_pool(void) { return fastnn_tls_in_pool; }
static int fastnn_pool_workers(void) { return fastnn_P.nworkers; }

static inline long fastnn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

#define FASTNN_PENALTY_MIN 1000000L       /* 1 ms */
#define FASTNN_PENALTY_MAX 128000000L     /* 128 ms */

/* The claim words: one per thread of a run, each on its own cache line.
 * Block b of a run of ``pieces`` on ``blocks`` threads is the pieces
 * [pieces*b/blocks, pieces*(b+1)/blocks); claims[b] = gen << 32 | the next
 * piece of block b not yet taken. */
typedef struct {
    uint64_t w;
    char pad[64 - sizeof(uint64_t)];
} fastnn_claim_t;
static fastnn_claim_t fastnn_claims[FASTNN_MAX_WORKERS + 1] __attribute__((aligned(64)));

static inline ptrdiff_t fastnn_block_end(ptrdiff_t pieces, int blocks, int b)
{
    return (ptrdiff_t)((uint64_t)pieces * (uint64_t)(b + 1) / (uint64_t)blocks);
}

/* Take and run pieces of run ``gen`` until none is left; returns how many.
 * A thread takes the pieces of its own block first, in order, then the
 * pieces left in the other blocks (the next block first).  So the caller's
 * pieces are the run's first share of the data and the first worker's the
 * next share, run after run: a kernel that reads what the run before it
 * wrote (a GEMM split by rows, then an elementwise pass over its output)
 * finds its share in its own core's cache, where one shared counter dealt
 * the pieces out alternately between the threads.  A thread that is late or
 * whose core is taken still holds up at most the piece it is running. */
static ptrdiff_t fastnn_take_pieces(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces,
                                    int blocks, uint64_t gen, int slot)
{
    ptrdiff_t taken = 0;
    for (int j = 0; j < blocks; j++) {
        int b = slot + j < blocks ? slot + j : slot + j - blocks;
        ptrdiff_t end = fastnn_block_end(pieces, blocks, b);
        uint64_t *w = &fastnn_claims[b].w;
        for (;;) {
            uint64_t c = __atomic_load_n(w, __ATOMIC_ACQUIRE);
            if ((c >> 32) != (gen & 0xffffffffu) || (ptrdiff_t)(c & 0xffffffffu) >= end)
                break;
            if (!__atomic_compare_exchange_n(w, &c, c + 1, 0, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                continue;
            fn(ctx, (ptrdiff_t)(c & 0xffffffffu), slot);
            taken++;
            if (__atomic_add_fetch(&fastnn_P.finished, 1, __ATOMIC_SEQ_CST) == pieces
                    && __atomic_load_n(&fastnn_P.caller_sleeping, __ATOMIC_SEQ_CST)) {
                pthread_mutex_lock(&fastnn_P.mu);
                pthread_cond_signal(&fastnn_P.done);
                pthread_mutex_unlock(&fastnn_P.mu);
            }
        }
    }
    return taken;
}

static void *fastnn_worker(void *arg)
{
    uint64_t seen;
    (void)arg;
    fastnn_tls_in_pool = 1;
    pthread_mutex_lock(&fastnn_P.mu);
    seen = fastnn_P.gen;
    pthread_mutex_unlock(&fastnn_P.mu);
    for (;;) {
        /* spin a while for the next run, then sleep; not while the back-off
           keeps runs on the caller (a spinning worker then only takes a core
           another program needs, and pushes that program onto the caller's) */
        long now = fastnn_now_ns();
        long until = now + (now < __atomic_load_n(&fastnn_P.serial_until, __ATOMIC_RELAXED)
                            ? 0 : fastnn_P.spin_ns_worker);
        int k = 0;
        while (__atomic_load_n(&fastnn_P.gen, __ATOMIC_ACQUIRE) == seen) {
            FASTNN_RELAX();
            if (++k == 64) {
                k = 0;
                if (fastnn_now_ns() > until)
                    break;
            }
        }
        pthread_mutex_lock(&fastnn_P.mu);
        while (fastnn_P.gen == seen) {
            fastnn_P.sleeping++;
            pthread_cond_wait(&fastnn_P.wake, &fastnn_P.mu);
            fastnn_P.sleeping--;
        }
        seen = fastnn_P.gen;
        int slot = -1;
        fastnn_task_fn fn = fastnn_P.fn;
        void *ctx = fastnn_P.ctx;
        ptrdiff_t pieces = fastnn_P.pieces;
        int blocks = fastnn_P.slots;
        if (fastnn_P.busy && fastnn_P.next_slot < fastnn_P.slots)
            slot = fastnn_P.next_slot++;
        pthread_mutex_unlock(&fastnn_P.mu);
        if (slot > 0)
            fastnn_take_pieces(fn, ctx, pieces, blocks, seen, slot);
    }
    return NULL;
}

/* Start workers until there are n (under mu); returns how many there are. */
static int fastnn_grow(int n)
{
    if (n > FASTNN_MAX_WORKERS)
        n = FASTNN_MAX_WORKERS;
    while (fastnn_P.nworkers < n) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1 << 20);
        int err = pthread_create(&t, &attr, fastnn_worker, NULL);
        pthread_attr_destroy(&attr);
        if (err != 0)
            break;            /* fewer threads than asked: the run still completes */
        fastnn_P.threads[fastnn_P.nworkers++] = t;
        fastnn_P.steered_from = -1;   /* a new worker has the caller's mask */
    }
    return fastnn_P.nworkers;
}

/* Whether the other programs' runnable threads would fill every CPU of
 * ``ncpu`` (under mu): /proc/loadavg's count of runnable threads now, less
 * the caller and the workers awake, read at most every 20 ms, as a running
 * average (a passing thread, a shell, a kernel thread, must not flip it:
 * with one busy program on 2 CPUs the count read 1 in 60% of the samples
 * and 2 in 25%), crowded from ncpu - 1/4 on.  Measured on 2 CPUs: never
 * crowded with one busy program, 96% of the samples with two. */
static int fastnn_crowded(int ncpu)
{
#if defined(__linux__)
    static long checked = 0;
    static double others_avg = 0.0;
    long now = fastnn_now_ns();
    if (checked == 0 || now - checked >= 20000000L) {
        checked = now;
        FILE *f = fopen("/proc/loadavg", "r");
        if (f != NULL) {
            double a1, a5, a15;
            long running, total;
            if (fscanf(f, "%lf %lf %lf %ld/%ld", &a1, &a5, &a15, &running, &total) == 5) {
                long others = running - 1 - (fastnn_P.nworkers - fastnn_P.sleeping);
                others_avg = 0.8 * others_avg + 0.2 * (double)(others > 0 ? others : 0);
            }
            fclose(f);
        }
    }
    return others_avg >= (double)ncpu - 0.25;
#else
    (void)ncpu;
    return 0;
#endif
}

/* Keep the workers off the CPU the caller runs on (under mu).
 *
 * Why: a thread woken by another is placed by Linux on the waker's CPU
 * unless another CPU of the cache domain is seen idle, and a guest kernel
 * does not count a virtual CPU that has halted for a while (its host thread
 * descheduled: "preempted") as idle.  On such a VM, a worker the caller wakes
 * after an idle moment lands on the caller's own CPU and waits there while
 * the caller runs its pieces: every run serial, until the load balancer
 * moves one of them, which on an idle second CPU can take many runs
 * (measured here: after 0.15 s of quiet, a 2-thread GEMM at the 1-thread
 * time for a whole training step).  So each worker's CPU mask is the
 * caller's mask less the caller's current CPU; it is set again only when
 * the caller has moved (sched_getcpu, a few ns; the mask change, a few us).
 * The caller's own thread is never touched.  Off when the caller may use a
 * single CPU, when a call fails, or with FASTNN_STEER=0 (FASTNN_STEER=2 keeps
 * the workers off even when other programs crowd the CPUs: for the tests);
 * compiled in only where sched.h has the GNU affinity calls (Linux with
 * _GNU_SOURCE, which Python.h defines).  A run asks sched_getcpu and, every
 * 20 ms, /proc/loadavg; the caller's mask is read only when the workers'
 * masks change. */
static void fastnn_steer(void)
{
#if defined(__linux__) && defined(CPU_SETSIZE)   /* sched.h's GNU part (_GNU_SOURCE) */
    if (!fastnn_P.steer || fastnn_P.nworkers == 0)
        return;
    /* When other programs could fill every CPU, the workers get the caller's
     * whole mask back: a worker kept off the caller's CPU then waits behind
     * another program on its own, where the scheduler would have run it
     * wherever a CPU came free (measured with 2 busy processes on 2 CPUs:
     * the MLP b1000 step 31.5 ms steered, 19.2 ms not; 17.0 ms on 1 thread).
     * -2 marks the masks as whole.  The CPU count is the caller's mask's when
     * it was last read (0 before the first steer: not crowded). */
    int crowded = fastnn_P.steer == 1 && fastnn_P.steer_ncpu > 0
                  && fastnn_crowded(fastnn_P.steer_ncpu);
    int cpu = crowded ? -2 : sched_getcpu();
    if (cpu == fastnn_P.steered_from)
        return;
    cpu_set_t mask;
    if (pthread_getaffinity_np(pthread_self(), sizeof mask, &mask) != 0) {
        fastnn_P.steer = 0;
        return;
    }
    fastnn_P.steer_ncpu = CPU_COUNT(&mask);
    fastnn_P.steered_from = cpu;
    if (!crowded) {
        if (cpu < 0 || cpu >= CPU_SETSIZE) {
            fastnn_P.steer = 0;
            return;
        }
        if (!CPU_ISSET(cpu, &mask) || CPU_COUNT(&mask) < 2)
            return;               /* nowhere else to go: the scheduler decides */
        CPU_CLR(cpu, &mask);
    }
    for (int i = 0; i < fastnn_P.nworkers; i++)
        if (pthread_setaffinity_np(fastnn_P.threads[i], sizeof mask, &mask) != 0) {
            fastnn_P.steer = 0;
            return;
        }
#endif
}

static void fastnn_run_inline(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces)
{
    for (ptrdiff_t i = 0; i < pieces; i++)
        fn(ctx, i, 0);
}

static void fastnn_run_keyed(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces, int nthreads,
                             long long key)
{
    if (nthreads > pieces)
        nthreads = (int)pieces;
    if (nthreads <= 1 || fastnn_tls_in_pool || fastnn_forked() || pieces > 0xffffffffL) {
        fastnn_run_inline(fn, ctx, pieces);
        return;
    }
    long t0 = fastnn_now_ns();
    pthread_mutex_lock(&fastnn_P.mu);
    fastnn_P.runs++;
    if (fastnn_P.busy) {
        pthread_mutex_unlock(&fastnn_P.mu);
        fastnn_run_inline(fn, ctx, pieces);
        return;
    }
    if (t0 < fastnn_P.serial_until || fastnn_ab_serial(fastnn_ab_entry(fn, pieces, key))) {
        fastnn_P.serial_runs++;
        pthread_mutex_unlock(&fastnn_P.mu);
        fastnn_run_inline(fn, ctx, pieces);
        long ns = fastnn_now_ns() - t0;
        pthread_mutex_lock(&fastnn_P.mu);
        fastnn_ab_record(fn, pieces, key, 1, ns, 0);
        pthread_mutex_unlock(&fastnn_P.mu);
        return;
    }
    int workers = fastnn_grow(nthreads - 1);
    if (workers < nthreads - 1)
        nthreads = workers + 1;
    fastnn_steer();
    fastnn_P.busy = 1;
    fastnn_P.fn = fn;
    fastnn_P.ctx = ctx;
    fastnn_P.pieces = pieces;
    fastnn_P.slots = nthreads;
    fastnn_P.next_slot = 1;
    __atomic_store_n(&fastnn_P.finished, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fastnn_P.caller_sleeping, 0, __ATOMIC_RELAXED);
    int woke = fastnn_P.sleeping > 0;
    uint64_t gen = fastnn_P.gen + 1;
    for (int b = 0; b < nthreads; b++)
        __atomic_store_n(&fastnn_claims[b].w, (gen & 0xffffffffu) << 32
                         | (uint64_t)(b ? fastnn_block_end(pieces, nthreads, b - 1) : 0),
                         __ATOMIC_RELEASE);
    __atomic_store_n(&fastnn_P.gen, gen, __ATOMIC_RELEASE);
    if (fastnn_P.sleeping > 0) {
        int k = fastnn_P.sleeping < nthreads - 1 ? fastnn_P.sleeping : nthreads - 1;
        for (int i = 0; i < k; i++)
            pthread_cond_signal(&fastnn_P.wake);
    }
    pthread_mutex_unlock(&fastnn_P.mu);

    fastnn_tls_in_pool = 1;
    ptrdiff_t mine = fastnn_take_pieces(fn, ctx, pieces, nthreads, gen, 0);
    fastnn_tls_in_pool = 0;
    long t_mine = fastnn_now_ns() - t0;

    /* wait for the pieces other threads are running */
    if (__atomic_load_n(&fastnn_P.finished, __ATOMIC_ACQUIRE) < pieces) {
        long until = fastnn_now_ns() + fastnn_P.spin_ns_caller;
        int k = 0;
        while (__atomic_load_n(&fastnn_P.finished, __ATOMIC_ACQUIRE) < pieces) {
            FASTNN_RELAX();
            if (++k == 64) {
                k = 0;
                if (fastnn_now_ns() > until)
                    break;
            }
        }
        if (__atomic_load_n(&fastnn_P.finished, __ATOMIC_ACQUIRE) < pieces) {
            pthread_mutex_lock(&fastnn_P.mu);
            __atomic_store_n(&fastnn_P.caller_sleeping, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&fastnn_P.finished, __ATOMIC_SEQ_CST) < pieces)
                pthread_cond_wait(&fastnn_P.done, &fastnn_P.mu);
            __atomic_store_n(&fastnn_P.caller_sleeping, 0, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&fastnn_P.mu);
        }
    }
    long t_end = fastnn_now_ns();
    pthread_mutex_lock(&fastnn_P.mu);
    fastnn_P.busy = 0;
    fastnn_P.fn = NULL;
    fastnn_P.ctx = NULL;
    fastnn_ab_record(fn, pieces, key, 0, t_end - t0, woke);
    /* slower than the caller alone would have been: back off */
    if (mine > 0) {
        double alone = (double)t_mine / (double)mine * (double)pieces;
        double ratio = (double)(t_end - t0) / (alone > 1.0 ? alone : 1.0);
        int stalled = ratio > 1.0 && t_end - t0 - t_mine > fastnn_P.stall_ns;
        fastnn_P.ratio_avg = 0.9 * fastnn_P.ratio_avg + 0.1 * ratio;
        if (stalled || fastnn_P.ratio_avg > 1.0) {
            fastnn_P.ratio_avg = 0.75;
            fastnn_P.slow_runs++;
            fastnn_P.penalty = fastnn_P.penalty < FASTNN_PENALTY_MIN ? FASTNN_PENALTY_MIN
                : (fastnn_P.penalty >= FASTNN_PENALTY_MAX / 2 ? FASTNN_PENALTY_MAX
                                                             : 2 * fastnn_P.penalty);
            __atomic_store_n(&fastnn_P.serial_until, t_end + fastnn_P.penalty,
                             __ATOMIC_RELAXED);
        } else {
            fastnn_P.penalty -= fastnn_P.penalty / 8;   /* slowly: a probe costs a stall */
        }
    }
    pthread_mutex_unlock(&fastnn_P.mu);
}

static void fastnn_run(fastnn_task_fn fn, void *ctx, ptrdiff_t pieces, int nthreads)
{
    fastnn_run_keyed(fn, ctx, pieces, nthreads, 0);
}

/* runs, runs made serial by the back-off or the timings, runs slower than
 * the caller alone */
static void fastnn_pool_stats(long *out)
{
    pthread_mutex_lock(&fastnn_P.mu);
    out[0] = fastnn_P.runs;
    out[1] = fastnn_P.serial_runs;
    out[2] = fastnn_P.slow_runs;
    pthread_mutex_unlock(&fastnn_P.mu);
}

static void fastnn_after_fork_child(void)
{
    FASTNN_STORE_INT(&fastnn_g_forked, 1);
}

static long fastnn_env_us(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == 0)
        return dflt;
    char *end;
    long us = strtol(v, &end, 10);
    if (*end != 0 || us < 0 || us > 1000000)
        return dflt;
    return us;
}

static int fastnn_pool_init(void)
{
    fastnn_P.spin_ns_worker = 1000 * fastnn_env_us("FASTNN_SPIN_US", 30);
    fastnn_P.spin_ns_caller = 1000 * fastnn_env_us("FASTNN_CALLER_SPIN_US", 20);
    fastnn_P.stall_ns = 1000 * fastnn_env_us("FASTNN_STALL_US", 500);
    fastnn_P.ratio_avg = 0.75;
    fastnn_P.steer = (int)fastnn_env_us("FASTNN_STEER", 1);   /* 2: whatever the load (tests) */
    fastnn_P.steered_from = -1;
    return pthread_atfork(NULL, NULL, fastnn_after_fork_child);
}

#endif
#endif

/* A stress test of fastnn's thread pool (fastnn/_kernels/parallel.h) on its
 * own, without Python, for ThreadSanitizer and for wrong results:
 *
 *   cc -O1 -g -fsanitize=thread -pthread -I fastnn/_kernels tests/pool_stress.c -o pool_stress
 *   ./pool_stress ROUNDS
 *
 * Several caller threads run jobs of random sizes on pools of changing
 * thread counts, some pieces start nested runs, and every job checks that
 * each of its pieces ran exactly once and that a slot was never used by two
 * threads at once.  Exit status 0 when all jobs were right
 * (tests/test_kernels_threads.py builds and runs it).
 */
#define _GNU_SOURCE 1          /* the pool's affinity calls (sched.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "parallel.h"

#define MAX_PIECES 257
#define MAX_SLOTS 16

typedef struct {
    int hits[MAX_PIECES];        /* times each piece ran */
    int busy[MAX_SLOTS];         /* threads inside each slot now */
    int clash;                   /* a slot used by two threads at once */
    int nested;                  /* pieces also start a nested run */
    long sum;
} job_t;

static void nested_piece(void *ctx, ptrdiff_t i, int slot)
{
    long *sum = (long *)ctx;
    (void)slot;
    __atomic_add_fetch(sum, (long)i, __ATOMIC_RELAXED);
}

static void piece(void *ctx, ptrdiff_t i, int slot)
{
    job_t *job = (job_t *)ctx;
    if (slot < 0 || slot >= MAX_SLOTS) {
        __atomic_store_n(&job->clash, 1, __ATOMIC_RELAXED);
        return;
    }
    if (__atomic_add_fetch(&job->busy[slot], 1, __ATOMIC_ACQ_REL) != 1)
        __atomic_store_n(&job->clash, 1, __ATOMIC_RELAXED);
    for (volatile int k = 0; k < (int)(i % 13) * 200; k++)   /* pieces of uneven length */
        ;
    job->hits[i]++;              /* plain: a race here is what TSan must not see */
    if (job->nested) {
        long s = 0;
        fastnn_run(nested_piece, &s, 7, 4);      /* inline: 0 + 1 + ... + 6 */
        if (s != 21)
            __atomic_store_n(&job->clash, 1, __ATOMIC_RELAXED);
    }
    __atomic_sub_fetch(&job->busy[slot], 1, __ATOMIC_ACQ_REL);
}

typedef struct {
    unsigned seed;
    int rounds;
    int failures;
} caller_t;

static void *caller(void *arg)
{
    caller_t *c = (caller_t *)arg;
    for (int r = 0; r < c->rounds; r++) {
        job_t job;
        memset(&job, 0, sizeof job);
        int pieces = 1 + (int)(rand_r(&c->seed) % (MAX_PIECES - 1));
        int threads = 1 + (int)(rand_r(&c->seed) % MAX_SLOTS);
        job.nested = (rand_r(&c->seed) % 4) == 0;
        if (rand_r(&c->seed) % 8 == 0)
            fastnn_set_num_threads(1 + (int)(rand_r(&c->seed) % 8));
        fastnn_run(piece, &job, pieces, threads);
        for (int i = 0; i < pieces; i++)
            if (job.hits[i] != 1)
                c->failures++;
        if (job.clash)
            c->failures++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    if (fastnn_pool_init() != 0)
        return 2;
    caller_t callers[3];
    pthread_t tids[3];
    for (int k = 0; k < 3; k++) {
        callers[k].seed = 12345u + 77u * (unsigned)k;
        callers[k].rounds = rounds;
        callers[k].failures = 0;
        pthread_create(&tids[k], NULL, caller, &callers[k]);
    }
    int failures = 0;
    for (int k = 0; k < 3; k++) {
        pthread_join(tids[k], NULL);
        failures += callers[k].failures;
    }
    long stats[3];
    fastnn_pool_stats(stats);
    printf("pool_stress: %d jobs, %d wrong; %ld runs, %ld serial by the back-off, %d workers\n",
           3 * rounds, failures, stats[0], stats[1], fastnn_pool_workers());
    return failures ? 1 : 0;
}

/* kanlab's thread pool: kanlab_parallel(n, nthreads, body, ctx) runs body(ctx, lo, hi) over [0, n), split into
 * contiguous parts that the calling thread and up to nthreads - 1 workers take from a shared counter.
 *
 * Why not OpenMP: libgomp's threads spin for a while after every region and at its barriers. With two processes on
 * a machine (two notebooks, a sweep, DDP ranks, a busy CI box) the spinning threads of one take the cores the other
 * needs, and a kernel step went from 0.3 ms to 63 ms (benchmarks/bench_contention.py). Here:
 * - idle workers sleep on a condition variable (no spinning), so an idle pool costs the machine nothing;
 * - the caller never waits for a worker that has not started: it takes parts itself, closes the region when none
 *   are left, and then waits (asleep) only for workers that took a part and are still computing it;
 * - parts are fixed by (n, nthreads), and each output belongs to one part, so results do not depend on which
 *   thread ran what;
 * - a second caller (another Python thread) while the pool is busy runs its region serially instead of waiting;
 * - after fork() the child starts with an empty pool.
 * The portable build (KANLAB_PORTABLE) runs every region serially. */
#ifndef KANLAB_POOL_H
#define KANLAB_POOL_H
#include <stdint.h>

typedef void (*kanlab_body_t)(void *ctx, int64_t lo, int64_t hi);
void kanlab_parallel(int64_t n, int nthreads, kanlab_body_t body, void *ctx);

#endif

#if defined(KANLAB_POOL_IMPL)
#ifdef KANLAB_PORTABLE
void kanlab_parallel(int64_t n, int nthreads, kanlab_body_t body, void *ctx) {
    (void)nthreads;
    if (n > 0) body(ctx, 0, n);
}
#else
#include <pthread.h>

#define POOL_MAX 256          /* workers at most */
#define PARTS_PER_THREAD 4    /* parts per thread: balance when a thread is slow or descheduled */
#ifndef SPIN
#define SPIN 2000             /* pause instructions a worker spins before it sleeps (a few microseconds; 20000 let a
                                 second process's step reach 2.8x its time alone, 2000 kept it under 1.8x) */
#endif

static struct {
    pthread_mutex_t mu;       /* guards everything below but `next` */
    pthread_cond_t wake;      /* workers wait here for a region */
    pthread_cond_t finished;  /* the caller waits here for the workers inside its region */
    pthread_mutex_t run;      /* held by the one caller whose region the pool serves */
    int started;              /* worker threads created */
    uint64_t gen;             /* region number */
    int open;                 /* workers may still join the current region */
    int inside;               /* workers that joined it and have not left */
    int slots;                /* how many more workers may join it (nthreads - 1 at the start) */
    int sleeping;             /* workers waiting on `wake` (the others are spinning or working) */
    kanlab_body_t body;
    void *ctx;
    int64_t n, parts;
    int64_t next;             /* the next part to take (atomic) */
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t P_once = PTHREAD_ONCE_INIT;

static void part_range(int64_t n, int64_t parts, int64_t p, int64_t *lo, int64_t *hi) {
    *lo = n * p / parts;
    *hi = n * (p + 1) / parts;
}

/* take parts until none is left */
static void take_parts(kanlab_body_t body, void *ctx, int64_t n, int64_t parts) {
    for (;;) {
        const int64_t p = __atomic_fetch_add(&P.next, 1, __ATOMIC_RELAXED);
        if (p >= parts) return;
        int64_t lo, hi;
        part_range(n, parts, p, &lo, &hi);
        if (hi > lo) body(ctx, lo, hi);
    }
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg) {
    (void)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        if (!(P.open && P.gen != seen && P.slots > 0)) {
            /* a short spin first: back-to-back regions (a forward, then its backward) find the worker awake; then
               sleep, so that a pool between steps costs the machine nothing */
            pthread_mutex_unlock(&P.mu);
            for (int spin = 0; spin < SPIN && __atomic_load_n(&P.gen, __ATOMIC_RELAXED) == seen; spin++) cpu_relax();
            pthread_mutex_lock(&P.mu);
        }
        while (!(P.open && P.gen != seen && P.slots > 0)) {
            P.sleeping++;
            pthread_cond_wait(&P.wake, &P.mu);
            P.sleeping--;
        }
        seen = P.gen;
        P.slots--;
        P.inside++;
        kanlab_body_t body = P.body;
        void *ctx = P.ctx;
        const int64_t n = P.n, parts = P.parts;
        pthread_mutex_unlock(&P.mu);
        take_parts(body, ctx, n, parts);
        pthread_mutex_lock(&P.mu);
        __atomic_store_n(&P.inside, P.inside - 1, __ATOMIC_RELEASE);
        if (P.inside == 0 && !P.open) pthread_cond_signal(&P.finished);
    }
    return NULL;
}

static void after_fork_in_child(void) {  /* the workers did not survive the fork: start over */
    pthread_mutex_init(&P.mu, NULL);
    pthread_mutex_init(&P.run, NULL);
    pthread_cond_init(&P.wake, NULL);
    pthread_cond_init(&P.finished, NULL);
    P.started = 0;
    P.open = 0;
    P.inside = 0;
    P.slots = 0;
    P.sleeping = 0;
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* start workers until `want` exist (under P.mu); fewer if the system refuses threads */
static void grow(int want) {
    if (want > POOL_MAX) want = POOL_MAX;
    while (P.started < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        P.started++;
    }
}

void kanlab_parallel(int64_t n, int nthreads, kanlab_body_t body, void *ctx) {
    if (n <= 0) return;
    if (nthreads <= 1 || n == 1 || pthread_mutex_trylock(&P.run) != 0) {  /* serial, or the pool is busy */
        body(ctx, 0, n);
        return;
    }
    pthread_once(&P_once, register_fork_handler);
    int64_t parts = (int64_t)nthreads * PARTS_PER_THREAD;
    if (parts > n) parts = n;
    pthread_mutex_lock(&P.mu);
    grow(nthreads - 1);
    P.body = body;
    P.ctx = ctx;
    P.n = n;
    P.parts = parts;
    __atomic_store_n(&P.next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&P.gen, P.gen + 1, __ATOMIC_RELEASE);  /* seen by spinning workers without the lock */
    P.slots = nthreads - 1;
    P.open = 1;
    if (P.sleeping > 0) pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);

    take_parts(body, ctx, n, parts);

    pthread_mutex_lock(&P.mu);
    P.open = 0;  /* late workers stay out; wait only for those inside, spinning briefly before sleeping */
    if (P.inside > 0) {
        pthread_mutex_unlock(&P.mu);
        for (int spin = 0; spin < SPIN && __atomic_load_n(&P.inside, __ATOMIC_ACQUIRE) > 0; spin++) cpu_relax();
        pthread_mutex_lock(&P.mu);
    }
    while (P.inside > 0) pthread_cond_wait(&P.finished, &P.mu);
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_unlock(&P.run);
}
#endif
#endif

/* Worker threads for the compiled loops' row ranges, kept between calls: pool_run(threads, n,
 * func, ctx) runs func(ctx, 0..n-1) on the calling thread and up to threads - 1 workers, and
 * returns when every part is done. A Lloyd step hands its ranges to the workers and takes them
 * back within a millisecond; waking a sleeping thread for each (Python's thread pool) cost
 * 70-100 us a step on the machines measured (benchmarks/README.md), so the workers wait for
 * the next parts spinning for POOL_SPIN_NS, and only then sleep, as OpenMP runtimes do.
 *
 * Parts are claimed from one 64-bit ticket, the job's number in the high half and the next
 * part in the low half, by compare-and-swap: a worker late for one job can never claim a part
 * of the next by mistake. The workers are started on first use, and again in a child after
 * fork (none of them survive it: pool_forget, registered with pthread_atfork). Without POSIX
 * threads (Windows; -DFUSED_NO_POOL builds the same, to test it) every part runs on the
 * calling thread, and POOL is 0: the Python side runs its ranges on its own threads. */

#if !defined(_WIN32) && !defined(__STDC_NO_ATOMICS__) && !defined(FUSED_NO_POOL)
#define HAVE_POOL 1
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#endif

typedef void (*PartFunc)(void *ctx, Py_ssize_t part);

#ifdef HAVE_POOL
/* how long an idle worker spins before it sleeps: a step's Python work between two calls
 * takes 0.1-0.3 ms */
#define POOL_SPIN_NS 2000000L
#define POOL_MAX 64

static struct {
    pthread_mutex_t callers;   /* one job at a time: Python threads may call the module together */
    pthread_mutex_t lock;      /* with wake: workers asleep */
    pthread_cond_t wake;
    int started;               /* workers running */
    _Atomic uint64_t ticket;   /* job << 32 | next part */
    _Atomic Py_ssize_t done;   /* parts of the job finished */
    /* the job, written before its ticket is published (atomic: a worker late for the last
     * job may read them while they change, and then finds its ticket gone) */
    _Atomic(PartFunc) func;
    _Atomic(void *) ctx;
    _Atomic Py_ssize_t n_parts;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
            0, NULL, NULL, 0};

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long pool_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Claims and runs parts of the job published as `job` until none is left. */
static void pool_work(uint32_t job)
{
    for (;;) {
        uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        PartFunc func;
        void *ctx;
        Py_ssize_t part;
        if ((uint32_t)(t >> 32) != job)
            return;
        /* (read after the ticket: the job they belong to cannot end while a part is left) */
        func = atomic_load_explicit(&pool.func, memory_order_relaxed);
        ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        part = (Py_ssize_t)(uint32_t)t;
        if (part >= atomic_load_explicit(&pool.n_parts, memory_order_relaxed))
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue;
        func(ctx, part);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static void *pool_worker(void *arg)
{
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    for (;;) {
        uint32_t job = (uint32_t)(atomic_load_explicit(&pool.ticket, memory_order_acquire) >> 32);
        if (job == seen) {
            const long until = pool_now_ns() + POOL_SPIN_NS;
            int spins = 0;
            while (job == seen) {
                pool_relax();
                if (++spins % 1024 == 0) /* (other threads first, where cores are short) */
                    sched_yield();
                if (spins % 1024 == 0 && pool_now_ns() > until) { /* asleep until the next */
                    pthread_mutex_lock(&pool.lock);
                    while ((job = (uint32_t)(atomic_load(&pool.ticket) >> 32)) == seen)
                        pthread_cond_wait(&pool.wake, &pool.lock);
                    pthread_mutex_unlock(&pool.lock);
                    break;
                }
                job = (uint32_t)(atomic_load_explicit(&pool.ticket, memory_order_acquire) >> 32);
            }
        }
        seen = job;
        pool_work(job);
    }
    return NULL;
}

/* In a child after fork: no worker, and the locks as new (fork copied them as they were). */
static void pool_forget(void)
{
    const pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    const pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    pool.callers = mutex;
    pool.lock = mutex;
    pool.wake = cond;
    pool.started = 0;
}

/* At least `workers` workers running (fewer if the system refuses more). */
static void pool_start(int workers)
{
    pthread_attr_t attr;
    if (workers > POOL_MAX)
        workers = POOL_MAX;
    if (pool.started >= workers || pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (pool.started < workers) {
        pthread_t thread;
        /* (a new worker has seen the current job: it waits for the next) */
        const uint32_t job = (uint32_t)(atomic_load(&pool.ticket) >> 32);
        if (pthread_create(&thread, &attr, pool_worker, (void *)(uintptr_t)job) != 0)
            break;
        pool.started++;
    }
    pthread_attr_destroy(&attr);
}

/* Runs func(ctx, part) for part in 0..n-1 on this thread and threads - 1 workers; called
 * without the GIL, holding pool.callers. */
static void pool_run_locked(int threads, Py_ssize_t n, PartFunc func, void *ctx)
{
    uint32_t job;
    Py_ssize_t i;
    pool_start(threads - 1);
    if (pool.started == 0) { /* no thread could be started */
        for (i = 0; i < n; i++)
            func(ctx, i);
        return;
    }
    atomic_store_explicit(&pool.func, func, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.n_parts, n, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    job = (uint32_t)(atomic_load(&pool.ticket) >> 32) + 1;
    pthread_mutex_lock(&pool.lock); /* (so that no worker goes to sleep past the new job) */
    atomic_store_explicit(&pool.ticket, (uint64_t)job << 32, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    pool_work(job);
    for (i = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < n; i++) {
        pool_relax();
        if (i % 1024 == 0)
            sched_yield();
    }
}

/* func(ctx, part) for part in 0..n-1, on up to `threads` threads; without the GIL. */
static void pool_run(int threads, Py_ssize_t n, PartFunc func, void *ctx)
{
    if (threads <= 1 || n <= 1) {
        Py_ssize_t i;
        for (i = 0; i < n; i++)
            func(ctx, i);
        return;
    }
    pthread_mutex_lock(&pool.callers);
    pool_run_locked(threads, n, func, ctx);
    pthread_mutex_unlock(&pool.callers);
}

static int pool_init(void)
{
    return pthread_atfork(NULL, NULL, pool_forget) == 0 ? 0 : -1;
}
#define POOL 1
#else
static void pool_run(int threads, Py_ssize_t n, PartFunc func, void *ctx)
{
    Py_ssize_t i;
    (void)threads;
    for (i = 0; i < n; i++)
        func(ctx, i);
}

static int pool_init(void)
{
    return 0;
}
#define POOL 0
#endif

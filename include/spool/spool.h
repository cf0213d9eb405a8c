/*
 * spool.h — asyncio for C, on every core.
 *
 * This is the one header users include. A task is a stackful coroutine that
 * reads like straight-line code; a pool of worker threads runs the tasks,
 * stealing work from each other; every wait (timers, wake-ups) goes through
 * each worker's io_uring ring.
 *
 * One convention everywhere, as in the kernel and io_uring: every call, and
 * every task, returns an int that is >= 0 on success (a count, a value) or a
 * negative errno on failure. Nothing here sets or reads errno.
 *
 * Contexts named in the contracts below:
 *   - "task context": inside a function run by spool_run() or spool_spawn().
 *     Calls that may suspend work only there; elsewhere they return -EPERM
 *     and do nothing.
 *   - "any thread": safe from any thread, inside or outside the runtime.
 */
#ifndef SPOOL_SPOOL_H
#define SPOOL_SPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#error "spool.h is a C11 header (it embeds C11 atomics); include it from C"
#endif

#if defined(SPOOL_BUILDING) && defined(__GNUC__)
#define SPOOL_API __attribute__((visibility("default")))
#else
#define SPOOL_API
#endif

/* Time is uint64_t nanoseconds everywhere. */
#define SPOOL_USEC UINT64_C(1000)
#define SPOOL_MSEC UINT64_C(1000000)
#define SPOOL_SEC UINT64_C(1000000000)

/* ======================================================================
 * Runtime: run, spawn, join, gather, yield, sleep
 *
 * spool_run() starts a pool of workers, runs `main` as the first task and
 * returns once main and every task it (transitively) spawned have finished,
 * with every resource freed. It may be called again after it returns.
 * ====================================================================== */

/* A task's body. Its int result is >= 0 or a negative errno by convention;
 * bigger results go through `arg`. */
typedef int (*spool_fn)(void *arg);

/* A running or finished task. Opaque. Owned by the runtime until it is
 * joined (spool_join / spool_gather free it); the pointer is invalid after. */
typedef struct spool_task spool_task;

/* Runtime configuration. Zero in any field means its default; a NULL
 * pointer means all defaults. */
typedef struct spool_config {
    unsigned workers;   /* worker threads; 0: one per online CPU; at most SPOOL_MAX_WORKERS */
    size_t stack_size;  /* bytes of stack per task; 0: SPOOL_DEFAULT_STACK_SIZE;
                           rounded up to whole pages; between SPOOL_MIN_STACK_SIZE
                           and SPOOL_MAX_STACK_SIZE */
} spool_config;

#define SPOOL_MAX_WORKERS 256u
#define SPOOL_DEFAULT_STACK_SIZE ((size_t)64 * 1024)
#define SPOOL_MIN_STACK_SIZE ((size_t)16 * 1024)
#define SPOOL_MAX_STACK_SIZE ((size_t)1 << 30)

/* Runs `main(arg)` as a task on a new pool of workers and waits until it
 * and every task spawned in this runtime have finished.
 * Returns: main's result (whatever int it returned).
 * Errors (main never ran): -EINVAL main is NULL or cfg is out of range;
 *   -EBUSY called from inside a task; -ENOMEM, -EAGAIN, or the errno of a
 *   failed io_uring set-up or thread creation.
 * Context: any thread that is not a spool worker. Blocks the caller, whose
 *   thread becomes worker 0 for the duration. */
SPOOL_API int spool_run(spool_fn main, void *arg, const spool_config *cfg);

/* Creates a task that will run fn(arg) on some worker of the current
 * runtime. The task gets its stack when it first runs, so a queued task
 * costs only its record.
 * Returns: the task, to be joined with spool_join or spool_gather.
 * Errors: NULL if fn is NULL, if called outside a task, or if memory runs
 *   out; fn never runs then.
 * Context: task context; does not suspend. */
SPOOL_API spool_task *spool_spawn(spool_fn fn, void *arg);

/* Waits until `task` has finished and frees it.
 * Returns: the task's result.
 * Errors: -EINVAL task is NULL or is the calling task; -EPERM outside a
 *   task. A task may be joined (or gathered) once only.
 * Context: task context; may suspend. */
SPOOL_API int spool_join(spool_task *task);

/* Waits until all n tasks have finished, then frees them. If results is not
 * NULL, results[i] receives tasks[i]'s result.
 * Returns: 0, or the first negative result in argument order.
 * Errors: -EINVAL tasks is NULL with n > 0, or an entry is NULL or the
 *   calling task (no task is waited for or freed then); -EPERM outside a
 *   task. Each task may be gathered once and appear once.
 * Context: task context; may suspend. */
SPOOL_API int spool_gather(spool_task *const tasks[], size_t n, int results[]);

/* Lets the other runnable tasks run: the caller goes to the back of the
 * runtime's global queue, behind every task already waiting.
 * Returns: 0. Errors: -EPERM outside a task.
 * Context: task context; suspends. */
SPOOL_API int spool_yield(void);

/* Suspends the calling task (only the task: its worker runs others) for at
 * least ns nanoseconds of CLOCK_MONOTONIC. 0 behaves as spool_yield().
 * Returns: 0. Errors: -EPERM outside a task; -ENOMEM if the worker's timer
 *   heap cannot grow (nothing waited then).
 * Context: task context; suspends. */
SPOOL_API int spool_sleep_ns(uint64_t ns);

/* spool_sleep_ns(ms * SPOOL_MSEC); -EINVAL if that overflows. */
SPOOL_API int spool_sleep_ms(uint64_t ms);

/* Returns: CLOCK_MONOTONIC now, in nanoseconds. Context: any thread. */
SPOOL_API uint64_t spool_now_ns(void);

/* Returns: 1 if the caller runs inside a spool task, else 0.
 * Context: any thread. */
SPOOL_API int spool_in_task(void);

/* Returns: the number of workers of the current runtime, or -EPERM outside
 * a task. Context: task context. */
SPOOL_API int spool_workers(void);

/* ======================================================================
 * Synchronisation: semaphore
 *
 * Sync objects are embeddable: put them in your own structs, no malloc.
 * Their fields are private by convention: use only the functions.
 * ====================================================================== */

/* A counting semaphore. The fast path is one CAS on `word`; waiters queue
 * FIFO and a release hands its permit straight to the oldest waiter, so a
 * newcomer never barges past a waiter. */
typedef struct spool_sem {
    _Atomic uint64_t word;         /* private: permits << 2 | list-lock bit | has-waiters bit */
    struct spool__waiter *head;    /* private: oldest waiter */
    struct spool__waiter *tail;    /* private: newest waiter */
} spool_sem;

/* The largest permit count a semaphore holds. */
#define SPOOL_SEM_MAX ((uint64_t)INT32_MAX)

/* Static initialiser: spool_sem s = SPOOL_SEM_INIT(2); */
#define SPOOL_SEM_INIT(permits) {(uint64_t)(permits) << 2, NULL, NULL}

/* Initialises sem with `permits` free permits.
 * Returns: 0. Errors: -EINVAL sem is NULL or permits > SPOOL_SEM_MAX.
 * Context: any thread; sem must not be in use. */
SPOOL_API int spool_sem_init(spool_sem *sem, unsigned permits);

/* Takes one permit, waiting (FIFO) while there is none.
 * Returns: 0. Errors: -EINVAL sem is NULL; -EPERM outside a task.
 * Context: task context; may suspend. */
SPOOL_API int spool_sem_acquire(spool_sem *sem);

/* Takes one permit if one is free and nobody waits.
 * Returns: 0. Errors: -EAGAIN no free permit; -EINVAL sem is NULL.
 * Context: any thread; never suspends. */
SPOOL_API int spool_sem_try_acquire(spool_sem *sem);

/* Gives back one permit: to the oldest waiter if there is one (it becomes
 * runnable), else to the count.
 * Returns: 0. Errors: -EINVAL sem is NULL; -EOVERFLOW the count would pass
 *   SPOOL_SEM_MAX (nothing changed).
 * Context: task context (a waiter woken from elsewhere needs a worker). */
SPOOL_API int spool_sem_release(spool_sem *sem);

/* ======================================================================
 * Errors
 * ====================================================================== */

/* Returns: a static description of err, which may be an errno or its
 * negation ("Success" for 0). Never NULL. Context: any thread. */
SPOOL_API const char *spool_strerror(int err);

#endif /* SPOOL_SPOOL_H */

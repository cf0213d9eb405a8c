/*
 * spool.h — asyncio for C, on every core.
 *
 * This is the one header users include. A task is a stackful coroutine that
 * reads like straight-line code; a pool of worker threads runs the tasks,
 * stealing work from each other; every wait (timers, I/O, wake-ups) goes
 * through each worker's driver: an io_uring ring, or an epoll set where the
 * kernel refuses io_uring.
 *
 * Conventions:
 * - Return values. Every call, and every task, returns an int that is >= 0
 *   on success (a count, an index, a value) or a negative errno on failure,
 *   as in the kernel and io_uring. Nothing sets or reads errno;
 *   spool_strerror(rc) names an error. The exceptions are the calls that
 *   hand out a pointer (spool_spawn, spool_spawn_owned, spool_group_spawn,
 *   spool_spawn_on, spool_spawn_on_owned return NULL on failure, and the
 *   function never runs then; spool_task_name, spool_current,
 *   spool_runtime_current return NULL for "none"), and the plain getters
 *   spool_now_ns, spool_sem_value, spool_queue_len.
 * - Contexts named in the contracts below. "Task context": inside a
 *   function run by spool_run, spool_spawn, spool_group_spawn or
 *   spool_spawn_on; a call that may suspend returns -EPERM and does nothing
 *   anywhere else. "Any thread": safe from any thread, inside or outside
 *   the runtime; these never suspend. "Plain thread": a thread that is not
 *   running a spool task (the _blocking calls and spool_join_blocking block
 *   the thread, and return -EPERM inside a task, where they would block a
 *   worker).
 * - Errors every wait can return. Every wait (acquire, wait, get, put,
 *   join, gather, sleep, yield, I/O) is a cancellation point: it returns
 *   -ECANCELED once the task is cancelled (level-triggered: the current
 *   wait and every later one, until the task returns) and -ETIMEDOUT once a
 *   timeout scope around it has expired, checked on entry and while
 *   waiting. A waiter that gives up never takes or loses a permit, a
 *   wake-up or an item: if it was handed one in the same instant, the wait
 *   succeeds and the next wait reports the cancellation. Shields suspend
 *   both (see "Cancellation").
 * - The other errors, by meaning: -EINVAL a NULL or out-of-range argument,
 *   or a misuse the call can see (joining yourself, leaving a timeout scope
 *   that is not the innermost); -EPERM outside a task, or releasing
 *   something not held; -EAGAIN a try_ call that would have waited (or no
 *   blocking thread could be had); -EPIPE a closed queue or a broken
 *   barrier; -EOVERFLOW a semaphore release past its bound; -EBUSY a call
 *   that conflicts with current use (spool_run inside a task, resetting a
 *   barrier with waiters, a second group waiter, a limit set after a
 *   spawn); -ENOMEM memory ran out. The runtime keeps running after any of
 *   these (docs/errors.md).
 * - Ownership. A task's record belongs to the runtime until it is joined
 *   (spool_join, spool_gather, spool_wait_for, spool_join_blocking), waited
 *   for through its group, or detached; the handle is stale after. Join
 *   each task once: a stale handle is detected (a join aborts naming the
 *   call, the other calls return -EINVAL; exact until its record has been
 *   reused 64 times, docs/errors.md, "Stale task handles"). Sync objects,
 *   queues, groups and timeout scopes are caller-owned structs (embed
 *   them, no malloc); their fields are private: use only the functions and
 *   the _INIT macros. A task's argument stays the spawner's business with
 *   spool_spawn: if the task cannot start (no stack: it ends with -ENOMEM
 *   without running), nothing releases what the argument owns. To hand
 *   the argument over (a connection's fd, a malloc'd record), spawn with
 *   spool_spawn_owned (spool_spawn_on_owned) and a drop: from the call on,
 *   exactly one of fn(arg) and drop(arg) runs, exactly once, whatever
 *   fails.
 * - Time is uint64_t nanoseconds of CLOCK_MONOTONIC everywhere.
 */
#ifndef SPOOL_SPOOL_H
#define SPOOL_SPOOL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* C++17 and C++20 include this header too: the declarations have C
 * linkage, and the private fields that C declares _Atomic are, in C++,
 * plain fields of the same size and alignment (SPOOL__ATOMIC: GCC and
 * clang align an _Atomic of 4 or 8 bytes on its size, even where the
 * plain type is less aligned, e.g. uint64_t on i386), so both languages
 * see one layout (tests/cxx/ proves it, struct by struct). C++
 * code never touches them: only the library's C code does, atomically.
 * The static initialisers are positional aggregates, valid in both. */
#ifdef __cplusplus
#define SPOOL__ATOMIC(T) alignas(sizeof(T)) T
extern "C" {
#else
#include <stdatomic.h>
#define SPOOL__ATOMIC(T) _Atomic T
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

/* A running or finished task. Opaque: a handle, not the record's address
 * (it carries the record's generation; compare handles, never dereference
 * them). Owned by the runtime until it is joined (spool_join /
 * spool_gather free it); the handle is stale after. Calls given a stale
 * handle — its task joined, or detached and ended, and its record possibly
 * reused by a later spawn — detect it: the joins abort naming the call,
 * the others return -EINVAL (spool_task_name: NULL). Exact until the
 * record has been reused 64 times; see docs/errors.md, "Stale task
 * handles". */
typedef struct spool_task spool_task;

/* The kernel interface a runtime's workers wait through (its driver). */
typedef enum spool_backend {
    SPOOL_BACKEND_AUTO = 0,     /* SPOOL_BACKEND in the environment ("io_uring",
                                   "epoll", "auto"), else io_uring where the
                                   kernel allows it, else epoll */
    SPOOL_BACKEND_IO_URING = 1, /* io_uring; spool_run fails where it is refused */
    SPOOL_BACKEND_EPOLL = 2,    /* epoll, with regular files on the blocking pool */
} spool_backend;

/* Runtime configuration. Zero in any field means its default; a NULL
 * pointer means all defaults. */
typedef struct spool_config {
    unsigned workers;   /* worker threads; 0: one per online CPU; at most SPOOL_MAX_WORKERS */
    size_t stack_size;  /* bytes of stack per task; 0: SPOOL_DEFAULT_STACK_SIZE;
                           rounded up to whole pages; between SPOOL_MIN_STACK_SIZE
                           and SPOOL_MAX_STACK_SIZE */
    unsigned blocking_threads;  /* cap of the blocking pool (spool_to_thread);
                                   0: SPOOL_DEFAULT_BLOCKING_THREADS */
    uint64_t blocking_idle_ns;  /* an idle blocking thread retires after this;
                                   0: SPOOL_DEFAULT_BLOCKING_IDLE_NS */
    int debug;          /* 1: debug reports on stderr (see "Observability");
                           0: the environment variable SPOOL_DEBUG=1 decides */
    /* Called when a detached task returns a negative result other than the
     * -ECANCELED of a cancellation; NULL: one line on stderr naming the
     * task. Runs on the worker where the task ended, in no task — or, for
     * a task that had already ended when it was detached, in
     * spool_detach's caller: it must not suspend. */
    void (*on_task_error)(spool_task *task, int result, void *arg);
    void *on_task_error_arg;
    /* The driver (see spool_backend); AUTO: the environment's choice, else
     * a probe. Set here, it wins over the environment. */
    spool_backend backend;
    /* 1: no line on stderr when the probe finds io_uring refused and the
     * runtime runs on epoll (the line names the cause: a seccomp filter,
     * kernel.io_uring_disabled, the kernel version); 0: the line, once per
     * process. */
    int quiet_fallback;
} spool_config;

/* The blocking pool's defaults (spool_config.blocking_threads and
 * .blocking_idle_ns): at most 64 threads, each retiring after 10 s idle. */
#define SPOOL_DEFAULT_BLOCKING_THREADS 64u
#define SPOOL_DEFAULT_BLOCKING_IDLE_NS (10 * SPOOL_SEC)

/* The limits of spool_config.workers and .stack_size, and the stack a task
 * gets by default (64 KiB; a task that overflows it dies of SIGSEGV with a
 * line naming it: docs/errors.md, "Stack overflow"). */
#define SPOOL_MAX_WORKERS 256u
#define SPOOL_DEFAULT_STACK_SIZE ((size_t)64 * 1024)
#define SPOOL_MIN_STACK_SIZE ((size_t)16 * 1024)
#define SPOOL_MAX_STACK_SIZE ((size_t)1 << 30)

/* Runs `main(arg)` as a task on a new pool of workers and waits until it
 * and every task spawned in this runtime have finished. When main returns,
 * every task still running is cancelled (its waits return -ECANCELED from
 * then on, as after spool_task_cancel) so that it cleans up and ends.
 * Returns: main's result (whatever int it returned).
 * Errors (main never ran): -EINVAL main is NULL, cfg is out of range, or
 *   SPOOL_BACKEND names no driver; -EBUSY called from inside a task;
 *   -ENOMEM, -EAGAIN, or the errno of a failed driver set-up (-EPERM,
 *   -ENOSYS for io_uring forced where it is refused) or thread creation.
 * Context: any thread that is not a spool worker. Blocks the caller, whose
 *   thread becomes worker 0 for the duration.
 * Sharing the CPUs: a worker running tasks gives its CPU to the threads
 *   waiting for it (sched_yield) between two tasks, at most once every
 *   500 us, and carries on when the kernel gives it back (at once if
 *   nobody waits). A worker that never runs out of tasks (a busy server
 *   whose completions keep coming) would otherwise keep its CPU until the
 *   kernel's next tick (4 ms at HZ=250), and the threads waiting for that
 *   CPU (the program's own, a load client), and the replies that wait on
 *   them, would wait that long. The kernel hands the CPU over within a
 *   scheduling group (a process, a session under autogroup, a cgroup):
 *   threads of another group get it sooner, but not at once. Cost: one
 *   system call per 500 us of work (spool_worker_stats.cpu_yields counts
 *   them). */
SPOOL_API int spool_run(spool_fn main, void *arg, const spool_config *cfg);

/* Creates a task that will run fn(arg) on some worker of the current
 * runtime. The task gets its stack when it first runs, so a queued task
 * costs only its record; if no stack can be mapped then, the task ends
 * with -ENOMEM without running fn. When arg owns something (an fd, a
 * malloc'd record) that only fn releases, spawn with spool_spawn_owned.
 * Returns: the task, to be joined with spool_join or spool_gather.
 * Errors: NULL if fn is NULL, if called outside a task, or if memory runs
 *   out; fn never runs then.
 * Context: task context; does not suspend. */
SPOOL_API spool_task *spool_spawn(spool_fn fn, void *arg);

/* Releases what a task's argument owns (closes an fd, frees a record)
 * when the task's function will never run: see spool_spawn_owned. */
typedef void (*spool_drop_fn)(void *arg);

/* spool_spawn, handing `arg` over to the task: from the call on, exactly
 * one of fn(arg) and drop(arg) runs, exactly once, so whatever arg owns
 * (a connection's fd, a malloc'd record) is released on every path
 * without the spawner keeping a copy. drop(arg) runs when fn never will:
 *   - the spawn fails (the call returns NULL): in the caller, before the
 *     call returns;
 *   - the task cannot start (no stack can be mapped; it ends with
 *     -ENOMEM as its result, which a joiner or on_task_error sees after
 *     drop has returned): on the worker that tried to start it, in no
 *     task.
 * A task cancelled before it first runs still runs fn (its first wait
 * returns -ECANCELED), and so does one still queued when main returns
 * (spool_run's shutdown cancels it, then runs it): fn's own clean-up
 * releases arg then, not drop. drop must not suspend nor call a wait
 * (it may run in no task: use close(2), not spool_close). drop NULL:
 * exactly spool_spawn.
 * Returns: the task, as spool_spawn (join it, or detach it).
 * Errors: NULL if fn is NULL, if called outside a task, or if memory
 *   runs out; fn never runs then, and drop(arg) has run.
 * Context: task context; does not suspend. */
SPOOL_API spool_task *spool_spawn_owned(spool_fn fn, void *arg, spool_drop_fn drop);

/* Waits until `task` has finished and frees it. Joining is ownership: if
 * the caller is cancelled (or a timeout scope expires) while it waits, it
 * cancels the task, waits for it all the same, frees it and returns
 * -ECANCELED (-ETIMEDOUT).
 * Returns: the task's result.
 * Errors: -EINVAL task is NULL or is the calling task; -EPERM outside a
 *   task; -ECANCELED, -ETIMEDOUT as above. A task may be joined (or
 *   gathered) once only, and not after spool_detach: a second join aborts
 *   with a line naming the misuse ("spool: spool_join: task handle already
 *   joined, gathered or detached (record reused by a later spawn)"),
 *   before it touches the task now in the record (docs/errors.md).
 * Context: task context; may suspend. */
SPOOL_API int spool_join(spool_task *task);

/* Waits until all n tasks have finished, then frees them. If results is not
 * NULL, results[i] receives tasks[i]'s result. Cancelled (or timed out)
 * while it waits, it cancels the tasks still running, waits for them, and
 * returns -ECANCELED (-ETIMEDOUT), as spool_join.
 * Returns: 0, or the first negative result in argument order.
 * Errors: -EINVAL tasks is NULL with n > 0, or an entry is NULL or the
 *   calling task (no task is waited for or freed then); -EPERM outside a
 *   task. Each task may be gathered once and appear once (else it aborts,
 *   as spool_join does).
 * Context: task context; may suspend. */
SPOOL_API int spool_gather(spool_task *const tasks[], size_t n, int results[]);

/* Lets the other runnable tasks run: the caller goes to the back of the
 * runtime's global queue, behind every task already waiting. A
 * cancellation point like every wait (then it does not yield).
 * Returns: 0. Errors: -EPERM outside a task; -ECANCELED, -ETIMEDOUT.
 * Context: task context; suspends. */
SPOOL_API int spool_yield(void);

/* Suspends the calling task (only the task: its worker runs others) for at
 * least ns nanoseconds of CLOCK_MONOTONIC. 0 behaves as spool_yield().
 * Returns: 0. Errors: -EPERM outside a task; -ENOMEM if the worker's timer
 *   heap cannot grow (nothing waited then); -ECANCELED, -ETIMEDOUT (a
 *   timeout scope's deadline came first).
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

/* Waits in spool (acquire, wait, get, put, join, sleep, ...) are
 * cancellation points: they return -ECANCELED once the task is cancelled
 * and -ETIMEDOUT once a timeout scope around them has expired (see
 * "Cancellation" and "Timeouts" below), checked on entry and while waiting.
 * A waiter that gives up never takes or loses a permit, a wake-up or an
 * item: if it was handed one in the same instant, the wait succeeds (0)
 * and the next wait reports the cancellation. */

/* The list of tasks (or threads) waiting on a sync object. Private. */
typedef struct spool__wait_list {
    struct spool__waiter *head;    /* oldest */
    struct spool__waiter *tail;    /* newest */
} spool__wait_list;

/* A counting semaphore. The fast path is one CAS on `word`; waiters queue
 * FIFO and a release hands its permit straight to the oldest waiter, so a
 * newcomer never barges past a waiter. */
typedef struct spool_sem {
    SPOOL__ATOMIC(uint64_t) word;  /* private: permits << 2 | list-lock bit | has-waiters bit */
    spool__wait_list waiters;      /* private, under the list-lock bit */
    uint64_t max;                  /* private: the most free permits it may hold */
} spool_sem;

/* The largest permit count a semaphore holds. */
#define SPOOL_SEM_MAX ((uint64_t)INT32_MAX)

/* Static initialisers: spool_sem s = SPOOL_SEM_INIT(2);
 * SPOOL_SEM_INIT_BOUNDED(n) as spool_sem_init_bounded(s, n). */
#define SPOOL_SEM_INIT(permits) {(uint64_t)(permits) << 2, {NULL, NULL}, SPOOL_SEM_MAX}
#define SPOOL_SEM_INIT_BOUNDED(permits) {(uint64_t)(permits) << 2, {NULL, NULL}, (uint64_t)(permits)}

/* Initialises sem with `permits` free permits.
 * Returns: 0. Errors: -EINVAL sem is NULL or permits > SPOOL_SEM_MAX.
 * Context: any thread; sem must not be in use. */
SPOOL_API int spool_sem_init(spool_sem *sem, unsigned permits);

/* Initialises a bounded semaphore (asyncio.BoundedSemaphore): like
 * spool_sem_init, but a release that would raise the free permits past
 * `permits` fails with -EOVERFLOW and changes nothing. */
SPOOL_API int spool_sem_init_bounded(spool_sem *sem, unsigned permits);

/* Takes one permit, waiting (FIFO) while there is none.
 * Returns: 0. Errors: -EINVAL sem is NULL; -EPERM outside a task;
 *   -ECANCELED, -ETIMEDOUT (no permit taken).
 * Context: task context; may suspend. */
SPOOL_API int spool_sem_acquire(spool_sem *sem);

/* Takes one permit if one is free and nobody waits.
 * Returns: 0. Errors: -EAGAIN no free permit; -EINVAL sem is NULL.
 * Context: any thread; never suspends. */
SPOOL_API int spool_sem_try_acquire(spool_sem *sem);

/* Gives back one permit: to the oldest waiter if there is one (it becomes
 * runnable), else to the count.
 * Returns: 0. Errors: -EINVAL sem is NULL; -EOVERFLOW the count would pass
 *   SPOOL_SEM_MAX or a bounded semaphore's bound (nothing changed).
 * Context: any thread (a plain thread's release wakes the waiter through
 *   its runtime's global queue); never suspends. */
SPOOL_API int spool_sem_release(spool_sem *sem);

/* Free permits now (0 while tasks wait). Context: any thread. */
SPOOL_API unsigned spool_sem_value(const spool_sem *sem);

/* ======================================================================
 * Synchronisation: lock, event, condition, barrier
 *
 * All FIFO-fair, embeddable, with static initialisers; waits are
 * cancellation points and honour timeout scopes.
 * ====================================================================== */

/* A mutual-exclusion lock (asyncio.Lock): a bounded semaphore of one, so
 * a release hands the lock straight to the oldest waiter. Not recursive;
 * any task may release it (no owner is recorded, as in asyncio). */
typedef struct spool_lock {
    spool_sem sem;                 /* private */
} spool_lock;

/* Static initialiser: an unlocked lock (as spool_lock_init). */
#define SPOOL_LOCK_INIT {SPOOL_SEM_INIT_BOUNDED(1)}

/* Returns: 0. Errors: -EINVAL lock is NULL. Context: any thread; not in use. */
SPOOL_API int spool_lock_init(spool_lock *lock);
/* Takes the lock, waiting FIFO. Returns: 0. Errors: -EINVAL, -EPERM outside
 * a task, -ECANCELED, -ETIMEDOUT (not taken). Task context; may suspend. */
SPOOL_API int spool_lock_acquire(spool_lock *lock);
/* Takes the lock if it is free. Returns: 0. Errors: -EAGAIN held; -EINVAL.
 * Context: any thread. */
SPOOL_API int spool_lock_try_acquire(spool_lock *lock);
/* Releases the lock (to the oldest waiter, if any). Returns: 0.
 * Errors: -EPERM the lock is not held (nothing changed); -EINVAL.
 * Context: any thread. */
SPOOL_API int spool_lock_release(spool_lock *lock);
/* Returns: 1 if the lock is held, else 0. Context: any thread. */
SPOOL_API int spool_lock_locked(const spool_lock *lock);

/* An event (asyncio.Event): a flag tasks wait for. */
typedef struct spool_event {
    SPOOL__ATOMIC(uint32_t) lock;  /* private: waiter-list spinlock */
    SPOOL__ATOMIC(int) set;        /* private */
    spool__wait_list waiters;      /* private */
} spool_event;

/* Static initialiser: an event that is not set (as spool_event_init). */
#define SPOOL_EVENT_INIT {0, 0, {NULL, NULL}}

/* Returns: 0. Errors: -EINVAL. Context: any thread; not in use. */
SPOOL_API int spool_event_init(spool_event *ev);
/* Sets the flag and wakes every waiter. Returns: 0. Errors: -EINVAL.
 * Context: any thread. */
SPOOL_API int spool_event_set(spool_event *ev);
/* Clears the flag. Returns: 0. Errors: -EINVAL. Context: any thread. */
SPOOL_API int spool_event_clear(spool_event *ev);
/* Returns: 1 if set, 0 if not; -EINVAL. Context: any thread. */
SPOOL_API int spool_event_is_set(const spool_event *ev);
/* Waits until the flag is set (at once if it is). Returns: 0.
 * Errors: -EINVAL, -EPERM outside a task, -ECANCELED, -ETIMEDOUT.
 * Context: task context; may suspend. */
SPOOL_API int spool_event_wait(spool_event *ev);

/* A condition variable (asyncio.Condition), used with a spool_lock. */
typedef struct spool_cond {
    SPOOL__ATOMIC(uint32_t) lock;  /* private */
    spool__wait_list waiters;      /* private */
} spool_cond;

/* Static initialiser: a condition nobody waits on (as spool_cond_init). */
#define SPOOL_COND_INIT {0, {NULL, NULL}}

/* Returns: 0. Errors: -EINVAL. Context: any thread; not in use. */
SPOOL_API int spool_cond_init(spool_cond *cond);
/* Releases `lock` (which the caller holds), waits for a notify, and takes
 * the lock again before returning, in every case (also on -ECANCELED and
 * -ETIMEDOUT: the caller always holds the lock afterwards).
 * Returns: 0 notified. Errors: -EINVAL; -EPERM outside a task or the lock
 *   is not held; -ECANCELED, -ETIMEDOUT. Task context; suspends. */
SPOOL_API int spool_cond_wait(spool_cond *cond, spool_lock *lock);
/* Wakes the oldest waiter / every waiter. Call with the lock held, as in
 * asyncio. Returns: the number woken. Errors: -EINVAL. Any thread. */
SPOOL_API int spool_cond_notify(spool_cond *cond);
SPOOL_API int spool_cond_notify_all(spool_cond *cond);

/* A barrier (asyncio.Barrier) for `parties` tasks. */
typedef struct spool_barrier {
    SPOOL__ATOMIC(uint32_t) lock;  /* private */
    unsigned parties;              /* private */
    unsigned arrived;              /* private: waiting in this round */
    int broken;                    /* private */
    spool__wait_list waiters;      /* private */
} spool_barrier;

/* Static initialiser: a barrier for `parties` tasks (as
 * spool_barrier_init). */
#define SPOOL_BARRIER_INIT(parties) {0, (unsigned)(parties), 0, 0, {NULL, NULL}}

/* Returns: 0. Errors: -EINVAL barrier is NULL or parties is 0.
 * Context: any thread; not in use. */
SPOOL_API int spool_barrier_init(spool_barrier *barrier, unsigned parties);
/* Waits until `parties` tasks have arrived, then all go on together.
 * Returns: the caller's arrival index, 0 to parties - 1.
 * Errors: -EPIPE the barrier is broken (a waiter gave up, or abort);
 *   -ECANCELED, -ETIMEDOUT: this waiter gave up, which breaks the barrier
 *   for the others (as in asyncio); -EINVAL; -EPERM outside a task.
 * Context: task context; may suspend. */
SPOOL_API int spool_barrier_wait(spool_barrier *barrier);
/* Breaks the barrier: waiters and later waits get -EPIPE until reset.
 * Returns: 0. Errors: -EINVAL. Context: any thread. */
SPOOL_API int spool_barrier_abort(spool_barrier *barrier);
/* Repairs a broken barrier with nobody waiting. Returns: 0.
 * Errors: -EBUSY tasks are waiting; -EINVAL. Context: any thread. */
SPOOL_API int spool_barrier_reset(spool_barrier *barrier);

/* ======================================================================
 * Queue: a bounded MPMC FIFO of pointers (asyncio.Queue with maxsize)
 *
 * The slots are a buffer the caller provides; the queue never allocates.
 * A put waiting for room and a get waiting for an item are served FIFO;
 * an item goes straight from a putter to a waiting getter. After
 * spool_queue_close, puts fail with -EPIPE and gets drain what is left,
 * then fail with -EPIPE. The _blocking variants are for plain threads
 * outside the runtime (they block the thread).
 * ====================================================================== */

/* A bounded FIFO of pointers over a caller-provided array of slots.
 * Embeddable; fields private. */
typedef struct spool_queue {
    SPOOL__ATOMIC(uint32_t) lock;  /* private */
    int closed;                    /* private */
    void **slots;                  /* private */
    size_t cap, head, len;         /* private */
    spool__wait_list getters;      /* private */
    spool__wait_list putters;      /* private */
} spool_queue;

/* Static initialiser: an empty queue of at most n items held in
 * slots[0..n) (as spool_queue_init). */
#define SPOOL_QUEUE_INIT(slots, n) {0, 0, (slots), (size_t)(n), 0, 0, {NULL, NULL}, {NULL, NULL}}

/* Makes q a queue of at most n items held in slots[0..n).
 * Returns: 0. Errors: -EINVAL q or slots is NULL, or n is 0.
 * Context: any thread; q must not be in use. */
SPOOL_API int spool_queue_init(spool_queue *q, void **slots, size_t n);
/* Appends item, waiting while the queue is full. Returns: 0.
 * Errors: -EPIPE closed (also while waiting); -ECANCELED, -ETIMEDOUT (item
 *   not queued); -EINVAL; -EPERM outside a task. Task context. */
SPOOL_API int spool_queue_put(spool_queue *q, void *item);
/* Takes the oldest item into *item, waiting while the queue is empty.
 * Returns: 0. Errors: -EPIPE closed and drained; -ECANCELED, -ETIMEDOUT
 *   (nothing taken); -EINVAL; -EPERM outside a task. Task context. */
SPOOL_API int spool_queue_get(spool_queue *q, void **item);
/* Never wait. Returns: 0. Errors: -EAGAIN full (put) / empty (get);
 * -EPIPE closed (put) / closed and drained (get); -EINVAL. Any thread. */
SPOOL_API int spool_queue_try_put(spool_queue *q, void *item);
SPOOL_API int spool_queue_try_get(spool_queue *q, void **item);
/* Plain threads: like put / get, blocking the calling thread. Not in a
 * task (-EPERM there: it would block a worker). */
SPOOL_API int spool_queue_put_blocking(spool_queue *q, void *item);
SPOOL_API int spool_queue_get_blocking(spool_queue *q, void **item);
/* Closes the queue: waiting putters get -EPIPE, waiting getters get -EPIPE
 * (the queue is empty when getters wait). Returns: 0. Errors: -EINVAL.
 * Context: any thread. Closing twice is harmless. */
SPOOL_API int spool_queue_close(spool_queue *q);
/* Returns: the number of queued items. Context: any thread. */
SPOOL_API size_t spool_queue_len(const spool_queue *q);

/* ======================================================================
 * Cancellation (level-triggered, as in Trio)
 *
 * Once a task is cancelled, its current wait and every later wait return
 * -ECANCELED until it returns, so no cleanup step can swallow it. A task
 * cancelled while it waits in spool_join / spool_gather / spool_group_wait
 * cancels the tasks it waits for, waits for them and returns -ECANCELED
 * (joining is ownership). Shields protect a cleanup section. See
 * docs/cancellation.md.
 * ====================================================================== */

/* Requests cancellation of `task` (which may be the caller). A task that
 * has not started yet still runs, and its first wait returns -ECANCELED.
 * Cancelling a finished task does nothing.
 * Returns: 0. Errors: -EINVAL task is NULL or a stale handle (joined, or
 *   detached and ended: the task now in its record is not cancelled;
 *   see spool_task).
 * Context: any thread; never suspends. task must not have been joined,
 *   nor be a detached task that may have ended (spool_detach). */
SPOOL_API int spool_task_cancel(spool_task *task);

/* Returns: 1 if the calling task's waits are being cancelled now (it was
 * cancelled, or its runtime is shutting down, and no shield is up), else
 * 0 (also outside a task). Context: any thread. */
SPOOL_API int spool_cancelled(void);

/* Shields: between begin and end, waits are not cancelled, and timeout
 * scopes entered before the shield do not expire them (scopes entered
 * inside still do). Nestable; each begin needs its end.
 * Returns: 0. Errors: -EPERM outside a task; end without begin: -EINVAL.
 * Context: task context. */
SPOOL_API int spool_shield_begin(void);
SPOOL_API int spool_shield_end(void);

/* ======================================================================
 * Timeouts (asyncio.timeout): scopes on the calling task
 * ====================================================================== */

/* Waiting forever: a timeout_ns that means "no timeout". */
#define SPOOL_FOREVER UINT64_MAX

/* A timeout scope. Embeddable; lives on the caller's stack between enter
 * and exit. Fields private. */
typedef struct spool_timeout {
    struct spool_timeout *outer;   /* the enclosing scope */
    uint64_t deadline;             /* this scope's own deadline */
    uint64_t effective;            /* the nearest deadline in force in here */
    unsigned shield_depth;         /* shield depth at enter */
    int fired;                     /* a wait in here timed out by this deadline */
    struct spool_task *task;       /* the task that entered it */
} spool_timeout;

/* Enters a scope whose deadline is timeout_ns from now (SPOOL_FOREVER:
 * none). Until spool_timeout_exit, every wait of the task returns
 * -ETIMEDOUT once the deadline has passed. Nestable: the nearest deadline
 * wins. Returns: 0. Errors: -EINVAL to is NULL; -EPERM outside a task.
 * Context: task context; never suspends. */
SPOOL_API int spool_timeout_enter(spool_timeout *to, uint64_t timeout_ns);
/* The same with an absolute spool_now_ns() deadline (asyncio.timeout_at). */
SPOOL_API int spool_timeout_enter_at(spool_timeout *to, uint64_t deadline_ns);
/* Leaves the innermost scope, which must be `to`.
 * Returns: -ETIMEDOUT if a wait in the scope timed out by this scope's
 *   deadline, else 0. Errors: -EINVAL to is not the innermost scope of the
 *   calling task (nothing changed); -EPERM outside a task. */
SPOOL_API int spool_timeout_exit(spool_timeout *to);
/* Moves the deadline of the innermost scope to timeout_ns from now
 * (SPOOL_FOREVER: none), like asyncio's Timeout.reschedule (which takes
 * an absolute time). Returns: 0. Errors: -EINVAL to is NULL, not the
 * calling task's innermost scope; -EPERM outside a task. */
SPOOL_API int spool_timeout_reschedule(spool_timeout *to, uint64_t timeout_ns);

/* Joins `task` with a deadline (asyncio.wait_for): its result if it ends
 * within timeout_ns; else it is cancelled, waited for and freed, and the
 * call returns -ETIMEDOUT. The task is freed in every case.
 * Errors: as spool_join, and -ETIMEDOUT. Task context; may suspend. */
SPOOL_API int spool_wait_for(spool_task *task, uint64_t timeout_ns);

/* Waits until one of tasks[0..n) has finished (asyncio.wait with
 * FIRST_COMPLETED; a loop over it gives as_completed). The tasks stay
 * running or joinable: join them afterwards.
 * Returns: the index of a finished task (the lowest, if several are).
 * Errors: -ETIMEDOUT none finished within timeout_ns (SPOOL_FOREVER: no
 *   limit; 0: just look); -EINVAL tasks NULL, n 0, or an entry NULL, the
 *   caller, being joined, or a stale handle; -ECANCELED; -EPERM outside a
 *   task. */
SPOOL_API int spool_wait_any(spool_task *const tasks[], size_t n, uint64_t timeout_ns);

/* ======================================================================
 * Task groups (asyncio.TaskGroup, Trio's nursery)
 * ====================================================================== */

/* A group owns its tasks: spool_group_wait waits for all of them and
 * frees them. The first task to return a negative result (other than the
 * -ECANCELED of a cancellation) cancels the others, and wait returns that
 * result. Embeddable; fields private. */
typedef struct spool_group {
    SPOOL__ATOMIC(uint32_t) lock;  /* private: guards the fields below */
    unsigned running;              /* tasks not finished */
    unsigned limit;                /* 0: no limit */
    int first_error;
    int cancelled;
    struct spool__group_member *members; /* every task spawned, newest first */
    struct spool_task *waiter;     /* the task in spool_group_wait */
    spool_sem slots;               /* places under the limit */
} spool_group;

/* Static initialiser: an empty group with no limit (as spool_group_init). */
#define SPOOL_GROUP_INIT {0, 0, 0, 0, 0, NULL, NULL, SPOOL_SEM_INIT(0)}

/* Returns: 0. Errors: -EINVAL. Context: any thread; g not in use. */
SPOOL_API int spool_group_init(spool_group *g);
/* At most n tasks of the group run at once (0: no limit); spawn waits for
 * a free place. Set it before the first spawn.
 * Returns: 0. Errors: -EINVAL g NULL or n > SPOOL_SEM_MAX; -EBUSY tasks
 *   were already spawned. */
SPOOL_API int spool_group_set_limit(spool_group *g, unsigned n);
/* Spawns fn(arg) into the group, first waiting for a free place under the
 * limit. In a cancelled group the task starts cancelled. A task that
 * cannot start (no stack) never runs fn and fails the group with -ENOMEM
 * (its place and its count are given back all the same).
 * Returns: the task (valid until spool_group_wait returns; do not join
 *   it). Errors: NULL if fn or g is NULL, outside a task, out of memory,
 *   or the wait for a place was cancelled or timed out.
 * Context: task context; may suspend (with a limit only). */
SPOOL_API spool_task *spool_group_spawn(spool_group *g, spool_fn fn, void *arg);
/* Waits for every task of the group (spawned before or while it waits),
 * frees them and resets the group for reuse. If the caller is cancelled
 * or times out meanwhile, it cancels the group, still waits for all, and
 * returns -ECANCELED / -ETIMEDOUT.
 * Returns: 0, or the group's first error. Errors: -EINVAL; -EPERM outside
 *   a task; -EBUSY another task is already waiting. Task context. */
SPOOL_API int spool_group_wait(spool_group *g);
/* Cancels every task of the group, and those spawned into it later until
 * spool_group_wait returns. Returns: 0. Errors: -EINVAL. Any thread. */
SPOOL_API int spool_group_cancel(spool_group *g);

/* ======================================================================
 * Detached tasks, names, the current task
 * ====================================================================== */

/* Gives up the right to join `task`: its record is freed when it ends, so
 * the handle must not be used (cancel, name) once the task may have ended:
 * the record may then hold another task. If
 * it ends with a negative result other than the -ECANCELED of a
 * cancellation, the runtime reports it (spool_config.on_task_error;
 * default: a line on stderr naming the task). When main returns,
 * spool_run cancels every task still running, detached or not, waits
 * for them, and only then returns.
 * Returns: 0. Errors: -EINVAL task NULL or already joined or detached
 *   (also once its record holds another task: that one is left alone).
 * Context: any thread (a task spawned with spool_spawn_on may be detached
 *   by the thread that spawned it). */
SPOOL_API int spool_detach(spool_task *task);

/* Names a task for reports and debugging. The string is not copied: it
 * must outlive the task (a literal, usually). NULL clears the name.
 * Returns: 0. Errors: -EINVAL task NULL or a stale handle (see
 * spool_task); -ENOMEM. Context: any thread; the task must not have been
 * joined, nor be a detached task that may have ended. */
SPOOL_API int spool_task_set_name(spool_task *task, const char *name);
/* Returns: the name, or NULL if none (or task is NULL or stale).
 * Context: any thread. */
SPOOL_API const char *spool_task_name(const spool_task *task);
/* Returns: the calling task (the handle its spawn returned), or NULL
 * outside a task. Any thread. */
SPOOL_API spool_task *spool_current(void);

/* Returns: the name of the driver the calling worker's runtime runs on,
 * "io_uring" or "epoll" (static strings), or NULL on a thread that is not
 * one of its workers.
 * Context: any thread. */
SPOOL_API const char *spool_backend_name(void);

/* ======================================================================
 * Threads: the blocking pool, and the runtime from other threads
 * ====================================================================== */

/* A running runtime. Opaque. */
typedef struct spool__runtime spool_runtime;

/* Runs fn(arg) on a thread of the runtime's blocking pool
 * (asyncio.to_thread) and suspends only the calling task until it returns.
 * The pool grows on demand up to spool_config.blocking_threads; idle
 * threads retire. A thread cannot be interrupted: a cancellation that
 * arrives meanwhile is reported by the task's next wait.
 * Returns: fn's result. Errors: -EINVAL fn NULL; -EPERM outside a task;
 *   -ECANCELED already cancelled (fn not run); -EAGAIN no thread could be
 *   started and none is free. Task context; suspends. */
SPOOL_API int spool_to_thread(spool_fn fn, void *arg);

/* Returns: the runtime of the calling task, or NULL outside a task.
 * Context: any thread. */
SPOOL_API spool_runtime *spool_runtime_current(void);

/* Spawns fn(arg) into runtime rt from any thread
 * (asyncio.run_coroutine_threadsafe). rt must be running (spool_run has
 * not returned); once its main has returned, no new task is accepted.
 * The runtime and its tasks are gone when spool_run returns: a plain
 * thread must be done with them (spool_join_blocking returned) by then,
 * e.g. main waits for the threads it started, or they for main's signal.
 * Returns: the task: join it with spool_join_blocking (from a plain
 *   thread) or spool_join (from a task of rt), or detach it.
 * Errors: NULL if rt or fn is NULL, rt is shutting down, or memory runs
 *   out. Context: any thread. */
SPOOL_API spool_task *spool_spawn_on(spool_runtime *rt, spool_fn fn, void *arg);

/* spool_spawn_on, handing `arg` over to the task as spool_spawn_owned
 * does: exactly one of fn(arg) and drop(arg) runs, exactly once. drop
 * runs in the caller (before NULL is returned) if the spawn fails or is
 * refused (rt shutting down), or on a worker of rt, in no task, if the
 * task cannot start (no stack: it ends with -ENOMEM). drop NULL: exactly
 * spool_spawn_on.
 * Returns: the task, as spool_spawn_on.
 * Errors: NULL if rt or fn is NULL, rt is shutting down, or memory runs
 *   out; fn never runs then, and drop(arg) has run.
 * Context: any thread. */
SPOOL_API spool_task *spool_spawn_on_owned(spool_runtime *rt, spool_fn fn, void *arg,
                                           spool_drop_fn drop);

/* Waits, blocking the calling thread, until task has finished; frees it.
 * Returns: the task's result. Errors: -EINVAL task NULL; -EPERM in a task
 *   (use spool_join there). Joined twice, it aborts as spool_join does.
 * Context: a plain thread. */
SPOOL_API int spool_join_blocking(spool_task *task);

/* ======================================================================
 * I/O: files, sockets
 *
 * On the io_uring driver each call submits one io_uring operation on the
 * calling task's worker ring (submissions are batched: the SQEs of the
 * tasks that ran meanwhile share one io_uring_enter) and suspends only
 * the task until it completes; on the epoll driver each call tries its
 * system call first and waits for its fd only on EAGAIN (regular files:
 * the blocking pool; docs/io.md, "Drivers"). Results are the
 * kernel's: >= 0, or -errno (-EBADF for a bad fd, and so on).
 * Every call is a cancellation point and honours timeout scopes: a
 * cancelled or timed-out call asks the kernel to cancel the operation
 * (IORING_OP_ASYNC_CANCEL) and does not return until the kernel has
 * posted the original completion, so a buffer is never written after the
 * call returns; an operation that completed anyway returns its result
 * (a recv that completed as the cancel arrived returns its bytes), and
 * the next wait reports the cancellation. Task context only: -EPERM
 * elsewhere. See docs/io.md.
 * ====================================================================== */

struct statx;
struct sockaddr;
struct msghdr;
struct iovec;

/* openat(AT_FDCWD, path, flags | O_CLOEXEC, mode). Returns: the fd. */
SPOOL_API int spool_open(const char *path, int flags, unsigned mode);
/* pread/pwrite at `off`; off = -1: at (and moving) the file position.
 * Returns: bytes transferred (short counts as the kernel gives them). */
SPOOL_API int spool_read(int fd, void *buf, size_t n, int64_t off);
SPOOL_API int spool_write(int fd, const void *buf, size_t n, int64_t off);
SPOOL_API int spool_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
SPOOL_API int spool_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
/* fsync(fd) (datasync != 0: fdatasync). Returns: 0. */
SPOOL_API int spool_fsync(int fd, int datasync);
/* statx(AT_FDCWD, path, flags, mask, out). Returns: 0. */
SPOOL_API int spool_statx(const char *path, int flags, unsigned mask, struct statx *out);
/* Closes fd: close(2) on the worker, which does not block for a regular
 * file, a pipe or a socket (a file system that flushes on close, NFS with
 * dirty pages: spool_fsync first). Not a cancellation point: a cancelled
 * or timed-out task (cleaning up) closes all the same, so the fd is never
 * leaked. Returns: 0. Errors: close(2)'s (-EBADF); -EPERM outside a task
 * (nothing closed). */
SPOOL_API int spool_close(int fd);

/* socket(domain, type | SOCK_CLOEXEC, protocol). Returns: the fd.
 * Never suspends (a plain system call); any thread. */
SPOOL_API int spool_socket(int domain, int type, int protocol);
/* connect(2). Returns: 0. */
SPOOL_API int spool_connect(int fd, const struct sockaddr *addr, unsigned addrlen);
/* accept4(fd, addr, addrlen, SOCK_CLOEXEC); addr may be NULL.
 * Returns: the new fd. */
SPOOL_API int spool_accept(int fd, struct sockaddr *addr, unsigned *addrlen);
/* recv / send with `flags`; send always adds MSG_NOSIGNAL (a vanished peer
 * is -EPIPE, never a SIGPIPE). Returns: bytes (0 from recv: EOF). */
SPOOL_API int spool_recv(int fd, void *buf, size_t n, int flags);
SPOOL_API int spool_send(int fd, const void *buf, size_t n, int flags);
/* Sends all n bytes, looping over partial sends. Returns: n, or the error
 * (bytes already sent are lost to the caller: the stream is broken);
 * -EINVAL if n > INT32_MAX. */
SPOOL_API int spool_send_all(int fd, const void *buf, size_t n, int flags);
/* recvmsg / sendmsg (UDP and ancillary data); sendmsg adds MSG_NOSIGNAL. */
SPOOL_API int spool_recvmsg(int fd, struct msghdr *msg, int flags);
SPOOL_API int spool_sendmsg(int fd, const struct msghdr *msg, int flags);
/* shutdown(2) (how: SHUT_RD, SHUT_WR, SHUT_RDWR). Returns: 0. */
SPOOL_API int spool_shutdown(int fd, int how);
/* Waits until fd is ready for `events` (POLLIN, POLLOUT, ...), for
 * libraries that own their sockets. Returns: the revents. */
SPOOL_API int spool_poll(int fd, unsigned events);

/* A listener: one multishot accept for a listening socket, instead of
 * one accept operation per connection. The kernel accepts connections as
 * they arrive and queues their fds in the listener; spool_listener_accept
 * takes them in order. The listener does not own the socket: close the
 * listener first, then the fd. See docs/io.md, "Listeners". */
typedef struct spool_listener spool_listener;
/* Makes a listener for listening socket fd (armed on the first accept, on
 * the ring of the worker that calls it). Any thread; nothing suspends.
 * Returns: the listener, or NULL with errno EINVAL (fd < 0) / ENOMEM. */
SPOOL_API spool_listener *spool_listener_open(int fd);
/* Takes the next accepted connection, waiting for one; addr may be NULL
 * (else getpeername(2) fills it: *addrlen 0 if the peer is already gone).
 * Several tasks may accept from one listener: first come, first served.
 * Once 64 accepted fds wait untaken, the listener pauses (the kernel's
 * backlog holds the rest) until a call finds none waiting.
 * Returns: the new fd (SOCK_CLOEXEC). Errors: accept(2)'s (-EMFILE,
 * -ENFILE, -ENOMEM...: the listener stops until the next call, so a
 * caller that backs off lets the kernel's backlog hold new connections
 * meanwhile; RLIMIT_NOFILE is read when the listener arms); -EBUSY no
 * SQE (retry); -EINVAL l NULL, addr without addrlen; -EBADF l closing;
 * -ECANCELED / -ETIMEDOUT (nothing taken); -EPERM outside a task. */
SPOOL_API int spool_listener_accept(spool_listener *l, struct sockaddr *addr, unsigned *addrlen);
/* Stops the multishot accept, waits (not a cancellation point) until the
 * kernel has posted its last completion, closes the accepted fds nobody
 * took, and frees l. No task may be in, or enter, spool_listener_accept
 * on l meanwhile (cancel and join the accept loops first). Does not close
 * the listening fd. Returns: 0. Errors: -EINVAL l NULL; -EPERM outside a
 * task (nothing done). */
SPOOL_API int spool_listener_close(spool_listener *l);

/* A TCP listener on host:port (host NULL: every address; "127.0.0.1",
 * "::1", a name: resolved on the blocking pool), SO_REUSEADDR, listening
 * with `backlog`. Returns: the fd. Errors: -EINVAL bad port; the errno of
 * resolution (-ENOENT no such host), socket, bind or listen. */
SPOOL_API int spool_tcp_listen(const char *host, unsigned port, int backlog);
/* Connects to host:port (IPv4 or IPv6, each resolved address in turn).
 * Returns: the connected fd. Errors: -EINVAL host NULL (there is no
 * "any address" to connect to: name one, "127.0.0.1" or "localhost") or
 * bad port; the errno of resolution (-ENOENT no such host), socket or
 * connect (the last address's); -EPERM outside a task. */
SPOOL_API int spool_tcp_connect(const char *host, unsigned port);
/* A Unix-domain stream listener on path (an existing socket file is
 * replaced) / a connection to one. Returns: the fd. */
SPOOL_API int spool_unix_listen(const char *path, int backlog);
SPOOL_API int spool_unix_connect(const char *path);

/* ======================================================================
 * Streams (asyncio's StreamReader / StreamWriter) over an fd
 *
 * A spool_stream reads an fd through a buffer the caller provides, so
 * that lines, records and exact counts come out whole however the kernel
 * splits the bytes; writes go straight to the fd (nothing is buffered on
 * the write side, so there is no drain: a write returns once the kernel
 * has taken every byte, suspending while the socket or pipe is full —
 * that is the backpressure). A socket is read with recv / written with
 * send (MSG_NOSIGNAL), anything else (pipe, tty, file) with read / write
 * at the file position; init tells them apart once (fstat).
 *
 * Every call that does I/O is a cancellation point and honours timeout
 * scopes, with the I/O calls' guarantee: bytes the kernel delivered are
 * never lost. A call the buffer serves whole does not wait and is not a
 * cancellation point. A cancelled, timed-out or failed read consumes
 * nothing it has not handed over (what it read stays buffered; only
 * readexactly with a `got` hands bytes over before it succeeds, and
 * reports through *got what it stored in dst), so the next read sees
 * every byte.
 *
 * One task at a time may read a stream, and one at a time may write it;
 * a reader and a writer may run at once (the write side touches only fd).
 * The stream does not own the fd nor the buffer: close the fd yourself.
 * A stream on a socket can carry a TLS session (see "TLS streams" below):
 * the same calls then read and write plaintext. Embeddable; fields
 * private.
 * ====================================================================== */

/* A buffered reader and writer over one fd (see above). Embeddable;
 * fields private. */
typedef struct spool_stream {
    int fd;
    int is_socket;          /* recv/send, else read/write at the position */
    int eof;                /* the read side has seen EOF (sticky) */
    unsigned char *buf;     /* the caller's read buffer */
    size_t size;            /* its size */
    size_t start, end;      /* buffered bytes: buf[start, end) */
    struct spool__tls *tls; /* the TLS session, or NULL (plain) */
} spool_stream;

/* Sets up s to read and write fd, reading through buf[0, bufsize). The
 * buffer bounds readline / readuntil (a line longer than bufsize cannot
 * be returned: -EMSGSIZE); 4 to 64 KiB suits most protocols.
 * Returns: 0. Errors: -EINVAL s or buf NULL, bufsize 0; -EBADF (fstat's
 *   errno) fd is not open. Context: any thread; never suspends. */
SPOOL_API int spool_stream_init(spool_stream *s, int fd, void *buf, size_t bufsize);

/* Returns: the number of bytes read from the fd and not yet consumed
 * (what a read will get without I/O). Context: any thread, not racing a
 * reader. */
SPOOL_API size_t spool_stream_buffered(const spool_stream *s);

/* Reads up to n bytes into dst: buffered bytes first, with no I/O if any
 * are buffered; otherwise one read from the fd (straight into dst when n
 * is at least the buffer's size). n above INT_MAX reads at most INT_MAX.
 * Returns: the count (> 0), or 0 at EOF (or for n = 0).
 * Errors: the I/O calls' (-ECANCELED, -ETIMEDOUT, -ECONNRESET, ...; -EPERM
 *   outside a task); -EINVAL s NULL, or dst NULL with n > 0.
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_read(spool_stream *s, void *dst, size_t n);

/* Reads exactly n bytes into dst (asyncio's readexactly), looping over
 * reads. What a failed call leaves depends on got:
 *   - got NULL: all or nothing. The n bytes gather in the stream's buffer
 *     and are handed over once they are all there, so n may be at most
 *     the buffer's size; a call that fails consumes nothing and leaves
 *     dst alone: every byte it read stays buffered for the next read.
 *   - got not NULL: any n; *got is set on every return to the number of
 *     bytes stored in dst and consumed from the stream (n on success):
 *     after an error, those bytes are the caller's, and the stream holds
 *     the rest.
 * Returns: n.
 * Errors: -ENODATA EOF came first: with got, after *got < n bytes
 *   (asyncio's IncompleteReadError; its partial is dst[0, *got)); without,
 *   the bytes that came stay buffered (the next reads return them, then
 *   0); the I/O calls' errors (-ECANCELED, -ETIMEDOUT, ...), again with
 *   *got bytes consumed, or none without got; -EINVAL s NULL, dst NULL
 *   with n > 0, n > INT_MAX, or got NULL with n above the buffer's size
 *   (nothing consumed: such a read cannot be held back, pass got).
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_readexactly(spool_stream *s, void *dst, size_t n, size_t *got);

/* Reads up to and including the first occurrence of sep[0, seplen) into
 * dst (asyncio's readuntil). The longest line it returns is
 * min(cap, bufsize) bytes, separator included; no line is consumed in
 * part.
 * Returns: the line's length, separator included. At EOF before a
 *   separator: the bytes that came, all of them, without a separator
 *   (the last, unterminated line; asyncio's IncompleteReadError partial):
 *   check whether the line ends with sep. 0: EOF with nothing buffered.
 * Errors: -EMSGSIZE no separator ends within the first min(cap, bufsize)
 *   bytes: NOTHING is consumed, the next read returns those bytes (read
 *   them with spool_stream_read, or drop the connection); the I/O calls'
 *   errors, with nothing consumed (what was read stays buffered);
 *   -EINVAL s, sep NULL, seplen 0, dst NULL, or seplen > min(cap,
 *   bufsize) (no line could fit).
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_readuntil(spool_stream *s, const void *sep, size_t seplen, void *dst,
                                     size_t cap);
/* spool_stream_readuntil(s, "\n", 1, dst, cap): one line, "\n" included. */
SPOOL_API int spool_stream_readline(spool_stream *s, void *dst, size_t cap);

/* Writes all n bytes (send with MSG_NOSIGNAL on a socket, write at the
 * position otherwise), looping over partial writes and suspending while
 * the fd is full: a fast writer waits for a slow reader. On a pipe whose
 * reader is gone the kernel raises SIGPIPE (ignore or block it to get
 * -EPIPE); a socket's send never does.
 * Returns: n. Errors: the I/O calls' (-EPIPE peer gone, -ECANCELED,
 *   -ETIMEDOUT, ...): bytes already written are lost to the caller, as
 *   with spool_send_all (the stream is broken); -EIO the fd took 0 bytes;
 *   -EINVAL s NULL, src NULL with n > 0, n > INT_MAX.
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_write(spool_stream *s, const void *src, size_t n);

/* ======================================================================
 * TLS streams (asyncio's ssl= on open_connection / start_server)
 *
 * A spool_stream over a connected socket can carry a TLS session (OpenSSL
 * 3): after spool_stream_tls_connect (client) or spool_stream_tls_accept
 * (server) succeed, spool_stream_read / readline / readuntil / readexactly
 * / write work on it unchanged, on plaintext. The records go through the
 * driver's own recv and send (OpenSSL works on memory buffers; the task
 * does the socket I/O), so TLS costs no thread and works on both drivers.
 * The rules of streams hold: one reader and one writer at a time, and they
 * may run at once (the session's state is locked around each OpenSSL
 * call, never across a wait).
 *
 * Built without OpenSSL 3 (CMake says so), every call here returns
 * -EOPNOTSUPP (spool_tls_ctx_new sets *out to NULL) and
 * spool_tls_available() returns 0.
 *
 * Verification. A client context trusts the system's default CAs from the
 * start (as Python's ssl.create_default_context()) and checks the
 * server's chain and its name (SPOOL_TLS_VERIFY_PEER |
 * SPOOL_TLS_VERIFY_HOSTNAME); the name given to connect is sent as SNI
 * and matched against the certificate (an IP address literal is matched
 * against its IP entries, and not sent). spool_tls_ctx_set_verify(ctx, 0)
 * turns both checks off: the explicit, insecure opt-out. A server
 * context asks for no client certificate unless told
 * (SPOOL_TLS_REQUIRE_PEER_CERT). TLS 1.2 is the oldest version spoken;
 * TLS renegotiation is refused.
 *
 * Cancellation and time-outs. The handshake is a cancellation point and
 * honours timeout scopes; a handshake that fails for any reason
 * (cancelled, timed out, refused) shuts the socket down (shutdown
 * SHUT_RDWR: the peer sees the connection end) and leaves the session
 * failed: reads and writes return -ECONNABORTED, spool_stream_tls_error
 * says why; free it and close the fd. Reads may be cancelled freely (no
 * byte is lost: what was received stays in the session). A write whose
 * records were not all sent — cancelled, timed out or failed part-way —
 * breaks the session: a record half on the wire cannot be taken back, so
 * every later write and read returns -ECONNABORTED (nothing more is ever
 * sent on it); close the connection.
 *
 * EOF. A peer's close_notify is a clean EOF: reads return 0 (readexactly
 * -ENODATA, readuntil the last line) as on a plain stream. The socket's
 * EOF without a close_notify (the peer died, or someone cut the stream:
 * a truncation attack looks the same) is not an EOF: reads return
 * -ECONNRESET, sticky, and spool_stream_tls_error says "unexpected EOF".
 * Bytes decrypted before it stay readable.
 *
 * Errors (beyond the I/O calls'): -EKEYREJECTED the peer's certificate
 * failed verification (unknown CA, hostname mismatch, ...; or a client
 * sent none to a server that requires one); -EKEYEXPIRED
 * it has expired or is not yet valid; -EPROTO a TLS protocol error or an
 * alert from the peer (it refused our certificate, no common version or
 * cipher, ...); -ECONNRESET the connection ended without close_notify (in
 * the handshake too); -ECONNABORTED the session failed or broke before
 * (see above); -EOPNOTSUPP built without TLS. spool_stream_tls_error
 * gives the reason as text.
 *
 * Lifetime. A context (spool_tls_ctx) is set up once, then shared by any
 * number of sessions and threads; free it after its last session. Set-up
 * calls are not to race each other. A session is the stream's until
 * spool_stream_tls_free; the fd stays the caller's.
 * ====================================================================== */

/* A TLS configuration: role, certificate and key, trusted CAs, checks,
 * ALPN (OpenSSL's SSL_CTX). Opaque. */
typedef struct spool_tls_ctx spool_tls_ctx;

/* The roles of spool_tls_ctx_new. */
#define SPOOL_TLS_CLIENT 0
#define SPOOL_TLS_SERVER 1

/* The checks of spool_tls_ctx_set_verify (flags). */
#define SPOOL_TLS_VERIFY_PEER 1u        /* check the peer's certificate chain (client default) */
#define SPOOL_TLS_VERIFY_HOSTNAME 2u    /* and its name (client default; needs VERIFY_PEER) */
#define SPOOL_TLS_REQUIRE_PEER_CERT 4u  /* server: the client must present a certificate, checked
                                           against the loaded CAs (mutual TLS) */

/* Returns: 1 if this build of spool has TLS (OpenSSL 3), else 0.
 * Context: any thread. */
SPOOL_API int spool_tls_available(void);

/* Makes a context for role SPOOL_TLS_CLIENT or SPOOL_TLS_SERVER in *out.
 * A client's trusts the system's default CAs and verifies peer and
 * hostname; a server's needs a certificate and key before it accepts.
 * Returns: 0. Errors: -EINVAL out NULL or an unknown role; -ENOMEM;
 *   -EOPNOTSUPP no TLS in this build (*out = NULL on any error).
 * Context: any thread; never suspends. */
SPOOL_API int spool_tls_ctx_new(spool_tls_ctx **out, int role);

/* Frees ctx (NULL: nothing). Sessions made from it must be freed first.
 * Context: any thread. */
SPOOL_API void spool_tls_ctx_free(spool_tls_ctx *ctx);

/* Loads the certificate chain (PEM: the leaf first, then intermediates)
 * and its private key (PEM) from files. key_file NULL: the key is in
 * cert_file. Needed by a server; a client's is sent when a server asks.
 * Returns: 0. Errors: -ENOENT, -EACCES, ... a file cannot be read;
 *   -EINVAL not PEM, or the key does not match the certificate (see
 *   spool_tls_ctx_error); -EOPNOTSUPP.
 * Context: any thread; never suspends (reads files: at set-up). */
SPOOL_API int spool_tls_ctx_use_cert_file(spool_tls_ctx *ctx, const char *cert_file,
                                          const char *key_file);

/* spool_tls_ctx_use_cert_file from memory: cert_pem[0, cert_len) and
 * key_pem[0, key_len) in PEM (key_pem NULL: the key is in cert_pem). */
SPOOL_API int spool_tls_ctx_use_cert_pem(spool_tls_ctx *ctx, const void *cert_pem, size_t cert_len,
                                         const void *key_pem, size_t key_len);

/* Adds trusted CA certificates (PEM) from a file, a hashed directory
 * (c_rehash), or both; both NULL: the system's default locations (a
 * client context has those already).
 * Returns: 0. Errors: -ENOENT, ... a file cannot be read; -EINVAL not
 *   PEM (spool_tls_ctx_error says); -EOPNOTSUPP.
 * Context: any thread; never suspends. */
SPOOL_API int spool_tls_ctx_load_ca(spool_tls_ctx *ctx, const char *ca_file, const char *ca_dir);

/* spool_tls_ctx_load_ca from memory: one or more PEM certificates in
 * pem[0, len). Errors: -EINVAL none found, or pem NULL; -EOPNOTSUPP. */
SPOOL_API int spool_tls_ctx_load_ca_pem(spool_tls_ctx *ctx, const void *pem, size_t len);

/* Sets the checks (SPOOL_TLS_VERIFY_* | SPOOL_TLS_REQUIRE_PEER_CERT) for
 * the sessions made after. 0 turns verification off: a client then
 * accepts any certificate for any name (asyncio's check_hostname = False
 * with verify_mode = CERT_NONE): for tests and private links only.
 * Returns: 0. Errors: -EINVAL an unknown flag, VERIFY_HOSTNAME without
 *   VERIFY_PEER, REQUIRE_PEER_CERT on a client; -EOPNOTSUPP.
 * Context: any thread; never suspends. */
SPOOL_API int spool_tls_ctx_set_verify(spool_tls_ctx *ctx, unsigned flags);

/* Sets the ALPN protocols, most preferred first: n names of 1 to 255
 * bytes each ("h2", "http/1.1"). A client offers them; a server picks the
 * first of its own list that the client offers (none in common: no
 * protocol is chosen, the handshake goes on). Read the choice with
 * spool_stream_tls_alpn.
 * Returns: 0. Errors: -EINVAL protos NULL with n > 0, a name empty or too
 *   long; -ENOMEM; -EOPNOTSUPP. Context: any thread; never suspends. */
SPOOL_API int spool_tls_ctx_set_alpn(spool_tls_ctx *ctx, const char *const *protos, size_t n);

/* Returns: the reason of ctx's last failed set-up call (OpenSSL's
 * words), or "" if none; NULL for ctx NULL. Valid until ctx's next call.
 * Context: any thread, not racing a set-up call. */
SPOOL_API const char *spool_tls_ctx_error(const spool_tls_ctx *ctx);

/* Starts TLS as a client on s (spool_stream_init'd on a connected
 * socket) and runs the handshake. server_name is sent as SNI and, with
 * SPOOL_TLS_VERIFY_HOSTNAME, must match the certificate (NULL or "" only
 * when ctx does not check hostnames). Bytes already buffered in s are
 * taken as the first bytes from the server (STARTTLS after a plain
 * exchange). Once the handshake has begun, s carries a session whatever
 * it returns (a failed one after a failure): call spool_stream_tls_free
 * when done with s, in every case (it does nothing to a stream without
 * one).
 * Returns: 0, the handshake done (reads and writes are TLS).
 * Errors: -EKEYREJECTED, -EKEYEXPIRED, -EPROTO, -ECONNRESET (see above);
 *   the I/O calls' (-ECANCELED, -ETIMEDOUT, ...): a failed handshake has
 *   shut the socket down (close the fd); -EINVAL s or ctx NULL, a server
 *   context, server_name NULL or "" while hostnames are checked; -ENOTSOCK
 *   s's fd is not a socket; -EBUSY s carries a session already; -ENOMEM;
 *   -EOPNOTSUPP; -EPERM outside a task. spool_stream_tls_error(s) says why.
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_tls_connect(spool_stream *s, spool_tls_ctx *ctx, const char *server_name);

/* Starts TLS as a server on s (an accepted socket) and runs the
 * handshake; as spool_stream_tls_connect otherwise.
 * Errors: as spool_stream_tls_connect; -EINVAL a client context.
 * Context: task context; may suspend. */
SPOOL_API int spool_stream_tls_accept(spool_stream *s, spool_tls_ctx *ctx);

/* Sends close_notify (the clean end of the TLS stream) and returns: the
 * peer's close_notify is not waited for (reads may still see it, as 0).
 * Later writes return -EPIPE. Call it before closing a connection whose
 * end matters to the peer; then free the session.
 * Returns: 0. Errors: the I/O calls' (the session is broken then);
 *   -ECONNABORTED the session failed or broke before; -EINVAL s NULL or
 *   without a session; -EOPNOTSUPP; -EPERM outside a task.
 * Context: task context, the stream's writer; may suspend. */
SPOOL_API int spool_stream_tls_shutdown(spool_stream *s);

/* Frees s's session (nothing is sent: call spool_stream_tls_shutdown
 * first for a clean close); s is a plain stream again, with nothing
 * buffered. s NULL or without a session: nothing.
 * Context: any thread, with no read or write of s running. */
SPOOL_API void spool_stream_tls_free(spool_stream *s);

/* Returns: the ALPN protocol chosen in s's handshake (NUL-terminated,
 * owned by the session), or NULL if none was (or no session).
 * Context: any thread, after the handshake. */
SPOOL_API const char *spool_stream_tls_alpn(const spool_stream *s);

/* Returns: the reason of the last failure of s's session — a handshake
 * refused ("certificate verify failed: hostname mismatch", "...:
 * certificate has expired"), an OpenSSL error, "unexpected EOF (no
 * close_notify)", "write interrupted mid-record" — or NULL if none (or
 * no session). Owned by the session: valid until it is freed.
 * Context: any thread, not racing a read or write of s. */
SPOOL_API const char *spool_stream_tls_error(const spool_stream *s);

/* ======================================================================
 * Signals (asyncio's add_signal_handler, as a wait)
 *
 * The signals waited for must be blocked in EVERY thread of the process,
 * or the kernel delivers them to some thread instead (SIGINT/SIGTERM
 * would then kill it): block them with pthread_sigmask(SIG_BLOCK, ...)
 * in main before spool_run (and before creating any other thread); the
 * workers and the blocking pool inherit the mask. Declared when
 * <signal.h> offers POSIX signals (the default gnu11, or -std=c11 with
 * _POSIX_C_SOURCE defined).
 * ====================================================================== */

#ifdef SIG_BLOCK
/* Waits until one of the signals in `set` is pending for the process and
 * takes it (process-directed signals: kill(getpid(), ...), a terminal's
 * SIGINT; a signal aimed at one thread — raise(), pthread_kill — is seen
 * only if the task happens to run on that thread), through a signalfd of its own read on
 * the worker's ring (one signalfd per call, closed before it returns). A
 * signal that arrived before the call is taken at once. Cancellable;
 * honours timeout scopes; a call that returns an error took no signal
 * (one taken as the cancellation came is returned, not lost).
 * Returns: the signal's number (SIGINT, SIGTERM, ...).
 * Errors: -EINVAL set NULL; signalfd's errno (-EMFILE, ...); the I/O
 *   calls' (-ECANCELED, -ETIMEDOUT, -EPERM outside a task).
 * Context: task context; may suspend. */
SPOOL_API int spool_signal_wait(const sigset_t *set);
#endif

/* ======================================================================
 * Subprocesses (asyncio's create_subprocess_exec and Process)
 *
 * spool_process_spawn starts a program (posix_spawn) with an argument
 * vector, an environment and a working directory, each of its standard
 * input, output and error a pipe, inherited, or /dev/null, and holds a
 * pidfd for it. Its exit is waited for through the pidfd, on the driver
 * (a poll on the worker's ring or epoll set: no thread waits); spool
 * installs no SIGCHLD handler and never reaps a child it was not given
 * (no waitpid(-1)), so it lives beside any other code that spawns.
 * Linux 5.4+ (pidfd_open, waitid(P_PIDFD)).
 *
 * The exit status is the wait(2) status, a value >= 0: WIFEXITED(st) and
 * WEXITSTATUS(st) for an exit code, WIFSIGNALED(st) and WTERMSIG(st) for
 * a child killed by a signal (<sys/wait.h>); st == 0 is "exited with 0".
 * asyncio's returncode is WEXITSTATUS(st), or -WTERMSIG(st).
 *
 * Cancellation: a wait that is cancelled or times out leaves the child
 * running and still waitable (as asyncio's Process.wait); so does
 * spool_process_communicate. To kill it when the waiter is cancelled:
 *
 *     int st = spool_process_wait(&p);
 *     if (st == -ECANCELED || st == -ETIMEDOUT) {
 *         spool_shield_begin();            // the clean-up must wait
 *         spool_process_kill(&p);
 *         spool_process_wait(&p);          // reaped: no zombie
 *         spool_shield_end();
 *     }
 *
 * or call spool_process_close, which does that for you.
 *
 * Ownership: a spool_process is the caller's struct. A successful spawn
 * fills it with a child and file descriptors that only
 * spool_process_close gives back: it closes the pipes, waits for the
 * child (killing it if that wait is cancelled or times out) and closes
 * the pidfd. Every spawned process must be closed, from a task of the
 * runtime that spawned it, before the struct goes away; a process never
 * closed is a zombie and leaked fds (spool cannot reap it for you
 * without reaping behind your back). One task at a time may wait
 * (wait, try_wait, communicate, close); signals may be sent from any
 * thread meanwhile, until close.
 *
 * SIGCHLD must not be ignored (SIG_IGN or SA_NOCLDWAIT): the kernel
 * would then reap children as they exit, taking their status, so spawn
 * refuses with -ECHILD; and no other code may reap our children
 * (waitpid(-1, ...)): a wait then returns -ECHILD.
 * ====================================================================== */

/* What a child's standard input, output or error is connected to. */
typedef enum spool_stdio {
    SPOOL_STDIO_INHERIT = 0,  /* the parent's own fd 0, 1 or 2 */
    SPOOL_STDIO_PIPE = 1,     /* a pipe; the parent's end is stdin_fd,
                                 stdout_fd or stderr_fd of spool_process */
    SPOOL_STDIO_DEVNULL = 2,  /* /dev/null */
    SPOOL_STDIO_STDOUT = 3,   /* stderr only: wherever stdout goes (2>&1) */
} spool_stdio;

/* How to start a child. Zero in any field means its default; a NULL
 * pointer means all defaults (inherit everything). */
typedef struct spool_process_options {
    const char *const *env;   /* "NAME=value" strings, NULL-terminated;
                                 NULL: the parent's environ */
    const char *cwd;          /* working directory; NULL: the parent's */
    spool_stdio in;           /* the child's standard input */
    spool_stdio out;          /* its standard output */
    spool_stdio err;          /* its standard error */
} spool_process_options;

/* A child process. Caller-owned (embed it, no malloc). pid and the three
 * fds are for the caller to read; the rest is private. */
typedef struct spool_process {
    int pid;        /* the child's process id (informational: signal it with
                       spool_process_send_signal, which cannot hit a reused pid) */
    int stdin_fd;   /* the write end of the child's stdin pipe, or -1 */
    int stdout_fd;  /* the read end of the child's stdout pipe, or -1 */
    int stderr_fd;  /* the read end of the child's stderr pipe, or -1 */
    int pidfd;      /* private: -1 once closed */
    int state;      /* private: running, reaped or lost */
    int status;     /* private: the wait status, once reaped */
} spool_process;

/* Starts argv[0] with arguments argv (NULL-terminated; a name without
 * '/' is searched in the parent's PATH, as execvp does) and fills *p.
 * The pipe ends of p are O_CLOEXEC and set up for the runtime's driver
 * (blocking on io_uring, O_NONBLOCK on epoll): use them with
 * spool_read, spool_write and spool_stream, from tasks of this runtime.
 * A spool_write to stdin_fd after the child has gone raises SIGPIPE, as
 * a write to any pipe does (spool_process_communicate does not). The
 * child gets an empty signal
 * mask (not the workers': signals blocked for spool_signal_wait stay
 * deliverable to it) and SIGPIPE at its default action (even if the
 * parent ignores it); other ignored signals stay ignored, as exec keeps
 * them.
 * posix_spawn runs on the calling worker: it suspends that thread (only
 * the thread: other workers go on) until the child has called exec,
 * without copying the parent's page tables (CLONE_VM | CLONE_VFORK) —
 * tens to hundreds of microseconds, far less than handing the call to
 * the blocking pool would cost; libuv, Tokio and asyncio spawn on their
 * loop threads likewise.
 * p must not hold a process that has not been closed (it would be
 * forgotten, a zombie).
 * Returns: 0; then p must be closed (spool_process_close).
 * Errors (no child is left, no fd is open, *p is left with fds and pid
 *   -1): -ENOENT the program or cwd does not exist, -EACCES, -ENOEXEC
 *   and the other errors of exec or chdir, as posix_spawn reports them;
 *   -EMFILE / -ENFILE out of fds (also if the pidfd cannot be had: the
 *   child is then killed and reaped); -ECHILD SIGCHLD is ignored (see
 *   above); -ENOSYS / -EPERM the kernel (or a seccomp filter) refuses
 *   pidfd_open; -EINVAL p or argv or argv[0] NULL, or a bad spool_stdio;
 *   -EPERM outside a task.
 * Context: task context; suspends the task only if the pidfd cannot be
 *   had (the child it kills is then reaped on the blocking pool). */
SPOOL_API int spool_process_spawn(spool_process *p, const char *const argv[],
                                  const spool_process_options *opt);

/* spool_process_spawn(p, {"/bin/sh", "-c", command, NULL}, opt): a shell
 * command line (asyncio's create_subprocess_shell). Quoting is the
 * caller's business. Returns and errors: as spool_process_spawn
 * (-EINVAL command NULL). */
SPOOL_API int spool_process_spawn_shell(spool_process *p, const char *command,
                                        const spool_process_options *opt);

/* Waits until the child has exited and reaps it (waitid(P_PIDFD) once
 * its pidfd polls readable). Once reaped, it returns the same status
 * again without waiting. Cancelled or timed out, it leaves the child
 * running and waitable (see above for the idiom that kills it).
 * Returns: the wait status (>= 0; see above).
 * Errors: -ECANCELED, -ETIMEDOUT (the child still runs); -ECHILD the
 *   child was reaped by someone else (SIGCHLD set to SIG_IGN after the
 *   spawn, or a waitpid(-1) elsewhere): its status is lost; -EINVAL p
 *   NULL or closed; -EPERM outside a task.
 * Context: task context; may suspend. One waiter at a time. */
SPOOL_API int spool_process_wait(spool_process *p);

/* Reaps the child if it has exited, without waiting (Popen.poll).
 * Returns: the wait status. Errors: -EAGAIN still running; -ECHILD,
 *   -EINVAL as spool_process_wait. Context: any thread; never suspends;
 *   not racing another wait of p. */
SPOOL_API int spool_process_try_wait(spool_process *p);

/* Sends signal sig to the child through its pidfd (pidfd_send_signal),
 * so it cannot reach another process that reused the pid. A child that
 * has exited and not yet been reaped takes it silently.
 * Returns: 0. Errors: -ESRCH the child has been reaped; -EINVAL p NULL,
 *   closed, or sig invalid; pidfd_send_signal's other errors.
 * Context: any thread; never suspends. */
SPOOL_API int spool_process_send_signal(spool_process *p, int sig);
/* spool_process_send_signal(p, SIGTERM) / (p, SIGKILL). */
SPOOL_API int spool_process_terminate(spool_process *p);
SPOOL_API int spool_process_kill(spool_process *p);

/* Where spool_process_communicate stores what the child writes to one
 * pipe: bytes are appended at data + len. Two kinds:
 *   - growable (SPOOL_PROCESS_OUTPUT_GROW): data is NULL or malloc'd, and
 *     is realloc'd as output comes; the caller frees data with free()
 *     after the call, whatever it returned;
 *   - fixed (SPOOL_PROCESS_OUTPUT_FIXED(buf, size)): the caller's buffer
 *     of cap bytes; more output than fits is -EMSGSIZE.
 * Fields are the caller's to read (len: the bytes stored). */
typedef struct spool_process_output {
    char *data;
    size_t len;
    size_t cap;
    int grow;       /* 1: growable, 0: fixed */
} spool_process_output;

#define SPOOL_PROCESS_OUTPUT_GROW {NULL, 0, 0, 1}
#define SPOOL_PROCESS_OUTPUT_FIXED(buf, size) {(char *)(buf), 0, (size_t)(size), 0}

/* asyncio's Process.communicate: writes input[0, n) to the child's stdin
 * and closes it (at once if n is 0), reads its stdout into *out and its
 * stderr into *err until EOF, all at once (a task each, in a group: a
 * child that fills one pipe while we write the other never deadlocks),
 * then waits for the child to exit. A pipe whose output has no
 * destination (out or err NULL) is read and dropped. Each pipe it
 * finishes with is closed and its fd in p set to -1. A child that exits
 * without reading all its input is not an error (the rest is dropped; no
 * SIGPIPE reaches the parent). Cancelled or timed out, it stops: the
 * child still runs (see above), out and err keep what was read, stdin
 * stays open if not all input was written, and the unfinished pipes stay
 * open.
 * Returns: the wait status (>= 0).
 * Errors: -EMSGSIZE a fixed output buffer is full and the child writes
 *   more (the child still runs); -ENOMEM a growable buffer could not
 *   grow, or no task could be spawned; -ECANCELED, -ETIMEDOUT; the I/O
 *   calls' and spool_process_wait's errors; -EINVAL p NULL or closed,
 *   input given (n > 0) without a stdin pipe or with input NULL, or a
 *   fixed out / err with data NULL and cap > 0 (or len > cap); -EPERM
 *   outside a task.
 * Context: task context; may suspend. input, out and err must stay
 *   valid until it returns; nothing else may use p's pipes meanwhile. */
SPOOL_API int spool_process_communicate(spool_process *p, const void *input, size_t n,
                                        spool_process_output *out, spool_process_output *err);

/* Gives back everything p holds: closes its pipes (the child sees EOF on
 * stdin, and EPIPE or SIGPIPE if it still writes), waits for the child
 * to exit, and closes the pidfd. If that wait is cancelled or times out,
 * the child is killed (SIGKILL) and waited for, shielded, before the
 * call returns the error: so no zombie and no fd is left on any path.
 * To stop a child that would not exit by itself, kill or terminate it
 * first. p must not be used afterwards (except spool_process_close
 * again: -EINVAL).
 * Returns: the wait status (>= 0).
 * Errors: -ECANCELED, -ETIMEDOUT (the child was killed and reaped all
 *   the same); -ECHILD the status was lost (see spool_process_wait);
 *   -EINVAL p NULL or already closed; -EPERM outside a task (nothing
 *   done).
 * Context: task context; may suspend. No other task may use p
 *   meanwhile. */
SPOOL_API int spool_process_close(spool_process *p);

/* ======================================================================
 * Observability
 * ====================================================================== */

/* Counters of one worker (or the total), since spool_run started. */
typedef struct spool_worker_stats {
    uint64_t spawned;      /* tasks created on this worker */
    uint64_t exited;       /* tasks that finished on this worker */
    uint64_t stolen;       /* tasks this worker stole from others */
    uint64_t parked;       /* task suspensions (waits that switched out) */
    uint64_t woken;        /* tasks made runnable by a wake-up */
    uint64_t idle;         /* times the worker parked for lack of work */
    uint64_t cpu_yields;   /* times the worker gave its CPU to other threads
                            * (sched_yield; spool_run, "Sharing the CPUs") */
} spool_worker_stats;

/* A snapshot of the current runtime's counters (spool_stats). */
struct spool_stats {
    unsigned workers;                       /* entries used in worker[] */
    const char *backend;                    /* the driver: "io_uring" or "epoll" */
    uint64_t alive;                         /* tasks spawned and not finished */
    spool_worker_stats total;               /* sums over the workers */
    spool_worker_stats worker[SPOOL_MAX_WORKERS];
};

/* Fills *out with the current runtime's counters (a snapshot taken
 * without stopping anything: each figure was true at some instant of the
 * call, and `alive` may still count a task that is ending). The struct is
 * about 12 KiB: keep it off a task's stack (64 KiB by default) — static,
 * or malloc'd. Returns: 0. Errors: -EINVAL out NULL; -EPERM outside a
 * task. Context: task context. (A struct, not a typedef: the function
 * has the name.) */
#if defined(__cplusplus) && defined(__GNUC__)
/* C++'s -Wshadow: the function hides the struct's implicit constructor
 * (C++ code names the struct `struct spool_stats`, as C does). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
SPOOL_API int spool_stats(struct spool_stats *out);
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* Debug mode (spool_config.debug or SPOOL_DEBUG=1) reports on stderr:
 * a task that ran over 100 ms without reaching a wait point (asyncio's
 * slow-callback warning), and tasks that ended without ever being joined
 * nor detached, when the runtime ends. In debug mode SIGQUIT (Ctrl-\)
 * prints spool_dump on stderr and the program keeps running (Go prints
 * its goroutines and exits); the disposition SIGQUIT had is back when
 * spool_run returns, unless the program installed its own meanwhile
 * (kept). Without debug mode spool leaves SIGQUIT alone, and only one
 * runtime of a process at a time holds it. */
#define SPOOL_DEBUG_SLOW_NS (100 * SPOOL_MSEC)

/* Prints every task of the current runtime to out, asyncio's
 * all_tasks() with each task's print_stack(), or Go's goroutine dump:
 * per task its handle and name, whether it runs (on which worker), is
 * runnable or waits, and on what (a sleep until when, a semaphore, lock,
 * event, condition, barrier, queue, task group or listener and its
 * address, a join and the task joined, an I/O call and its fd, a
 * spool_to_thread function), a timeout scope's deadline, its age (since
 * its first run), and a backtrace of every task not running, read from
 * its saved registers and stack by frame pointers. Tasks that finished
 * and were not joined yet are listed with their result. Frames are named
 * by dladdr: link executables with -rdynamic (CMake: ENABLE_EXPORTS) to
 * have their own functions named; the rest print as object+offset, for
 * addr2line. The walk follows frame pointers: code built with
 * -fno-omit-frame-pointer shows every frame (the library is). The format
 * is for people and may change; it is not for parsing.
 *
 * While it reads, the workers stop between tasks (each at its next
 * scheduling point; the dump waits up to a second for them): no task
 * moves under it. A worker whose task computes for longer without
 * waiting is reported as not stopped, with its task, which is not walked
 * (the rest is then best effort). The text is built in memory and
 * written to out after the workers resume. Returns: 0. Errors: -EINVAL
 * out NULL; -EPERM outside a task; -ENOMEM. Context: task context; it
 * may block its worker up to the second above; it suspends only while
 * another dump runs (it yields until its turn: the task may resume on
 * another worker), and is never a cancellation point; not for signal
 * handlers (debug mode's SIGQUIT does it from a thread). */
SPOOL_API int spool_dump(FILE *out);

/* ======================================================================
 * Version
 *
 * The version of this header is SPOOL_VERSION_MAJOR.MINOR.PATCH; that of
 * the library a program runs with is spool_version(). While the major is
 * 0, a library of another major.minor is not ABI-compatible (its SONAME
 * differs: libspool.so.0.1); see README.md, "Taking it in".
 * ====================================================================== */

/* This header's version, in three numbers. */
#define SPOOL_VERSION_MAJOR 0
#define SPOOL_VERSION_MINOR 1
#define SPOOL_VERSION_PATCH 0
/* "MAJOR.MINOR.PATCH" of this header, e.g. "0.1.0". */
#define SPOOL_VERSION_STRING SPOOL__VERSION_STR(SPOOL_VERSION_MAJOR) "." \
    SPOOL__VERSION_STR(SPOOL_VERSION_MINOR) "." SPOOL__VERSION_STR(SPOOL_VERSION_PATCH)
#define SPOOL__VERSION_STR(x) SPOOL__VERSION_STR2(x)
#define SPOOL__VERSION_STR2(x) #x
/* One int that orders versions: MAJOR * 10000 + MINOR * 100 + PATCH (minor
 * and patch stay below 100), e.g. 100 for 0.1.0. */
#define SPOOL_VERSION_NUMBER \
    (SPOOL_VERSION_MAJOR * 10000 + SPOOL_VERSION_MINOR * 100 + SPOOL_VERSION_PATCH)

/* Returns: the version of the library linked in (static) or loaded (shared)
 * as "MAJOR.MINOR.PATCH", which a program may compare with the
 * SPOOL_VERSION_STRING it was compiled with. A static string; never NULL.
 * Context: any thread. */
SPOOL_API const char *spool_version(void);

/* Returns: the version of the library linked in or loaded, as
 * SPOOL_VERSION_NUMBER orders it (MAJOR * 10000 + MINOR * 100 + PATCH).
 * Context: any thread. */
SPOOL_API int spool_version_number(void);

/* ======================================================================
 * Errors
 * ====================================================================== */

/* Returns: a static description of err, which may be an errno or its
 * negation ("Success" for 0). Never NULL. Context: any thread. */
SPOOL_API const char *spool_strerror(int err);

/* ======================================================================
 * C++
 *
 * C++17 and C++20 include this header as it is and link the same library
 * (pkg-config or find_package(spool), which passes
 * -fstack-clash-protection to C++ compiles as it does to C). Every name is
 * available. The declarations are extern "C"; the private fields that C
 * declares _Atomic are plain fields of the same size and alignment in C++,
 * so every struct has one layout in both languages (tests/cxx compares
 * them field by field), and C++ code must never touch them. What differs:
 * - The _INIT macros are positional aggregates:
 *   `spool_sem s = SPOOL_SEM_INIT(2);` works in both languages, static or
 *   not. Zero a
 *   spool_config with `spool_config cfg{};` and assign its fields; C++20's
 *   designated initialisers (`spool_config cfg{.workers = 2};`) work too,
 *   but GCC's -Wextra warns about each field they leave out.
 * - struct spool_stats is spelt with `struct`, as in C: the bare name is
 *   the function.
 * - A task's function is `int (*)(void *)`: a function or a captureless
 *   lambda (formally a C-linkage function pointer; GCC and clang accept
 *   C++ functions and lambdas for it); pass objects through arg. An exception must not leave a
 *   task's function (nothing past it can catch one: the process
 *   terminates); catch it inside and return a negative errno. Between a
 *   throw and the end of the catch that takes it, do not call a wait (nor
 *   from a destructor run by the unwinding): the C++ runtime keeps the
 *   exceptions in flight per thread, and a task may resume on another
 *   worker, the rule for errno and thread_local (docs/scheduling.md).
 * ====================================================================== */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPOOL_SPOOL_H */

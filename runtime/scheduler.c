/*
 * scheduler.c — the scheduler: how workers find tasks, run them, park when
 * there is nothing to do, and wake each other without losing a wake-up.
 *
 * Vocabulary
 *   task     a stackful coroutine (task.h). It runs until it waits; then it
 *            switches back to its worker's loop ("switches out").
 *   worker   a thread with a run queue (deque.c), a LIFO slot, a timer heap
 *            (timer.c), a stack pool (stack.c) and a driver (driver.h: an
 *            io_uring ring, reactor.c, or an epoll set, epoll.c). The
 *            thread that calls spool_run is worker 0.
 *   inject   the runtime's global queue (inject.c): overflow of full run
 *            queues, and work from outside the pool.
 *   searching  a worker out of work that is looking in other workers'
 *            queues. About half of the workers at most search at once (the
 *            check and the increment are separate; a woken worker counts).
 *   idle     a worker parked in its driver; its bit is set in idle_mask.
 *
 * Why it is hard
 *   Work appears on one worker while another is going to sleep. If the
 *   sleeper checks the queues, then the producer checks for sleepers, then
 *   the sleeper sleeps, the work waits until some unrelated event: a lost
 *   wake-up. Waking on every push instead costs a system call (~14 us to
 *   wake a parked thread through its ring, measured here) where the push
 *   itself costs nanoseconds.
 *
 * Approaches rejected
 *   - One global queue under a mutex: every spawn and wake contends on one
 *     cache line (Tokio measured 265-633 ns per remote spawn on its inject
 *     mutex). Our inject queue is lock-free and rarely used.
 *   - Waking a worker per pushed task (a semaphore or eventfd per task):
 *     the system call dominates fine-grained work.
 *   - Busy-polling idle workers: fast wake-ups, a core burned at idle.
 *   - A shared io_uring ring: SQ submission is single-producer; sharing it
 *     needs a lock on every wait and every I/O.
 *
 * The approach (Cilk's deque, Go's and Tokio's wake-up protocol, io_uring)
 *   A worker looks for a task in this order (next_task, find_work):
 *     1. every SPOOL_GLOBAL_INTERVAL ticks, for fairness: one task from the
 *        global FIFO, else the top of its own deque if that task has not
 *        moved for SPOOL_STARVE_NS;
 *     2. its LIFO slot: the task a running task just woke, so a ping-pong
 *        pair stays on one worker and in cache (a parking task switches to
 *        it directly when this is all the tick would do: hand_off). At
 *        most SPOOL_LIFO_MAX_POLLS runs in a row while other tasks wait;
 *        then the newest queued task runs first and the slot's task goes
 *        on the deque behind it, so the pair cannot starve the rest;
 *     3. the bottom of its own deque (newest first: depth-first fork-join);
 *     4. the inject queue (FIFO);
 *     5. due timers;
 *     6. stealing half of a random victim's deque from the top, if it may
 *        search;
 *     7. parking in its driver with the nearest timer as the timeout.
 *   A yield goes to the back of the global FIFO, behind every waiting task.
 *   On the fairness tick (1.) a worker also yields its thread's CPU to
 *   the kernel, at most once per SPOOL_CPU_YIELD_NS (give_cpu_if_due), so
 *   that other threads waiting for that CPU run now instead of at the
 *   kernel's next tick.
 *   Between two tasks (the top of the loop and of find_work) a worker also
 *   stops while spool_dump reads every task (dump.c: spool__dump_checkpoint,
 *   a relaxed load per tick), and a direct hand-off is refused meanwhile.
 *
 * Parking and waking (the protocol; every step but the push and the W4
 * look is seq_cst; those two are release / acquire, ordered against the
 * rest by the P2 and W3 fences)
 *   A producer (spawn, wake, timer, overflow) does:
 *     P1 push the task (release store of the deque bottom / inject link)
 *     P2 fence
 *     P3 if nsearching == 0 and nidle > 0: CAS nsearching 0 -> 1, claim
 *        an idle worker by clearing its bit, and wake it through its
 *        driver (a MSG_RING to its ring, or a write to its eventfd).
 *        The woken worker starts out searching: the producer counted it.
 *   A worker with nothing to do does:
 *     W1 stop searching (nsearching -= 1)
 *     W2 set its idle bit, nidle += 1
 *     W3 fence
 *     W4 look at every deque and the inject queue once more; if any
 *        holds work, clear its bit and go back to work
 *     W5 wait in its driver
 *   Claim: no task pushed in P1 is left with every worker parked. P2 and W3
 *   are seq_cst fences, so either P3's loads see W1/W2 (the producer wakes
 *   the worker, or sees another searcher that will reach W4 later), or W4
 *   sees P1's push. A searcher that finds work and was the last searcher
 *   wakes another if work remains anywhere (stop_searching: its decrement,
 *   a fence that pairs with P2 as W3 does, then the look): producers
 *   skipped their wake-ups while it searched. So work spreads one
 *   worker at a time, and a burst of pushes wakes at most one worker per
 *   searcher instead of a thundering herd.
 *   A producer only wakes anyone when work is stealable: the LIFO slot is
 *   not, and a woken task alone on a deque is about to be taken by its
 *   owner (maybe_notify wants two); a spawn wakes one idle worker at once
 *   (spool__task_schedule_new). No wait in a ring lasts longer than
 *   SPOOL_PARK_MAX_NS, so even an undeliverable wake-up message only delays.
 *
 * Ending
 *   Each worker counts tasks spawned and exited on it (owner-written). When
 *   main has exited, a worker about to park adds up every worker's exited
 *   counts, then spawned counts. Since only live tasks spawn, equal sums
 *   mean no task is alive; that worker sets `shutdown` and wakes all.
 *
 * Behaviour at the time of writing (the knobs are the macros below): deque
 * 256 slots, steal half, LIFO slot 3 runs in a row while others wait,
 * global queue every 61 ticks, own deque's top after 1 ms unmoved, timers
 * every 4 ticks while pending, pending SQEs submitted once 32 wait, every
 * 16 ticks, or as soon as no other task is ready (io_due), stack purge up
 * to 64 stacks per park when no timer is due within 1 ms, the CPU given
 * away at most every 500 us.
 */
#include "scheduler.h"

#include "atomics.h"
#include "context.h"
#include "deque.h"
#include "driver.h"
#include "dump.h"
#include "epoll.h"
#include "inject.h"
#include "join.h"
#include "reactor.h"
#include "remote.h"
#include "runtime.h"
#include "stack.h"
#include "task.h"
#include "timer.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs of the LIFO slot before its task must queue like the others:
 * Tokio's MAX_LIFO_POLLS_PER_TICK, which fixed ping-pong starvation. */
#define SPOOL_LIFO_MAX_POLLS 3u
/* Go's and Tokio's fairness interval: a prime, so it does not beat with
 * periodic workloads. */
#define SPOOL_GLOBAL_INTERVAL 61u
/* Stacks purged per park: bounds the time between noticing idleness and
 * being parked (each purge is one madvise, ~1 us). */
#define SPOOL_PURGE_PER_PARK 64u
/* A worker purges free stacks only once it has been idle this long. */
#define SPOOL_PURGE_IDLE_NS (10u * 1000u * 1000u)
/* No purge when a timer is due sooner than this: the purge would make it
 * late. */
#define SPOOL_PURGE_MIN_IDLE_NS (1000u * 1000u)
/* A task at the top of a worker's own deque that has not moved for this
 * long runs next, so a deque that keeps receiving newer work cannot starve
 * its oldest task. Not shorter: each such pick starts old (big) work while
 * newer work waits, which unfolds fork-join breadth-first (a stack per
 * suspended parent). */
#define SPOOL_STARVE_NS (1000u * 1000u)
/* While timers are pending, due timers are checked every this many ticks
 * (a clock read costs ~23 ns here), so a busy worker fires them late by a
 * few task runs at most. */
#define SPOOL_TIMER_CHECK_MASK 3u
/* A timed wait in the ring wakes late: 35-50 us on the machines measured,
 * more when the host is busy (a sleeping thread cannot do better). A
 * worker whose next timer is within its spin window keeps looking for
 * work instead of parking, and parks that much early, so a chain of short
 * sleeps does not accumulate the lateness. The window adapts: twice the
 * average lateness of the worker's own timed waits (a moving average over
 * ~8 waits) plus 10 us, between these bounds. */
#define SPOOL_TIMER_SPIN_MIN_NS (20u * 1000u)
#define SPOOL_TIMER_SPIN_MAX_NS (250u * 1000u)
#define SPOOL_TIMER_SPIN_START_NS (50u * 1000u)

/* The longest a worker stays parked without a timer: a safety net so that
 * a wake-up message that could not be delivered (or a racy spawn hint)
 * delays work by at most this much. One wake-up a second per idle worker
 * is ~0% CPU. */
#define SPOOL_PARK_MAX_NS (1000u * 1000u * 1000u)
/* A worker running tasks gives its CPU away (sched_yield) on a fairness
 * tick once this long has passed since it last did. Why: a worker whose
 * ring has completions whenever it looks never sleeps (its waits in the
 * ring return at once); it keeps its CPU until the kernel's tick preempts
 * it (every 4 ms at HZ=250), and a thread woken meanwhile on that CPU
 * waits that long. On a machine shared with anything (W6's load client on
 * 2 cores: four busy threads on two CPUs) that wait was the replies'
 * tail: W6 p99 8.0 ms on two workers, exactly two ticks, against 4.6 ms
 * on one. With the yield: 1.5-2.5 ms in most runs when the client is in
 * the server's scheduling group (a yield hands the CPU over within the
 * group: EEVDF moves only the yielder's own deadline), 4.4-4.9 ms when
 * it is not (the server in a session of its own under autogroup, as
 * bench/run starts it; a service in its own cgroup), and no more server
 * CPU per message (its batches grow while it waits). A wait in the
 * driver does not count as a yield: it may not have slept. With nothing
 * else runnable the yield returns at once (~0.3 us per 500 us). The
 * kernel charges CPU time as before (CFS/EEVDF): the yield changes when
 * others run, not how much. */
#define SPOOL_CPU_YIELD_NS (500u * 1000u)
/* Batch taken from the inject queue at most (half a deque). */
#define SPOOL_INJECT_BATCH (SPOOL_DEQUE_CAP / 2)

static uint64_t spin_window(const spool__worker *w)
{
    uint64_t ns = 2 * w->wake_late_ns + 10u * 1000u;
    if (ns < SPOOL_TIMER_SPIN_MIN_NS)
        return SPOOL_TIMER_SPIN_MIN_NS;
    return ns > SPOOL_TIMER_SPIN_MAX_NS ? SPOOL_TIMER_SPIN_MAX_NS : ns;
}

static __thread spool__worker *tls_worker;

#if defined(__SANITIZE_THREAD__)
_Atomic unsigned spool__tsan_fence_cell; /* atomics.h */
#endif

__attribute__((noinline)) spool__worker *spool__worker_current(void)
{
    __asm__ volatile("" ::: "memory");
    return tls_worker;
}

void spool__worker_set_current(spool__worker *w)
{
    tls_worker = w;
}

/* ---- queues ------------------------------------------------------------ */

/* Pushes t on w's deque, overflowing its older half to the inject queue
 * when full. Owner only. Does not notify. */
static void push_local(spool__worker *w, spool_task *t)
{
    spool_task *last;
    uint32_t count;
    spool_task *first = spool__deque_push(&w->deque, t, &last, &count);
    if (first)
        spool__inject_push(&w->rt->inject, first, last, count);
}

/* Sends t to the back of the global FIFO: behind everything already
 * waiting, on any worker. */
static void push_global(spool__worker *w, spool_task *t)
{
    spool__inject_push(&w->rt->inject, t, t, 1);
}

/* Wakes a worker if w holds work that another could take (see the essay). */
static void maybe_notify(spool__worker *w)
{
    if (w->rt->nworkers > 1 &&
        (spool__deque_len(&w->deque) >= 2 || spool__inject_len(&w->rt->inject) > 0))
        spool__notify(w);
}

/* Takes up to `max` tasks from the inject queue (a fair share of it):
 * returns one, queues the rest. */
static spool_task *inject_take(spool__worker *w, uint32_t max)
{
    spool__runtime *rt = w->rt;
    int64_t len = spool__inject_len(&rt->inject);
    if (len <= 0)
        return NULL;
    uint32_t want = (uint32_t)(len / rt->nworkers) + 1;
    if (want > max)
        want = max;
    uint32_t room = (uint32_t)(SPOOL_DEQUE_CAP - spool__deque_len(&w->deque)) + 1; /* +1: the one we run */
    if (want > room)
        want = room;
    if (want > SPOOL_INJECT_BATCH)
        want = SPOOL_INJECT_BATCH;
    spool_task *batch[SPOOL_INJECT_BATCH];
    uint32_t n = spool__inject_pop(&rt->inject, batch, want);
    if (n == 0)
        return NULL;
    for (uint32_t i = n - 1; i >= 1; i--) /* newest first: the oldest is taken first */
        push_local(w, batch[i]);
    if (n > 1)
        maybe_notify(w);
    return batch[0];
}

/* Timer tasks due at once that make a worker wake another to share them. */
#define SPOOL_TIMER_NOTIFY_MIN 16u
/* Timers fired per batch: popped in deadline order, pushed in reverse, so
 * the earliest lands at the bottom of the deque and runs first. */
#define SPOOL_FIRE_BATCH 64u

/* Moves every due timer's task to the deque; returns how many. Tasks due
 * together run in deadline order (within each batch of SPOOL_FIRE_BATCH;
 * a later batch lands on top of an earlier one). */
static unsigned fire_timers(spool__worker *w)
{
    if (w->timers.len == 0)
        return 0;
    uint64_t now = w->clock_seen = spool_now_ns();
    unsigned total = 0, n;
    do {
        spool_task *due[SPOOL_FIRE_BATCH];
        spool__timer_entry e;
        unsigned popped = 0;
        n = 0;
        /* An entry whose wait is over is stale: dropped. A live one
         * unparks its task; if the task is not parked (it is on its way
         * out of the wait, or about to park) the token does the rest. */
        while (popped < SPOOL_FIRE_BATCH && spool__timer_pop_due(&w->timers, now, &e)) {
            popped++;
            if (spool__timer_entry_live(&e) && spool__unpark_claim(e.task))
                due[n++] = e.task;
        }
        for (unsigned i = n; i-- > 0;)
            push_local(w, due[i]);
        spool__owner_add(&w->stat_woken, n, memory_order_relaxed);
        total += n;
        n = popped;
    } while (n == SPOOL_FIRE_BATCH);
    /* A few timer tasks are run here sooner than a parked worker could be
     * woken to take them (~15-50 us): only a burst calls for help. */
    if (total >= SPOOL_TIMER_NOTIFY_MIN || spool__deque_len(&w->deque) >= SPOOL_TIMER_NOTIFY_MIN)
        maybe_notify(w);
    return total;
}

/* ---- searching and parking --------------------------------------------- */

static bool start_searching(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    if (w->searching)
        return true;
    /* At most half the workers search: more only contend on the victims. */
    unsigned n = atomic_load_explicit(&rt->nsearching, memory_order_seq_cst);
    if (2 * n >= rt->nworkers)
        return false;
    atomic_fetch_add_explicit(&rt->nsearching, 1, memory_order_seq_cst);
    w->searching = true;
    return true;
}

/* Any stealable work anywhere? Used after advertising idleness (W4). */
static bool work_visible(spool__runtime *rt)
{
    if (spool__inject_len(&rt->inject) > 0)
        return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (spool__deque_len(&rt->workers[i].deque) > 0)
            return true;
    return false;
}

/* w found work while searching. The last searcher to stop wakes another
 * worker if work is still waiting, so the search goes on for it. */
static void stop_searching(spool__worker *w)
{
    if (!w->searching)
        return;
    w->searching = false;
    /* Producers skipped the wake-up while we searched, trusting us; if
     * work is left anywhere (not only here), hand the search on. The
     * decrement and work_visible's loads are a Dekker handshake with a
     * producer's P1-P3: the fence pairs with P2, so either the producer's
     * P3 sees nsearching at zero (and wakes a worker itself) or our loads
     * see its P1 push. The seq_cst decrement alone is not enough: C11
     * orders it before later loads only if those are seq_cst too, and
     * work_visible's are acquire (on aarch64 an acquire load may be an
     * LDAPR, which can be satisfied before the decrement's store is
     * visible). That it worked without the fence was x86's doing: a
     * locked decrement is a full barrier there. Missing the push would
     * leave it unshared until a busy worker looks again or a parked one's
     * SPOOL_PARK_MAX_NS timeout ends. */
    if (atomic_fetch_sub_explicit(&w->rt->nsearching, 1, memory_order_seq_cst) == 1) {
        spool__fence_seq_cst();
        if (work_visible(w->rt))
            spool__notify(w);
    }
}

static uint64_t next_random(spool__worker *w)
{
    uint64_t x = w->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static spool_task *steal_work(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    unsigned n = rt->nworkers;
    unsigned start = (unsigned)(next_random(w) % n);
    for (unsigned i = 0; i < n; i++) {
        unsigned v = (start + i) % n;
        if (v == w->index)
            continue;
        spool_task *t = spool__deque_steal_half(&rt->workers[v].deque, &w->deque);
        if (t) {
            spool__owner_add(&w->stat_stolen, 1 + (uint64_t)spool__deque_len(&w->deque), memory_order_relaxed);
            return t;
        }
    }
    return inject_take(w, SPOOL_INJECT_BATCH);
}

static bool quiescent(spool__runtime *rt)
{
    /* Exited counts first: a task counted as exited was counted as spawned
     * before, so reading spawned last can only make the sums differ while
     * anything is alive (see "Ending"). */
    uint64_t exited = 0, spawned = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        exited += atomic_load_explicit(&rt->workers[i].exited, memory_order_seq_cst);
    for (unsigned i = 0; i < rt->nworkers; i++)
        spawned += atomic_load_explicit(&rt->workers[i].spawned, memory_order_seq_cst);
    spawned += spool__remote_spawned(rt);
    return exited == spawned;
}

static void begin_shutdown(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    atomic_store_explicit(&rt->shutdown, true, memory_order_seq_cst);
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (i != w->index)
            spool__driver_wake(w, &rt->workers[i]);
}

static _Atomic uint64_t *idle_word(spool__runtime *rt, unsigned index)
{
    return &rt->idle_mask[index / 64];
}

static void set_idle(spool__worker *w)
{
    atomic_fetch_or_explicit(idle_word(w->rt, w->index), UINT64_C(1) << (w->index % 64), memory_order_seq_cst);
    atomic_fetch_add_explicit(&w->rt->nidle, 1, memory_order_seq_cst);
}

/* Clears w's idle bit if it is still set; false means a producer claimed
 * w first (P3): w has been counted as searching and a message is on its
 * way to its ring. */
static bool clear_idle(spool__worker *w)
{
    uint64_t bit = UINT64_C(1) << (w->index % 64);
    uint64_t old = atomic_fetch_and_explicit(idle_word(w->rt, w->index), ~bit, memory_order_seq_cst);
    if (!(old & bit))
        return false;
    atomic_fetch_sub_explicit(&w->rt->nidle, 1, memory_order_seq_cst);
    return true;
}

/* A producer's side of the protocol (P2, P3), up to the choice of the
 * worker to wake; the caller sends the message. */
int spool__claim_idle_worker(spool__runtime *rt)
{
    spool__fence_seq_cst(); /* P2: pairs with W3 */
    if (atomic_load_explicit(&rt->nsearching, memory_order_seq_cst) != 0)
        return -1; /* a searcher will reach W4 after us, or find the task */
    if (atomic_load_explicit(&rt->nidle, memory_order_seq_cst) == 0)
        return -1; /* everyone is awake and will look at the queues */
    unsigned zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&rt->nsearching, &zero, 1, memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return -1; /* another producer is waking someone */
    for (unsigned word = 0; word < SPOOL__IDLE_WORDS; word++) {
        uint64_t m = atomic_load_explicit(&rt->idle_mask[word], memory_order_seq_cst);
        while (m) {
            uint64_t bit = m & -m;
            uint64_t old = atomic_fetch_and_explicit(&rt->idle_mask[word], ~bit, memory_order_seq_cst);
            if (old & bit) {
                atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_seq_cst);
                return (int)(word * 64 + (unsigned)__builtin_ctzll(bit)); /* it inherits our searching count */
            }
            m = old & ~bit;
        }
    }
    /* Nobody idle after all. A worker parking from now on re-checks (W4). */
    atomic_fetch_sub_explicit(&rt->nsearching, 1, memory_order_seq_cst);
    return -1;
}

void spool__notify(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    int v = spool__claim_idle_worker(rt);
    if (v >= 0)
        spool__driver_wake(w, &rt->workers[v]);
}

/* A failing driver: the first failed wait of a streak starts its clock;
 * each failure pauses the worker (1 ms, doubling to 100 ms) instead of
 * spinning on a wait that returns at once; a streak that lasts
 * SPOOL_DRIVER_FATAL_NS is fatal: the runtime stops and spool_run returns
 * the error. A wait that works ends the streak. */
#define SPOOL_DRIVER_FATAL_NS (1000u * 1000u * 1000u)
#define SPOOL_DRIVER_BACKOFF_MIN_NS (1000u * 1000u)
#define SPOOL_DRIVER_BACKOFF_MAX_NS (100u * 1000u * 1000u)

static void driver_failed(spool__worker *w, int err)
{
    spool__runtime *rt = w->rt;
    uint64_t now = spool_now_ns();
    if (!w->driver_failing_since) {
        w->driver_failing_since = now;
        w->driver_backoff_ns = SPOOL_DRIVER_BACKOFF_MIN_NS;
    }
    if (!atomic_exchange_explicit(&rt->driver_error_said, true, memory_order_relaxed))
        fprintf(stderr,
                "spool: worker %u: waiting in the %s driver failed: %s; backing off, and ending "
                "spool_run with this error if it lasts a second\n",
                w->index, spool__backend_name(rt->backend), strerror(-err));
    if (now - w->driver_failing_since >= SPOOL_DRIVER_FATAL_NS) {
        int none = 0;
        /* Relaxed: the shutdown flag's seq_cst store in begin_shutdown
         * publishes it to the workers, and spool_run reads it after
         * joining them. */
        atomic_compare_exchange_strong_explicit(&rt->fatal_error, &none, err, memory_order_relaxed,
                                                memory_order_relaxed);
        begin_shutdown(w);
        return;
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)w->driver_backoff_ns};
    nanosleep(&ts, NULL);
    if (w->driver_backoff_ns < SPOOL_DRIVER_BACKOFF_MAX_NS)
        w->driver_backoff_ns *= 2;
}

/* The parking side of the protocol (W1-W5). Returns when w should look for
 * work again. */
static void park(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    uint64_t deadline = spool__timer_next(&w->timers);
    uint64_t spin = spin_window(w);
    if (deadline != UINT64_MAX && deadline <= spool_now_ns() + spin) {
        /* A timer is due within the spin window: stay up for it (the
         * caller's loop keeps stealing and firing timers meanwhile). */
        spool__cpu_relax();
        return;
    }
    if (w->searching) { /* W1 */
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->nsearching, 1, memory_order_seq_cst);
    }
    /* Idle time is when stacks give back the pages deep calls touched,
     * once the worker has been idle for SPOOL_PURGE_IDLE_NS: a purge is a
     * madvise that interrupts the other CPUs (a TLB shoot-down), which a
     * worker idle between two bursts must not inflict on the busy ones.
     * Not when a timer is due soon either. */
    uint64_t now = w->clock_seen = spool_now_ns();
    if (!w->idle_since)
        w->idle_since = now;
    bool purge_later = false; /* come back soon: there is more to purge */
    if (now - w->idle_since >= SPOOL_PURGE_IDLE_NS) {
        if ((deadline == UINT64_MAX || deadline > now + SPOOL_PURGE_MIN_IDLE_NS) &&
            spool__stack_purge(&w->stacks, SPOOL_PURGE_PER_PARK) == SPOOL_PURGE_PER_PARK)
            purge_later = true;
    } else {
        purge_later = spool__stack_purge_wanted(&w->stacks);
    }
    set_idle(w);                               /* W2 */
    spool__fence_seq_cst(); /* W3: pairs with P2 */
    bool stop = atomic_load_explicit(&rt->shutdown, memory_order_seq_cst);
    if (!stop && atomic_load_explicit(&rt->main_done, memory_order_seq_cst) && quiescent(rt)) {
        begin_shutdown(w);
        stop = true;
    }
    now = spool_now_ns();
    if (stop || work_visible(rt) || deadline <= now + spin) { /* W4 */
        if (!clear_idle(w))
            w->searching = true;
        return;
    }
    /* Wake a spin window early; the last stretch is spent awake. */
    uint64_t timeout = deadline == UINT64_MAX ? UINT64_MAX : deadline - now - spin;
    if (timeout > SPOOL_PARK_MAX_NS)
        timeout = SPOOL_PARK_MAX_NS;
    if (purge_later) { /* come back to purge once idle long enough */
        uint64_t purge_at = w->idle_since + SPOOL_PURGE_IDLE_NS;
        uint64_t until_purge = purge_at > now ? purge_at - now : 1; /* 0 would not wait */
        if (timeout > until_purge)
            timeout = until_purge;
    }
    spool__owner_add(&w->stat_idle, 1, memory_order_relaxed);
    int woken = spool__driver_park(w, timeout); /* W5 */
    if (woken < 0)
        driver_failed(w, woken);
    else
        w->driver_failing_since = 0;
    uint64_t end = timeout == UINT64_MAX ? 0 : now + timeout;
    uint64_t after = w->clock_seen = spool_now_ns();
    if (woken == 0 && end && after >= end) {
        /* Ran to its timeout (not a message, a signal or another early
         * end): learn how late such a wake-up comes. */
        uint64_t late = after - end;
        if (late > SPOOL_TIMER_SPIN_MAX_NS)
            late = SPOOL_TIMER_SPIN_MAX_NS; /* one preemption must not stick */
        w->wake_late_ns += ((int64_t)late - (int64_t)w->wake_late_ns) / 8;
    }
    if (!clear_idle(w))
        w->searching = true;
}

/* ---- finding the next task --------------------------------------------- */

/* The oldest task of w's deque if the top has not moved for
 * SPOOL_STARVE_NS (no thief or owner took it) by the clock reading `now`,
 * else NULL. Owner only. */
static spool_task *take_starving(spool__worker *w, uint64_t now)
{
    int64_t top = atomic_load_explicit(&w->deque.top, memory_order_relaxed);
    if (top != w->top_seen || spool__deque_len(&w->deque) == 0) {
        w->top_seen = top;
        w->top_since = now;
        return NULL;
    }
    if (now - w->top_since < SPOOL_STARVE_NS)
        return NULL;
    w->top_since = now;
    int lost = 0;
    return spool__deque_steal(&w->deque, &lost);
}

/* Is any task other than the LIFO slot's waiting for this worker? */
static bool others_waiting(spool__worker *w)
{
    return spool__deque_len(&w->deque) > 0 || spool__inject_len(&w->rt->inject) > 0;
}

/* Whether the LIFO slot's task may run next: within its budget, or nobody
 * else waits. */
static bool lifo_may_run(spool__worker *w)
{
    return w->lifo_polls < SPOOL_LIFO_MAX_POLLS || !others_waiting(w);
}

/* SQEs that make a tick submit at once, and the most ticks (a mask) an
 * SQE waits for company. */
#define SPOOL_IO_BATCH 32u
#define SPOOL_IO_BATCH_TICKS 15u

/* Whether w has tasks ready to run besides the current one. */
static bool work_waiting(spool__worker *w)
{
    return w->lifo || spool__deque_len(&w->deque) > 0 || spool__inject_len(&w->rt->inject) > 0;
}

/* Whether tick `tick` talks to the ring: SQEs prepared since the last
 * submit go in together (one io_uring_enter for all of them); while
 * operations are in flight, completions are reaped as soon as the ring
 * shows them (posted CQEs, or the kernel's flag for completions it holds
 * until we enter), which costs memory reads only; a ring that cannot
 * flag them is polled every few ticks. */
static bool io_due(spool__worker *w, uint32_t tick)
{
    if (w->on_epoll)
        /* Readiness shows only through epoll_wait, a system call: every
         * few ticks while tasks wait on fds (and whenever it parks). */
        return spool__epoll_busy(&w->ep) && (tick & SPOOL_IO_BATCH_TICKS) == 0;
    const spool__reactor *r = &w->reactor;
    unsigned sq = io_uring_sq_ready(&r->ring);
    /* SQEs wait while other tasks are ready to run (they will add theirs
     * to the same io_uring_enter), up to a batch or a few ticks. */
    if (sq && (sq >= SPOOL_IO_BATCH || (tick & SPOOL_IO_BATCH_TICKS) == 0 || !work_waiting(w)))
        return true;
    if (!w->io_inflight)
        return false;
    if (!(r->flags & IORING_SETUP_TASKRUN_FLAG))
        return (tick & SPOOL_TIMER_CHECK_MASK) == 0;
    return io_uring_cq_ready(&r->ring) || (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/* Whether scheduler tick `tick` has duties besides running a task: firing
 * timers, the fairness pick, the ring. */
static bool tick_has_duties(spool__worker *w, uint32_t tick)
{
    return tick % SPOOL_GLOBAL_INTERVAL == 0 || (w->timers.len && (tick & SPOOL_TIMER_CHECK_MASK) == 0) ||
           io_due(w, tick);
}

/* Yields w's thread to the kernel's scheduler if SPOOL_CPU_YIELD_NS have
 * passed since it last did, by the clock reading `now`. */
static void give_cpu_if_due(spool__worker *w, uint64_t now)
{
    if (now - w->last_cpu_yield < SPOOL_CPU_YIELD_NS)
        return;
    sched_yield();
    w->last_cpu_yield = w->clock_seen = spool_now_ns();
    spool__owner_add(&w->stat_cpu_yields, 1, memory_order_relaxed);
}

static spool_task *next_task(spool__worker *w)
{
    ++w->tick;
    if (io_due(w, w->tick))
        spool__driver_poll(w); /* may wake tasks into the LIFO slot */
    spool_task *t = w->lifo;
    if (w->timers.len && (w->tick & SPOOL_TIMER_CHECK_MASK) == 0)
        fire_timers(w);
    if (w->tick % SPOOL_GLOBAL_INTERVAL == 0) {
        /* One clock reading for both uses (~30 ns on a VM's TSC). */
        uint64_t now = w->clock_seen = spool_now_ns();
        give_cpu_if_due(w, now);
        /* Fairness: the oldest work — the global FIFO, else the top of
         * our own deque if it has waited long — before anything newer. */
        if (spool__deque_len(&w->deque) > 0)
            maybe_notify(w);
        /* One task only: a batch would bury the tasks woken meanwhile
         * (they sit at the bottom of the deque) under older ones. */
        spool_task *old = inject_take(w, 1);
        if (!old)
            old = take_starving(w, now);
        if (old)
            return old;
    }
    if (t) {
        w->lifo = NULL;
        if (lifo_may_run(w)) {
            w->lifo_polls++;
            return t;
        }
        /* Its budget is spent and others wait: the newest queued task
         * runs first and the slot's task goes on the deque right behind
         * it. Not the oldest (that would unfold fork-join breadth-first:
         * a stack per suspended parent), and not the back of the global
         * FIFO (behind a spawn burst, a task just handed a semaphore
         * permit would hold it idle for milliseconds). */
        w->lifo_polls = 0;
        spool_task *other = spool__deque_take(&w->deque);
        if (!other)
            other = inject_take(w, 1);
        push_local(w, t);
        maybe_notify(w);
        if (other)
            return other;
        return spool__deque_take(&w->deque); /* someone took the others */
    }
    w->lifo_polls = 0;
    if ((t = spool__deque_take(&w->deque)))
        return t;
    return inject_take(w, SPOOL_INJECT_BATCH);
}

static spool_task *find_work(spool__worker *w)
{
    for (;;) {
        if (atomic_load_explicit(&w->rt->shutdown, memory_order_acquire))
            return NULL;
        spool__dump_checkpoint(w); /* between tasks: a dump may look at every task */
        if (spool__driver_busy(w))
            spool__driver_poll(w);
        /* A wake-up made on this worker outside a task (a listener's
         * completion releasing its semaphore, a timer) leaves its task in
         * the LIFO slot (I/O completions go to the global queue:
         * spool__wake_fifo): it runs now, or it would wait for the next
         * task this worker runs. */
        spool_task *t = w->lifo;
        if (t) {
            w->lifo = NULL;
            goto found;
        }
        if (fire_timers(w) && (t = spool__deque_take(&w->deque)))
            goto found;
        if ((t = inject_take(w, SPOOL_INJECT_BATCH)))
            goto found;
        if (start_searching(w) && (t = steal_work(w)))
            goto found;
        park(w);
        continue;
found:
        stop_searching(w);
        return t;
    }
}

static void run_task(spool__worker *w, spool_task *t);

/* Debug mode: t, which ran since w->run_start, reached a wait point (or
 * ended); report it if it held its worker too long (asyncio's slow-callback
 * warning). Starts the clock for the next task. */
static void debug_ran(spool__worker *w, spool_task *t)
{
    uint64_t now = w->clock_seen = spool_now_ns();
    uint64_t ran = now - w->run_start;
    w->run_start = now;
    if (ran < SPOOL_DEBUG_SLOW_NS)
        return;
    char name[96];
    spool__task_describe(t, name, sizeof name);
    fprintf(stderr, "spool debug: %s ran %.1f ms without reaching a wait point (worker %u)\n", name,
            (double)ran / 1e6, w->index);
}

void spool__worker_loop(spool__worker *w)
{
    w->rng = 0x9E3779B97F4A7C15u * (w->index + 1);
    w->last_cpu_yield = w->clock_seen = spool_now_ns();
    w->top_seen = -1; /* no top seen yet: the first fairness check starts the clock */
    w->wake_late_ns = (SPOOL_TIMER_SPIN_START_NS - 10u * 1000u) / 2;
    for (;;) {
        spool__dump_checkpoint(w); /* between tasks: a dump may look at every task */
        spool_task *t = next_task(w);
        if (!t && !(t = find_work(w)))
            return;
        w->idle_since = 0;
        run_task(w, t);
        atomic_store_explicit(&w->shown, NULL, memory_order_relaxed);
    }
}

/* ---- running, suspending, waking --------------------------------------- */

static void finish_task(spool__worker *w, spool_task *t);

/* Not instrumented by TSan: its entry would stay on the stack's fiber
 * forever (a task never returns from here), and fibers are reused. */
__attribute__((no_sanitize_thread)) static void task_entry(void *arg)
{
    spool_task *t = arg;
    spool__asan_finish(NULL); /* first arrival on this stack */
    spool_fn fn = t->u.start.fn;
    void *fn_arg = t->u.start.arg;
    spool__task_start_running(spool__worker_current(), t);
    t->result = fn(fn_arg);
    spool__worker *w = spool__worker_current();
    w->action = SPOOL__ACT_EXIT;
    spool__tsan_switch(w->tsan_fiber);
    spool__asan_start(NULL, w->stack_bottom, w->stack_size); /* NULL: this stack is done */
    spool__ctx_switch_out(&t->ctx, &w->sched_ctx);
    __builtin_unreachable();
}

static void run_task(spool__worker *w, spool_task *t)
{
    if (!t->stack) {
        t->stack = spool__stack_get(&w->stacks);
        if (!t->stack) {
            /* No stack can be had: the task ends without running, with
             * the error as its result (its spawner's drop, if any, runs
             * here: spool_spawn_owned), and the runtime goes on. */
            spool__task_never_runs(w, t, -ENOMEM);
            finish_task(w, t);
            return;
        }
        t->stack->fn = t->u.start.fn; /* for the overflow line (guard.c) */
        t->stack->started = w->clock_seen; /* for spool_dump's ages */
        t->stack->waiting = NULL;
        spool__ctx_init(&t->ctx, spool__stack_top(&w->stacks, t->stack), task_entry, t);
    }
    w->current = t;
    atomic_store_explicit(&w->shown, t, memory_order_relaxed); /* spool_dump: a plain store */
    if (w->rt->debug)
        w->run_start = spool_now_ns();
    for (;;) {
        spool__tsan_switch(t->stack->tsan_fiber);
        spool__asan_start(&w->asan_fake_stack, t->stack->base, w->rt->stack_size);
        spool__ctx_switch_in(&w->sched_ctx, &t->ctx, w->fp_words);
        spool__asan_finish(w->asan_fake_stack);
        /* The task that switched back to us: t, or one that t handed the
         * worker to directly (hand_off), and so on. */
        t = w->current;
        if (w->rt->debug)
            debug_ran(w, t);
        /* Its control words stay in force (switch_out does not load ours).
         * Read them now: once t is published, another worker may resume
         * it and reuse this frame. */
        w->fp_words = spool__fp_words(&t->ctx);
        switch (w->action) {
        case SPOOL__ACT_PARK:
            if (w->park_fn && w->park_fn(t, w->park_arg))
                continue; /* the wait was already over: resume it */
            w->current = NULL;
            return;
        case SPOOL__ACT_YIELD:
            w->current = NULL;
            push_global(w, t);
            maybe_notify(w);
            return;
        case SPOOL__ACT_EXIT:
            w->current = NULL;
            finish_task(w, t);
            return;
        }
    }
}

/* Runs on a task just resumed, first thing: if the task before it handed
 * the worker over directly (hand_off), that task's park action is still to
 * be done — now, on this stack, after its registers were saved. */
static void finish_hand_off(void)
{
    spool__worker *w = spool__worker_current();
    spool_task *from = w->handed_off;
    if (!from)
        return;
    w->handed_off = NULL;
    if (w->park_fn && w->park_fn(from, w->park_arg)) {
        /* Its wait was already over: runnable at once, and stealable (in
         * the LIFO slot it would wait for whatever this task does next). */
        push_local(w, from);
        maybe_notify(w);
    }
}

static void switch_out(spool__worker *w, spool_task *t, spool__action action)
{
    w->action = action;
    spool__tsan_switch(w->tsan_fiber);
    spool__asan_start(&t->asan_fake_stack, w->stack_bottom, w->stack_size);
    spool__ctx_switch_out(&t->ctx, &w->sched_ctx);
    /* Resumed, maybe on another worker: w is stale from here on. */
    spool__asan_finish(t->asan_fake_stack);
    finish_hand_off();
}

/* The LIFO slot's task, if the parking task `t` may switch straight to it
 * instead of through the worker's loop: it has run before (it has a
 * stack), its LIFO budget allows it, and this tick is not one on which the
 * loop has other duties (timers, fairness). Counts the tick. NULL: go
 * through the loop. */
static spool_task *hand_off_target(spool__worker *w)
{
    spool_task *next = w->lifo;
    if (!next || !next->stack)
        return NULL;
    /* A dump asked the workers to stop: through the loop, where w stops
     * (dump.c). Only sooner: a chain of hand-offs would keep w from its
     * loop a while, and the dump waits for the stop itself, not this. */
    if (spool__dump_wanted(w->rt))
        return NULL;
    uint32_t tick = w->tick + 1;
    if (tick_has_duties(w, tick) || !lifo_may_run(w))
        return NULL;
    w->tick = tick;
    w->lifo_polls++;
    w->lifo = NULL;
    return next;
}

/* Switches from the parking task t straight to next on the same worker:
 * one switch instead of two (t -> loop -> next). The park action is left
 * in w (park_fn, park_arg, handed_off) for next to carry out when it
 * resumes (finish_hand_off), so nobody can wake t before its registers are
 * saved. */
static void hand_off(spool__worker *w, spool_task *t, spool_task *next)
{
    if (w->rt->debug)
        debug_ran(w, t);
    w->handed_off = t;
    w->current = next;
    atomic_store_explicit(&w->shown, next, memory_order_relaxed);
    w->fp_words = spool__fp_words(&next->ctx); /* in force after the switch */
    spool__tsan_switch(next->stack->tsan_fiber);
    spool__asan_start(&t->asan_fake_stack, next->stack->base, w->rt->stack_size);
    spool__ctx_switch(&t->ctx, &next->ctx);
    /* Resumed, maybe on another worker: w is stale from here on. */
    spool__asan_finish(t->asan_fake_stack);
    finish_hand_off();
}

void spool__suspend(spool__worker *w, spool__park_fn fn, void *arg)
{
    w->park_fn = fn;
    w->park_arg = arg;
    spool_task *t = w->current;
    spool_task *next = hand_off_target(w);
    if (next)
        hand_off(w, t, next);
    else
        switch_out(w, t, SPOOL__ACT_PARK);
}

int spool_yield(void)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    int rc = spool__wait_check(w->current); /* a cancellation point, like every wait */
    if (rc)
        return rc;
    switch_out(w, w->current, SPOOL__ACT_YIELD);
    return 0;
}

void spool__yield_uncancellable(spool__worker *w)
{
    switch_out(w, w->current, SPOOL__ACT_YIELD);
}

void spool__wake(spool__worker *w, spool_task *t)
{
    spool_task *prev = w->lifo;
    w->lifo = t;
    if (prev) {
        push_local(w, prev);
        maybe_notify(w);
    }
}

void spool__wake_fifo(spool__worker *w, spool_task *t)
{
    spool__owner_add(&w->stat_woken, 1, memory_order_relaxed);
    push_global(w, t);
}

void spool__notify_if_queued(spool__worker *w)
{
    if (w->rt->nworkers > 1 && spool__inject_len(&w->rt->inject) > 1)
        spool__notify(w);
}

void spool__task_schedule_new(spool__worker *w, spool_task *t)
{
    spool__runtime *rt = w->rt;
    spool__owner_add(&w->spawned, 1, memory_order_relaxed);
    /* A new task goes on the deque, not the LIFO slot: it must be
     * stealable at once, or `c = spawn(f); compute(); join(c)` would run f
     * only after compute(). The owner still takes it first (newest first).
     * One idle worker is woken for it. The relaxed pre-check keeps the
     * fence of spool__notify off the spawn path when nobody is idle; if it
     * races with a worker going idle, that worker's W4 check usually sees
     * the task, and at worst its park times out (SPOOL_PARK_MAX_NS) or the
     * owner runs the task itself: parallelism is delayed, work never lost. */
    push_local(w, t);
    if (rt->nworkers > 1 && atomic_load_explicit(&rt->nidle, memory_order_relaxed) > 0 &&
        atomic_load_explicit(&rt->nsearching, memory_order_relaxed) == 0)
        spool__notify(w);
}

/* The exit path, on the worker's stack: the task's stack is free to reuse,
 * then its result is published to its joiner. */
static void finish_task(spool__worker *w, spool_task *t)
{
    spool__runtime *rt = w->rt;
    if (t->stack) {
        spool__stack_put(&w->stacks, t->stack);
        t->stack = NULL;
    }
    if (t == rt->main_task) {
        rt->main_result = t->result; /* read by spool_run after the threads are joined */
        /* Every task still running is cancelled before anyone can see
         * main_done: the runtime is then only waiting for them. */
        spool__runtime_begin_cancel_all(w);
        /* seq_cst: part of the quiescence check in park (after W3). */
        atomic_store_explicit(&rt->main_done, true, memory_order_seq_cst);
    } else {
        spool__task_publish_exit(w, t);
    }
    /* Counted last: while this task's joiner is not yet woken, the runtime
     * must not look quiescent (the joiner is alive anyway). Release, paired
     * with quiescent()'s seq_cst (so at least acquire) loads: whoever reads
     * this count also sees the spawns this task made (they happened before
     * it, on whatever worker), so a child still alive cannot go uncounted.
     * A relaxed store would not do on a weakly ordered machine: a reader
     * could see the exit and miss a spawn that came before it. Release
     * needs no RMW: only this worker writes the counter. A checker that
     * misses this store sees the sums differ and parks; this worker passes
     * its own W3 fence (seq_cst) before it parks, so of any two workers the
     * later through W3 sees the other's last count. */
    spool__owner_add(&w->exited, 1, memory_order_release);
}

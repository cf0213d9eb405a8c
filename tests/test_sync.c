/*
 * test_sync.c — lock, event, condition, barrier and the bounded semaphore
 * (sync/lock.c, event.c, cond.c, barrier.c, sem.c) through the API: every
 * rule of their contracts in spool.h, the static initialisers, and the
 * races that the waiter protocol (runtime/waiter.h) must win — a waiter
 * cancelled or timing out in the same instant a permit, a wake-up or a
 * notify is handed to it — run for thousands of rounds on 2 and 4
 * workers, with every permit and every wake-up accounted for afterwards.
 *
 * Deterministic orders (FIFO, arrival indices) are checked on one worker,
 * where a task that has started ran until it blocked; on several workers
 * the tests only rely on what is published under a lock.
 */
#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* SYNC_RACE_STATS=1 prints each race test's outcomes (to see whether a
 * machine still hits the race windows). */
#define RACE_REPORT(st)                                                                              \
    do {                                                                                             \
        if (getenv("SYNC_RACE_STATS"))                                                               \
            fprintf(stderr, "%s[%d]: granted %u gave up %u grant won over a cancel/deadline %u\n",  \
                    __func__, _i, (st).granted, (st).cancelled, atomic_load(&(st).raced));            \
    } while (0)

static const unsigned multi_workers[] = {2, 4};

/* Rounds of each race test, per worker count. */
#define RACE_ROUNDS (SANITIZED ? 5000u : 30000u)

/* ---- helpers ------------------------------------------------------------------ */

/* Yields until *v >= want; fails the test after HANG_GUARD_NS (a hang). */
static void yield_until(_Atomic int *v, int want)
{
    uint64_t t0 = spool_now_ns();
    while (atomic_load(v) < want) {
        spool_yield();
        REQUIRE(spool_now_ns() - t0 < HANG_GUARD_NS);
    }
}

/* Burns a pseudo-random 0 .. max-1 turns of a spin loop, so that two
 * tasks on different workers meet at varying offsets. */
static void jitter(uint64_t *rng, unsigned max)
{
    unsigned n = (unsigned)(xorshift(rng) % max);
    for (unsigned i = 0; i < n; i++)
        __asm__ __volatile__("" ::: "memory");
}

/* Outcomes of a race test's rounds: granted (the wait succeeded),
 * cancelled (it gave up), raced (it succeeded although its cancellation
 * or deadline was already in force when it returned — the grant won, or
 * for deadlines, nearly: it may have passed just after the grant). */
struct race_stats {
    unsigned granted, cancelled;
    _Atomic unsigned raced;
};

static uint64_t seed_of(unsigned round, unsigned salt)
{
    return ((uint64_t)round + 1) * UINT64_C(0x9E3779B97F4A7C15) + salt * UINT64_C(0xBF58476D1CE4E5B9) + 1;
}

/* ======================================================================
 * Lock
 * ====================================================================== */

static spool_lock static_lock = SPOOL_LOCK_INIT;

START_TEST(lock_static_initializer_and_rules)
{
    /* The static initialiser: free. */
    ck_assert_int_eq(spool_lock_locked(&static_lock), 0);
    ck_assert_int_eq(spool_lock_try_acquire(&static_lock), 0);
    ck_assert_int_eq(spool_lock_locked(&static_lock), 1);
    ck_assert_int_eq(spool_lock_try_acquire(&static_lock), -EAGAIN);
    ck_assert_int_eq(spool_lock_release(&static_lock), 0);
    ck_assert_int_eq(spool_lock_locked(&static_lock), 0);
    /* Releasing a free lock: -EPERM, and nothing changed (one take only). */
    ck_assert_int_eq(spool_lock_release(&static_lock), -EPERM);
    ck_assert_int_eq(spool_lock_locked(&static_lock), 0);
    ck_assert_int_eq(spool_lock_try_acquire(&static_lock), 0);
    ck_assert_int_eq(spool_lock_try_acquire(&static_lock), -EAGAIN);
    ck_assert_int_eq(spool_lock_release(&static_lock), 0);

    spool_lock l;
    ck_assert_int_eq(spool_lock_init(&l), 0);
    ck_assert_int_eq(spool_lock_locked(&l), 0);
    /* Outside a task, acquire cannot wait. */
    ck_assert_int_eq(spool_lock_acquire(&l), -EPERM);
    ck_assert_int_eq(spool_lock_locked(&l), 0);

    ck_assert_int_eq(spool_lock_init(NULL), -EINVAL);
    ck_assert_int_eq(spool_lock_acquire(NULL), -EINVAL);
    ck_assert_int_eq(spool_lock_try_acquire(NULL), -EINVAL);
    ck_assert_int_eq(spool_lock_release(NULL), -EINVAL);
    ck_assert_int_eq(spool_lock_locked(NULL), 0);
}
END_TEST

/* -- mutual exclusion -- */

struct mutex_test {
    spool_lock lock;
    _Atomic int inside;  /* holders now: must never pass 1 */
    uint64_t counter;    /* plain: only touched under the lock */
    unsigned rounds;
};

static int mutex_worker(void *arg)
{
    struct mutex_test *m = arg;
    uint64_t rng = (uint64_t)(uintptr_t)spool_current() | 1;
    for (unsigned i = 0; i < m->rounds; i++) {
        REQUIRE(spool_lock_acquire(&m->lock) == 0);
        REQUIRE(atomic_fetch_add(&m->inside, 1) == 0);
        uint64_t c = m->counter;
        if (xorshift(&rng) % 8 == 0)
            spool_yield(); /* hold it across a switch now and then */
        m->counter = c + 1;
        REQUIRE(atomic_fetch_sub(&m->inside, 1) == 1);
        REQUIRE(spool_lock_release(&m->lock) == 0);
        if (xorshift(&rng) % 16 == 0)
            spool_yield();
    }
    return 0;
}

static int mutex_main(void *arg)
{
    struct mutex_test *m = arg;
    enum { TASKS = 32 };
    spool_task *t[TASKS];
    for (int i = 0; i < TASKS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(mutex_worker, m));
    ck_assert_int_eq(spool_gather(t, TASKS, NULL), 0);
    ck_assert_uint_eq(m->counter, (uint64_t)TASKS * m->rounds);
    ck_assert_int_eq(spool_lock_locked(&m->lock), 0);
    return 0;
}

START_TEST(lock_excludes_under_contention)
{
    struct mutex_test m = {.lock = SPOOL_LOCK_INIT, .rounds = SANITIZED ? 500 : 3000};
    ck_assert_int_eq(run_on(multi_workers[_i], mutex_main, &m), 0);
}
END_TEST

/* -- FIFO hand-off -- */

enum { FIFO_WAITERS = 6 };

struct fifo_test {
    spool_lock lock;
    _Atomic int started;
    _Atomic int done;
    int order[FIFO_WAITERS];
};

struct fifo_arg {
    struct fifo_test *f;
    int id;
};

static int fifo_lock_waiter(void *arg)
{
    struct fifo_arg *a = arg;
    atomic_fetch_add(&a->f->started, 1);
    ck_assert_int_eq(spool_lock_acquire(&a->f->lock), 0);
    a->f->order[atomic_fetch_add(&a->f->done, 1)] = a->id;
    ck_assert_int_eq(spool_lock_release(&a->f->lock), 0);
    return 0;
}

static int fifo_lock_main(void *arg)
{
    struct fifo_test f = {.lock = SPOOL_LOCK_INIT};
    struct fifo_arg a[FIFO_WAITERS];
    spool_task *t[FIFO_WAITERS];
    ck_assert_int_eq(spool_lock_acquire(&f.lock), 0);
    /* One worker: a task that has started ran until it blocked. */
    for (int i = 0; i < FIFO_WAITERS; i++) {
        a[i] = (struct fifo_arg){&f, i};
        ck_assert_ptr_nonnull(t[i] = spool_spawn(fifo_lock_waiter, &a[i]));
        yield_until(&f.started, i + 1);
    }
    ck_assert_int_eq(atomic_load(&f.done), 0);
    ck_assert_int_eq(spool_lock_release(&f.lock), 0);
    /* Handed to waiter 0, which has not run yet: no barging. */
    ck_assert_int_eq(spool_lock_locked(&f.lock), 1);
    ck_assert_int_eq(spool_lock_try_acquire(&f.lock), -EAGAIN);
    ck_assert_int_eq(spool_gather(t, FIFO_WAITERS, NULL), 0);
    for (int i = 0; i < FIFO_WAITERS; i++)
        ck_assert_msg(f.order[i] == i, "hand-off %d went to waiter %d", i, f.order[i]);
    ck_assert_int_eq(spool_lock_locked(&f.lock), 0);
    return 0;
}

START_TEST(lock_hands_off_to_waiters_in_fifo_order)
{
    ck_assert_int_eq(run_on(1, fifo_lock_main, NULL), 0);
}
END_TEST

/* ======================================================================
 * Event
 * ====================================================================== */

static spool_event static_event = SPOOL_EVENT_INIT;

static int event_rules_task(void *arg)
{
    spool_event ev;
    ck_assert_int_eq(spool_event_init(&ev), 0);
    ck_assert_int_eq(spool_event_set(&ev), 0);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_event_wait(&ev), 0); /* set: at once */
    ck_assert_int_eq(spool_event_wait(&ev), 0);
    ck_assert_uint_lt(spool_now_ns() - t0, HANG_GUARD_NS);
    ck_assert_int_eq(spool_event_clear(&ev), 0);
    /* Cleared: a wait waits (here: until its scope expires). */
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, 2 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_event_wait(&ev), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_ptr_null(ev.waiters.head); /* the timed-out waiter withdrew */
    return 0;
}

START_TEST(event_static_initializer_and_rules)
{
    ck_assert_int_eq(spool_event_is_set(&static_event), 0);
    ck_assert_int_eq(spool_event_set(&static_event), 0);
    ck_assert_int_eq(spool_event_is_set(&static_event), 1);
    ck_assert_int_eq(spool_event_set(&static_event), 0); /* twice: still set */
    ck_assert_int_eq(spool_event_is_set(&static_event), 1);
    ck_assert_int_eq(spool_event_clear(&static_event), 0);
    ck_assert_int_eq(spool_event_is_set(&static_event), 0);
    ck_assert_int_eq(spool_event_wait(&static_event), -EPERM); /* outside a task */

    ck_assert_int_eq(spool_event_init(NULL), -EINVAL);
    ck_assert_int_eq(spool_event_set(NULL), -EINVAL);
    ck_assert_int_eq(spool_event_clear(NULL), -EINVAL);
    ck_assert_int_eq(spool_event_is_set(NULL), -EINVAL);
    ck_assert_int_eq(spool_event_wait(NULL), -EINVAL);

    ck_assert_int_eq(run_on(1, event_rules_task, NULL), 0);
}
END_TEST

/* -- set releases every waiter, racing the waiters' arrival -- */

enum { EVENT_WAITERS = 6 };

struct event_round {
    spool_event ev;
    spool_task *t[EVENT_WAITERS];
    _Atomic int started;
    _Atomic int before_set; /* written before the set: a waiter must see it */
    int cancel_mask;        /* waiters a canceller cancels (0: no canceller) */
    uint64_t seed;
    struct race_stats *st;
};

static int event_waiter(void *arg)
{
    struct event_round *r = arg;
    atomic_fetch_add(&r->started, 1);
    int rc = spool_event_wait(&r->ev);
    REQUIRE(rc == 0 || rc == -ECANCELED);
    if (rc == 0) {
        REQUIRE(atomic_load_explicit(&r->before_set, memory_order_relaxed) == 1); /* not early */
        if (spool_cancelled())
            atomic_fetch_add_explicit(&r->st->raced, 1, memory_order_relaxed);
    }
    return rc;
}

static int event_canceller(void *arg)
{
    struct event_round *r = arg;
    uint64_t rng = r->seed ^ 0x2468;
    yield_until(&r->started, (int)(xorshift(&rng) % (EVENT_WAITERS + 1)));
    for (int i = 0; i < EVENT_WAITERS; i++) {
        jitter(&rng, 1000);
        if (r->cancel_mask & (1 << i))
            spool_task_cancel(r->t[i]);
    }
    return 0;
}

static int event_release_main(void *arg)
{
    struct race_stats *st = arg;
    unsigned rounds = RACE_ROUNDS;
    struct event_round r;
    spool_event_init(&r.ev);
    for (unsigned round = 0; round < rounds; round++) {
        r.seed = seed_of(round, 1);
        r.st = st;
        uint64_t rng = r.seed;
        spool_event_clear(&r.ev);
        atomic_store(&r.started, 0);
        atomic_store(&r.before_set, 0);
        /* Every other round, cancellations race the set. */
        r.cancel_mask = round % 2 ? (int)(xorshift(&rng) % (1u << EVENT_WAITERS)) | 1 : 0;
        spool_task *t[EVENT_WAITERS + 1];
        for (int i = 0; i < EVENT_WAITERS; i++)
            REQUIRE((t[i] = r.t[i] = spool_spawn(event_waiter, &r)) != NULL);
        int n = EVENT_WAITERS;
        if (r.cancel_mask)
            REQUIRE((t[n++] = spool_spawn(event_canceller, &r)) != NULL);
        /* Set while some waiters are parked, some are arriving and some
         * have not started. */
        unsigned mode = (unsigned)(xorshift(&rng) % 3);
        if (mode == 1)
            spool_yield();
        else if (mode == 2)
            yield_until(&r.started, EVENT_WAITERS);
        jitter(&rng, 2000);
        atomic_store_explicit(&r.before_set, 1, memory_order_relaxed);
        REQUIRE(spool_event_set(&r.ev) == 0);
        int res[EVENT_WAITERS + 1];
        spool_gather(t, (size_t)n, res);
        for (int i = 0; i < EVENT_WAITERS; i++) {
            /* Only a cancelled waiter may fail; the others were all woken. */
            REQUIRE(res[i] == 0 || (res[i] == -ECANCELED && (r.cancel_mask & (1 << i))));
            st->granted += res[i] == 0 && (r.cancel_mask & (1 << i));
            st->cancelled += res[i] != 0;
        }
        REQUIRE(r.ev.waiters.head == NULL); /* withdrawals left the list sound */
    }
    return 0;
}

START_TEST(event_set_releases_every_waiter)
{
    struct race_stats st = {0};
    ck_assert_int_eq(run_on(multi_workers[_i], event_release_main, &st), 0);
    RACE_REPORT(st);
    ck_assert_uint_gt(st.cancelled, 0);
}
END_TEST

/* -- cancellation and timeouts of an event wait -- */

struct event_cancel {
    spool_event ev;
    _Atomic int started;
};

static int event_wait_task(void *arg)
{
    struct event_cancel *c = arg;
    atomic_fetch_add(&c->started, 1);
    return spool_event_wait(&c->ev);
}

static int event_cancel_main(void *arg)
{
    struct event_cancel c = {.ev = SPOOL_EVENT_INIT};
    spool_task *t = spool_spawn(event_wait_task, &c);
    ck_assert_ptr_nonnull(t);
    yield_until(&c.started, 1);
    spool_sleep_ms(2); /* most likely parked by now; either way it must fail */
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_ptr_null(c.ev.waiters.head); /* it withdrew */
    ck_assert_int_eq(spool_event_is_set(&c.ev), 0);

    /* The event still works for the next waiter. */
    atomic_store(&c.started, 0);
    ck_assert_ptr_nonnull(t = spool_spawn(event_wait_task, &c));
    yield_until(&c.started, 1);
    ck_assert_int_eq(spool_event_set(&c.ev), 0);
    ck_assert_int_eq(spool_join(t), 0);

    /* Under a timeout scope: -ETIMEDOUT after the deadline, not before,
     * and the scope says it fired. */
    ck_assert_int_eq(spool_event_clear(&c.ev), 0);
    spool_timeout to;
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_timeout_enter(&to, 10 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_event_wait(&c.ev), -ETIMEDOUT);
    /* Level-triggered: inside the expired scope even a set event fails. */
    ck_assert_int_eq(spool_event_set(&c.ev), 0);
    ck_assert_int_eq(spool_event_wait(&c.ev), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    uint64_t took = spool_now_ns() - t0;
    ck_assert_uint_ge(took, 10 * SPOOL_MSEC);
    ck_assert_uint_lt(took, HANG_GUARD_NS);
    ck_assert_int_eq(spool_event_wait(&c.ev), 0); /* outside the scope */

    /* A scope that does not expire: the wait succeeds, exit says 0. */
    ck_assert_int_eq(spool_event_clear(&c.ev), 0);
    atomic_store(&c.started, 0);
    ck_assert_int_eq(spool_timeout_enter(&to, HANG_GUARD_NS), 0);
    ck_assert_ptr_nonnull(t = spool_spawn(event_wait_task, &c));
    yield_until(&c.started, 1);
    ck_assert_int_eq(spool_event_set(&c.ev), 0);
    ck_assert_int_eq(spool_event_wait(&c.ev), 0);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(spool_timeout_exit(&to), 0);
    return 0;
}

START_TEST(event_wait_is_cancelled_or_times_out)
{
    ck_assert_int_eq(run_on(multi_workers[_i], event_cancel_main, NULL), 0);
}
END_TEST

/* ======================================================================
 * Bounded semaphore
 * ====================================================================== */

static spool_sem static_bounded = SPOOL_SEM_INIT_BOUNDED(2);

static int bounded_task(void *arg)
{
    spool_sem *s = arg;
    return spool_sem_acquire(s);
}

static int bounded_main(void *arg)
{
    spool_sem s;
    ck_assert_int_eq(spool_sem_init_bounded(&s, 1), 0);
    ck_assert_int_eq(spool_sem_acquire(&s), 0);
    spool_task *t = spool_spawn(bounded_task, &s);
    ck_assert_ptr_nonnull(t);
    spool_yield(); /* one worker: it is waiting now */
    /* Handed to the waiter: not added to the count, so no overflow. */
    ck_assert_int_eq(spool_sem_release(&s), 0);
    ck_assert_uint_eq(spool_sem_value(&s), 0);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(spool_sem_release(&s), 0); /* the waiter's permit */
    ck_assert_uint_eq(spool_sem_value(&s), 1);
    ck_assert_int_eq(spool_sem_release(&s), -EOVERFLOW);
    ck_assert_uint_eq(spool_sem_value(&s), 1);
    return 0;
}

START_TEST(bounded_semaphore_refuses_a_release_past_its_bound)
{
    ck_assert_uint_eq(spool_sem_value(&static_bounded), 2);
    ck_assert_int_eq(spool_sem_release(&static_bounded), -EOVERFLOW);
    ck_assert_uint_eq(spool_sem_value(&static_bounded), 2);
    ck_assert_int_eq(spool_sem_try_acquire(&static_bounded), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&static_bounded), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&static_bounded), -EAGAIN);
    ck_assert_int_eq(spool_sem_release(&static_bounded), 0);
    ck_assert_int_eq(spool_sem_release(&static_bounded), 0);
    ck_assert_int_eq(spool_sem_release(&static_bounded), -EOVERFLOW);
    ck_assert_uint_eq(spool_sem_value(&static_bounded), 2);

    spool_sem s;
    ck_assert_int_eq(spool_sem_init_bounded(&s, 0), 0);
    ck_assert_int_eq(spool_sem_release(&s), -EOVERFLOW);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    ck_assert_int_eq(spool_sem_init_bounded(&s, 3), 0);
    ck_assert_int_eq(spool_sem_release(&s), -EOVERFLOW);
    ck_assert_uint_eq(spool_sem_value(&s), 3);
    ck_assert_int_eq(spool_sem_init_bounded(NULL, 1), -EINVAL);
    ck_assert_int_eq(spool_sem_init_bounded(&s, (unsigned)SPOOL_SEM_MAX + 1), -EINVAL);

    ck_assert_int_eq(run_on(1, bounded_main, NULL), 0);
}
END_TEST

/* ======================================================================
 * Cancelled waits fail even when they could complete (Trio)
 * ====================================================================== */

static int cancelled_waits_task(void *arg)
{
    spool_lock l = SPOOL_LOCK_INIT;
    spool_sem s = SPOOL_SEM_INIT(2);
    spool_event ev = SPOOL_EVENT_INIT;
    spool_cond c = SPOOL_COND_INIT;
    spool_barrier b = SPOOL_BARRIER_INIT(1);
    spool_event_set(&ev);
    ck_assert_int_eq(spool_task_cancel(spool_current()), 0);
    ck_assert_int_eq(spool_cancelled(), 1);
    ck_assert_int_eq(spool_lock_acquire(&l), -ECANCELED);
    ck_assert_int_eq(spool_lock_locked(&l), 0); /* not taken */
    ck_assert_int_eq(spool_sem_acquire(&s), -ECANCELED);
    ck_assert_uint_eq(spool_sem_value(&s), 2);
    ck_assert_int_eq(spool_event_wait(&ev), -ECANCELED);
    ck_assert_int_eq(spool_barrier_wait(&b), -ECANCELED);
    /* try_acquire never waits, so it is no cancellation point. */
    ck_assert_int_eq(spool_lock_try_acquire(&l), 0);
    ck_assert_int_eq(spool_cond_wait(&c, &l), -ECANCELED);
    ck_assert_int_eq(spool_lock_locked(&l), 1); /* still held */
    ck_assert_int_eq(spool_lock_release(&l), 0);
    /* A shield lets them complete. */
    ck_assert_int_eq(spool_shield_begin(), 0);
    ck_assert_int_eq(spool_cancelled(), 0);
    ck_assert_int_eq(spool_lock_acquire(&l), 0);
    ck_assert_int_eq(spool_lock_release(&l), 0);
    ck_assert_int_eq(spool_sem_acquire(&s), 0);
    ck_assert_int_eq(spool_event_wait(&ev), 0);
    ck_assert_int_eq(spool_barrier_reset(&b), 0); /* the cancelled wait broke it */
    ck_assert_int_eq(spool_barrier_wait(&b), 0);
    ck_assert_int_eq(spool_shield_end(), 0);
    ck_assert_int_eq(spool_sem_acquire(&s), -ECANCELED);
    return 7;
}

START_TEST(a_cancelled_task_waits_fail_even_when_they_could_complete)
{
    ck_assert_int_eq(run_on(1, cancelled_waits_task, NULL), 7);
}
END_TEST

/* ======================================================================
 * A grant that lands before a cancellation or a deadline is kept
 *
 * One worker makes the race deterministic: the main task hands the
 * permit (wake-up, round) to a parked waiter, which cannot run before the
 * main task yields; then it cancels the waiter, or lets its deadline
 * pass. The waiter resumes with its wait already failing, finds it was
 * handed the permit, and keeps it: the wait succeeds (and its timeout
 * scope, which no caller saw expire, does not report a timeout).
 * ====================================================================== */

struct late {
    spool_sem sem;
    spool_lock lock;
    spool_event ev;
    spool_barrier b;
    int which;               /* 0 sem, 1 lock, 2 event, 3 barrier */
    uint64_t timeout_ns;     /* 0: cancelled instead */
    _Atomic int started;
    int exit_rc;
};

static int late_waiter(void *arg)
{
    struct late *l = arg;
    spool_timeout to;
    if (l->timeout_ns)
        spool_timeout_enter(&to, l->timeout_ns);
    atomic_store(&l->started, 1);
    int rc;
    switch (l->which) {
    case 0: rc = spool_sem_acquire(&l->sem); break;
    case 1: rc = spool_lock_acquire(&l->lock); break;
    case 2: rc = spool_event_wait(&l->ev); break;
    default: rc = spool_barrier_wait(&l->b); break;
    }
    if (l->timeout_ns)
        l->exit_rc = spool_timeout_exit(&to);
    if (!l->timeout_ns) {
        /* The cancellation is not lost either: the next wait reports it. */
        spool_event never = SPOOL_EVENT_INIT;
        REQUIRE(spool_event_wait(&never) == -ECANCELED);
    }
    return rc;
}

static int late_main(void *arg)
{
    for (int mode = 0; mode < 8; mode++) {
        struct late l = {.sem = SPOOL_SEM_INIT_BOUNDED(1), .lock = SPOOL_LOCK_INIT, .ev = SPOOL_EVENT_INIT,
                         .b = SPOOL_BARRIER_INIT(2), .which = mode % 4};
        l.timeout_ns = mode >= 4 ? 20 * SPOOL_MSEC : 0;
        ck_assert_int_eq(spool_sem_try_acquire(&l.sem), 0);
        ck_assert_int_eq(spool_lock_acquire(&l.lock), 0);
        spool_task *t = spool_spawn(late_waiter, &l);
        ck_assert_ptr_nonnull(t);
        yield_until(&l.started, 1); /* one worker: it is parked now */
        switch (l.which) {
        case 0: ck_assert_int_eq(spool_sem_release(&l.sem), 0); break;
        case 1: ck_assert_int_eq(spool_lock_release(&l.lock), 0); break;
        case 2: ck_assert_int_eq(spool_event_set(&l.ev), 0); break;
        default: ck_assert_int_eq(spool_barrier_wait(&l.b), 1); break; /* the last: no wait */
        }
        if (l.timeout_ns) {
            /* Let its deadline pass without letting it run. */
            uint64_t t0 = spool_now_ns();
            while (spool_now_ns() - t0 < 2 * l.timeout_ns)
                ;
        } else {
            ck_assert_int_eq(spool_task_cancel(t), 0);
        }
        ck_assert_int_eq(spool_join(t), 0); /* (the barrier: its index, 0) */
        if (l.timeout_ns)
            ck_assert_int_eq(l.exit_rc, 0); /* the wait succeeded: no timeout to report */
        switch (l.which) {
        case 0: /* the waiter holds the permit: none free */
            ck_assert_uint_eq(spool_sem_value(&l.sem), 0);
            ck_assert_int_eq(spool_sem_release(&l.sem), 0);
            ck_assert_int_eq(spool_sem_release(&l.sem), -EOVERFLOW);
            break;
        case 1: /* the waiter holds the lock */
            ck_assert_int_eq(spool_lock_locked(&l.lock), 1);
            ck_assert_int_eq(spool_lock_release(&l.lock), 0);
            ck_assert_int_eq(spool_lock_release(&l.lock), -EPERM);
            break;
        case 2:
            ck_assert_ptr_null(l.ev.waiters.head);
            break;
        default: /* the round completed: not broken */
            ck_assert_int_eq(l.b.broken, 0);
            break;
        }
    }
    return 0;
}

START_TEST(a_grant_that_lands_before_the_cancellation_is_kept)
{
    ck_assert_int_eq(run_on(1, late_main, NULL), 0);
}
END_TEST

/* ======================================================================
 * Races: a waiter cancelled while being handed a permit
 * ====================================================================== */

enum { RACE_WAITERS = 3 };

/* The start of a round of the semaphore-and-lock races: sem a bounded
 * semaphore of RACE_WAITERS with every permit taken, lock held by the
 * caller. */
static void empty_sem_and_held_lock(spool_sem *sem, spool_lock *lock)
{
    spool_sem_init_bounded(sem, RACE_WAITERS);
    for (int i = 0; i < RACE_WAITERS; i++)
        REQUIRE(spool_sem_try_acquire(sem) == 0);
    spool_lock_init(lock);
    REQUIRE(spool_lock_acquire(lock) == 0);
}

/* The end of such a round: the `held` permits that waiters say they got
 * and the free ones make up the bound; no waiter left, list unlocked. */
static void check_permits(spool_sem *sem, unsigned held)
{
    REQUIRE(held + spool_sem_value(sem) == RACE_WAITERS);
    REQUIRE((atomic_load(&sem->word) & 3) == 0);
}

/* The lock is held exactly when its waiter got it (got); releases it,
 * which fails with -EPERM when it is free. */
static void check_lock_held_iff(spool_lock *lock, bool got)
{
    REQUIRE(spool_lock_locked(lock) == got);
    REQUIRE(spool_lock_release(lock) == (got ? 0 : -EPERM));
}

struct handoff_round {
    spool_sem sem;            /* bounded by RACE_WAITERS, starts empty */
    spool_lock lock;          /* held by the main task at the start */
    spool_task *victims[RACE_WAITERS + 1];
    _Atomic int started;
    int rc[RACE_WAITERS + 1]; /* each waiter's result; read after the gather */
    uint64_t seed;
    int cancel_mask;          /* which victims the canceller cancels */
    struct race_stats *st;
};

struct race_arg {
    struct handoff_round *r;
    int i;
};

/* Waiters 0 .. RACE_WAITERS-1 acquire the semaphore, the last the lock. */
static int handoff_waiter(void *arg)
{
    struct race_arg *a = arg;
    atomic_fetch_add(&a->r->started, 1);
    int rc = a->r->rc[a->i] =
        a->i < RACE_WAITERS ? spool_sem_acquire(&a->r->sem) : spool_lock_acquire(&a->r->lock);
    if (rc == 0 && spool_cancelled())
        atomic_fetch_add_explicit(&a->r->st->raced, 1, memory_order_relaxed);
    return 0;
}

static int handoff_releaser(void *arg)
{
    struct handoff_round *r = arg;
    uint64_t rng = r->seed;
    yield_until(&r->started, RACE_WAITERS + 1);
    int lock_at = (int)(xorshift(&rng) % RACE_WAITERS);
    for (int i = 0; i < RACE_WAITERS; i++) {
        jitter(&rng, 3000);
        /* Never past the bound: given + free <= releases <= the bound. */
        REQUIRE(spool_sem_release(&r->sem) == 0);
        if (i == lock_at)
            REQUIRE(spool_lock_release(&r->lock) == 0);
    }
    return 0;
}

static int handoff_canceller(void *arg)
{
    struct handoff_round *r = arg;
    uint64_t rng = r->seed ^ UINT64_C(0x5555555555555555);
    yield_until(&r->started, RACE_WAITERS + 1);
    for (int i = 0; i <= RACE_WAITERS; i++) {
        jitter(&rng, 3000);
        if (r->cancel_mask & (1 << i))
            spool_task_cancel(r->victims[i]);
    }
    return 0;
}

static int handoff_main(void *arg)
{
    struct race_stats *st = arg;
    unsigned rounds = RACE_ROUNDS;
    for (unsigned round = 0; round < rounds; round++) {
        struct handoff_round r;
        memset(&r, 0, sizeof r);
        empty_sem_and_held_lock(&r.sem, &r.lock);
        r.seed = seed_of(round, 2);
        r.st = st;
        uint64_t rng = r.seed;
        r.cancel_mask = (int)(xorshift(&rng) % 16) | 1; /* at least one */
        struct race_arg a[RACE_WAITERS + 1];
        spool_task *t[RACE_WAITERS + 3];
        for (int i = 0; i <= RACE_WAITERS; i++) {
            a[i] = (struct race_arg){&r, i};
            r.rc[i] = 1;
            REQUIRE((t[i] = r.victims[i] = spool_spawn(handoff_waiter, &a[i])) != NULL);
        }
        REQUIRE((t[RACE_WAITERS + 1] = spool_spawn(handoff_releaser, &r)) != NULL);
        REQUIRE((t[RACE_WAITERS + 2] = spool_spawn(handoff_canceller, &r)) != NULL);
        REQUIRE(spool_gather(t, RACE_WAITERS + 3, NULL) == 0);

        /* Semaphore: every permit is held by a waiter that says so, or free. */
        unsigned held = 0;
        for (int i = 0; i < RACE_WAITERS; i++) {
            REQUIRE(r.rc[i] == 0 || (r.rc[i] == -ECANCELED && (r.cancel_mask & (1 << i))));
            held += r.rc[i] == 0;
            st->granted += r.rc[i] == 0 && (r.cancel_mask & (1 << i));
            st->cancelled += r.rc[i] != 0;
        }
        check_permits(&r.sem, held);
        REQUIRE(spool_sem_release(&r.sem) == (held ? 0 : -EOVERFLOW));

        /* Lock: held exactly when the waiter got it. */
        int lrc = r.rc[RACE_WAITERS];
        REQUIRE(lrc == 0 || lrc == -ECANCELED);
        REQUIRE(lrc == 0 || (r.cancel_mask & (1 << RACE_WAITERS)));
        check_lock_held_iff(&r.lock, lrc == 0);
        REQUIRE(spool_lock_locked(&r.lock) == 0);
    }
    return 0;
}

START_TEST(a_waiter_cancelled_while_handed_a_permit_loses_nothing)
{
    struct race_stats st = {0};
    ck_assert_int_eq(run_on(multi_workers[_i], handoff_main, &st), 0);
    RACE_REPORT(st);
    ck_assert_uint_gt(st.cancelled, 0); /* the cancellations did land */
}
END_TEST

/* ======================================================================
 * Races: timeouts against releases
 * ====================================================================== */

struct timeout_round {
    spool_sem sem;            /* starts empty, bounded by RACE_WAITERS */
    spool_lock lock;          /* held by main at the start */
    _Atomic int started;
    int rc[RACE_WAITERS + 1];
    uint64_t seed;
    struct race_stats *st;
};

struct timeout_arg {
    struct timeout_round *r;
    int i;
};

static int timed_waiter(void *arg)
{
    struct timeout_arg *a = arg;
    struct timeout_round *r = a->r;
    uint64_t rng = r->seed + (uint64_t)a->i * 7919;
    spool_timeout to;
    uint64_t timeout = xorshift(&rng) % (40 * SPOOL_USEC);
    uint64_t deadline = spool_now_ns() + timeout;
    REQUIRE(spool_timeout_enter(&to, timeout) == 0);
    atomic_fetch_add(&r->started, 1);
    int rc = a->i < RACE_WAITERS ? spool_sem_acquire(&r->sem) : spool_lock_acquire(&r->lock);
    bool late = spool_now_ns() >= deadline;
    int ex = spool_timeout_exit(&to);
    REQUIRE(rc == 0 || rc == -ETIMEDOUT);
    /* The scope reports a timeout exactly when the wait failed by it. */
    REQUIRE(ex == rc);
    if (rc == 0 && late)
        atomic_fetch_add_explicit(&r->st->raced, 1, memory_order_relaxed);
    r->rc[a->i] = rc;
    return 0;
}

static int timeout_releaser(void *arg)
{
    struct timeout_round *r = arg;
    uint64_t rng = r->seed ^ 0xABCDEF;
    int lock_at = (int)(xorshift(&rng) % RACE_WAITERS);
    for (int i = 0; i < RACE_WAITERS; i++) {
        if (xorshift(&rng) % 4 == 0)
            spool_sleep_ns(xorshift(&rng) % (30 * SPOOL_USEC));
        else
            jitter(&rng, 5000);
        REQUIRE(spool_sem_release(&r->sem) == 0);
        if (i == lock_at)
            REQUIRE(spool_lock_release(&r->lock) == 0);
    }
    return 0;
}

static int timeout_main(void *arg)
{
    struct race_stats *st = arg;
    unsigned rounds = RACE_ROUNDS;
    for (unsigned round = 0; round < rounds; round++) {
        struct timeout_round r;
        memset(&r, 0, sizeof r);
        empty_sem_and_held_lock(&r.sem, &r.lock);
        r.seed = seed_of(round, 3);
        r.st = st;
        struct timeout_arg a[RACE_WAITERS + 1];
        spool_task *t[RACE_WAITERS + 2];
        for (int i = 0; i <= RACE_WAITERS; i++) {
            a[i] = (struct timeout_arg){&r, i};
            r.rc[i] = 1;
            REQUIRE((t[i] = spool_spawn(timed_waiter, &a[i])) != NULL);
        }
        REQUIRE((t[RACE_WAITERS + 1] = spool_spawn(timeout_releaser, &r)) != NULL);
        REQUIRE(spool_gather(t, RACE_WAITERS + 2, NULL) == 0);

        unsigned held = 0;
        for (int i = 0; i < RACE_WAITERS; i++) {
            held += r.rc[i] == 0;
            st->granted += r.rc[i] == 0;
            st->cancelled += r.rc[i] != 0;
        }
        check_permits(&r.sem, held);
        int lrc = r.rc[RACE_WAITERS];
        check_lock_held_iff(&r.lock, lrc == 0);
    }
    return 0;
}

START_TEST(waiters_timing_out_as_permits_are_released_lose_nothing)
{
    struct race_stats st = {0};
    ck_assert_int_eq(run_on(multi_workers[_i], timeout_main, &st), 0);
    RACE_REPORT(st);
    /* Both outcomes happened: the deadlines fell among the releases. */
    ck_assert_uint_gt(st.granted, 0);
    ck_assert_uint_gt(st.cancelled, 0);
}
END_TEST

/* ======================================================================
 * Condition
 * ====================================================================== */

static spool_cond static_cond = SPOOL_COND_INIT;

static int cond_rules_task(void *arg)
{
    spool_lock l = SPOOL_LOCK_INIT;
    spool_cond c;
    ck_assert_int_eq(spool_cond_init(&c), 0);
    /* The lock must be held. */
    ck_assert_int_eq(spool_cond_wait(&c, &l), -EPERM);
    ck_assert_int_eq(spool_lock_locked(&l), 0);
    ck_assert_int_eq(spool_cond_notify(&c), 0); /* no node was left behind */
    ck_assert_int_eq(spool_cond_wait(NULL, &l), -EINVAL);
    ck_assert_int_eq(spool_cond_wait(&c, NULL), -EINVAL);
    /* A scope already expired: fails at once, the lock still held. */
    ck_assert_int_eq(spool_lock_acquire(&l), 0);
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, 0), 0);
    ck_assert_int_eq(spool_cond_wait(&c, &l), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_lock_locked(&l), 1);
    /* A scope that expires while waiting: the lock is taken back. */
    ck_assert_int_eq(spool_timeout_enter(&to, 3 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_cond_wait(&c, &l), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_lock_locked(&l), 1);
    ck_assert_ptr_null(c.waiters.head);
    ck_assert_int_eq(spool_lock_release(&l), 0);
    return 0;
}

START_TEST(cond_static_initializer_and_rules)
{
    ck_assert_int_eq(spool_cond_notify(&static_cond), 0);
    ck_assert_int_eq(spool_cond_notify_all(&static_cond), 0);
    ck_assert_int_eq(spool_cond_init(NULL), -EINVAL);
    ck_assert_int_eq(spool_cond_notify(NULL), -EINVAL);
    ck_assert_int_eq(spool_cond_notify_all(NULL), -EINVAL);
    spool_lock l = SPOOL_LOCK_INIT;
    ck_assert_int_eq(spool_lock_try_acquire(&l), 0);
    ck_assert_int_eq(spool_cond_wait(&static_cond, &l), -EPERM); /* outside a task */
    ck_assert_int_eq(spool_lock_locked(&l), 1);
    ck_assert_int_eq(run_on(1, cond_rules_task, NULL), 0);
}
END_TEST

/* -- producer / consumer with predicate loops -- */

enum { PC_CAP = 4, PC_PRODUCERS = 4, PC_CONSUMERS = 4 };

struct pc {
    spool_lock lock;
    spool_cond not_empty, not_full;
    unsigned items[PC_CAP];      /* the ring; under the lock */
    unsigned head, len;          /* under the lock */
    int done;                    /* under the lock: producers finished */
    unsigned per_producer;
    unsigned char *seen;         /* per item: times consumed; under the lock */
    uint64_t consumed_sum;       /* under the lock */
};

struct pc_arg {
    struct pc *pc;
    unsigned id;
};

static int producer(void *arg)
{
    struct pc_arg *a = arg;
    struct pc *pc = a->pc;
    for (unsigned j = 0; j < pc->per_producer; j++) {
        REQUIRE(spool_lock_acquire(&pc->lock) == 0);
        while (pc->len == PC_CAP)
            REQUIRE(spool_cond_wait(&pc->not_full, &pc->lock) == 0);
        REQUIRE(spool_lock_locked(&pc->lock) == 1);
        pc->items[(pc->head + pc->len) % PC_CAP] = a->id * pc->per_producer + j;
        pc->len++;
        REQUIRE(spool_cond_notify(&pc->not_empty) >= 0);
        REQUIRE(spool_lock_release(&pc->lock) == 0);
    }
    return 0;
}

static int consumer(void *arg)
{
    struct pc_arg *a = arg;
    struct pc *pc = a->pc;
    unsigned got = 0;
    for (;;) {
        REQUIRE(spool_lock_acquire(&pc->lock) == 0);
        while (pc->len == 0 && !pc->done)
            REQUIRE(spool_cond_wait(&pc->not_empty, &pc->lock) == 0);
        if (pc->len == 0) {
            REQUIRE(spool_lock_release(&pc->lock) == 0);
            return (int)got;
        }
        unsigned item = pc->items[pc->head];
        pc->head = (pc->head + 1) % PC_CAP;
        pc->len--;
        pc->seen[item]++;
        pc->consumed_sum += item;
        REQUIRE(spool_cond_notify(&pc->not_full) >= 0);
        REQUIRE(spool_lock_release(&pc->lock) == 0);
        got++;
    }
}

static int pc_main(void *arg)
{
    struct pc *pc = arg;
    struct pc_arg pa[PC_PRODUCERS], ca[PC_CONSUMERS];
    spool_task *p[PC_PRODUCERS], *c[PC_CONSUMERS];
    for (unsigned i = 0; i < PC_CONSUMERS; i++) {
        ca[i] = (struct pc_arg){pc, i};
        ck_assert_ptr_nonnull(c[i] = spool_spawn(consumer, &ca[i]));
    }
    for (unsigned i = 0; i < PC_PRODUCERS; i++) {
        pa[i] = (struct pc_arg){pc, i};
        ck_assert_ptr_nonnull(p[i] = spool_spawn(producer, &pa[i]));
    }
    ck_assert_int_eq(spool_gather(p, PC_PRODUCERS, NULL), 0);
    ck_assert_int_eq(spool_lock_acquire(&pc->lock), 0);
    pc->done = 1;
    int woken = spool_cond_notify_all(&pc->not_empty);
    ck_assert_int_ge(woken, 0);
    ck_assert_int_le(woken, PC_CONSUMERS);
    ck_assert_int_eq(spool_lock_release(&pc->lock), 0);
    int got[PC_CONSUMERS];
    ck_assert_int_eq(spool_gather(c, PC_CONSUMERS, got), 0);
    unsigned total = 0;
    for (int i = 0; i < PC_CONSUMERS; i++)
        total += (unsigned)got[i];
    ck_assert_uint_eq(total, PC_PRODUCERS * pc->per_producer);
    return 0;
}

START_TEST(cond_producers_and_consumers_pass_every_item_once)
{
    struct pc pc = {.lock = SPOOL_LOCK_INIT, .not_empty = SPOOL_COND_INIT, .not_full = SPOOL_COND_INIT};
    pc.per_producer = SANITIZED ? 10000 : 50000;
    unsigned n = PC_PRODUCERS * pc.per_producer;
    pc.seen = calloc(n, 1);
    ck_assert_ptr_nonnull(pc.seen);
    ck_assert_int_eq(run_on(multi_workers[_i], pc_main, &pc), 0);
    for (unsigned i = 0; i < n; i++)
        REQUIRE(pc.seen[i] == 1);
    ck_assert_uint_eq(pc.consumed_sum, (uint64_t)n * (n - 1) / 2);
    ck_assert_uint_eq(pc.len, 0);
    ck_assert_ptr_null(pc.not_empty.waiters.head);
    ck_assert_ptr_null(pc.not_full.waiters.head);
    free(pc.seen);
}
END_TEST

/* -- notify wakes one (the oldest), notify_all wakes the rest -- */

enum { NOTIFY_WAITERS = 6 };

struct notify_test {
    spool_lock lock;
    spool_cond cond;
    int arrived;                 /* under the lock */
    _Atomic int woken;
    int order[NOTIFY_WAITERS];   /* arrival position of the i-th woken; under the lock */
};

static int notify_waiter(void *arg)
{
    struct notify_test *n = arg;
    REQUIRE(spool_lock_acquire(&n->lock) == 0);
    int pos = n->arrived++;
    int rc = spool_cond_wait(&n->cond, &n->lock);
    REQUIRE(spool_lock_locked(&n->lock) == 1);
    n->order[atomic_load(&n->woken)] = pos;
    atomic_fetch_add(&n->woken, 1);
    REQUIRE(spool_lock_release(&n->lock) == 0);
    return rc;
}

/* The number of waiters that have arrived (all linked on the cond: a
 * waiter links its node before it releases the lock). */
static int arrived_now(struct notify_test *n)
{
    REQUIRE(spool_lock_acquire(&n->lock) == 0);
    int a = n->arrived;
    REQUIRE(spool_lock_release(&n->lock) == 0);
    return a;
}

static int notify_main(void *arg)
{
    struct notify_test n = {.lock = SPOOL_LOCK_INIT, .cond = SPOOL_COND_INIT};
    spool_task *t[NOTIFY_WAITERS];
    for (int i = 0; i < NOTIFY_WAITERS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(notify_waiter, &n));
    uint64_t t0 = spool_now_ns();
    while (arrived_now(&n) < NOTIFY_WAITERS) {
        spool_yield();
        ck_assert_uint_lt(spool_now_ns() - t0, HANG_GUARD_NS);
    }
    /* notify: exactly one, the oldest; twice. */
    for (int k = 1; k <= 2; k++) {
        ck_assert_int_eq(spool_lock_acquire(&n.lock), 0);
        ck_assert_int_eq(spool_cond_notify(&n.cond), 1);
        ck_assert_int_eq(spool_lock_release(&n.lock), 0);
        yield_until(&n.woken, k);
        spool_sleep_ms(3); /* a second wake-up would show up here */
        ck_assert_int_eq(atomic_load(&n.woken), k);
    }
    /* notify_all: every other one. */
    ck_assert_int_eq(spool_lock_acquire(&n.lock), 0);
    ck_assert_int_eq(spool_cond_notify_all(&n.cond), NOTIFY_WAITERS - 2);
    ck_assert_int_eq(spool_cond_notify(&n.cond), 0);
    ck_assert_int_eq(spool_cond_notify_all(&n.cond), 0);
    ck_assert_int_eq(spool_lock_release(&n.lock), 0);
    int res[NOTIFY_WAITERS];
    ck_assert_int_eq(spool_gather(t, NOTIFY_WAITERS, res), 0);
    ck_assert_int_eq(atomic_load(&n.woken), NOTIFY_WAITERS);
    /* Each notify woke the oldest waiter. */
    ck_assert_int_eq(n.order[0], 0);
    ck_assert_int_eq(n.order[1], 1);
    return 0;
}

static const unsigned notify_workers[] = {1, 2, 4};

START_TEST(cond_notify_wakes_the_oldest_one_and_notify_all_the_rest)
{
    ck_assert_int_eq(run_on(notify_workers[_i], notify_main, NULL), 0);
}
END_TEST

/* -- a cancelled or timed-out cond_wait returns with the lock held -- */

struct cond_cancel {
    spool_lock lock;
    spool_cond cond;
    int waiting;              /* under the lock */
    _Atomic int returned;
    int locked_on_return;
    int exit_rc;
    uint64_t timeout_ns;      /* 0: no scope */
};

static int cond_cancel_waiter(void *arg)
{
    struct cond_cancel *c = arg;
    spool_timeout to;
    REQUIRE(spool_lock_acquire(&c->lock) == 0);
    c->waiting = 1;
    if (c->timeout_ns)
        REQUIRE(spool_timeout_enter(&to, c->timeout_ns) == 0);
    int rc = spool_cond_wait(&c->cond, &c->lock);
    c->locked_on_return = spool_lock_locked(&c->lock);
    atomic_store(&c->returned, 1);
    REQUIRE(spool_lock_release(&c->lock) == 0);
    if (c->timeout_ns)
        c->exit_rc = spool_timeout_exit(&to);
    return rc;
}

/* Returns holding the lock, once the waiter waits on the cond (it set
 * `waiting` under the lock, which it released only in cond_wait). */
static void lock_once_waiting(struct cond_cancel *c)
{
    uint64_t t0 = spool_now_ns();
    for (;;) {
        REQUIRE(spool_lock_acquire(&c->lock) == 0);
        if (c->waiting)
            return;
        REQUIRE(spool_lock_release(&c->lock) == 0);
        spool_yield();
        REQUIRE(spool_now_ns() - t0 < HANG_GUARD_NS);
    }
}

static int cond_cancel_main(void *arg)
{
    /* 1. Cancelled while it waits, with the lock free. */
    struct cond_cancel c = {.lock = SPOOL_LOCK_INIT, .cond = SPOOL_COND_INIT};
    spool_task *t = spool_spawn(cond_cancel_waiter, &c);
    ck_assert_ptr_nonnull(t);
    lock_once_waiting(&c);
    ck_assert_int_eq(spool_lock_release(&c.lock), 0);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(c.locked_on_return, 1);
    ck_assert_int_eq(spool_lock_locked(&c.lock), 0); /* and its release worked */
    ck_assert_ptr_null(c.cond.waiters.head);
    ck_assert_int_eq(spool_cond_notify(&c.cond), 0);

    /* 2. Cancelled while another task holds the lock: it cannot return
     * before that task releases it. */
    c = (struct cond_cancel){.lock = SPOOL_LOCK_INIT, .cond = SPOOL_COND_INIT};
    ck_assert_ptr_nonnull(t = spool_spawn(cond_cancel_waiter, &c));
    lock_once_waiting(&c);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    spool_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&c.returned), 0);
    ck_assert_int_eq(spool_lock_release(&c.lock), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(c.locked_on_return, 1);
    ck_assert_int_eq(spool_lock_locked(&c.lock), 0);

    /* 3. Times out while another task holds the lock past the deadline:
     * the expired scope does not cut the re-acquire short. */
    c = (struct cond_cancel){.lock = SPOOL_LOCK_INIT, .cond = SPOOL_COND_INIT, .timeout_ns = 10 * SPOOL_MSEC};
    ck_assert_ptr_nonnull(t = spool_spawn(cond_cancel_waiter, &c));
    lock_once_waiting(&c);
    spool_sleep_ms(40);
    ck_assert_int_eq(atomic_load(&c.returned), 0);
    ck_assert_int_eq(spool_lock_release(&c.lock), 0);
    ck_assert_int_eq(spool_join(t), -ETIMEDOUT);
    ck_assert_int_eq(c.locked_on_return, 1);
    ck_assert_int_eq(c.exit_rc, -ETIMEDOUT);
    ck_assert_int_eq(spool_lock_locked(&c.lock), 0);
    ck_assert_ptr_null(c.cond.waiters.head);

    /* 4. Notified and then cancelled before it runs: the notify counts. */
    c = (struct cond_cancel){.lock = SPOOL_LOCK_INIT, .cond = SPOOL_COND_INIT};
    ck_assert_ptr_nonnull(t = spool_spawn(cond_cancel_waiter, &c));
    lock_once_waiting(&c);
    ck_assert_int_eq(spool_cond_notify(&c.cond), 1);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_lock_release(&c.lock), 0);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(c.locked_on_return, 1);
    return 0;
}

START_TEST(cond_wait_cancelled_or_timed_out_returns_holding_the_lock)
{
    ck_assert_int_eq(run_on(notify_workers[_i], cond_cancel_main, NULL), 0);
}
END_TEST

/* -- race: notifies against cancellations; every notify reaches a waiter
 * that reports it -- */

struct cond_race {
    spool_lock lock;
    spool_cond cond;
    spool_task *waiters[RACE_WAITERS];
    _Atomic int started;
    _Atomic int inside;       /* holders of the lock now (never > 1) */
    int notified;             /* sum of what notify returned; under the lock */
    int rc[RACE_WAITERS];
    uint64_t seed;
    struct race_stats *st;
};

struct cond_race_arg {
    struct cond_race *r;
    int i;
};

static int cond_race_waiter(void *arg)
{
    struct cond_race_arg *a = arg;
    struct cond_race *r = a->r;
    atomic_fetch_add(&r->started, 1);
    int rc = spool_lock_acquire(&r->lock);
    if (rc != 0) {
        REQUIRE(rc == -ECANCELED);
        r->rc[a->i] = 2; /* never waited */
        return 0;
    }
    REQUIRE(atomic_fetch_add(&r->inside, 1) == 0);
    REQUIRE(atomic_fetch_sub(&r->inside, 1) == 1);
    rc = spool_cond_wait(&r->cond, &r->lock);
    REQUIRE(spool_lock_locked(&r->lock) == 1);
    if (rc == 0 && spool_cancelled())
        atomic_fetch_add_explicit(&r->st->raced, 1, memory_order_relaxed);
    REQUIRE(atomic_fetch_add(&r->inside, 1) == 0);
    r->rc[a->i] = rc;
    REQUIRE(atomic_fetch_sub(&r->inside, 1) == 1);
    REQUIRE(spool_lock_release(&r->lock) == 0);
    return 0;
}

static int cond_race_notifier(void *arg)
{
    struct cond_race *r = arg;
    uint64_t rng = r->seed;
    yield_until(&r->started, RACE_WAITERS);
    for (int i = 0; i < RACE_WAITERS; i++) {
        jitter(&rng, 3000);
        REQUIRE(spool_lock_acquire(&r->lock) == 0);
        REQUIRE(atomic_fetch_add(&r->inside, 1) == 0);
        int n = (i == RACE_WAITERS - 1 && xorshift(&rng) % 2) ? spool_cond_notify_all(&r->cond)
                                                               : spool_cond_notify(&r->cond);
        REQUIRE(n >= 0);
        r->notified += n;
        REQUIRE(atomic_fetch_sub(&r->inside, 1) == 1);
        REQUIRE(spool_lock_release(&r->lock) == 0);
    }
    return 0;
}

static int cond_race_canceller(void *arg)
{
    struct cond_race *r = arg;
    uint64_t rng = r->seed ^ 0x1234567;
    yield_until(&r->started, RACE_WAITERS);
    /* Every waiter is cancelled in the end, so none waits forever. */
    for (int i = 0; i < RACE_WAITERS; i++) {
        jitter(&rng, 3000);
        spool_task_cancel(r->waiters[i]);
    }
    return 0;
}

static int cond_race_main(void *arg)
{
    struct race_stats *st = arg;
    unsigned rounds = RACE_ROUNDS;
    for (unsigned round = 0; round < rounds; round++) {
        struct cond_race r;
        memset(&r, 0, sizeof r);
        spool_lock_init(&r.lock);
        spool_cond_init(&r.cond);
        r.seed = seed_of(round, 4);
        r.st = st;
        struct cond_race_arg a[RACE_WAITERS];
        spool_task *t[RACE_WAITERS + 2];
        for (int i = 0; i < RACE_WAITERS; i++) {
            a[i] = (struct cond_race_arg){&r, i};
            r.rc[i] = 1;
            REQUIRE((t[i] = r.waiters[i] = spool_spawn(cond_race_waiter, &a[i])) != NULL);
        }
        REQUIRE((t[RACE_WAITERS] = spool_spawn(cond_race_notifier, &r)) != NULL);
        REQUIRE((t[RACE_WAITERS + 1] = spool_spawn(cond_race_canceller, &r)) != NULL);
        REQUIRE(spool_gather(t, RACE_WAITERS + 2, NULL) == 0);
        int woke = 0;
        for (int i = 0; i < RACE_WAITERS; i++) {
            REQUIRE(r.rc[i] == 0 || r.rc[i] == -ECANCELED || r.rc[i] == 2);
            woke += r.rc[i] == 0;
            st->cancelled += r.rc[i] == -ECANCELED;
        }
        st->granted += (unsigned)woke;
        /* Every notify that found a waiter woke one that says so. */
        REQUIRE(woke == r.notified);
        REQUIRE(r.cond.waiters.head == NULL);
        REQUIRE(spool_lock_locked(&r.lock) == 0);
    }
    return 0;
}

START_TEST(cond_notifies_racing_cancellations_are_never_lost)
{
    struct race_stats st = {0};
    ck_assert_int_eq(run_on(multi_workers[_i], cond_race_main, &st), 0);
    RACE_REPORT(st);
    ck_assert_uint_gt(st.granted, 0);
    ck_assert_uint_gt(st.cancelled, 0);
}
END_TEST

/* ======================================================================
 * Barrier
 * ====================================================================== */

static spool_barrier static_barrier = SPOOL_BARRIER_INIT(4);

static int barrier_rules_task(void *arg)
{
    spool_barrier one = SPOOL_BARRIER_INIT(1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(spool_barrier_wait(&one), 0); /* the only party: at once */
    spool_barrier none = SPOOL_BARRIER_INIT(0); /* what init refuses */
    ck_assert_int_eq(spool_barrier_wait(&none), -EINVAL);
    spool_barrier b;
    ck_assert_int_eq(spool_barrier_init(&b, 1), 0);
    ck_assert_int_eq(spool_barrier_wait(&b), 0);
    ck_assert_int_eq(spool_barrier_abort(&b), 0);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE);
    ck_assert_int_eq(spool_barrier_reset(&b), 0);
    ck_assert_int_eq(spool_barrier_wait(&b), 0);
    /* A wait that times out alone breaks it too. */
    ck_assert_int_eq(spool_barrier_init(&b, 2), 0);
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, 2 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_barrier_wait(&b), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE);
    ck_assert_int_eq(spool_barrier_reset(&b), 0);
    return 0;
}

START_TEST(barrier_static_initializer_and_rules)
{
    ck_assert_int_eq(spool_barrier_init(NULL, 2), -EINVAL);
    spool_barrier b;
    ck_assert_int_eq(spool_barrier_init(&b, 0), -EINVAL);
    ck_assert_int_eq(spool_barrier_wait(NULL), -EINVAL);
    ck_assert_int_eq(spool_barrier_abort(NULL), -EINVAL);
    ck_assert_int_eq(spool_barrier_reset(NULL), -EINVAL);
    ck_assert_int_eq(spool_barrier_init(&b, 2), 0);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPERM); /* outside a task */
    ck_assert_int_eq(spool_barrier_reset(&b), 0);     /* nobody waits */
    ck_assert_int_eq(run_on(1, barrier_rules_task, NULL), 0);
}
END_TEST

/* -- arrival order, deterministic on one worker -- */

struct barrier_party {
    spool_barrier *b;
    _Atomic int *started;
};

static int barrier_party(void *arg)
{
    struct barrier_party *p = arg;
    atomic_fetch_add(p->started, 1);
    return spool_barrier_wait(p->b);
}

static int barrier_order_main(void *arg)
{
    for (int round = 0; round < 3; round++) {
        _Atomic int started = 0;
        struct barrier_party p = {&static_barrier, &started};
        spool_task *t[3];
        for (int i = 0; i < 3; i++) {
            ck_assert_ptr_nonnull(t[i] = spool_spawn(barrier_party, &p));
            yield_until(&started, i + 1); /* one worker: it is waiting now */
        }
        ck_assert_int_eq(spool_barrier_reset(&static_barrier), -EBUSY);
        ck_assert_int_eq(spool_barrier_wait(&static_barrier), 3); /* the last: no wait */
        int r[3];
        ck_assert_int_eq(spool_gather(t, 3, r), 0);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(r[i], i);
    }
    return 0;
}

START_TEST(barrier_indices_follow_the_order_of_arrival)
{
    ck_assert_int_eq(run_on(1, barrier_order_main, NULL), 0);
}
END_TEST

/* -- many rounds: indices a permutation, nobody leaves early -- */

enum { BR_PARTIES = 4 };

struct barrier_rounds {
    spool_barrier b;
    unsigned rounds;
    _Atomic unsigned *masks;     /* per round: the indices handed out */
    _Atomic int *arrivals;       /* per round: parties that arrived */
    unsigned data[2][BR_PARTIES];  /* plain: written before a wait, read after */
};

struct br_arg {
    struct barrier_rounds *br;
    unsigned id;
};

static int barrier_rounds_party(void *arg)
{
    struct br_arg *a = arg;
    struct barrier_rounds *br = a->br;
    uint64_t rng = seed_of(a->id, 5);
    for (unsigned r = 0; r < br->rounds; r++) {
        br->data[r % 2][a->id] = r;
        atomic_fetch_add(&br->arrivals[r], 1);
        if (xorshift(&rng) % 8 == 0)
            spool_yield();
        int idx = spool_barrier_wait(&br->b);
        REQUIRE(idx >= 0 && idx < BR_PARTIES);
        unsigned bit = 1u << idx;
        REQUIRE((atomic_fetch_or(&br->masks[r], bit) & bit) == 0); /* no index twice */
        REQUIRE(atomic_load(&br->arrivals[r]) == BR_PARTIES);   /* nobody left early */
        for (unsigned j = 0; j < BR_PARTIES; j++)
            REQUIRE(br->data[r % 2][j] == r); /* every party's write is visible */
    }
    return 0;
}

static int barrier_rounds_main(void *arg)
{
    struct barrier_rounds *br = arg;
    struct br_arg a[BR_PARTIES];
    spool_task *t[BR_PARTIES];
    for (unsigned i = 0; i < BR_PARTIES; i++) {
        a[i] = (struct br_arg){br, i};
        ck_assert_ptr_nonnull(t[i] = spool_spawn(barrier_rounds_party, &a[i]));
    }
    return spool_gather(t, BR_PARTIES, NULL);
}

START_TEST(barrier_rounds_hand_out_each_index_once)
{
    struct barrier_rounds br;
    memset(&br, 0, sizeof br);
    br.rounds = SANITIZED ? 10000 : 50000;
    ck_assert_int_eq(spool_barrier_init(&br.b, BR_PARTIES), 0);
    br.masks = calloc(br.rounds, sizeof *br.masks);
    br.arrivals = calloc(br.rounds, sizeof *br.arrivals);
    ck_assert_ptr_nonnull(br.masks);
    ck_assert_ptr_nonnull(br.arrivals);
    ck_assert_int_eq(run_on(multi_workers[_i], barrier_rounds_main, &br), 0);
    for (unsigned r = 0; r < br.rounds; r++)
        REQUIRE(atomic_load(&br.masks[r]) == (1u << BR_PARTIES) - 1);
    ck_assert_ptr_null(br.b.waiters.head);
    free(br.masks);
    free(br.arrivals);
}
END_TEST

/* -- breaking: cancellation, timeout, abort; reset -- */

static int barrier_timed_party(void *arg)
{
    struct barrier_party *p = arg;
    spool_timeout to;
    spool_timeout_enter(&to, 5 * SPOOL_MSEC);
    atomic_fetch_add(p->started, 1);
    int rc = spool_barrier_wait(p->b);
    int ex = spool_timeout_exit(&to);
    REQUIRE(rc != -ETIMEDOUT || ex == -ETIMEDOUT);
    return rc;
}

static int barrier_break_main(void *arg)
{
    spool_barrier b = SPOOL_BARRIER_INIT(4);
    _Atomic int started = 0;
    struct barrier_party p = {&b, &started};
    spool_task *t[3];
    int r[3];

    /* A cancelled waiter breaks it: the others get -EPIPE. */
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(t[i] = spool_spawn(barrier_party, &p));
        yield_until(&started, i + 1);
    }
    ck_assert_int_eq(spool_task_cancel(t[1]), 0);
    ck_assert_int_eq(spool_gather(t, 3, r), -EPIPE);
    ck_assert_int_eq(r[0], -EPIPE);
    ck_assert_int_eq(r[1], -ECANCELED);
    ck_assert_int_eq(r[2], -EPIPE);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE); /* at once while broken */
    ck_assert_int_eq(spool_barrier_reset(&b), 0);

    /* A full round works after the reset. */
    atomic_store(&started, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(t[i] = spool_spawn(barrier_party, &p));
        yield_until(&started, i + 1);
    }
    ck_assert_int_eq(spool_barrier_wait(&b), 3);
    ck_assert_int_eq(spool_gather(t, 3, r), 0);
    ck_assert_int_eq(r[0] + r[1] + r[2], 0 + 1 + 2);

    /* A waiter that times out breaks it. */
    atomic_store(&started, 0);
    ck_assert_ptr_nonnull(t[0] = spool_spawn(barrier_party, &p));
    yield_until(&started, 1);
    ck_assert_ptr_nonnull(t[1] = spool_spawn(barrier_timed_party, &p));
    yield_until(&started, 2);
    ck_assert_int_eq(spool_join(t[1]), -ETIMEDOUT);
    ck_assert_int_eq(spool_join(t[0]), -EPIPE);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE);
    ck_assert_int_eq(spool_barrier_reset(&b), 0);

    /* abort: waiters and later waits get -EPIPE; reset while a task waits
     * on a sound barrier is -EBUSY. */
    atomic_store(&started, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_nonnull(t[i] = spool_spawn(barrier_party, &p));
        yield_until(&started, i + 1);
    }
    ck_assert_int_eq(spool_barrier_reset(&b), -EBUSY);
    ck_assert_int_eq(spool_barrier_abort(&b), 0);
    ck_assert_int_eq(spool_barrier_abort(&b), 0); /* twice: harmless */
    ck_assert_int_eq(spool_gather(t, 2, r), -EPIPE);
    ck_assert_int_eq(r[0], -EPIPE);
    ck_assert_int_eq(r[1], -EPIPE);
    ck_assert_int_eq(spool_barrier_wait(&b), -EPIPE);
    ck_assert_int_eq(spool_barrier_reset(&b), 0);

    /* A party already cancelled when it arrives breaks it too. */
    atomic_store(&started, 0);
    ck_assert_ptr_nonnull(t[0] = spool_spawn(barrier_party, &p));
    yield_until(&started, 1);
    ck_assert_ptr_nonnull(t[1] = spool_spawn(barrier_party, &p));
    ck_assert_int_eq(spool_task_cancel(t[1]), 0); /* before it ran */
    ck_assert_int_eq(spool_join(t[1]), -ECANCELED);
    ck_assert_int_eq(spool_join(t[0]), -EPIPE);
    ck_assert_int_eq(spool_barrier_reset(&b), 0);
    return 0;
}

START_TEST(barrier_is_broken_by_a_waiter_that_gives_up_and_by_abort)
{
    ck_assert_int_eq(run_on(1, barrier_break_main, NULL), 0);
}
END_TEST

/* -- race: a party cancelled (or timing out) as the round completes -- */

enum { BRACE_PARTIES = 3 };

struct barrier_race {
    spool_barrier b;
    spool_task *victim;
    int rc[BRACE_PARTIES];
    uint64_t seed;
    int timed;               /* the victim gives up by a timeout, not a cancel */
    _Atomic int arriving;    /* parties about to wait */
    struct race_stats *st;
};

struct brace_arg {
    struct barrier_race *r;
    int i;
};

static int brace_party(void *arg)
{
    struct brace_arg *a = arg;
    struct barrier_race *r = a->r;
    uint64_t rng = r->seed + (uint64_t)a->i;
    if (a->i > 0 && !r->timed && xorshift(&rng) % 2)
        yield_until(&r->arriving, 1); /* the victim first: it will be parked */
    jitter(&rng, 2000);
    if (a->i == 0 && r->timed) {
        spool_timeout to;
        uint64_t timeout = xorshift(&rng) % (30 * SPOOL_USEC);
        uint64_t deadline = spool_now_ns() + timeout;
        spool_timeout_enter(&to, timeout);
        atomic_fetch_add(&r->arriving, 1);
        int rc = r->rc[a->i] = spool_barrier_wait(&r->b);
        if (rc >= 0 && spool_now_ns() >= deadline)
            atomic_fetch_add_explicit(&r->st->raced, 1, memory_order_relaxed);
        REQUIRE(spool_timeout_exit(&to) == (rc == -ETIMEDOUT ? -ETIMEDOUT : 0));
    } else {
        atomic_fetch_add(&r->arriving, 1);
        int rc = r->rc[a->i] = spool_barrier_wait(&r->b);
        if (a->i == 0 && rc >= 0 && spool_cancelled())
            atomic_fetch_add_explicit(&r->st->raced, 1, memory_order_relaxed);
    }
    return 0;
}

static int brace_canceller(void *arg)
{
    struct barrier_race *r = arg;
    uint64_t rng = r->seed ^ 0x7777;
    /* Cancel before the parties come, as they come, or after the round. */
    yield_until(&r->arriving, (int)(xorshift(&rng) % (BRACE_PARTIES + 1)));
    jitter(&rng, 2000);
    spool_task_cancel(r->victim);
    return 0;
}

static int barrier_race_main(void *arg)
{
    struct race_stats *st = arg;
    unsigned rounds = RACE_ROUNDS;
    struct barrier_race r;
    memset(&r, 0, sizeof r);
    spool_barrier_init(&r.b, BRACE_PARTIES);
    for (unsigned round = 0; round < rounds; round++) {
        r.seed = seed_of(round, 6);
        r.timed = round % 2;
        r.st = st;
        atomic_store(&r.arriving, 0);
        struct brace_arg a[BRACE_PARTIES];
        spool_task *t[BRACE_PARTIES + 1];
        for (int i = 0; i < BRACE_PARTIES; i++) {
            a[i] = (struct brace_arg){&r, i};
            r.rc[i] = 1;
            REQUIRE((t[i] = spool_spawn(brace_party, &a[i])) != NULL);
        }
        r.victim = t[0];
        int n = BRACE_PARTIES;
        if (!r.timed)
            REQUIRE((t[n++] = spool_spawn(brace_canceller, &r)) != NULL);
        REQUIRE(spool_gather(t, (size_t)n, NULL) == 0);
        if (r.rc[0] >= 0) {
            /* The round completed: a permutation, the barrier sound. */
            unsigned mask = 0;
            for (int i = 0; i < BRACE_PARTIES; i++) {
                REQUIRE(r.rc[i] >= 0 && r.rc[i] < BRACE_PARTIES);
                mask |= 1u << r.rc[i];
            }
            REQUIRE(mask == (1u << BRACE_PARTIES) - 1);
            REQUIRE(r.b.broken == 0);
            st->granted++;
        } else {
            /* The victim gave up before the round completed: it broke
             * the barrier for everyone else. */
            REQUIRE(r.rc[0] == (r.timed ? -ETIMEDOUT : -ECANCELED));
            for (int i = 1; i < BRACE_PARTIES; i++)
                REQUIRE(r.rc[i] == -EPIPE);
            REQUIRE(r.b.broken == 1);
            st->cancelled++;
        }
        REQUIRE(r.b.waiters.head == NULL);
        REQUIRE(spool_barrier_reset(&r.b) == 0);
    }
    return 0;
}

START_TEST(barrier_party_giving_up_as_the_round_completes)
{
    struct race_stats st = {0};
    ck_assert_int_eq(run_on(multi_workers[_i], barrier_race_main, &st), 0);
    RACE_REPORT(st);
    ck_assert_uint_gt(st.cancelled, 0);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    ADD_TEST(s, lock_static_initializer_and_rules);
    ADD_LOOP_TEST(s, lock_excludes_under_contention, 2);
    ADD_TEST(s, lock_hands_off_to_waiters_in_fifo_order);
    ADD_TEST(s, event_static_initializer_and_rules);
    ADD_LOOP_TEST(s, event_set_releases_every_waiter, 2);
    ADD_LOOP_TEST(s, event_wait_is_cancelled_or_times_out, 2);
    ADD_TEST(s, bounded_semaphore_refuses_a_release_past_its_bound);
    ADD_TEST(s, a_cancelled_task_waits_fail_even_when_they_could_complete);
    ADD_TEST(s, a_grant_that_lands_before_the_cancellation_is_kept);
    ADD_LOOP_TEST(s, a_waiter_cancelled_while_handed_a_permit_loses_nothing, 2);
    ADD_LOOP_TEST(s, waiters_timing_out_as_permits_are_released_lose_nothing, 2);
    ADD_TEST(s, cond_static_initializer_and_rules);
    ADD_LOOP_TEST(s, cond_producers_and_consumers_pass_every_item_once, 2);
    ADD_LOOP_TEST(s, cond_notify_wakes_the_oldest_one_and_notify_all_the_rest, 3);
    ADD_LOOP_TEST(s, cond_wait_cancelled_or_timed_out_returns_holding_the_lock, 3);
    ADD_LOOP_TEST(s, cond_notifies_racing_cancellations_are_never_lost, 2);
    ADD_TEST(s, barrier_static_initializer_and_rules);
    ADD_TEST(s, barrier_indices_follow_the_order_of_arrival);
    ADD_LOOP_TEST(s, barrier_rounds_hand_out_each_index_once, 2);
    ADD_TEST(s, barrier_is_broken_by_a_waiter_that_gives_up_and_by_abort);
    ADD_LOOP_TEST(s, barrier_party_giving_up_as_the_round_completes, 2);
    return s;
}

int main(void)
{
    return check_main(sync_suite, 120);
}

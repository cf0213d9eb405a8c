/*
 * test_timer.c — timers: the worker's timer heap (runtime/timer.h,
 * white-box) and spool_sleep_* / spool_now_ns through the API. Timing
 * asserts have lower bounds (a sleep never ends early) and only generous
 * upper bounds.
 */
#include "timer.h"
#include "task.h"

#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check_util.h"

/* ---- the heap (white-box) ------------------------------------------------- */

/* Records standing in for tasks: the heap reads only their wait_seq
 * (an entry is live while it matches), which stays 0 here. */
enum { FAKE_TASKS = 20000 };
static spool_task fake_tasks[FAKE_TASKS];

static spool_task *fake(size_t i)
{
    return &fake_tasks[i];
}

static size_t fake_index(spool_task *t)
{
    return (size_t)(t - fake_tasks);
}

/* Pushes a live entry for t. */
static int push(spool__timer_heap *h, uint64_t deadline, spool_task *t)
{
    return spool__timer_push(h, deadline, t, atomic_load(&t->wait_seq));
}

/* The task of the earliest entry due at now, or NULL. */
static spool_task *pop(spool__timer_heap *h, uint64_t now)
{
    spool__timer_entry e;
    return spool__timer_pop_due(h, now, &e) ? e.task : NULL;
}

START_TEST(an_empty_heap_has_no_next_deadline_and_pops_nothing)
{
    spool__timer_heap h;
    spool__timer_heap_init(&h);
    ck_assert_uint_eq(spool__timer_next(&h), UINT64_MAX);
    ck_assert_ptr_null(pop(&h, UINT64_MAX));
    spool__timer_heap_destroy(&h);
}
END_TEST

/* Entries of waits that are over (their task's wait_seq moved on) are
 * dropped when the heap fills, before it grows: a stream of timed waits
 * that end early keeps the heap at the size of the live ones. */
START_TEST(stale_entries_are_dropped_before_the_heap_grows)
{
    spool__timer_heap h;
    spool__timer_heap_init(&h);
    ck_assert_int_eq(push(&h, 1000, fake(0)), 0); /* one live entry */
    spool_task *t = fake(1);
    for (int i = 0; i < 100000; i++) {
        ck_assert_int_eq(push(&h, 2000 + (uint64_t)i, t), 0);
        atomic_fetch_add(&t->wait_seq, 2); /* that wait is over */
    }
    ck_assert_uint_le(h.cap, 128);
    ck_assert_ptr_eq(pop(&h, UINT64_MAX - 1), fake(0)); /* the live one survives */
    atomic_store(&t->wait_seq, 0);
    spool__timer_heap_destroy(&h);
}
END_TEST

START_TEST(pop_due_returns_only_entries_whose_deadline_has_come)
{
    spool__timer_heap h;
    spool__timer_heap_init(&h);
    ck_assert_int_eq(push(&h, 30, fake(3)), 0);
    ck_assert_int_eq(push(&h, 10, fake(1)), 0);
    ck_assert_int_eq(push(&h, 20, fake(2)), 0);
    ck_assert_uint_eq(spool__timer_next(&h), 10);
    ck_assert_ptr_null(pop(&h, 9));
    ck_assert_ptr_eq(pop(&h, 10), fake(1)); /* due exactly at its deadline */
    ck_assert_ptr_null(pop(&h, 15));
    ck_assert_uint_eq(spool__timer_next(&h), 20);
    ck_assert_ptr_eq(pop(&h, 100), fake(2));
    ck_assert_ptr_eq(pop(&h, 100), fake(3));
    ck_assert_ptr_null(pop(&h, 100));
    ck_assert_uint_eq(spool__timer_next(&h), UINT64_MAX);
    spool__timer_heap_destroy(&h);
}
END_TEST

START_TEST(random_deadlines_pop_in_deadline_order)
{
    enum { N = 5000 };
    static uint64_t deadline_of[N];
    spool__timer_heap h;
    spool__timer_heap_init(&h);
    uint64_t rng = 12345;
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < N; i++) {
        deadline_of[i] = xorshift(&rng) % 1000; /* many duplicates */
        if (deadline_of[i] < min)
            min = deadline_of[i];
        REQUIRE(push(&h, deadline_of[i], fake(i)) == 0);
        REQUIRE(spool__timer_next(&h) == min);
    }
    ck_assert_uint_eq(h.len, N);
    uint64_t prev = 0;
    static unsigned char seen[N];
    for (size_t k = 0; k < N; k++) {
        uint64_t next = spool__timer_next(&h);
        spool_task *t = pop(&h, UINT64_MAX);
        REQUIRE(t != NULL);
        size_t i = fake_index(t);
        REQUIRE(i < N);
        REQUIRE(seen[i] == 0);
        seen[i] = 1;
        REQUIRE(deadline_of[i] == next);
        REQUIRE(deadline_of[i] >= prev);
        prev = deadline_of[i];
    }
    ck_assert_ptr_null(pop(&h, UINT64_MAX));
    spool__timer_heap_destroy(&h);
}
END_TEST

START_TEST(interleaved_pushes_and_pops_keep_heap_order)
{
    enum { N = 20000 };
    static uint64_t deadline_of[N];
    spool__timer_heap h;
    spool__timer_heap_init(&h);
    uint64_t rng = 777;
    uint64_t now = 0;
    size_t pushed = 0, popped = 0;
    while (popped < N) {
        if (pushed < N && xorshift(&rng) % 3 != 0) {
            deadline_of[pushed] = now + xorshift(&rng) % 500;
            REQUIRE(push(&h, deadline_of[pushed], fake(pushed)) == 0);
            pushed++;
        } else {
            now += xorshift(&rng) % 50;
            if (pushed == N)
                now = UINT64_MAX;
            spool_task *t;
            uint64_t last = 0;
            while ((t = pop(&h, now))) {
                uint64_t d = deadline_of[fake_index(t)];
                REQUIRE(d <= now);
                REQUIRE(d >= last);
                last = d;
                popped++;
            }
            REQUIRE(spool__timer_next(&h) > (now == UINT64_MAX ? 0 : now));
        }
    }
    ck_assert_uint_eq(h.len, 0);
    spool__timer_heap_destroy(&h);
}
END_TEST

/* ---- sleeping (through the API) -------------------------------------------- */

static int sleep_50ms(void *arg)
{
    uint64_t *elapsed = arg;
    uint64_t t0 = spool_now_ns();
    int rc = spool_sleep_ms(50);
    *elapsed = spool_now_ns() - t0;
    return rc;
}

START_TEST(sleep_ms_sleeps_at_least_that_long)
{
    for (unsigned w = 1; w <= 2; w++) {
        uint64_t elapsed = 0;
        ck_assert_int_eq(run_on(w, sleep_50ms, &elapsed), 0);
        ck_assert_uint_ge(elapsed, 50 * SPOOL_MSEC);
        ck_assert_uint_lt(elapsed, 60 * SPOOL_SEC); /* a hang guard */
    }
}
END_TEST

static int sleep_ns_short(void *arg)
{
    for (uint64_t ns = 1; ns < 10 * SPOOL_MSEC; ns *= 7) {
        uint64_t t0 = spool_now_ns();
        ck_assert_int_eq(spool_sleep_ns(ns), 0);
        ck_assert_uint_ge(spool_now_ns() - t0, ns);
    }
    return 0;
}

START_TEST(short_sleeps_never_end_early)
{
    ck_assert_int_eq(run_on(1, sleep_ns_short, NULL), 0);
    ck_assert_int_eq(run_on(2, sleep_ns_short, NULL), 0);
}
END_TEST

static _Atomic int other_ran;

static int set_other_ran(void *arg)
{
    atomic_store(&other_ran, 1);
    return 0;
}

static int sleep_zero_lets_others_run(void *arg)
{
    spool_task *t = spool_spawn(set_other_ran, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(atomic_load(&other_ran), 0); /* spawn does not run it */
    ck_assert_int_eq(spool_sleep_ns(0), 0);
    int ran_after_ns = atomic_load(&other_ran);
    ck_assert_int_eq(spool_join(t), 0);
    atomic_store(&other_ran, 0);
    t = spool_spawn(set_other_ran, NULL);
    ck_assert_int_eq(spool_sleep_ms(0), 0);
    int ran_after_ms = atomic_load(&other_ran);
    ck_assert_int_eq(spool_join(t), 0);
    return ran_after_ns * 10 + ran_after_ms;
}

START_TEST(sleep_zero_behaves_like_yield)
{
    /* On one worker, a yield runs the other runnable task before the
     * caller comes back. */
    ck_assert_int_eq(run_on(1, sleep_zero_lets_others_run, NULL), 11);
}
END_TEST

static int sleep_overflow(void *arg)
{
    ck_assert_int_eq(spool_sleep_ms(UINT64_MAX), -EINVAL);
    ck_assert_int_eq(spool_sleep_ms(UINT64_MAX / SPOOL_MSEC + 1), -EINVAL);
    /* The task is still fine afterwards. */
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    return 0;
}

START_TEST(sleep_ms_that_overflows_returns_einval)
{
    ck_assert_int_eq(run_on(1, sleep_overflow, NULL), 0);
}
END_TEST

START_TEST(now_ns_is_monotonic)
{
    uint64_t prev = spool_now_ns();
    for (int i = 0; i < 1000000; i++) {
        uint64_t now = spool_now_ns();
        REQUIRE(now >= prev);
        prev = now;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mono = (uint64_t)ts.tv_sec * SPOOL_SEC + (uint64_t)ts.tv_nsec;
    uint64_t now = spool_now_ns();
    ck_assert_uint_ge(now, mono); /* the same clock */
    ck_assert_uint_lt(now - mono, 60 * SPOOL_SEC); /* (a thread may be preempted between the reads) */
}
END_TEST

/* Many sleepers, random durations. */
struct sleeper {
    uint64_t ms;
    uint64_t start, woke;
};

static _Atomic int sleepers_woken;

static int sleeper(void *arg)
{
    struct sleeper *s = arg;
    s->start = spool_now_ns();
    int rc = spool_sleep_ms(s->ms);
    s->woke = spool_now_ns();
    atomic_fetch_add(&sleepers_woken, 1);
    return rc;
}

struct many {
    unsigned n;
    struct sleeper *s;
    spool_task **t;
};

static int many_sleepers(void *arg)
{
    struct many *m = arg;
    for (unsigned i = 0; i < m->n; i++)
        REQUIRE((m->t[i] = spool_spawn(sleeper, &m->s[i])) != NULL);
    return spool_gather(m->t, m->n, NULL);
}

static const unsigned sleeper_workers[] = {1, 2, 4};

START_TEST(ten_thousand_sleepers_all_wake_after_their_deadlines)
{
    struct many m = {.n = 10000};
    m.s = calloc(m.n, sizeof *m.s);
    m.t = calloc(m.n, sizeof *m.t);
    ck_assert_ptr_nonnull(m.s);
    ck_assert_ptr_nonnull(m.t);
    uint64_t rng = 99 + _i;
    for (unsigned i = 0; i < m.n; i++)
        m.s[i].ms = xorshift(&rng) % 101;
    atomic_store(&sleepers_woken, 0);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(run_on(sleeper_workers[_i], many_sleepers, &m), 0);
    uint64_t total = spool_now_ns() - t0;
    ck_assert_int_eq(atomic_load(&sleepers_woken), (int)m.n);
    for (unsigned i = 0; i < m.n; i++) {
        REQUIRE(m.s[i].start != 0);
        REQUIRE(m.s[i].woke >= m.s[i].start + m.s[i].ms * SPOOL_MSEC);
    }
    ck_assert_uint_ge(total, 100 * SPOOL_MSEC - SPOOL_MSEC); /* the longest sleep is ~100 ms */
    ck_assert_uint_lt(total, 60 * SPOOL_SEC); /* a hang guard */
    free(m.s);
    free(m.t);
}
END_TEST

/* Wake order on one worker. Sleeper i aims at order_base + i * gap, but
 * spool_sleep_ns takes a duration: its deadline is the clock read inside
 * the call plus (target - the clock the sleeper read), so a thread
 * preempted in between moves a deadline later. The set-up records when
 * the first sleeper read the clock and when all were asleep; if that
 * span reaches the gap, or the first target, deadlines may have crossed
 * and the round is void: it runs again with twice the gap. */
enum { ORDERED = 12 };
struct ordered {
    uint64_t gap;     /* between two targets */
    uint64_t busy_ns; /* > 0: main spins this long past the first target */
    bool void_round;  /* out: the set-up was too slow to tell */
};
static uint64_t order_base, order_first_read;
static uint64_t order_target[ORDERED];
static int order_woke[ORDERED];
static _Atomic int order_n, order_asleep;

static int sleep_until_target(void *arg)
{
    int i = (int)(intptr_t)arg;
    /* No switch from here into the sleep (one worker: the sleepers run
     * one after another). */
    uint64_t now = spool_now_ns();
    if (atomic_fetch_add(&order_asleep, 1) == 0)
        order_first_read = now;
    spool_sleep_ns(order_target[i] > now ? order_target[i] - now : 1);
    order_woke[atomic_fetch_add(&order_n, 1)] = i;
    return 0;
}

/* Targets `gap` apart, spawned in a shuffled order; busy_ns > 0 makes
 * main spin past every deadline before it lets the sleepers be fired. */
static int ordered_sleepers(void *arg)
{
    struct ordered *o = arg;
    static const int perm[ORDERED] = {7, 2, 11, 0, 5, 9, 1, 10, 4, 8, 3, 6};
    atomic_store(&order_n, 0);
    atomic_store(&order_asleep, 0);
    order_base = spool_now_ns() + 4 * o->gap;
    for (int i = 0; i < ORDERED; i++)
        order_target[i] = order_base + (uint64_t)i * o->gap;
    spool_task *t[ORDERED];
    for (int k = 0; k < ORDERED; k++)
        ck_assert_ptr_nonnull(t[k] = spool_spawn(sleep_until_target, (void *)(intptr_t)perm[k]));
    /* A sleeper counted has fallen asleep by the time main runs again. */
    while (atomic_load(&order_asleep) < ORDERED)
        spool_yield();
    uint64_t all_asleep = spool_now_ns();
    o->void_round = all_asleep >= order_base || all_asleep - order_first_read >= o->gap;
    /* Keep the worker busy until every deadline has passed: they
     * become due together. */
    while (o->busy_ns && atomic_load(&order_n) == 0 && spool_now_ns() < order_base + o->busy_ns)
        ;
    return spool_gather(t, ORDERED, NULL);
}

/* Runs rounds until one is not void (the gap doubling from 5 ms, up to a
 * hang guard), then checks the wake order. */
static void check_deadline_order(bool busy)
{
    struct ordered o = {.gap = 5 * SPOOL_MSEC};
    for (;;) {
        o.busy_ns = busy ? ORDERED * o.gap + 10 * SPOOL_MSEC : 0;
        ck_assert_int_eq(run_on(1, ordered_sleepers, &o), 0);
        ck_assert_int_eq(atomic_load(&order_n), ORDERED);
        if (!o.void_round)
            break;
        o.gap *= 2;
        ck_assert_uint_lt(o.gap, 2 * SPOOL_SEC); /* a hang guard: 9 void rounds */
    }
    for (int i = 0; i < ORDERED; i++)
        ck_assert_msg(order_woke[i] == i, "wake #%d was sleeper %d (deadline +%d gaps), want %d", i,
                      order_woke[i], order_woke[i], i);
}

START_TEST(sleepers_on_one_worker_wake_in_deadline_order)
{
    check_deadline_order(false);
}
END_TEST

START_TEST(sleepers_due_together_wake_in_deadline_order)
{
    check_deadline_order(true);
}
END_TEST

/* The same on one worker, with main yielding `skew` times first, so that
 * over skews 0..79 the scheduler's periodic fairness tick (every 61 ticks
 * at the time of writing) lands inside the batch of due sleepers at some
 * point: whatever the tick, they must still run in deadline order. Every
 * sleeper sleeps the same time, so their deadlines follow the order in
 * which they fell asleep (one worker: one at a time), whatever the clock
 * read between a sleeper's and the runtime's. */
enum { SKEWED = 24 };
static int skew_asleep_order[SKEWED], skew_woke[SKEWED];
static _Atomic int skew_n, skew_asleep;
static uint64_t skew_sleep_ns = 5 * SPOOL_MSEC; /* doubled when the set-up takes longer */
static int skew_late;

static int skew_sleeper(void *arg)
{
    int id = (int)(intptr_t)arg;
    skew_asleep_order[atomic_fetch_add(&skew_asleep, 1)] = id; /* no switch until asleep */
    spool_sleep_ns(skew_sleep_ns);
    skew_woke[atomic_fetch_add(&skew_n, 1)] = id;
    return 0;
}

static int skewed_sleepers(void *arg)
{
    unsigned skew = (unsigned)(uintptr_t)arg;
    for (unsigned k = 0; k < skew; k++)
        spool_yield();
    atomic_store(&skew_n, 0);
    atomic_store(&skew_asleep, 0);
    uint64_t t0 = spool_now_ns();
    spool_task *t[SKEWED];
    for (int k = 0; k < SKEWED; k++)
        REQUIRE((t[k] = spool_spawn(skew_sleeper, (void *)(intptr_t)k)) != NULL);
    while (atomic_load(&skew_asleep) < SKEWED)
        spool_yield();
    uint64_t all_asleep = spool_now_ns();
    /* If falling asleep took longer than the sleep, some may have woken
     * already: the set-up is void. */
    skew_late = all_asleep >= t0 + skew_sleep_ns || atomic_load(&skew_n) > 0;
    while (spool_now_ns() < all_asleep + skew_sleep_ns + SPOOL_MSEC)
        ; /* busy past every deadline: they are due together */
    return spool_gather(t, SKEWED, NULL);
}

START_TEST(sleepers_due_together_wake_in_deadline_order_whatever_the_scheduler_tick)
{
    for (unsigned skew = 0; skew < 80; skew++) {
        ck_assert_int_eq(run_on(1, skewed_sleepers, (void *)(uintptr_t)skew), 0);
        ck_assert_int_eq(atomic_load(&skew_n), SKEWED);
        if (skew_late) {
            ck_assert_uint_lt(skew_sleep_ns, 2 * SPOOL_SEC);
            skew_sleep_ns *= 2;
            skew--; /* again, with more time */
            continue;
        }
        char want[SKEWED * 4 + 1], got[SKEWED * 4 + 1], *w = want, *g = got;
        int ok = 1;
        for (int i = 0; i < SKEWED; i++) {
            w += sprintf(w, " %d", skew_asleep_order[i]);
            g += sprintf(g, " %d", skew_woke[i]);
            ok &= skew_woke[i] == skew_asleep_order[i];
        }
        ck_assert_msg(ok, "skew %u: fell asleep in the order%s, woke in the order%s", skew, want, got);
    }
}
END_TEST

/* A sleeping task leaves its worker free for others. */
static _Atomic int sleeper_done;

static int sleep_100ms_then_flag(void *arg)
{
    spool_sleep_ms(100);
    atomic_store(&sleeper_done, 1);
    return 0;
}

static int count_while_other_sleeps(void *arg)
{
    spool_task *t = spool_spawn(sleep_100ms_then_flag, NULL);
    ck_assert_ptr_nonnull(t);
    int yields = 0;
    uint64_t t0 = spool_now_ns();
    while (!atomic_load(&sleeper_done)) {
        spool_yield();
        yields++;
        ck_assert_uint_lt(spool_now_ns() - t0, 60 * SPOOL_SEC); /* a hang guard */
    }
    ck_assert_uint_ge(spool_now_ns() - t0, 100 * SPOOL_MSEC);
    ck_assert_int_eq(spool_join(t), 0);
    return yields > 10 ? 0 : 1;
}

START_TEST(a_sleeping_task_leaves_its_worker_to_others)
{
    ck_assert_int_eq(run_on(1, count_while_other_sleeps, NULL), 0);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *timer_suite(void)
{
    Suite *s = suite_create("timer");
    ADD_TEST(s, an_empty_heap_has_no_next_deadline_and_pops_nothing);
    ADD_TEST(s, pop_due_returns_only_entries_whose_deadline_has_come);
    ADD_TEST(s, stale_entries_are_dropped_before_the_heap_grows);
    ADD_TEST(s, random_deadlines_pop_in_deadline_order);
    ADD_TEST(s, interleaved_pushes_and_pops_keep_heap_order);
    ADD_TEST(s, sleep_ms_sleeps_at_least_that_long);
    ADD_TEST(s, short_sleeps_never_end_early);
    ADD_TEST(s, sleep_zero_behaves_like_yield);
    ADD_TEST(s, sleep_ms_that_overflows_returns_einval);
    ADD_TEST(s, now_ns_is_monotonic);
    ADD_LOOP_TEST(s, ten_thousand_sleepers_all_wake_after_their_deadlines, 3);
    ADD_TEST(s, sleepers_on_one_worker_wake_in_deadline_order);
    ADD_TEST(s, sleepers_due_together_wake_in_deadline_order);
    ADD_TEST(s, sleepers_due_together_wake_in_deadline_order_whatever_the_scheduler_tick);
    ADD_TEST(s, a_sleeping_task_leaves_its_worker_to_others);
    return s;
}

int main(void)
{
    return check_main(timer_suite, 120);
}

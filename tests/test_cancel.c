/*
 * test_cancel.c — cancellation (level-triggered), shields, timeout scopes,
 * joins that own their tasks, spool_wait_for, spool_wait_any and task
 * groups, with the races between them: cancel vs completion, timeout vs
 * completion, a joiner cancelled while its children run.
 */
#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_util.h"

/* ---- helpers ------------------------------------------------------------- */

static int sleep_ms_task(void *arg)
{
    return spool_sleep_ms((uint64_t)(uintptr_t)arg);
}

/* Waits on an event nobody sets. */
static spool_event never = SPOOL_EVENT_INIT;

static int wait_forever(void *arg)
{
    (void)arg;
    return spool_event_wait(&never);
}

/* ---- level-triggered cancellation ----------------------------------------- */

static _Atomic int cleanup_results[4];

/* Waits forever, then tries to wait three more times during "cleanup":
 * every one must fail with -ECANCELED. */
static int cancelled_cleanup(void *arg)
{
    (void)arg;
    int rc = spool_event_wait(&never);
    atomic_store(&cleanup_results[0], rc);
    atomic_store(&cleanup_results[1], spool_sleep_ms(1));
    spool_sem s = SPOOL_SEM_INIT(1);
    atomic_store(&cleanup_results[2], spool_sem_acquire(&s)); /* could succeed at once: still cancelled */
    atomic_store(&cleanup_results[3], spool_yield());
    return 7;
}

static int main_cancel_is_level_triggered(void *arg)
{
    spool_task *t = spool_spawn(cancelled_cleanup, NULL);
    ck_assert_ptr_nonnull(t);
    spool_sleep_ms(5);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_task_cancel(t), 0); /* twice is harmless */
    ck_assert_int_eq(spool_join(t), 7);        /* its own result: it returned normally */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(atomic_load(&cleanup_results[i]), -ECANCELED);
    return 0;
}

START_TEST(a_cancelled_task_fails_its_current_wait_and_every_later_one)
{
    ck_assert_int_eq(run_on(2, main_cancel_is_level_triggered, NULL), 0);
}
END_TEST

static int self_cancel(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_cancelled(), 0);
    ck_assert_int_eq(spool_task_cancel(spool_current()), 0);
    ck_assert_int_eq(spool_cancelled(), 1);
    ck_assert_int_eq(spool_sleep_ms(1), -ECANCELED);
    /* A shield lets cleanup wait. */
    ck_assert_int_eq(spool_shield_begin(), 0);
    ck_assert_int_eq(spool_cancelled(), 0);
    ck_assert_int_eq(spool_sleep_ms(2), 0);
    ck_assert_int_eq(spool_shield_begin(), 0); /* nested */
    ck_assert_int_eq(spool_shield_end(), 0);
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    ck_assert_int_eq(spool_shield_end(), 0);
    ck_assert_int_eq(spool_shield_end(), -EINVAL); /* unbalanced */
    ck_assert_int_eq(spool_sleep_ms(1), -ECANCELED);
    return 0;
}

START_TEST(shields_protect_cleanup_and_nest)
{
    ck_assert_int_eq(run_on(1, self_cancel, NULL), 0);
}
END_TEST

static _Atomic int shielded_slept, in_shield, shield_left;
static spool_sem shield_go;

/* Inside a shield, waits for main's go (given only after main cancelled
 * it), then sleeps: neither wait sees the cancellation. */
static int shielded_sleeper(void *arg)
{
    (void)arg;
    spool_shield_begin();
    atomic_store(&in_shield, 1);
    int rc = spool_sem_acquire(&shield_go);
    if (rc == 0)
        rc = spool_sleep_ms(1);
    atomic_store(&shield_left, 1);
    spool_shield_end();
    atomic_store(&shielded_slept, rc == 0);
    return spool_sleep_ms(1); /* the cancellation shows here */
}

static int main_cancel_during_shield(void *arg)
{
    (void)arg;
    atomic_store(&in_shield, 0);
    atomic_store(&shield_left, 0);
    spool_sem_init(&shield_go, 0);
    spool_task *t = spool_spawn(shielded_sleeper, NULL);
    while (!atomic_load(&in_shield))
        spool_sleep_ms(1);
    spool_task_cancel(t);
    spool_sleep_ms(10); /* a cancellation that broke the shield would end it meanwhile */
    ck_assert_int_eq(atomic_load(&shield_left), 0);
    ck_assert_int_eq(spool_sem_release(&shield_go), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&shielded_slept), 1);
    return 0;
}

START_TEST(a_cancellation_during_a_shield_waits_for_its_end)
{
    ck_assert_int_eq(run_on(2, main_cancel_during_shield, NULL), 0);
}
END_TEST

static int never_started_body(void *arg)
{
    _Atomic int *ran = arg;
    atomic_store(ran, 1);
    return spool_yield() == -ECANCELED ? -ECANCELED : 0;
}

static int main_cancel_before_start(void *arg)
{
    (void)arg;
    _Atomic int ran = 0;
    spool_task *t = spool_spawn(never_started_body, &ran);
    spool_task_cancel(t); /* before it ever ran (one worker: it has not) */
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&ran), 1); /* it ran: cleanup cannot be skipped */
    return 0;
}

START_TEST(a_task_cancelled_before_it_starts_still_runs_and_its_first_wait_fails)
{
    ck_assert_int_eq(run_on(1, main_cancel_before_start, NULL), 0);
}
END_TEST

/* ---- joining is ownership ------------------------------------------------- */

static _Atomic int children_cancelled;

static int child_counts_cancel(void *arg)
{
    int rc = spool_sleep_ms(10000);
    if (rc == -ECANCELED)
        atomic_fetch_add(&children_cancelled, 1);
    return rc;
}

static int joiner_of_three(void *arg)
{
    (void)arg;
    spool_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spool_spawn(child_counts_cancel, NULL);
    int results[3];
    int rc = spool_gather(t, 3, results);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(results[i], -ECANCELED);
    return rc;
}

static int main_cancel_joiner(void *arg)
{
    (void)arg;
    atomic_store(&children_cancelled, 0);
    spool_task *j = spool_spawn(joiner_of_three, NULL);
    spool_sleep_ms(5);
    uint64_t t0 = spool_now_ns();
    spool_task_cancel(j);
    ck_assert_int_eq(spool_join(j), -ECANCELED);
    ck_assert_int_eq(atomic_load(&children_cancelled), 3); /* they ended before it returned */
    ck_assert_uint_lt(spool_now_ns() - t0, HANG_GUARD_NS);
    return 0;
}

START_TEST(a_joiner_cancelled_while_it_waits_cancels_and_waits_for_its_children)
{
    for (unsigned w = 1; w <= 4; w *= 2)
        ck_assert_int_eq(run_on(w, main_cancel_joiner, NULL), 0);
}
END_TEST

/* Cancel vs completion: the child either finishes (its result) or is
 * cancelled (-ECANCELED); never anything else, never a hang or a leak. */
static int short_child(void *arg)
{
    unsigned spins = (unsigned)(uintptr_t)arg;
    for (volatile unsigned i = 0; i < spins; i++)
        ;
    int rc = spool_yield();
    return rc == 0 ? 1 : rc;
}

static int main_cancel_vs_completion(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    uint64_t rng = 42;
    unsigned finished = 0, cancelled = 0;
    for (unsigned i = 0; i < rounds; i++) {
        spool_task *t = spool_spawn(short_child, (void *)(uintptr_t)(xorshift(&rng) % 2000));
        REQUIRE(t != NULL);
        for (volatile unsigned k = xorshift(&rng) % 2000; k > 0; k--)
            ;
        spool_task_cancel(t);
        int r = spool_join(t);
        REQUIRE(r == 1 || r == -ECANCELED);
        if (r == 1)
            finished++;
        else
            cancelled++;
    }
    ck_assert_uint_eq(alive_once_settled(HANG_GUARD_NS), 1); /* only main: nothing leaked */
    ck_assert_uint_eq(finished + cancelled, rounds);
    return 0;
}

START_TEST(cancel_racing_completion_gives_one_of_the_two_outcomes)
{
    unsigned rounds = SANITIZED ? 3000 : 30000;
    ck_assert_int_eq(run_on(2, main_cancel_vs_completion, (void *)(uintptr_t)rounds), 0);
    ck_assert_int_eq(run_on(4, main_cancel_vs_completion, (void *)(uintptr_t)(rounds / 4)), 0);
}
END_TEST

/* A cancelled waiter being handed a permit at the same instant: the
 * permit is either taken (acquire returns 0) or left (-ECANCELED), and in
 * the end every permit is accounted for. */
struct handoff {
    spool_sem sem;
    _Atomic unsigned taken;
};

static int acquirer(void *arg)
{
    struct handoff *h = arg;
    int rc = spool_sem_acquire(&h->sem);
    if (rc == 0)
        atomic_fetch_add(&h->taken, 1);
    return rc;
}

static int main_cancel_vs_release(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    uint64_t rng = 7;
    for (unsigned i = 0; i < rounds; i++) {
        struct handoff h = {SPOOL_SEM_INIT(0), 0};
        spool_task *t = spool_spawn(acquirer, &h);
        if (xorshift(&rng) & 1)
            spool_yield(); /* let it park, sometimes */
        spool_sem_release(&h.sem);
        spool_task_cancel(t);
        int r = spool_join(t);
        REQUIRE(r == 0 || r == -ECANCELED);
        /* Taken, or still free: exactly one permit exists. */
        REQUIRE(atomic_load(&h.taken) + spool_sem_value(&h.sem) == 1);
        REQUIRE((r == 0) == (atomic_load(&h.taken) == 1));
    }
    return 0;
}

START_TEST(a_waiter_cancelled_while_being_handed_a_permit_loses_nothing)
{
    unsigned rounds = SANITIZED ? 3000 : 30000;
    ck_assert_int_eq(run_on(2, main_cancel_vs_release, (void *)(uintptr_t)rounds), 0);
}
END_TEST

/* ---- timeouts --------------------------------------------------------------- */

static int main_timeout_scope(void *arg)
{
    (void)arg;
    spool_timeout to;
    spool_sem s = SPOOL_SEM_INIT(0);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_timeout_enter(&to, 20 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_sem_acquire(&s), -ETIMEDOUT);
    ck_assert_uint_ge(spool_now_ns() - t0, 20 * SPOOL_MSEC);
    ck_assert_int_eq(spool_sleep_ms(1), -ETIMEDOUT); /* level-triggered inside the scope */
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_sleep_ms(1), 0); /* and not outside */

    /* A scope that does not expire. */
    ck_assert_int_eq(spool_timeout_enter(&to, HANG_GUARD_NS), 0);
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    ck_assert_int_eq(spool_timeout_exit(&to), 0);

    /* Nested: the nearest deadline wins, and belongs to its own scope. */
    spool_timeout outer, inner;
    spool_timeout_enter(&outer, 10 * SPOOL_MSEC);
    spool_timeout_enter(&inner, 10 * SPOOL_SEC);
    ck_assert_int_eq(spool_sleep_ms(1000), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&outer), -EINVAL); /* not the innermost */
    ck_assert_int_eq(spool_timeout_exit(&inner), 0);       /* the outer one fired */
    ck_assert_int_eq(spool_sleep_ms(1), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&outer), -ETIMEDOUT);

    /* The inner deadline, nearer, fires inside; the outer one is intact. */
    spool_timeout_enter(&outer, HANG_GUARD_NS);
    spool_timeout_enter(&inner, 5 * SPOOL_MSEC);
    ck_assert_int_eq(spool_sleep_ms(1000), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&inner), -ETIMEDOUT);
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    ck_assert_int_eq(spool_timeout_exit(&outer), 0);

    /* A sleep shorter than the scope ends normally. */
    spool_timeout_enter(&to, 50 * SPOOL_MSEC);
    ck_assert_int_eq(spool_sleep_ms(2), 0);
    ck_assert_int_eq(spool_timeout_reschedule(&to, 1 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_sleep_ms(100), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);

    /* Shields: a scope entered before the shield does not expire waits
     * inside it; one entered inside does. */
    spool_timeout_enter(&outer, 1 * SPOOL_MSEC);
    spool_shield_begin();
    ck_assert_int_eq(spool_sleep_ms(5), 0);
    spool_timeout_enter(&inner, 2 * SPOOL_MSEC);
    ck_assert_int_eq(spool_sleep_ms(100), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&inner), -ETIMEDOUT);
    spool_shield_end();
    ck_assert_int_eq(spool_sleep_ms(1), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&outer), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_enter(NULL, 1), -EINVAL);
    return 0;
}

START_TEST(timeout_scopes_expire_waits_nest_and_say_whether_they_fired)
{
    ck_assert_int_eq(run_on(2, main_timeout_scope, NULL), 0);
}
END_TEST

static int main_wait_for(void *arg)
{
    (void)arg;
    spool_task *fast = spool_spawn(sleep_ms_task, (void *)(uintptr_t)1);
    ck_assert_int_eq(spool_wait_for(fast, HANG_GUARD_NS), 0);
    atomic_store(&children_cancelled, 0);
    spool_task *slow = spool_spawn(child_counts_cancel, NULL);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_wait_for(slow, 10 * SPOOL_MSEC), -ETIMEDOUT);
    ck_assert_uint_ge(spool_now_ns() - t0, 10 * SPOOL_MSEC);
    ck_assert_int_eq(atomic_load(&children_cancelled), 1); /* cancelled and waited for */
    ck_assert_int_eq(spool_sleep_ms(1), 0); /* the caller is not cancelled */
    return 0;
}

START_TEST(wait_for_returns_the_result_or_cancels_the_task_on_timeout)
{
    ck_assert_int_eq(run_on(2, main_wait_for, NULL), 0);
}
END_TEST

/* Timeout vs completion: the joiner's deadline and the child's end land
 * together; the outcome is the child's result or -ETIMEDOUT, and the
 * child is freed either way. */
static int main_timeout_vs_completion(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    unsigned ok = 0, timed_out = 0;
    for (unsigned i = 0; i < rounds; i++) {
        spool_task *t = spool_spawn(sleep_ms_task, (void *)(uintptr_t)1);
        int r = spool_wait_for(t, SPOOL_MSEC + (i % 7) * 50 * SPOOL_USEC);
        REQUIRE(r == 0 || r == -ETIMEDOUT);
        if (r == 0)
            ok++;
        else
            timed_out++;
    }
    ck_assert_uint_eq(alive_once_settled(HANG_GUARD_NS), 1);
    ck_assert_uint_eq(ok + timed_out, rounds);
    return 0;
}

START_TEST(timeout_racing_completion_gives_one_of_the_two_outcomes)
{
    ck_assert_int_eq(run_on(2, main_timeout_vs_completion, (void *)(uintptr_t)(SANITIZED ? 200 : 1000)), 0);
}
END_TEST

/* The scenes below need a waiter parked before its deadline, which one
 * worker cannot promise on a slow machine (a preempted worker, TSan,
 * qemu): the time from entering the scope to parking may exceed any fixed
 * timeout. Each scene therefore learns afterwards whether the waiter
 * parked in time (with one worker, main runs again, or the other task
 * starts, only once the waiter has parked: a clock reading then that is
 * still before the deadline proves it), and a scene that could not prove
 * it is played again with a timeout twice as long. A bug shows in every
 * scene that did prove it. */
#define SCENE_FIRST_TIMEOUT_NS (1 * SPOOL_MSEC)
#define SCENE_LAST_TIMEOUT_NS (2 * SPOOL_SEC)

/* A waiter handed its permit as its deadline passes keeps the permit, and
 * its scope does not report a timeout nobody saw. One worker makes the
 * order certain: main holds the worker past the deadline, then releases. */
struct late_grant {
    spool_sem sem;
    uint64_t deadline;
    int acquire_rc, exit_rc, after_rc;
};

static int acquire_under_scope(void *arg)
{
    struct late_grant *g = arg;
    spool_timeout to;
    spool_timeout_enter_at(&to, g->deadline);
    g->acquire_rc = spool_sem_acquire(&g->sem);
    g->after_rc = spool_sleep_ms(1); /* the scope has expired: this one times out */
    g->exit_rc = spool_timeout_exit(&to);
    return 0;
}

static int acquire_only_under_scope(void *arg)
{
    struct late_grant *g = arg;
    spool_timeout to;
    spool_timeout_enter_at(&to, g->deadline);
    g->acquire_rc = spool_sem_acquire(&g->sem);
    g->exit_rc = spool_timeout_exit(&to);
    return 0;
}

/* Plays one late-grant scene with waiter `fn` and `timeout`: the waiter
 * parks in acquire, main holds the worker past the deadline, then
 * releases. Returns 1 if the waiter provably parked before its deadline
 * (g holds what it saw), 0 if the scene must be played again. */
static int late_grant_scene(spool_fn fn, struct late_grant *g, uint64_t timeout)
{
    *g = (struct late_grant){SPOOL_SEM_INIT(0), spool_now_ns() + timeout, 1, 1, 1};
    spool_task *t = spool_spawn(fn, g);
    ck_assert_ptr_nonnull(t);
    spool_yield(); /* it parks in acquire; main runs again only then */
    int parked_in_time = spool_now_ns() < g->deadline;
    while (spool_now_ns() < g->deadline + SPOOL_MSEC)
        ; /* past its deadline, without letting the worker fire timers */
    spool_sem_release(&g->sem);
    ck_assert_int_eq(spool_join(t), 0);
    return parked_in_time;
}

static int main_late_grant(void *arg)
{
    (void)arg;
    struct late_grant g;
    for (uint64_t timeout = SCENE_FIRST_TIMEOUT_NS; timeout <= SCENE_LAST_TIMEOUT_NS; timeout *= 2) {
        if (!late_grant_scene(acquire_under_scope, &g, timeout))
            continue;
        ck_assert_int_eq(g.acquire_rc, 0);          /* handed the permit: success */
        ck_assert_int_eq(g.after_rc, -ETIMEDOUT);
        ck_assert_int_eq(g.exit_rc, -ETIMEDOUT);    /* the sleep did time out */
        ck_assert_uint_eq(spool_sem_value(&g.sem), 0);
        return 0;
    }
    ck_abort_msg("the waiter never parked before its deadline, even given %llu ms",
                 (unsigned long long)(SCENE_LAST_TIMEOUT_NS / SPOOL_MSEC));
    return 1;
}

static int main_late_grant_exit(void *arg)
{
    (void)arg;
    struct late_grant g;
    for (uint64_t timeout = SCENE_FIRST_TIMEOUT_NS; timeout <= SCENE_LAST_TIMEOUT_NS; timeout *= 2) {
        if (!late_grant_scene(acquire_only_under_scope, &g, timeout))
            continue;
        ck_assert_int_eq(g.acquire_rc, 0);
        ck_assert_int_eq(g.exit_rc, 0); /* no wait in the scope reported a timeout */
        return 0;
    }
    ck_abort_msg("the waiter never parked before its deadline, even given %llu ms",
                 (unsigned long long)(SCENE_LAST_TIMEOUT_NS / SPOOL_MSEC));
    return 1;
}

START_TEST(a_waiter_handed_its_permit_as_it_times_out_keeps_it_and_reports_no_timeout)
{
    ck_assert_int_eq(run_on(1, main_late_grant, NULL), 0);
    ck_assert_int_eq(run_on(1, main_late_grant_exit, NULL), 0);
}
END_TEST

/* A child that ends as its joiner's deadline passes: the join succeeds
 * with the child's result, and the scope reports no timeout. One worker:
 * the child starts only once main has parked in the join, holds the
 * worker past the deadline, then ends. */
struct join_scene {
    uint64_t deadline, started;
};

static int busy_then_42(void *arg)
{
    struct join_scene *j = arg;
    j->started = spool_now_ns();
    while (spool_now_ns() < j->deadline + SPOOL_MSEC)
        ;
    return 42;
}

static int main_join_at_deadline(void *arg)
{
    (void)arg;
    for (uint64_t timeout = SCENE_FIRST_TIMEOUT_NS; timeout <= SCENE_LAST_TIMEOUT_NS; timeout *= 2) {
        struct join_scene j = {spool_now_ns() + timeout, 0};
        spool_task *t = spool_spawn(busy_then_42, &j);
        ck_assert_ptr_nonnull(t);
        spool_timeout to;
        spool_timeout_enter_at(&to, j.deadline);
        int rc = spool_join(t);
        int exit_rc = spool_timeout_exit(&to);
        /* The join has waited for the child either way: j is complete. */
        if (j.started >= j.deadline) { /* main may have parked too late */
            ck_assert(rc == 42 || rc == -ETIMEDOUT);
            continue;
        }
        ck_assert_int_eq(rc, 42);
        ck_assert_int_eq(exit_rc, 0);
        return 0;
    }
    ck_abort_msg("the joiner never parked before its deadline, even given %llu ms",
                 (unsigned long long)(SCENE_LAST_TIMEOUT_NS / SPOOL_MSEC));
    return 1;
}

START_TEST(a_join_whose_child_ends_as_the_deadline_passes_gets_the_result)
{
    ck_assert_int_eq(run_on(1, main_join_at_deadline, NULL), 0);
}
END_TEST

/* ---- wait_any ----------------------------------------------------------------- */

static int main_wait_any(void *arg)
{
    (void)arg;
    spool_task *t[3];
    t[0] = spool_spawn(sleep_ms_task, (void *)(uintptr_t)60);
    t[1] = spool_spawn(sleep_ms_task, (void *)(uintptr_t)5);
    t[2] = spool_spawn(sleep_ms_task, (void *)(uintptr_t)30);
    ck_assert_int_eq(spool_wait_any(t, 3, 0), -ETIMEDOUT); /* just a look */
    ck_assert_int_eq(spool_wait_any(t, 3, 1 * SPOOL_MSEC), -ETIMEDOUT);
    ck_assert_int_eq(spool_wait_any(t, 3, SPOOL_FOREVER), 1);
    ck_assert_int_eq(spool_wait_any(t, 3, SPOOL_FOREVER), 1); /* stays finished and joinable */
    ck_assert_int_eq(spool_join(t[1]), 0);
    spool_task *rest[2] = {t[0], t[2]};
    ck_assert_int_eq(spool_wait_any(rest, 2, SPOOL_FOREVER), 1);
    ck_assert_int_eq(spool_gather(rest, 2, NULL), 0);
    spool_task *bad[1] = {NULL};
    ck_assert_int_eq(spool_wait_any(bad, 1, 0), -EINVAL);
    ck_assert_int_eq(spool_wait_any(NULL, 1, 0), -EINVAL);
    return 0;
}

START_TEST(wait_any_returns_the_first_finished_and_leaves_tasks_joinable)
{
    ck_assert_int_eq(run_on(2, main_wait_any, NULL), 0);
}
END_TEST

/* as_completed: a loop of wait_any over many short tasks. */
static int main_as_completed(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    spool_task **t = calloc(n, sizeof *t);
    for (unsigned i = 0; i < n; i++)
        t[i] = spool_spawn(short_child, (void *)(uintptr_t)(i * 37 % 500));
    unsigned left = n, sum = 0;
    while (left) {
        int i = spool_wait_any(t, left, SPOOL_FOREVER);
        REQUIRE(i >= 0 && (unsigned)i < left);
        sum += (unsigned)spool_join(t[i]);
        t[i] = t[--left];
    }
    free(t);
    ck_assert_uint_eq(sum, n);
    return 0;
}

START_TEST(wait_any_in_a_loop_collects_every_task_once)
{
    ck_assert_int_eq(run_on(2, main_as_completed, (void *)(uintptr_t)(SANITIZED ? 200 : 1000)), 0);
}
END_TEST

static int wait_for_event(void *arg)
{
    return spool_event_wait(arg);
}

/* The task waited for runs until main lets it end (a sleep of a few ms
 * ended first under qemu, and a wait_any that finds its task done
 * returns it, expired deadline or not). */
static int main_wait_any_cancelled(void *arg)
{
    (void)arg;
    spool_event go;
    ck_assert_int_eq(spool_event_init(&go), 0);
    spool_task *t[1] = {spool_spawn(wait_for_event, &go)};
    ck_assert_ptr_nonnull(t[0]);
    spool_task_cancel(spool_current());
    ck_assert_int_eq(spool_wait_any(t, 1, SPOOL_FOREVER), -ECANCELED);
    spool_timeout to;
    ck_assert_int_eq(spool_shield_begin(), 0);
    spool_timeout_enter(&to, 0);
    ck_assert_int_eq(spool_wait_any(t, 1, SPOOL_FOREVER), -ETIMEDOUT); /* expired on entry */
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_event_set(&go), 0);
    ck_assert_int_eq(spool_join(t[0]), 0); /* still joinable */
    ck_assert_int_eq(spool_shield_end(), 0);
    return 0;
}

START_TEST(wait_any_by_a_cancelled_or_expired_caller_fails_at_once)
{
    ck_assert_int_eq(run_on(2, main_wait_any_cancelled, NULL), 0);
}
END_TEST

/* ---- task groups ---------------------------------------------------------------- */

static _Atomic int group_sum;

static int add_arg(void *arg)
{
    spool_yield();
    atomic_fetch_add(&group_sum, (int)(intptr_t)arg);
    return 0;
}

static int fail_after(void *arg)
{
    spool_sleep_ms((uint64_t)(uintptr_t)arg);
    return -EIO;
}

static _Atomic int group_running, group_max;

static int limited(void *arg)
{
    (void)arg;
    int now = atomic_fetch_add(&group_running, 1) + 1;
    int m = atomic_load(&group_max);
    while (now > m && !atomic_compare_exchange_weak(&group_max, &m, now))
        ;
    spool_sleep_ms(1);
    atomic_fetch_sub(&group_running, 1);
    return 0;
}

static int spawns_into(void *arg)
{
    spool_group *g = arg;
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(spool_group_spawn(g, add_arg, (void *)(intptr_t)1));
    return 0;
}

static int main_groups(void *arg)
{
    (void)arg;
    /* All succeed: wait returns 0, tasks spawned from members count too. */
    spool_group g;
    ck_assert_int_eq(spool_group_init(&g), 0);
    atomic_store(&group_sum, 0);
    for (int i = 1; i <= 100; i++)
        ck_assert_ptr_nonnull(spool_group_spawn(&g, add_arg, (void *)(intptr_t)i));
    ck_assert_ptr_nonnull(spool_group_spawn(&g, spawns_into, &g));
    ck_assert_int_eq(spool_group_wait(&g), 0);
    ck_assert_int_eq(atomic_load(&group_sum), 5050 + 10);

    /* The first failure cancels the rest and is returned. */
    atomic_store(&children_cancelled, 0);
    for (int i = 0; i < 5; i++)
        spool_group_spawn(&g, child_counts_cancel, NULL);
    spool_group_spawn(&g, fail_after, (void *)(uintptr_t)5);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_group_wait(&g), -EIO);
    ck_assert_int_eq(atomic_load(&children_cancelled), 5);
    ck_assert_uint_lt(spool_now_ns() - t0, HANG_GUARD_NS);

    /* The group is reusable; a limit bounds the running tasks. */
    ck_assert_int_eq(spool_group_set_limit(&g, 4), 0);
    atomic_store(&group_max, 0);
    for (int i = 0; i < 40; i++)
        ck_assert_ptr_nonnull(spool_group_spawn(&g, limited, NULL));
    ck_assert_int_eq(spool_group_set_limit(&g, 8), -EBUSY);
    ck_assert_int_eq(spool_group_wait(&g), 0);
    ck_assert_int_le(atomic_load(&group_max), 4);
    ck_assert_int_ge(atomic_load(&group_max), 1);

    /* spool_group_cancel: everything ends with -ECANCELED, which the group
     * caused, so wait returns 0. */
    spool_group g2 = SPOOL_GROUP_INIT;
    for (int i = 0; i < 5; i++)
        spool_group_spawn(&g2, wait_forever, NULL);
    spool_sleep_ms(1);
    ck_assert_int_eq(spool_group_cancel(&g2), 0);
    ck_assert_int_eq(spool_group_wait(&g2), 0);
    return 0;
}

START_TEST(groups_wait_for_all_cancel_on_first_error_and_honour_limits)
{
    ck_assert_int_eq(run_on(2, main_groups, NULL), 0);
}
END_TEST

static int group_owner(void *arg)
{
    (void)arg;
    spool_group g = SPOOL_GROUP_INIT;
    for (int i = 0; i < 5; i++)
        spool_group_spawn(&g, child_counts_cancel, NULL);
    return spool_group_wait(&g);
}

static int main_group_owner_cancelled(void *arg)
{
    (void)arg;
    atomic_store(&children_cancelled, 0);
    spool_task *t = spool_spawn(group_owner, NULL);
    spool_sleep_ms(5);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&children_cancelled), 5);

    /* Under a timeout scope: -ETIMEDOUT, after the members ended. */
    atomic_store(&children_cancelled, 0);
    spool_timeout to;
    spool_timeout_enter(&to, 5 * SPOOL_MSEC);
    ck_assert_int_eq(group_owner(NULL), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&children_cancelled), 5);
    ck_assert_uint_eq(alive_once_settled(HANG_GUARD_NS), 1);
    return 0;
}

START_TEST(a_group_waiter_cancelled_or_timed_out_cancels_and_waits_for_its_members)
{
    ck_assert_int_eq(run_on(2, main_group_owner_cancelled, NULL), 0);
}
END_TEST

static int main_group_limit_wait_cancelled(void *arg)
{
    (void)arg;
    spool_group g = SPOOL_GROUP_INIT;
    spool_group_set_limit(&g, 1);
    ck_assert_ptr_nonnull(spool_group_spawn(&g, sleep_ms_task, (void *)(uintptr_t)50));
    spool_timeout to;
    spool_timeout_enter(&to, 2 * SPOOL_MSEC);
    ck_assert_ptr_null(spool_group_spawn(&g, sleep_ms_task, (void *)(uintptr_t)1)); /* no place in time */
    spool_timeout_exit(&to);
    ck_assert_int_eq(spool_group_wait(&g), 0);
    return 0;
}

START_TEST(a_spawn_waiting_for_a_place_gives_up_with_its_scope)
{
    ck_assert_int_eq(run_on(2, main_group_limit_wait_cancelled, NULL), 0);
}
END_TEST

/* spool_group_cancel from another task while the group's waiter frees its
 * members (ASan sees any use after free), and members spawning more
 * members while it does. */
struct cancel_storm {
    spool_group g;
    _Atomic int stop;
};

static int storm(void *arg)
{
    struct cancel_storm *c = arg;
    while (!atomic_load(&c->stop)) {
        spool_group_cancel(&c->g);
        spool_yield();
    }
    return 0;
}

static int spawn_one_more(void *arg)
{
    spool_group *g = arg;
    spool_group_spawn(g, short_child, (void *)(uintptr_t)10);
    return 0;
}

static int main_group_cancel_storm(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    struct cancel_storm c = {.stop = 0};
    spool_group_init(&c.g);
    spool_task *s = spool_spawn(storm, &c);
    for (unsigned r = 0; r < rounds; r++) {
        for (int i = 0; i < 32; i++)
            spool_group_spawn(&c.g, i % 2 ? spawn_one_more : short_child, i % 2 ? (void *)&c.g : (void *)(uintptr_t)10);
        int rc = spool_group_wait(&c.g);
        REQUIRE(rc == 0 || rc == -ECANCELED);
    }
    atomic_store(&c.stop, 1);
    spool_join(s);
    ck_assert_uint_eq(alive_once_settled(HANG_GUARD_NS), 1);
    return 0;
}

START_TEST(a_group_cancelled_while_its_waiter_frees_the_members_stays_sound)
{
    ck_assert_int_eq(run_on(2, main_group_cancel_storm, (void *)(uintptr_t)(SANITIZED ? 300 : 2000)), 0);
}
END_TEST

/* ---- runner ------------------------------------------------------------------ */

static Suite *cancel_suite(void)
{
    Suite *s = suite_create("cancel");
    ADD_TEST(s, a_cancelled_task_fails_its_current_wait_and_every_later_one);
    ADD_TEST(s, shields_protect_cleanup_and_nest);
    ADD_TEST(s, a_cancellation_during_a_shield_waits_for_its_end);
    ADD_TEST(s, a_task_cancelled_before_it_starts_still_runs_and_its_first_wait_fails);
    ADD_TEST(s, a_joiner_cancelled_while_it_waits_cancels_and_waits_for_its_children);
    ADD_TEST(s, cancel_racing_completion_gives_one_of_the_two_outcomes);
    ADD_TEST(s, a_waiter_cancelled_while_being_handed_a_permit_loses_nothing);
    ADD_TEST(s, timeout_scopes_expire_waits_nest_and_say_whether_they_fired);
    ADD_TEST(s, a_waiter_handed_its_permit_as_it_times_out_keeps_it_and_reports_no_timeout);
    ADD_TEST(s, wait_for_returns_the_result_or_cancels_the_task_on_timeout);
    ADD_TEST(s, timeout_racing_completion_gives_one_of_the_two_outcomes);
    ADD_TEST(s, wait_any_returns_the_first_finished_and_leaves_tasks_joinable);
    ADD_TEST(s, wait_any_in_a_loop_collects_every_task_once);
    ADD_TEST(s, groups_wait_for_all_cancel_on_first_error_and_honour_limits);
    ADD_TEST(s, a_group_waiter_cancelled_or_timed_out_cancels_and_waits_for_its_members);
    ADD_TEST(s, a_spawn_waiting_for_a_place_gives_up_with_its_scope);
    ADD_TEST(s, a_join_whose_child_ends_as_the_deadline_passes_gets_the_result);
    ADD_TEST(s, wait_any_by_a_cancelled_or_expired_caller_fails_at_once);
    ADD_TEST(s, a_group_cancelled_while_its_waiter_frees_the_members_stays_sound);
    return s;
}

int main(void)
{
    return check_main(cancel_suite, 120);
}

/*
 * test_signal.c — spool_signal_wait (io/signal.c): a signal sent by a
 * plain thread, or before the wait, is returned; two tasks wait for
 * different signals; a cancelled or timed-out wait takes no signal; bad
 * input and the context rule.
 *
 * Each test blocks SIGUSR1 and SIGUSR2 before spool_run, as spool.h asks
 * (check runs each test in a child process of its own, so the mask stays
 * there).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"

static void block_usr(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, set, NULL), 0);
}

static int is_pending(int sig)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, sig);
}

struct kill_later {
    pthread_t th;
    int sig;
    unsigned delay_ms;
};

static void *kill_thread(void *arg)
{
    struct kill_later *k = arg;
    struct timespec ts = {0, (long)k->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    return (void *)(intptr_t)kill(getpid(), k->sig);
}

static void kill_later(struct kill_later *k, int sig, unsigned delay_ms)
{
    k->sig = sig;
    k->delay_ms = delay_ms;
    ck_assert_int_eq(pthread_create(&k->th, NULL, kill_thread, k), 0);
}

/* ---- waits that get their signal ------------------------------------------------- */

static int main_from_thread(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    struct kill_later k;
    kill_later(&k, SIGUSR1, 20);
    ck_assert_int_eq(spool_signal_wait(&set), SIGUSR1);
    ck_assert_int_eq(spool_to_thread(join_thread, &k.th), 0);
    ck_assert_int_eq(is_pending(SIGUSR1), 0); /* taken */
    return 0;
}

START_TEST(a_signal_from_a_plain_thread_ends_the_wait_with_its_number)
{
    sigset_t set;
    block_usr(&set);
    ck_assert_int_eq(run_on(1, main_from_thread, NULL), 0);
    ck_assert_int_eq(run_on(2, main_from_thread, NULL), 0);
}
END_TEST

static int main_already_pending(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(is_pending(SIGUSR2), 1);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_signal_wait(&set), SIGUSR2);
    ck_assert_uint_lt(spool_now_ns() - t0, HANG_GUARD_NS);
    ck_assert_int_eq(is_pending(SIGUSR2), 0);
    return 0;
}

START_TEST(a_signal_sent_before_the_wait_is_taken_at_once)
{
    sigset_t set;
    block_usr(&set);
    ck_assert_int_eq(run_on(2, main_already_pending, NULL), 0);
}
END_TEST

static int wait_one(void *arg)
{
    int sig = (int)(intptr_t)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    return spool_signal_wait(&set);
}

static int main_two_waiters(void *arg)
{
    (void)arg;
    spool_task *t1 = spool_spawn(wait_one, (void *)(intptr_t)SIGUSR1);
    spool_task *t2 = spool_spawn(wait_one, (void *)(intptr_t)SIGUSR2);
    spool_sleep_ms(10);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(spool_join(t2), SIGUSR2);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(spool_join(t1), SIGUSR1);
    return 0;
}

START_TEST(two_tasks_wait_for_different_signals)
{
    sigset_t set;
    block_usr(&set);
    ck_assert_int_eq(run_on(1, main_two_waiters, NULL), 0);
    ck_assert_int_eq(run_on(2, main_two_waiters, NULL), 0);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------ */

static int main_cancel(void *arg)
{
    (void)arg;
    /* Cancelled while waiting: -ECANCELED, and a later signal stays pending. */
    spool_task *t = spool_spawn(wait_one, (void *)(intptr_t)SIGUSR1);
    spool_sleep_ms(10);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    spool_sleep_ms(5);
    ck_assert_int_eq(is_pending(SIGUSR1), 1);

    /* A timeout scope: -ETIMEDOUT after the deadline, nothing taken. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    spool_timeout to;
    uint64_t t0 = spool_now_ns(); /* before the deadline is set from the clock */
    spool_timeout_enter(&to, 10 * SPOOL_MSEC);
    ck_assert_int_eq(spool_signal_wait(&set), -ETIMEDOUT);
    ck_assert_uint_ge(spool_now_ns() - t0, 10 * SPOOL_MSEC);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);

    /* The pending SIGUSR1 is still there for the next wait. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    ck_assert_int_eq(spool_signal_wait(&set), SIGUSR1);

    /* Already cancelled: fails at once. */
    spool_task_cancel(spool_current());
    ck_assert_int_eq(spool_signal_wait(&set), -ECANCELED);
    return 0;
}

START_TEST(a_cancelled_or_timed_out_wait_takes_no_signal)
{
    sigset_t set;
    block_usr(&set);
    ck_assert_int_eq(run_on(1, main_cancel, NULL), 0);
    ck_assert_int_eq(run_on(2, main_cancel, NULL), 0);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

static int main_bad(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_signal_wait(NULL), -EINVAL);
    return 0;
}

START_TEST(bad_input_is_einval_and_outside_a_task_eperm)
{
    sigset_t set;
    block_usr(&set);
    ck_assert_int_eq(spool_signal_wait(&set), -EPERM);
    ck_assert_int_eq(run_on(1, main_bad, NULL), 0);
}
END_TEST

static Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    ADD_TEST(s, a_signal_from_a_plain_thread_ends_the_wait_with_its_number);
    ADD_TEST(s, a_signal_sent_before_the_wait_is_taken_at_once);
    ADD_TEST(s, two_tasks_wait_for_different_signals);
    ADD_TEST(s, a_cancelled_or_timed_out_wait_takes_no_signal);
    ADD_TEST(s, bad_input_is_einval_and_outside_a_task_eperm);
    return s;
}

int main(void)
{
    return check_main(signal_suite, 120);
}

/*
 * test_depot.c — the depots keep per-worker caches balanced: records taken
 * on one worker and freed on another are handed back on demand, so a
 * one-sided spawn/join pattern reuses records instead of allocating slabs
 * without bound; and the depot itself stores and returns what it is given.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "depot.h"
#include "scheduler.h"

#include "check_util.h"

START_TEST(a_depot_returns_what_it_was_given_and_asks_when_empty)
{
    spool__depot d;
    spool__depot_init(&d);
    void *out[8];
    ck_assert_uint_eq(spool__depot_take(&d, out, 8, true), 0);
    ck_assert(spool__depot_wanted(&d)); /* empty: a cache asked */
    int items[5];
    void *in[5];
    for (int i = 0; i < 5; i++)
        in[i] = &items[i];
    ck_assert_uint_eq(spool__depot_put(&d, in, 5), 5);
    ck_assert(!spool__depot_wanted(&d)); /* the one request was answered */
    ck_assert_uint_eq(spool__depot_take(&d, out, 3, true), 3);
    ck_assert_uint_eq(spool__depot_take(&d, out + 3, 8, true), 2);
    /* Every item came back once. */
    for (int i = 0; i < 5; i++) {
        int seen = 0;
        for (int j = 0; j < 5; j++)
            seen += out[j] == in[i];
        ck_assert_int_eq(seen, 1);
    }
    spool__depot_destroy(&d);
}
END_TEST

static void *take_from_depot(void *arg)
{
    void *out[4];
    return (void *)(uintptr_t)spool__depot_take(arg, out, 4, true);
}

/* A depot that is empty and has counted as many requests as it keeps
 * answers a dry cache without its mutex (a runtime that grows takes that
 * path once per stack carved); and it still hands over what is put in it
 * later, and counts requests again once one has been answered. */
START_TEST(an_empty_depot_with_every_request_counted_answers_without_its_lock)
{
    spool__depot d;
    spool__depot_init(&d);
    void *out[4];
    for (unsigned i = 0; i < SPOOL_DEPOT_MAX_WANTED + 10; i++)
        ck_assert_uint_eq(spool__depot_take(&d, out, 4, true), 0);
    ck_assert_uint_eq(atomic_load(&d.wanted), SPOOL_DEPOT_MAX_WANTED);

    /* With the mutex held elsewhere, a take must still come back (the
     * join's limit is a hang guard only). */
    pthread_mutex_lock(&d.mu);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_from_depot, &d), 0);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 60;
    void *got = (void *)1;
    int rc = pthread_timedjoin_np(t, &got, &limit);
    pthread_mutex_unlock(&d.mu);
    if (rc == ETIMEDOUT)
        pthread_join(t, &got);
    ck_assert_msg(rc == 0, "a take from an empty depot waited for its mutex");
    ck_assert_ptr_eq(got, NULL); /* nothing taken */

    int items[3];
    void *in[3] = {&items[0], &items[1], &items[2]};
    ck_assert_uint_eq(spool__depot_put(&d, in, 3), 3);
    ck_assert_uint_eq(atomic_load(&d.wanted), SPOOL_DEPOT_MAX_WANTED - 1); /* one answered */
    ck_assert_uint_eq(spool__depot_take(&d, out, 4, true), 3);
    ck_assert_uint_eq(spool__depot_take(&d, out, 4, true), 0); /* empty again: counted */
    ck_assert_uint_eq(atomic_load(&d.wanted), SPOOL_DEPOT_MAX_WANTED);
    spool__depot_destroy(&d);
}
END_TEST

/* Only a cache that ran dry asks the depots for stock; an idle worker's
 * purge, which also looks in the dirty depot, must not ask. */
START_TEST(only_a_dry_pool_asks_the_depots_for_stacks)
{
    spool__depot dirty, clean;
    spool__depot_init(&dirty);
    spool__depot_init(&clean);
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, SPOOL_MIN_STACK_SIZE, &dirty, &clean);
    for (int i = 0; i < 5; i++)
        spool__stack_purge(&pool, 64); /* idle, nothing anywhere */
    ck_assert(!spool__depot_wanted(&dirty));
    ck_assert(!spool__depot_wanted(&clean));
    spool__stack *s = spool__stack_get(&pool); /* dry: asks once, then carves */
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(atomic_load(&dirty.wanted) + atomic_load(&clean.wanted), 1);
    spool__stack_put(&pool, s);
    spool__stack_pool_destroy(&pool);
    spool__depot_destroy(&dirty);
    spool__depot_destroy(&clean);
}
END_TEST

static size_t slab_count(spool__worker *w)
{
    size_t n = 0;
    for (struct spool__task_slab *s = atomic_load(&w->slabs); s; s = *(struct spool__task_slab **)s)
        n++;
    return n;
}

START_TEST(records_freed_on_another_worker_come_back_instead_of_new_slabs)
{
    /* Two workers of a runtime, as far as the record caches are concerned:
     * worker 0 only spawns, worker 1 only joins. */
    spool__runtime *rt = aligned_alloc(64, sizeof *rt);
    ck_assert_ptr_nonnull(rt);
    memset(rt, 0, sizeof *rt);
    spool__depot_init(&rt->task_depot);
    rt->nworkers = 2;
    spool__worker *w = aligned_alloc(64, 2 * sizeof *w);
    ck_assert_ptr_nonnull(w);
    memset(w, 0, 2 * sizeof *w);
    w[0].rt = w[1].rt = rt;

    enum { ROUNDS = 200, PER_ROUND = 500 };
    static spool_task *batch[PER_ROUND];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER_ROUND; i++)
            ck_assert_ptr_nonnull(batch[i] = spool__task_alloc(&w[0]));
        for (int i = 0; i < PER_ROUND; i++)
            spool__task_free(&w[1], batch[i]);
    }
    /* 100,000 records went through; without the depot worker 0 would have
     * needed ~1,560 slabs of 64. Worker 1 keeps at most its cache plus one
     * batch, so worker 0 needs only enough slabs to cover that. */
    ck_assert_uint_lt(slab_count(&w[0]), 64);
    ck_assert_uint_le(w[1].nfree_tasks, 1024 + 256 + PER_ROUND);

    spool__task_slabs_destroy(&w[0]);
    spool__task_slabs_destroy(&w[1]);
    spool__depot_destroy(&rt->task_depot);
    free(w);
    free(rt);
}
END_TEST

static Suite *depot_suite(void)
{
    Suite *s = suite_create("depot");
    TCase *tc = tcase_create("depot");
    tcase_add_test(tc, a_depot_returns_what_it_was_given_and_asks_when_empty);
    tcase_add_test(tc, an_empty_depot_with_every_request_counted_answers_without_its_lock);
    tcase_add_test(tc, records_freed_on_another_worker_come_back_instead_of_new_slabs);
    tcase_add_test(tc, only_a_dry_pool_asks_the_depots_for_stacks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(depot_suite, 0);
}

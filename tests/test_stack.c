/*
 * test_stack.c — task stacks: the stack pool (runtime/stack.h, white-box)
 * and, through the API, what a task may do with its stack: use all of a
 * big configured one, and die with SIGSEGV on the guard page when it
 * overflows a small one, instead of writing into a neighbour.
 */
#include "stack.h"

#include <check.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_util.h"

/* The crash tests expect the kernel's SIGSEGV. */
SANITIZERS_LEAVE_SEGV_ALONE()

#define STACK_SIZE ((size_t)64 * 1024)

static size_t page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Pages of [p, p + len) resident in memory. */
static size_t resident_pages(const char *p, size_t len)
{
    size_t n = len / page();
    unsigned char *vec = malloc(n);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore((void *)p, len, vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    free(vec);
    return r;
}

/* ---- the pool ----------------------------------------------------------- */

START_TEST(stack_size_is_rounded_up_to_whole_pages)
{
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, 20000, NULL, NULL);
    ck_assert_uint_eq(pool.stack_size % page(), 0);
    ck_assert_uint_ge(pool.stack_size, 20000);
    ck_assert_uint_lt(pool.stack_size, 20000 + page());
    spool__stack *s = spool__stack_get(&pool);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(spool__stack_top(&pool, s), s->base + pool.stack_size);
    spool__stack_put(&pool, s);
    spool__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(get_returns_distinct_stacks_whose_whole_range_is_usable)
{
    enum { N = 16 };
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, STACK_SIZE, NULL, NULL);
    spool__stack *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = spool__stack_get(&pool);
        ck_assert_ptr_nonnull(s[i]);
        ck_assert_uint_eq((uintptr_t)s[i]->base % page(), 0);
        ck_assert(!s[i]->dirty);
        memset(s[i]->base, 0xA0 + i, STACK_SIZE);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            if (i == j)
                continue;
            ck_assert_ptr_ne(s[i], s[j]);
            /* No overlap, and at least a guard page between them. */
            ck_assert(s[i]->base + STACK_SIZE + spool__stack_guard_size() <= s[j]->base ||
                      s[j]->base + STACK_SIZE + spool__stack_guard_size() <= s[i]->base);
        }
        /* Nobody else's memset reached this stack. */
        ck_assert_int_eq((unsigned char)s[i]->base[0], 0xA0 + i);
        ck_assert_int_eq((unsigned char)s[i]->base[STACK_SIZE - 1], 0xA0 + i);
    }
    for (int i = 0; i < N; i++)
        spool__stack_put(&pool, s[i]);
    spool__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(put_then_get_reuses_the_warm_stack_first)
{
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, STACK_SIZE, NULL, NULL);
    spool__stack *a = spool__stack_get(&pool);
    spool__stack *b = spool__stack_get(&pool);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    a->base[100] = 42;
    spool__stack_put(&pool, a);
    ck_assert(a->dirty);
    spool__stack_put(&pool, b);
    /* Most recently freed first: its pages are the warmest. */
    ck_assert_ptr_eq(spool__stack_get(&pool), b);
    spool__stack *again = spool__stack_get(&pool);
    ck_assert_ptr_eq(again, a);
    ck_assert_int_eq(again->base[100], 42); /* not purged: same pages */
    spool__stack_put(&pool, a);
    spool__stack_put(&pool, b);
    spool__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(purge_returns_the_pages_and_the_stack_still_works)
{
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, STACK_SIZE, NULL, NULL);
    spool__stack *s = spool__stack_get(&pool);
    ck_assert_ptr_nonnull(s);
    memset(s->base, 0x5A, STACK_SIZE);
    ck_assert_uint_eq(resident_pages(s->base, STACK_SIZE), STACK_SIZE / page());
    spool__stack_put(&pool, s);

    ck_assert_uint_eq(spool__stack_purge(&pool, 100), 1);
    ck_assert(!s->dirty);
    ck_assert_uint_eq(resident_pages(s->base, STACK_SIZE), 0);
    ck_assert_uint_eq(spool__stack_purge(&pool, 100), 0); /* nothing dirty left */

    /* The clean stack comes back, zero-filled and fully usable. */
    spool__stack *again = spool__stack_get(&pool);
    ck_assert_ptr_eq(again, s);
    ck_assert_int_eq(again->base[0], 0);
    ck_assert_int_eq(again->base[STACK_SIZE - 1], 0);
    memset(again->base, 0x33, STACK_SIZE);
    ck_assert_int_eq(again->base[STACK_SIZE / 2], 0x33);
    spool__stack_put(&pool, again);
    spool__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(purge_stops_at_max_and_dirty_stacks_are_reused_before_clean_ones)
{
    enum { N = 10 };
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, STACK_SIZE, NULL, NULL);
    spool__stack *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = spool__stack_get(&pool);
        s[i]->base[STACK_SIZE - 1] = 1;
    }
    for (int i = 0; i < N; i++)
        spool__stack_put(&pool, s[i]);
    ck_assert_uint_eq(spool__stack_purge(&pool, 4), 4);
    int dirty = 0;
    for (int i = 0; i < N; i++)
        dirty += s[i]->dirty;
    ck_assert_int_eq(dirty, N - 4);
    /* The 6 dirty ones come back first, then the 4 clean ones. */
    for (int i = 0; i < N; i++) {
        spool__stack *g = spool__stack_get(&pool);
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(g->dirty, i < N - 4);
        s[i] = g;
    }
    for (int i = 0; i < N; i++)
        spool__stack_put(&pool, s[i]);
    spool__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(carving_more_than_one_chunk_of_stacks_works)
{
    enum { N = SPOOL_STACKS_PER_CHUNK * 2 + 17 };
    spool__stack_pool pool;
    spool__stack_pool_init(&pool, SPOOL_MIN_STACK_SIZE, NULL, NULL);
    spool__stack **s = calloc(N, sizeof *s);
    ck_assert_ptr_nonnull(s);
    for (unsigned i = 0; i < N; i++) {
        s[i] = spool__stack_get(&pool);
        ck_assert_ptr_nonnull(s[i]);
        s[i]->base[0] = (char)i;
        s[i]->base[pool.stack_size - 1] = (char)~i;
    }
    for (unsigned i = 0; i < N; i++) {
        ck_assert_int_eq(s[i]->base[0], (char)i);
        ck_assert_int_eq(s[i]->base[pool.stack_size - 1], (char)~i);
        if (i > 0)
            ck_assert_ptr_ne(s[i], s[i - 1]);
    }
    /* Within a chunk, slots are [guard | stack] back to back. */
    ck_assert_ptr_eq(s[1]->base, s[0]->base + pool.stack_size + spool__stack_guard_size());
    for (unsigned i = 0; i < N; i++)
        spool__stack_put(&pool, s[i]);
    ck_assert_uint_eq(spool__stack_purge(&pool, N), N);
    spool__stack_pool_destroy(&pool);
    free(s);
}
END_TEST

static spool__stack_pool guard_pool;

static spool__stack *guard_setup(void)
{
    spool__stack_pool_init(&guard_pool, STACK_SIZE, NULL, NULL);
    spool__stack *a = spool__stack_get(&guard_pool);
    spool__stack *b = spool__stack_get(&guard_pool);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    memset(b->base, 1, STACK_SIZE); /* the stack itself is fine */
    return b;
}

START_TEST(writing_just_below_a_stack_hits_the_guard_page)
{
    spool__stack *s = guard_setup();
    volatile char *below = s->base - 1;
    *below = 1;
    ck_abort_msg("the write below the stack did not fault");
}
END_TEST

START_TEST(the_guard_page_survives_a_purge)
{
    spool__stack *s = guard_setup();
    spool__stack_put(&guard_pool, s);
    ck_assert_uint_ge(spool__stack_purge(&guard_pool, 10), 1);
    volatile char *below = s->base - spool__stack_guard_size(); /* its lowest byte */
    *below = 1;
    ck_abort_msg("the write to the guard page after a purge did not fault");
}
END_TEST

/* ---- through the API --------------------------------------------------- */

/* About 1 KiB per frame, every byte written, so each frame touches every
 * page it spans and an overflow cannot jump over the one guard page. */
#define FRAME_BYTES 1000

static uintptr_t deepest;

__attribute__((noinline)) static int recurse(int depth)
{
    volatile char buf[FRAME_BYTES];
    for (int i = 0; i < FRAME_BYTES; i++)
        buf[i] = (char)(depth + i);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (here < deepest)
        deepest = here;
    int r = depth > 0 ? recurse(depth - 1) : 0;
    return r + buf[depth % FRAME_BYTES];
}

struct depth_job {
    int depth;
    int sum;
    uintptr_t top;
    uintptr_t used;
};

static int deep_task(void *arg)
{
    struct depth_job *j = arg;
    j->top = (uintptr_t)__builtin_frame_address(0);
    deepest = j->top;
    int r = recurse(j->depth);
    j->used = j->top - deepest;
    j->sum = r;
    return 0;
}

static int deep_main(void *arg)
{
    spool_task *t = spool_spawn(deep_task, arg);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(a_task_may_use_most_of_a_big_configured_stack)
{
    struct depth_job j = {.depth = 200};
    spool_config cfg = {.workers = 1, .stack_size = 256 * 1024};
    ck_assert_int_eq(spool_run(deep_main, &j, &cfg), 0);
    ck_assert_uint_ge(j.used, 200 * 1000);
    ck_assert_uint_lt(j.used, 256 * 1024);
}
END_TEST

START_TEST(a_task_that_overflows_its_stack_dies_with_sigsegv)
{
    /* ~1 MiB of locals on a 64 KiB stack. */
    struct depth_job j = {.depth = 1024};
    spool_config cfg = {.workers = 1, .stack_size = 64 * 1024};
    spool_run(deep_main, &j, &cfg);
    ck_abort_msg("the overflowing task finished instead of faulting");
}
END_TEST

START_TEST(a_task_that_overflows_on_a_multi_worker_runtime_dies_with_sigsegv)
{
    struct depth_job j = {.depth = 1024};
    spool_config cfg = {.workers = 2, .stack_size = 64 * 1024};
    spool_run(deep_main, &j, &cfg);
    ck_abort_msg("the overflowing task finished instead of faulting");
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

/* A pool that frees more stacks than it keeps hands the excess to the
 * depots; an idle purge empties the dirty depot into the clean one; another
 * pool that runs dry takes them before carving. */
START_TEST(excess_free_stacks_move_through_the_depot_to_a_pool_that_needs_them)
{
    enum { N = SPOOL_STACK_CACHE + SPOOL_STACK_BATCH / 2 };
    spool__depot dirty, depot;
    spool__depot_init(&dirty);
    spool__depot_init(&depot);
    spool__stack_pool a, b;
    spool__stack_pool_init(&a, STACK_SIZE, &dirty, &depot);
    spool__stack_pool_init(&b, STACK_SIZE, &dirty, &depot);
    static spool__stack *s[N];
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(s[i] = spool__stack_get(&b)); /* b carves them */
        s[i]->base[STACK_SIZE - 1] = 1;                     /* a touched page */
    }
    for (int i = 0; i < N; i++)
        spool__stack_put(&a, s[i]); /* ... and a gets them back */
    ck_assert_uint_le(a.nfree, SPOOL_STACK_CACHE);
    ck_assert_uint_eq(a.nfree + dirty.len, N);
    ck_assert_uint_eq(dirty.len, SPOOL_STACK_BATCH);
    /* An idle purge (a's own dirty stacks, then the depot's) leaves the
     * depot's stacks without pages. */
    ck_assert_uint_eq(spool__stack_purge(&a, SIZE_MAX), N);
    ck_assert_uint_eq(dirty.len, 0);
    ck_assert_uint_eq(depot.len, SPOOL_STACK_BATCH);
    for (size_t i = 0; i < depot.len; i++) {
        spool__stack *d = depot.items[i];
        ck_assert_uint_eq(resident_pages(d->base, STACK_SIZE), 0);
    }
    /* b, now empty, takes from the depot instead of carving. */
    size_t carved = b.carved_in_last;
    spool__stack *again = spool__stack_get(&b);
    ck_assert_ptr_nonnull(again);
    ck_assert_uint_eq(b.carved_in_last, carved);
    ck_assert_uint_eq(depot.len, 0);
    spool__stack_put(&b, again);
    spool__stack_pool_destroy(&a);
    spool__stack_pool_destroy(&b);
    spool__depot_destroy(&dirty);
    spool__depot_destroy(&depot);
}
END_TEST

/* A deep call's pages do not stay with the stack once its worker idles. */
#define DEEP_TASKS 100

static long rss_kib(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (long)(resident * (unsigned long)page() / 1024);
}

static spool_sem deep_gate;

static int touch_deep_then_wait(void *arg)
{
    volatile char buf[48 * 1024]; /* most of a 64 KiB stack */
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)i;
    /* Wait with the deep frame live, so every task holds its own stack. */
    spool_sem_acquire(&deep_gate);
    return buf[512] == 0 ? 0 : -1;
}

struct deep_rss {
    long grew;  /* KiB the deep frames added */
    long freed; /* KiB given back after the worker idled */
};

static int deep_then_idle(void *arg)
{
    struct deep_rss *r = arg;
    spool_sem_init(&deep_gate, 0);
    spool_task *t[DEEP_TASKS];
    long base = rss_kib();
    for (int i = 0; i < DEEP_TASKS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(touch_deep_then_wait, NULL));
    spool_yield(); /* all of them run and wait */
    long deep = rss_kib();
    r->grew = deep - base;
    for (int i = 0; i < DEEP_TASKS; i++)
        spool_sem_release(&deep_gate);
    ck_assert_int_eq(spool_gather(t, DEEP_TASKS, NULL), 0);
    /* Idle well past the purge delay (10 ms); sanitizer builds are slow. */
    for (int i = 0; i < 40 && (deep - rss_kib()) * 4 < r->grew * 3; i++)
        spool_sleep_ms(25);
    r->freed = deep - rss_kib();
    return 0;
}

START_TEST(a_deep_calls_pages_are_given_back_once_its_worker_idles)
{
    struct deep_rss r = {0, 0};
    ck_assert_int_eq(run_on(1, deep_then_idle, &r), 0);
#if defined(__SANITIZE_THREAD__)
    /* TSan's shadow of the touched pages stays resident (4-8 times their
     * size), so RSS says nothing about the stacks themselves here. */
    return;
#endif
    ck_assert_msg(r.grew >= DEEP_TASKS * 16, "the deep frames added only %ld KiB", r.grew);
    ck_assert_msg(r.freed * 4 >= r.grew * 3, "%ld KiB of %ld given back", r.freed, r.grew);
}
END_TEST

static Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    ADD_TEST(s, stack_size_is_rounded_up_to_whole_pages);
    ADD_TEST(s, get_returns_distinct_stacks_whose_whole_range_is_usable);
    ADD_TEST(s, put_then_get_reuses_the_warm_stack_first);
    ADD_TEST(s, purge_returns_the_pages_and_the_stack_still_works);
    ADD_TEST(s, purge_stops_at_max_and_dirty_stacks_are_reused_before_clean_ones);
    ADD_TEST(s, carving_more_than_one_chunk_of_stacks_works);
    ADD_TEST(s, excess_free_stacks_move_through_the_depot_to_a_pool_that_needs_them);
    ADD_SIGNAL_TEST(s, writing_just_below_a_stack_hits_the_guard_page, SIGSEGV);
    ADD_SIGNAL_TEST(s, the_guard_page_survives_a_purge, SIGSEGV);
    ADD_TEST(s, a_task_may_use_most_of_a_big_configured_stack);
    ADD_TEST(s, a_deep_calls_pages_are_given_back_once_its_worker_idles);
    ADD_SIGNAL_TEST(s, a_task_that_overflows_its_stack_dies_with_sigsegv, SIGSEGV);
    ADD_SIGNAL_TEST(s, a_task_that_overflows_on_a_multi_worker_runtime_dies_with_sigsegv, SIGSEGV);
    return s;
}

int main(void)
{
    return check_main(stack_suite, 120);
}

/*
 * timer.c — the timer heap (see timer.h) and spool_sleep_*.
 */
#include "timer.h"

#include "failpoint.h"
#include "scheduler.h"
#include "task.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>

void spool__timer_heap_init(spool__timer_heap *h)
{
    h->v = NULL;
    h->len = h->cap = 0;
}

void spool__timer_heap_destroy(spool__timer_heap *h)
{
    free(h->v);
    spool__timer_heap_init(h);
}

bool spool__timer_entry_live(const spool__timer_entry *e)
{
    return atomic_load_explicit(&e->task->wait_seq, memory_order_acquire) == e->seq;
}

static void sift_down(spool__timer_heap *h, size_t i, spool__timer_entry e)
{
    size_t n = h->len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h->v[c + 1].deadline < h->v[c].deadline)
            c++;
        if (e.deadline <= h->v[c].deadline)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = e;
}

/* Drops the entries of waits that are over, then rebuilds the heap
 * (Floyd: O(n)). */
static void drop_stale(spool__timer_heap *h)
{
    size_t kept = 0;
    for (size_t i = 0; i < h->len; i++)
        if (spool__timer_entry_live(&h->v[i]))
            h->v[kept++] = h->v[i];
    h->len = kept;
    for (size_t i = kept / 2; i-- > 0;)
        sift_down(h, i, h->v[i]);
}

int spool__timer_push(spool__timer_heap *h, uint64_t deadline, spool_task *t, uint32_t seq)
{
    /* When full: drop the stale entries first, and grow only if the heap
     * is still more than half full after the drop (so the drops cost O(1)
     * a push, amortised). */
    if (h->len == h->cap) {
        if (h->len)
            drop_stale(h);
        if (h->cap == 0 || h->len > h->cap / 2) {
            size_t cap = h->cap ? h->cap * 2 : 64;
            spool__timer_entry *v =
                spool__failpoint_hit(SPOOL__FAIL_TIMER) ? NULL : realloc(h->v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            h->v = v;
            h->cap = cap;
        }
    }
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent].deadline <= deadline)
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = (spool__timer_entry){deadline, t, seq};
    return 0;
}

bool spool__timer_pop_due(spool__timer_heap *h, uint64_t now, spool__timer_entry *out)
{
    if (h->len == 0 || h->v[0].deadline > now)
        return false;
    *out = h->v[0];
    spool__timer_entry last = h->v[--h->len];
    if (h->len)
        sift_down(h, 0, last);
    return true;
}

int spool_sleep_ns(uint64_t ns)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (ns == 0)
        return spool_yield();
    uint64_t now = spool_now_ns();
    uint64_t deadline = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns; /* UINT64_MAX: none */
    spool__wait wt;
    int rc = spool__wait_begin(&wt, deadline);
    if (rc)
        return rc;
    spool__wait_on(&wt, SPOOL__WAIT_SLEEP, NULL); /* for spool_dump */
    do
        rc = spool__wait_park(&wt);
    while (rc == 0 && spool_now_ns() < deadline);
    spool__wait_end(&wt);
    return rc;
}
int spool_sleep_ms(uint64_t ms)
{
    if (ms > UINT64_MAX / SPOOL_MSEC)
        return -EINVAL;
    return spool_sleep_ns(ms * SPOOL_MSEC);
}

/*
 * timer.c — the timer heap (see timer.h) and spool_sleep_*.
 */
#include "timer.h"

#include "scheduler.h"

#include "failpoint.h"

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

int spool__timer_push(spool__timer_heap *h, uint64_t deadline, spool_task *t)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        spool__timer_entry *v =
            spool__failpoint_hit(SPOOL__FAIL_TIMER) ? NULL : realloc(h->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent].deadline <= deadline)
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = (spool__timer_entry){deadline, t};
    return 0;
}

spool_task *spool__timer_pop_due(spool__timer_heap *h, uint64_t now)
{
    if (h->len == 0 || h->v[0].deadline > now)
        return NULL;
    spool_task *t = h->v[0].task;
    spool__timer_entry last = h->v[--h->len];
    size_t i = 0, n = h->len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h->v[c + 1].deadline < h->v[c].deadline)
            c++;
        if (last.deadline <= h->v[c].deadline)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n)
        h->v[i] = last;
    return t;
}

int spool_sleep_ns(uint64_t ns)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (ns == 0)
        return spool_yield();
    uint64_t now = spool_now_ns();
    uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    int rc = spool__timer_push(&w->timers, deadline, w->current);
    if (rc)
        return rc;
    /* The heap is this worker's and only its scheduler loop pops it, after
     * we have switched out: publishing before the switch is safe here. */
    spool__suspend(w, NULL, NULL);
    return 0;
}

int spool_sleep_ms(uint64_t ms)
{
    if (ms > UINT64_MAX / SPOOL_MSEC)
        return -EINVAL;
    return spool_sleep_ns(ms * SPOOL_MSEC);
}

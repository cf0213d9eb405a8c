/*
 * remote.c — the runtime seen from threads outside its pool: waking a
 * parked worker (remote wake-ups), spool_spawn_on and spool_spawn_on_owned,
 * spool_runtime_current.
 *
 * A worker wakes another by sending IORING_OP_MSG_RING from its own ring.
 * A plain thread has no ring, so the runtime keeps one shared ring for
 * them (no SINGLE_ISSUER), used under `lock` — a slow path: a cross-thread
 * wake-up costs a system call anyway. Records for tasks spawned from
 * outside come from a worker-shaped record cache, also under `lock`; they
 * live in slabs like every record, so the shutdown scan sees them, and
 * they are freed into whichever cache their joiner uses.
 */
#include "remote.h"

#include "driver.h"
#include "inject.h"
#include "reactor.h"
#include "scheduler.h"
#include "task.h"
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

struct spool__remote {
    spool__worker alloc;          /* record cache (first: aligned as a worker); under lock */
    pthread_mutex_t lock;
    spool__reactor ring;          /* under lock */
    int ring_ok;
    _Atomic uint64_t spawned;     /* tasks spawned from outside; seq_cst (quiescence) */
    /* Plain threads between queueing a task and their last touch of the
     * runtime (spool__runtime_push_remote): destroy waits for zero. */
    _Atomic unsigned in_flight;
};

int spool__remote_init(spool__runtime *rt)
{
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t align = _Alignof(struct spool__remote);
    struct spool__remote *r = aligned_alloc(align, (sizeof *r + align - 1) / align * align);
    if (!r)
        return -ENOMEM;
    memset(r, 0, sizeof *r);
    r->alloc.rt = rt;
    r->alloc.index = UINT32_MAX;
    pthread_mutex_init(&r->lock, NULL);
    /* Without it, remote wake-ups rely on the workers' bounded parks
     * (SPOOL_PARK_MAX_NS): slower, still correct. */
    r->ring_ok = rt->backend == SPOOL__BACKEND_URING && spool__reactor_init_shared(&r->ring) == 0;
    atomic_init(&r->spawned, 0);
    rt->remote = r;
    return 0;
}

void spool__remote_destroy(spool__runtime *rt)
{
    struct spool__remote *r = rt->remote;
    if (!r)
        return;
    if (r->ring_ok)
        spool__reactor_exit(&r->ring);
    spool__task_slabs_destroy(&r->alloc);
    pthread_mutex_destroy(&r->lock);
    free(r);
    rt->remote = NULL;
}

void spool__remote_quiesce(spool__runtime *rt)
{
    struct spool__remote *r = rt->remote;
    /* A thread that queued a task may still be waking a worker for it,
     * though the task has run and ended since: it is a few instructions
     * from done. */
    while (r && atomic_load_explicit(&r->in_flight, memory_order_acquire))
        sched_yield();
}

spool__worker *spool__remote_allocator(spool__runtime *rt)
{
    return rt->remote ? &rt->remote->alloc : NULL;
}

uint64_t spool__remote_spawned(spool__runtime *rt)
{
    return atomic_load_explicit(&rt->remote->spawned, memory_order_seq_cst);
}

void spool__notify_remote(spool__runtime *rt)
{
    int v = spool__claim_idle_worker(rt);
    if (v < 0)
        return;
    if (rt->backend == SPOOL__BACKEND_EPOLL) {
        spool__driver_wake_epoll_from_anywhere(&rt->workers[v]); /* any thread may */
        return;
    }
    struct spool__remote *r = rt->remote;
    pthread_mutex_lock(&r->lock);
    if (r->ring_ok) {
        spool__reactor_wake(&r->ring, atomic_load_explicit(&rt->workers[v].ring_fd, memory_order_acquire));
        spool__reactor_wait(&r->ring, 0); /* reaps the CQEs of failed sends */
    }
    pthread_mutex_unlock(&r->lock);
}

void spool__remote_wake(spool__runtime *rt, spool__worker *target)
{
    if (rt->backend == SPOOL__BACKEND_EPOLL) {
        spool__driver_wake_epoll_from_anywhere(target);
        return;
    }
    struct spool__remote *r = rt->remote;
    pthread_mutex_lock(&r->lock);
    if (r->ring_ok) { /* else the target's bounded park (SPOOL_PARK_MAX_NS) ends on its own */
        spool__reactor_wake(&r->ring, atomic_load_explicit(&target->ring_fd, memory_order_acquire));
        spool__reactor_wait(&r->ring, 0);
    }
    pthread_mutex_unlock(&r->lock);
}

void spool__remote_lock(spool__runtime *rt)
{
    pthread_mutex_lock(&rt->remote->lock);
}

void spool__remote_unlock(spool__runtime *rt)
{
    pthread_mutex_unlock(&rt->remote->lock);
}

void spool__runtime_push_remote(spool__runtime *rt, spool_task *t)
{
    /* The runtime is alive here: t is alive and not yet runnable (its
     * unpark was claimed, or it is new), so the runtime cannot end before
     * the push. After the push it can (t may run and end at once, and be
     * the last): in_flight keeps destroy waiting until we are done. */
    struct spool__remote *r = rt->remote;
    atomic_fetch_add_explicit(&r->in_flight, 1, memory_order_relaxed);
    spool__inject_push(&rt->inject, t, t, 1); /* P1 */
    spool__notify_remote(rt);                 /* P2, P3 */
    atomic_fetch_sub_explicit(&r->in_flight, 1, memory_order_release);
}

void spool__remote_free_record(spool__runtime *rt, spool_task *t)
{
    struct spool__remote *r = rt->remote;
    pthread_mutex_lock(&r->lock);
    spool__task_free(&r->alloc, t);
    pthread_mutex_unlock(&r->lock);
}

void spool__remote_close(spool__runtime *rt)
{
    struct spool__remote *r = rt->remote;
    pthread_mutex_lock(&r->lock);
    atomic_store_explicit(&rt->cancelling, true, memory_order_seq_cst);
    pthread_mutex_unlock(&r->lock);
}

spool_runtime *spool_runtime_current(void)
{
    spool__worker *w = spool__worker_current();
    return w && w->current ? w->rt : NULL;
}

/* spool_spawn_on_owned's body: the task, or NULL with drop not run. */
static spool_task *spawn_on(spool_runtime *rt, spool_fn fn, void *arg, spool_drop_fn drop)
{
    if (!rt || !fn)
        return NULL;
    spool__worker *w = spool__worker_current();
    if (w && w->rt == rt && w->current)
        return spool__spawn_here(w, fn, arg, drop);
    struct spool__remote *r = rt->remote;
    pthread_mutex_lock(&r->lock);
    /* Under the lock that spool__remote_close takes: a spawn either is
     * counted before shutdown begins (and the runtime waits for it) or
     * is refused. */
    if (atomic_load_explicit(&rt->cancelling, memory_order_relaxed)) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    spool_task *t = spool__task_alloc(&r->alloc);
    spool_task *handle = NULL;
    if (t) {
        spool__task_init(t, fn, arg);
        t->drop = drop; /* published by the push below (release) */
        handle = spool__task_handle(t); /* before the push: then t may end, and the runtime with it */
        atomic_fetch_add_explicit(&r->spawned, 1, memory_order_seq_cst);
    }
    pthread_mutex_unlock(&r->lock);
    if (t)
        spool__runtime_push_remote(rt, t);
    return handle;
}

spool_task *spool_spawn_on_owned(spool_runtime *rt, spool_fn fn, void *arg, spool_drop_fn drop)
{
    spool_task *t = spawn_on(rt, fn, arg, drop);
    if (!t && drop)
        drop(arg); /* fn never runs: arg was handed over all the same */
    return t;
}

spool_task *spool_spawn_on(spool_runtime *rt, spool_fn fn, void *arg)
{
    return spawn_on(rt, fn, arg, NULL);
}

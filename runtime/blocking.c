/*
 * blocking.c — the blocking pool behind spool_to_thread.
 *
 * Plain threads take jobs from a FIFO under one mutex. A job lives on the
 * calling task's stack; the task waits for it with a shielded wait (a
 * thread cannot be interrupted, and the job's memory must outlive it), and
 * the thread hands the result back with a waiter grant (runtime/waiter.h),
 * which unparks the task from outside the pool. Threads start on demand,
 * up to the cap, when the jobs queued outnumber the threads that will
 * take one (the idle ones and those starting): an idle thread serves one
 * job, so two calls in flight never share it while the cap allows a
 * second thread (one call could be waiting for the other). A thread idle
 * for idle_ns retires. Threads are detached; the pool counts them, and
 * destroy waits until the count is zero.
 */
#include "blocking.h"

#include "task.h"
#include "wait.h"
#include "waiter.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct job {
    struct job *next;
    spool_fn fn;
    void *arg;
    int result;
    struct spool__waiter node;   /* granted when result is set */
};

struct spool__blocking_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;          /* a job was queued, or the pool stops */
    pthread_cond_t gone;          /* a thread exited */
    struct job *head, *tail;
    unsigned queued;              /* jobs in the queue */
    unsigned starting;            /* threads created that have not looked at the queue yet */
    unsigned threads, idle, cap;
    uint64_t idle_ns;
    bool stopping;
};

int spool__blocking_init(spool__runtime *rt, unsigned cap, uint64_t idle_ns)
{
    struct spool__blocking_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&p->gone, NULL);
    p->cap = cap;
    p->idle_ns = idle_ns;
    rt->blocking = p;
    return 0;
}

void spool__blocking_destroy(spool__runtime *rt)
{
    struct spool__blocking_pool *p = rt->blocking;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    while (p->threads > 0)
        pthread_cond_wait(&p->gone, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->mu);
    free(p);
    rt->blocking = NULL;
}

static struct timespec deadline_in(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t total = (uint64_t)ts.tv_nsec + ns % SPOOL_SEC;
    ts.tv_sec += (time_t)(ns / SPOOL_SEC + total / SPOOL_SEC);
    ts.tv_nsec = (long)(total % SPOOL_SEC);
    return ts;
}

static void *pool_thread(void *arg)
{
    struct spool__blocking_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    p->starting--;
    for (;;) {
        if (!p->head) {
            if (p->stopping)
                break;
            p->idle++;
            struct timespec until = deadline_in(p->idle_ns);
            int rc = 0;
            while (!p->head && !p->stopping && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&p->work, &p->mu, &until);
            p->idle--;
            if (!p->head && rc == ETIMEDOUT)
                break; /* retire */
            continue;
        }
        struct job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        j->result = j->fn(j->arg);
        spool__waiter_grant(&j->node); /* j may be gone from here on */
        pthread_mutex_lock(&p->mu);
    }
    p->threads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Queues j, starting a thread if the jobs queued (j included) outnumber
 * the threads that will take one, and the cap allows. -EAGAIN if no
 * thread exists and none could be started (j not queued).
 * Called with p->mu held. */
static int submit(struct spool__blocking_pool *p, struct job *j)
{
    if (p->queued + 1 > p->idle + p->starting && p->threads < p->cap) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t th;
        int rc = pthread_create(&th, &attr, pool_thread, p);
        pthread_attr_destroy(&attr);
        if (rc == 0) {
            p->threads++;
            p->starting++;
        } else if (p->threads == 0) {
            return -EAGAIN;
        }
    }
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->work);
    return 0;
}

int spool_to_thread(spool_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    int rc = spool__wait_check(t);
    if (rc == -ECANCELED)
        return rc;
    struct spool__blocking_pool *p = t->u.run.rt->blocking;
    struct job j = {.fn = fn, .arg = arg};
    spool__waiter_init(&j.node, t);
    pthread_mutex_lock(&p->mu);
    rc = submit(p, &j);
    pthread_mutex_unlock(&p->mu);
    if (rc)
        return rc;
    spool__wait wt;
    spool__wait_begin_shielded(&wt);
    spool__wait_on(&wt, SPOOL__WAIT_THREAD, (const void *)fn); /* for spool_dump: the function's name */
    while (atomic_load_explicit(&j.node.state, memory_order_acquire) != SPOOL__WAITER_GRANTED)
        spool__wait_park(&wt);
    spool__wait_end(&wt);
    return j.result;
}

/*
 * epoll.h — the epoll driver: a worker's epoll instance, where the worker
 * parks when idle and where tasks wait for a file descriptor to become
 * ready, for runtimes where io_uring is refused (driver.h chooses).
 *
 * Readiness, not completion: a call on the epoll driver tries its system
 * call first (non-blocking) and waits only on EAGAIN, through
 * spool__fd_wait, then tries again (io/ready.c). The waiting task's record
 * (spool__fd_waiter, on its stack) sits in the owner worker's table of
 * fds, and the fd is armed in the worker's epoll set with EPOLLONESHOT for
 * the directions somebody waits for: one event disarms it, so a worker
 * that no longer waits on an fd (its task moved on, or to another worker)
 * is not woken by it again.
 *
 * Ownership: the table, the epoll set and every waiter in the table belong
 * to the owner worker's thread. Another thread wakes the worker through
 * its eventfd (any thread may write it); a task that gave up its wait
 * (cancelled, timed out) on another worker asks the owner to take its
 * waiter out through a small request array under a spin lock, and waits,
 * shielded, until the owner has done so (the waiter is on its stack).
 */
#ifndef SPOOL_EPOLL_H
#define SPOOL_EPOLL_H

#include "task.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct spool__fd_waiter spool__fd_waiter;

/* The waiters of one fd on one worker (owner only). */
typedef struct spool__fd_slot {
    spool__fd_waiter *readers, *writers; /* singly linked by next */
    uint32_t armed;                      /* the events armed in the epoll set now */
    bool in_set;                         /* added to the epoll set (it may have left
                                          * it since, by a close: MOD then says ENOENT) */
    bool drained;                        /* a hint: the last read of it here was short */
} spool__fd_slot;

/* Cancel requests from other workers: (waiter, fd) pairs, never
 * dereferenced unless the waiter is still in the owner's table. */
#define SPOOL__EPOLL_REQUESTS 64u

typedef struct spool__epoll {
    bool ready;                    /* set up (spool__epoll_exit undoes it) */
    int epfd;
    int evfd;                      /* eventfd: a write wakes the worker (any thread) */
    int tfd;                       /* timerfd for park deadlines, -1 with epoll_pwait2 */
    bool pwait2;                   /* the kernel has epoll_pwait2 (5.11+) */
    spool__fd_slot *slots;         /* indexed by fd (owner only) */
    size_t nslots;
    unsigned waiting;              /* waiters in the table (owner only) */
    pthread_mutex_t req_lock;      /* over req and nreq (a slow path) */
    _Atomic unsigned nreq;         /* requests queued; written under req_lock, read
                                    * without it as a hint (relaxed) by the owner */
    struct {
        spool__fd_waiter *waiter;
        int fd;
    } req[SPOOL__EPOLL_REQUESTS];
} spool__epoll;

/* A task's wait for fd to be ready (on the task's stack). */
struct spool__fd_waiter {
    spool__fd_waiter *next;        /* in its slot's list (owner only) */
    spool_task *task;
    int fd;
    uint32_t events;               /* EPOLLIN or EPOLLOUT (with EPOLLPRI / EPOLLRDHUP) */
    uint32_t revents;              /* what the owner saw (plain: written before done) */
    _Atomic int done;              /* 1: out of the table; release by the owner, acquire by the task */
};

/* Creates the worker's epoll set, its eventfd and (where epoll_pwait2 is
 * missing) its timerfd. Returns 0 or a negative errno. */
int spool__epoll_init(spool__epoll *ep);
void spool__epoll_exit(spool__epoll *ep);

/* Waits for an event, a wake-up or timeout_ns (UINT64_MAX: none; 0: no
 * wait), wakes the tasks whose fds are ready (through wake(ctx, task)),
 * and serves queued cancel requests. Returns the number of wake-ups
 * taken, or a negative errno for a failure that is not an interruption.
 * Owner only. */
int spool__epoll_wait(spool__epoll *ep, uint64_t timeout_ns, void (*wake)(void *, spool_task *), void *ctx);

/* Whether the owner should look at its epoll set soon: tasks wait in it,
 * or cancel requests are queued. Owner only (nreq: any thread). */
static inline bool spool__epoll_busy(const spool__epoll *ep)
{
    return ep->waiting || atomic_load_explicit(&ep->nreq, memory_order_relaxed);
}

/* Wakes the worker parked in ep (its eventfd). Any thread. */
int spool__epoll_wake(spool__epoll *ep);

/* Puts waiter (fd, events, task filled in) in ep's table and arms its fd.
 * Returns 0, or a negative errno: -EPERM for an fd epoll cannot watch (a
 * regular file: it is always ready), -EBADF, -ENOMEM. Owner only. */
int spool__epoll_add(spool__epoll *ep, spool__fd_waiter *waiter);

/* Takes waiter out of ep's table if it is still there, with revents 0,
 * and sets its done. Owner only. */
void spool__epoll_remove(spool__epoll *ep, spool__fd_waiter *waiter);

/* The drained hint of fd in ep's table (owner only): a read that came
 * back short sets it; the next read takes it and waits for readiness
 * before it tries, instead of trying, failing with EAGAIN and then
 * waiting. Only a hint: the fd is armed level-triggered under its
 * one-shot, so data that came meanwhile is reported at once, and a stale
 * hint (a reused fd number) costs one wait that ends at the next poll. */
void spool__epoll_set_drained(spool__epoll *ep, int fd);
bool spool__epoll_take_drained(spool__epoll *ep, int fd);

/* Asks ep's owner, from another worker, to take waiter out of its table
 * (spool__epoll_remove, which then makes the task runnable). Fire and
 * forget: a full array drops the request, which the asker repeats. */
void spool__epoll_request_remove(spool__epoll *ep, spool__fd_waiter *waiter);

#endif /* SPOOL_EPOLL_H */

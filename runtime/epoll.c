/*
 * epoll.c — the epoll driver (see epoll.h): a worker's epoll set, its
 * eventfd for wake-ups, deadlines with nanosecond precision (epoll_pwait2,
 * or a timerfd where the kernel lacks it), and the table of tasks waiting
 * for their fds.
 *
 * Arming: a slot's fd is armed EPOLLONESHOT with the union of what its
 * waiters want. An event disarms it; the owner wakes every waiter of the
 * directions it reports (each tries its call again: one may find EAGAIN
 * and wait again), and re-arms for the directions still waited for.
 * Level-triggered under the one-shot: readiness that came before the
 * arming is reported at once, so no edge is lost between a task's EAGAIN
 * and its wait.
 */
#include "epoll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* epoll_data of the eventfd and of the timerfd: never an fd's number. */
#define TAG_WAKE UINT64_MAX
#define TAG_TIMER (UINT64_MAX - 1)
/* Events taken per epoll_wait. */
#define EVENTS_PER_WAIT 64
/* What wakes any waiter, whatever it asked for. */
#define ALWAYS_EVENTS (EPOLLERR | EPOLLHUP)

int spool__epoll_init(spool__epoll *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->tfd = -1;
    ep->evfd = -1;
    pthread_mutex_init(&ep->req_lock, NULL);
    atomic_init(&ep->nreq, 0);
    ep->ready = true; /* from here on, exit undoes what was made */
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0)
        return -errno;
    ep->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ep->evfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->evfd, &ev) != 0)
        goto fail;
    /* epoll_pwait2 (Linux 5.11) takes a timespec; before it (and under
     * qemu-user, which lacks it) a timerfd in the set carries the
     * deadline. */
    struct timespec zero = {0, 0};
    struct epoll_event probe;
    ep->pwait2 = epoll_pwait2(ep->epfd, &probe, 1, &zero, NULL) >= 0 || errno != ENOSYS;
    if (!ep->pwait2) {
        ep->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (ep->tfd < 0)
            goto fail;
        ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_TIMER};
        if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->tfd, &ev) != 0)
            goto fail;
    }
    return 0;
fail:;
    int err = -errno;
    spool__epoll_exit(ep);
    return err;
}

void spool__epoll_exit(spool__epoll *ep)
{
    if (!ep->ready)
        return;
    if (ep->tfd >= 0)
        close(ep->tfd);
    if (ep->evfd >= 0)
        close(ep->evfd);
    if (ep->epfd >= 0)
        close(ep->epfd);
    pthread_mutex_destroy(&ep->req_lock);
    free(ep->slots);
    memset(ep, 0, sizeof *ep); /* not ready */
}

int spool__epoll_wake(spool__epoll *ep)
{
    uint64_t one = 1;
    /* A full counter (EAGAIN) is a wake-up pending already. */
    if (write(ep->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

/* The slot of fd, the table grown to hold it; NULL if memory runs out. */
static spool__fd_slot *slot_of(spool__epoll *ep, int fd)
{
    if ((size_t)fd >= ep->nslots) {
        size_t n = ep->nslots ? ep->nslots : 64;
        while (n <= (size_t)fd)
            n *= 2;
        spool__fd_slot *s = realloc(ep->slots, n * sizeof *s);
        if (!s)
            return NULL;
        memset(s + ep->nslots, 0, (n - ep->nslots) * sizeof *s);
        ep->slots = s;
        ep->nslots = n;
    }
    return &ep->slots[fd];
}

/* The events the slot's waiters want, 0 if none. */
static uint32_t wanted(const spool__fd_slot *s)
{
    uint32_t ev = 0;
    for (const spool__fd_waiter *w = s->readers; w; w = w->next)
        ev |= w->events;
    for (const spool__fd_waiter *w = s->writers; w; w = w->next)
        ev |= w->events;
    return ev;
}

/* Arms fd in the set for what its waiters want (nothing: leaves it
 * disarmed). Returns 0 or a negative errno. */
static int arm(spool__epoll *ep, int fd, spool__fd_slot *s)
{
    uint32_t want = wanted(s);
    if (!want || want == s->armed)
        return 0;
    struct epoll_event ev = {.events = want | EPOLLONESHOT, .data.u64 = (uint64_t)fd};
    int op = s->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(ep->epfd, op, fd, &ev);
    if (rc != 0 && errno == ENOENT && op == EPOLL_CTL_MOD) /* closed since, maybe reused */
        rc = epoll_ctl(ep->epfd, op = EPOLL_CTL_ADD, fd, &ev);
    else if (rc != 0 && errno == EEXIST && op == EPOLL_CTL_ADD)
        rc = epoll_ctl(ep->epfd, op = EPOLL_CTL_MOD, fd, &ev);
    if (rc != 0)
        return -errno;
    s->in_set = true;
    s->armed = want;
    return 0;
}

/* Unlinks w from list *head; returns whether it was there. */
static bool unlink_waiter(spool__fd_waiter **head, spool__fd_waiter *w)
{
    for (spool__fd_waiter **p = head; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return true;
        }
    }
    return false;
}

void spool__epoll_set_drained(spool__epoll *ep, int fd)
{
    spool__fd_slot *s = fd >= 0 ? slot_of(ep, fd) : NULL;
    if (s)
        s->drained = true;
}

bool spool__epoll_take_drained(spool__epoll *ep, int fd)
{
    if (fd < 0 || (size_t)fd >= ep->nslots || !ep->slots[fd].drained)
        return false;
    ep->slots[fd].drained = false;
    return true;
}

int spool__epoll_add(spool__epoll *ep, spool__fd_waiter *w)
{
    if (w->fd < 0)
        return -EBADF;
    spool__fd_slot *s = slot_of(ep, w->fd);
    if (!s)
        return -ENOMEM;
    /* Writers: those that want EPOLLOUT alone; readers: the rest. */
    spool__fd_waiter **list = w->events == EPOLLOUT ? &s->writers : &s->readers;
    w->next = *list;
    *list = w;
    w->revents = 0;
    /* Relaxed: nobody else sees w before this thread links it, and the
     * owner that later sets done is this thread. */
    atomic_store_explicit(&w->done, 0, memory_order_relaxed);
    int rc = arm(ep, w->fd, s);
    if (rc) {
        *list = w->next;
        return rc;
    }
    ep->waiting++;
    return 0;
}

/* Takes w out of its slot (it must be there), with revents, and marks it
 * done. The last touch of w. */
static void finish(spool__epoll *ep, spool__fd_waiter *w, uint32_t revents)
{
    ep->waiting--;
    w->revents = revents;
    /* Release: pairs with the task's acquire load of done; w (on its
     * stack) may be gone from here on. */
    atomic_store_explicit(&w->done, 1, memory_order_release);
}

/* Takes w out of slot s if it is there; returns whether it was. A slot
 * left without waiters forgets what it had armed: its fd may be closed
 * from now on, which takes it out of the epoll set unseen, and the number
 * reused by the next accept or socket; the next wait then asks the kernel
 * again (MOD, or ADD on ENOENT) instead of trusting a registration that
 * may be gone (a lost wake-up). While the old one lives, it costs one
 * spurious event at most. */
static bool take_out(spool__fd_slot *s, spool__fd_waiter *w)
{
    if (!unlink_waiter(&s->readers, w) && !unlink_waiter(&s->writers, w))
        return false;
    if (!s->readers && !s->writers)
        s->armed = 0;
    return true;
}

void spool__epoll_remove(spool__epoll *ep, spool__fd_waiter *w)
{
    if ((size_t)w->fd >= ep->nslots)
        return;
    if (take_out(&ep->slots[w->fd], w))
        finish(ep, w, 0);
}

void spool__epoll_request_remove(spool__epoll *ep, spool__fd_waiter *w)
{
    pthread_mutex_lock(&ep->req_lock);
    unsigned n = atomic_load_explicit(&ep->nreq, memory_order_relaxed);
    if (n < SPOOL__EPOLL_REQUESTS) {
        ep->req[n].waiter = w;
        ep->req[n].fd = w->fd;
        atomic_store_explicit(&ep->nreq, n + 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&ep->req_lock);
    spool__epoll_wake(ep);
}

/* Serves the queued cancel requests: each waiter still in the table is
 * taken out, and its task (parked, shielded, waiting for done) woken.
 * A waiter no longer there has finished: the pointer is not touched. */
static void serve_requests(spool__epoll *ep, void (*wake)(void *, spool_task *), void *ctx)
{
    /* Relaxed, outside the lock: a hint. A request queued as we read 0
     * is served at the next wait: its asker wrote the eventfd after
     * unlocking, so that wait returns at once and this check runs again
     * after epoll_wait (a system call on both sides: the unlock, the
     * eventfd's counter under the kernel's lock, our read of it, order
     * the store before this load on any architecture); and the asker
     * repeats the request after 100 ms in any case. */
    if (!atomic_load_explicit(&ep->nreq, memory_order_relaxed))
        return;
    pthread_mutex_lock(&ep->req_lock);
    unsigned n = atomic_load_explicit(&ep->nreq, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        spool__fd_waiter *w = ep->req[i].waiter;
        int fd = ep->req[i].fd;
        if ((size_t)fd >= ep->nslots)
            continue;
        if (take_out(&ep->slots[fd], w)) {
            spool_task *t = w->task;
            finish(ep, w, 0);
            wake(ctx, t);
        }
    }
    atomic_store_explicit(&ep->nreq, 0, memory_order_relaxed);
    pthread_mutex_unlock(&ep->req_lock);
}

/* Wakes every waiter of list *head that revents concerns (each tries its
 * call again), and leaves the others in the list. */
static void wake_list(spool__epoll *ep, spool__fd_waiter **head, uint32_t revents,
                      void (*wake)(void *, spool_task *), void *ctx)
{
    spool__fd_waiter **p = head;
    while (*p) {
        spool__fd_waiter *w = *p;
        if (!(revents & (w->events | ALWAYS_EVENTS))) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        spool_task *t = w->task;
        finish(ep, w, revents);
        wake(ctx, t);
    }
}

int spool__epoll_wait(spool__epoll *ep, uint64_t timeout_ns, void (*wake)(void *, spool_task *), void *ctx)
{
    serve_requests(ep, wake, ctx);
    struct epoll_event events[EVENTS_PER_WAIT];
    int n;
    if (timeout_ns == 0) {
        n = epoll_wait(ep->epfd, events, EVENTS_PER_WAIT, 0);
    } else if (timeout_ns == UINT64_MAX) {
        n = epoll_wait(ep->epfd, events, EVENTS_PER_WAIT, -1);
    } else if (ep->pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                              .tv_nsec = (long)(timeout_ns % 1000000000u)};
        n = epoll_pwait2(ep->epfd, events, EVENTS_PER_WAIT, &ts, NULL);
    } else {
        struct itimerspec its = {.it_value = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                                              .tv_nsec = (long)(timeout_ns % 1000000000u)}};
        if (timerfd_settime(ep->tfd, 0, &its, NULL) != 0)
            return -errno;
        n = epoll_wait(ep->epfd, events, EVENTS_PER_WAIT, -1);
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int wakes = 0;
    for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag == TAG_WAKE || tag == TAG_TIMER) {
            uint64_t count;
            /* Resets the counter (the eventfd) or the expiry (the
             * timerfd); EAGAIN: another read took it. */
            if (read(tag == TAG_WAKE ? ep->evfd : ep->tfd, &count, sizeof count) > 0 && tag == TAG_WAKE)
                wakes++;
            continue;
        }
        int fd = (int)tag;
        if ((size_t)fd >= ep->nslots)
            continue;
        spool__fd_slot *s = &ep->slots[fd];
        uint32_t revents = events[i].events;
        s->armed = 0; /* one-shot: disarmed by this event */
        wake_list(ep, &s->readers, revents, wake, ctx);
        wake_list(ep, &s->writers, revents, wake, ctx);
        if (arm(ep, fd, s) != 0) {
            /* Cannot re-arm (closed under its waiters): they try their
             * calls again and see why. */
            wake_list(ep, &s->readers, EPOLLERR, wake, ctx);
            wake_list(ep, &s->writers, EPOLLERR, wake, ctx);
        }
    }
    serve_requests(ep, wake, ctx);
    return wakes;
}

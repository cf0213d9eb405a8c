/*
 * listener.c — a listening socket served by one multishot accept
 * (IORING_ACCEPT_MULTISHOT): the kernel accepts each connection as it
 * arrives and posts its fd; we queue the fds; spool_listener_accept takes
 * them. One armed request replaces an accept SQE (and its poll arming)
 * per connection.
 *
 * State (all under `lock`, a spin lock: every section is a few stores):
 *   queue   accepted fds (>= 0) and accept errors (< 0), FIFO, growing;
 *   ready   a semaphore with one permit per queued entry, released after
 *           the push: an acceptor acquires a permit, then pops. The
 *           semaphore's grant/withdraw protocol is what makes accept
 *           cancellable without losing a connection: a cancelled acquire
 *           takes no permit, so the entry stays for the next caller;
 *   owner   the worker whose ring holds the multishot request, NULL while
 *           none is armed; only that worker reaps its completions;
 *   closing set by spool_listener_close; nothing is queued after it.
 *
 * Arming: spool_listener_accept arms the request on its own worker's ring
 * when none is armed and the queue is empty. The request ends (a CQE
 * without IORING_CQE_F_MORE) when accept fails (-EMFILE...), when it is
 * cancelled, or when the kernel could not post a completion (CQ
 * overflow; that final CQE still carries an fd). The owner re-arms at
 * once after a success or a stray cancel; after an error it queues the
 * error and leaves the request disarmed: the caller sees the error, may
 * back off (new connections wait in the kernel's backlog), and its next
 * call arms again. Other acceptors may be waiting when that happens: so
 * no waiter is stranded with nothing armed, every accept that pops an
 * entry re-arms when the queue is then empty and `waiting` says others
 * still wait (each of them then sees the next error itself, if the cause
 * persists).
 *
 * Backpressure: once LISTENER_QUEUE_HIGH fds wait untaken (beyond those
 * that waiting acceptors are about to take), the owner cancels the
 * request (`paused`), so a server that stops taking connections (a
 * connection limit in front of its accept) leaves the rest in the
 * kernel's backlog instead of holding their fds. The next accept that
 * finds the queue empty arms again, or the owner itself when the
 * cancel's completion finds acceptors already waiting for more than the
 * queue holds. The kernel may accept a burst beyond the mark before the
 * owner reaps (it accepts all it can per wake-up): the mark bounds the
 * growth, not the exact length.
 *
 * Closing: close sets closing, asks the owner ring to cancel the request
 * (spool__io_cancel, repeated every 100 ms in case a request is lost) and
 * waits, shielded, until the owner has seen the final CQE and cleared
 * owner. Lifetime rule for the owner's side: it touches the listener only
 * while owner is set, and clears owner as its last touch (under the lock,
 * after any semaphore release), so once close reads owner == NULL under
 * the lock, nothing else will read l again and close may free it.
 */
#include "io.h"

#include "driver.h"
#include "scheduler.h"
#include "sem.h"
#include "wait.h"
#include "waiter.h"
#include "worker.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spool/spool.h>

struct spool_listener {
    spool__io_rec rec;       /* first: the multishot accept's user_data points here */
    int fd;
    _Atomic uint32_t lock;   /* spool__spin_lock over the fields below */
    bool closing;
    bool paused;             /* the owner cancelled the request: queue at the high mark */
    unsigned waiting;        /* tasks in spool_listener_accept that have not popped */
    spool__worker *owner;    /* ring holding the multishot accept; NULL: none armed */
    uint64_t user_data;      /* the armed request's tag: &l->rec | seq << 48 | REC */
    spool_task *closer;      /* the task in spool_listener_close, to unpark */
    int *queue;              /* ring buffer of cap entries, len from head */
    size_t head, len, cap;
    spool_sem ready;         /* a permit per queued entry */
};

static void listener_complete(spool__worker *w, const struct io_uring_cqe *cqe, spool__io_rec *rec);

#define LISTENER_QUEUE_MIN 16u
/* Untaken fds at which the owner pauses the request (see Backpressure). */
#define LISTENER_QUEUE_HIGH 64u

spool_listener *spool_listener_open(int fd)
{
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    spool_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->rec.complete = listener_complete;
    l->fd = fd;
    atomic_init(&l->lock, 0);
    spool_sem_init(&l->ready, 0);
    return l;
}

/* Appends v (lock held). False if the queue could not grow. */
static bool queue_push(spool_listener *l, int v)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : LISTENER_QUEUE_MIN;
        int *q = malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < l->len; i++)
            q[i] = l->queue[(l->head + i) % l->cap];
        free(l->queue);
        l->queue = q;
        l->head = 0;
        l->cap = cap;
    }
    l->queue[(l->head + l->len) % l->cap] = v;
    l->len++;
    return true;
}

/* Removes the oldest entry (lock held, len > 0). */
static int queue_pop(spool_listener *l)
{
    int v = l->queue[l->head];
    l->head = (l->head + 1) % l->cap;
    l->len--;
    return v;
}

/* Queues the multishot accept on w's ring (lock held, owner NULL; w is
 * the caller's worker). Returns 0 or -EBUSY (no SQE). */
static int arm(spool_listener *l, spool__worker *w)
{
    struct io_uring_sqe *sqe = spool__io_take_sqe(w);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    l->user_data = spool__io_tag(w, sqe, &l->rec, SPOOL__UD_REC);
    l->owner = w;
    l->paused = false;
    return 0;
}

/* Closes an accepted fd nobody will take, from the owner's reap: through
 * the ring (the reap loop never blocks on a lingering close, and no
 * close(2) of a kernel-made fd confuses ThreadSanitizer's fd tracking),
 * or with close(2) if no SQE can be had. */
static void close_untaken(spool__worker *w, int fd)
{
    struct io_uring_sqe *sqe = spool__io_take_sqe(w);
    if (!sqe) {
        close(fd);
        return;
    }
    io_uring_prep_close(sqe, fd);
    sqe->user_data = SPOOL__UD_CANCEL_ACK; /* a failure's CQE is ignored */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* The multishot accept's CQEs (owner only). */
static void listener_complete(spool__worker *w, const struct io_uring_cqe *cqe, spool__io_rec *rec)
{
    spool_listener *l = (spool_listener *)rec;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    int res = cqe->res;
    spool__spin_lock(&l->lock);
    bool queued = false;
    if (res >= 0 && l->closing) {
        close_untaken(w, res);
    } else if (res >= 0 || (res != -ECANCELED && !l->closing)) {
        queued = queue_push(l, res);
        if (!queued && res >= 0)
            close_untaken(w, res); /* out of memory: the peer sees a close */
    }
    /* Entries beyond those waiting acceptors will take at once. A cancel
     * can be lost (no SQE): while the request lives on, it is asked again
     * at every further LISTENER_QUEUE_HIGH untaken. */
    size_t untaken = l->len > l->waiting ? l->len - l->waiting : 0;
    if (more && !l->closing && untaken >= LISTENER_QUEUE_HIGH &&
        (!l->paused || untaken % LISTENER_QUEUE_HIGH == 0)) {
        l->paused = true; /* the final CQE (-ECANCELED) disarms it */
        spool__io_cancel(w, l->user_data);
    }
    /* The request ended: re-arm unless closing, or paused while the
     * queue still holds an entry for every waiting acceptor (one that
     * found the queue empty before this CQE, with the request still
     * armed, waits for us to arm it), or ended by an error the caller
     * must see first (it re-arms with its next accept). */
    bool wanted = !l->paused || l->len <= l->waiting;
    bool rearm = !more && !l->closing && wanted && (res >= 0 || res == -ECANCELED);
    if (!more) {
        w->io_inflight--;
        l->owner = NULL;
        if (rearm && arm(l, w) != 0 && !queued && queue_push(l, -EBUSY))
            queued = true; /* no SQE: the caller sees -EBUSY and retries */
    }
    spool_task *closer = l->owner ? NULL : l->closer;
    bool last = !l->owner; /* close may free l once we unlock */
    if (queued && last)
        spool_sem_release(&l->ready); /* before our last touch of l */
    spool__spin_unlock(&l->lock);
    if (queued && !last)
        spool_sem_release(&l->ready);
    if (closer && spool__unpark_claim(closer))
        spool__wake_fifo(w, closer);
}

int spool_listener_accept(spool_listener *l, struct sockaddr *addr, unsigned *addrlen)
{
    if (!l || (addr && !addrlen))
        return -EINVAL;
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (spool__on_epoll()) {
        /* The epoll driver: an accept per connection on readiness (no
         * multishot accept, no queue; close only frees l). */
        return spool_accept(l->fd, addr, addrlen);
    }
    spool__spin_lock(&l->lock);
    int rc = 0;
    if (l->closing)
        rc = -EBADF;
    else if (!l->owner && l->len == 0)
        rc = arm(l, w);
    if (!rc)
        l->waiting++;
    spool__spin_unlock(&l->lock);
    if (rc)
        return rc;
    /* A permit: an entry is queued for us. To spool_dump this is an
     * accept on l's fd, as it is on the epoll driver. */
    const spool__wait as = {.kind = SPOOL__WAIT_IO, .fd = l->fd, .op = "accept"};
    rc = spool__sem_acquire_as(&l->ready, &as);
    spool__spin_lock(&l->lock);
    l->waiting--;
    int fd = rc ? rc : queue_pop(l);
    /* Others wait and nothing is armed or queued for them (the request
     * ended with the error we took, or could not be re-armed): arm it on
     * this worker's ring (we may have moved while waiting). */
    bool release = false;
    if (!l->owner && !l->closing && l->len == 0 && l->waiting > 0 &&
        arm(l, spool__worker_current()) != 0)
        release = queue_push(l, -EBUSY); /* no SQE: a waiter sees -EBUSY, retries */
    spool__spin_unlock(&l->lock);
    if (release)
        spool_sem_release(&l->ready);
    if (fd >= 0 && addr) {
        socklen_t len = *addrlen;
        *addrlen = getpeername(fd, addr, &len) == 0 ? (unsigned)len : 0;
    }
    return fd;
}

int spool_listener_close(spool_listener *l)
{
    if (!l)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin_shielded(&wt);
    if (rc)
        return rc;
    spool__wait_on(&wt, SPOOL__WAIT_LISTENER, l); /* for spool_dump */
    spool__spin_lock(&l->lock);
    l->closing = true;
    l->closer = wt.task;
    spool__worker *owner = l->owner;
    uint64_t user_data = l->user_data;
    spool__spin_unlock(&l->lock);
    while (owner) {
        spool__io_cancel_and_retry_later(&wt, owner, user_data);
        for (;;) {
            spool__wait_park(&wt); /* shielded: 0 after any wake-up */
            spool__spin_lock(&l->lock);
            owner = l->owner;
            spool__spin_unlock(&l->lock);
            if (!owner || spool_now_ns() >= wt.own_deadline)
                break;
        }
    }
    spool__wait_end(&wt);
    /* The owner is done with l: what is left is ours alone. */
    while (l->len) {
        int fd = queue_pop(l);
        if (fd >= 0)
            close(fd);
    }
    free(l->queue);
    free(l);
    return 0;
}

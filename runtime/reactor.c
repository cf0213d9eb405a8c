/*
 * reactor.c — ring set-up with fallbacks, the idle wait, and MSG_RING
 * wake-ups (see reactor.h).
 */
#include "reactor.h"

#include "context.h"
#include "failpoint.h"

#include <errno.h>
#include <string.h>

/* SQ entries per ring. Issue 2 only parks and wakes through the ring; I/O
 * will submit more, and the CQ is sized at twice this by the kernel. */
#define SPOOL_RING_ENTRIES 256u
/* CQ entries: room for many operations in flight before the kernel has
 * to hold completions back (it does not drop them: IORING_FEAT_NODROP). */
#define SPOOL_CQ_ENTRIES 4096u

static const unsigned ring_attempts[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
        IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_COOP_TASKRUN, /* the first a shared ring may use */
    0,
};
#define SHARED_FIRST 2u

#if defined(SPOOL_TSAN)
/* TSan's runtime: marks a range as fresh memory (no history). */
void AnnotateNewMemory(const char *file, int line, const volatile void *mem, size_t size);

/* liburing maps the rings with raw system calls TSan does not see, so a
 * ring mapped where an earlier runtime's ring was would inherit that
 * ring's access history and look like a race with its (finished)
 * threads. Tell TSan the memory is new. */
static void tsan_fresh_ring(struct io_uring *ring)
{
    AnnotateNewMemory(__FILE__, __LINE__, ring->sq.ring_ptr, ring->sq.ring_sz);
    if (ring->cq.ring_ptr != ring->sq.ring_ptr)
        AnnotateNewMemory(__FILE__, __LINE__, ring->cq.ring_ptr, ring->cq.ring_sz);
    AnnotateNewMemory(__FILE__, __LINE__, ring->sq.sqes, (size_t)ring->sq.ring_entries * sizeof(struct io_uring_sqe));
}
#else
static void tsan_fresh_ring(struct io_uring *ring)
{
    (void)ring;
}
#endif

/* Tries ring_attempts[first..] in order. Only worker rings take part in
 * failure injection (the tests count worker ring set-ups). */
static int ring_init(spool__reactor *r, size_t first)
{
    int rc = -EINVAL;
    memset(r, 0, sizeof *r);
    if (first == 0 && spool__failpoint_hit(SPOOL__FAIL_RING))
        return -ENOMEM;
    const unsigned *attempts = ring_attempts;
    for (size_t i = first; i < sizeof ring_attempts / sizeof ring_attempts[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = attempts[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = SPOOL_CQ_ENTRIES;
        rc = io_uring_queue_init_params(SPOOL_RING_ENTRIES, &r->ring, &p);
        if (rc == 0) {
            tsan_fresh_ring(&r->ring);
            r->flags = attempts[i]; /* (CQSIZE aside) */
            r->ready = 1;
            return 0;
        }
        if (rc != -EINVAL)
            break; /* ENOMEM, EPERM, ENOSYS: no flag set will help */
    }
    return rc;
}

int spool__reactor_init(spool__reactor *r)
{
    int rc = ring_init(r, 0);
    /* A registered ring fd spares every io_uring_enter the fd lookup
     * (Linux 5.18+; without it, the plain fd is used). Only the owner
     * enters a worker ring, as registration requires. */
    if (rc == 0)
        io_uring_register_ring_fd(&r->ring);
    return rc;
}

int spool__reactor_init_shared(spool__reactor *r)
{
    return ring_init(r, SHARED_FIRST);
}

void spool__reactor_exit(spool__reactor *r)
{
    if (r->ready)
        io_uring_queue_exit(&r->ring);
    r->ready = 0;
}

int spool__reactor_reap(spool__reactor *r)
{
    int wakes = 0;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&r->ring, head, cqe) {
            if (cqe->user_data == SPOOL_REACTOR_WAKE_TAG)
                wakes++;
            else if (r->on_cqe)
                r->on_cqe(r->on_cqe_ctx, cqe);
            n++;
        }
        io_uring_cq_advance(&r->ring, n);
        /* Completions the CQ ring had no room for wait in the kernel
         * (IORING_FEAT_NODROP): flush them in and go round again. */
        if (io_uring_cq_has_overflow(&r->ring))
            io_uring_get_events(&r->ring);
        else if (n == 0)
            return wakes;
        /* Else round again (one load of the tail when empty): a handler
         * that submitted (a re-armed accept, a cancel, a close) may have
         * had it complete inline, posting CQEs behind the ones we took. */
    }
}

int spool__reactor_wait(spool__reactor *r, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe = NULL;
    int rc;
    if (timeout_ns == 0) {
        /* Submits what is pending and, with DEFER_TASKRUN (completions
         * are posted only when we enter the kernel), flushes completions,
         * without waiting. */
        rc = io_uring_submit_and_get_events(&r->ring);
    } else if (timeout_ns == UINT64_MAX) {
        rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, NULL, NULL);
    } else {
        struct __kernel_timespec ts = {
            .tv_sec = (long long)(timeout_ns / 1000000000u),
            .tv_nsec = (long long)(timeout_ns % 1000000000u),
        };
        rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    return spool__reactor_reap(r);
}

int spool__reactor_wake(spool__reactor *r, int target_fd)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        io_uring_submit(&r->ring);
        sqe = io_uring_get_sqe(&r->ring);
        if (!sqe)
            return -EBUSY;
    }
    io_uring_prep_msg_ring(sqe, target_fd, 0, SPOOL_REACTOR_WAKE_TAG, 0);
    /* Our own CQE (only if the send fails) must not carry the slot's stale
     * user_data, which may be an old operation's (io.c would take it for
     * that operation's completion). */
    sqe->user_data = SPOOL_REACTOR_WAKE_TAG;
    /* No CQE for the sender when the message went through. */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    int rc = io_uring_submit(&r->ring);
    return rc < 0 ? rc : 0;
}

/*
 * reactor.h — a worker's io_uring ring: where the worker parks when idle,
 * and how other workers wake it.
 *
 * Ownership: each worker creates its ring on its own thread and is its only
 * submitter (IORING_SETUP_SINGLE_ISSUER), so every call here except
 * spool__reactor_fd is owner-only. Another worker wakes a parked one by
 * submitting IORING_OP_MSG_RING on *its own* ring, aimed at the target's fd:
 * the message lands as a CQE in the target ring and ends its wait.
 */
#ifndef SPOOL_REACTOR_H
#define SPOOL_REACTOR_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/* user_data of a wake-up message: never a pointer. */
#define SPOOL_REACTOR_WAKE_TAG UINT64_C(0x5770015700000001)

typedef struct spool__reactor {
    struct io_uring ring;
    unsigned flags;   /* the IORING_SETUP_* flags the kernel accepted */
    int ready;
    /* Every CQE that is not a wake-up message goes here (I/O, io.c);
     * NULL: dropped. Set by the owner after init. */
    void (*on_cqe)(void *ctx, const struct io_uring_cqe *cqe);
    void *on_cqe_ctx;
} spool__reactor;

/* Creates the ring with the cheapest flags the kernel takes: first
 * SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN | TASKRUN_FLAG, then without
 * DEFER_TASKRUN / SINGLE_ISSUER (older kernels), then none. Returns 0 or a
 * negative errno (-ENOSYS / -EPERM where io_uring is disabled). Must run on
 * the thread that will own the ring. */
int spool__reactor_init(spool__reactor *r);
/* A ring any thread may submit to, one at a time (the caller serialises):
 * no SINGLE_ISSUER or DEFER_TASKRUN. Used only to send wake-ups
 * (runtime.c, "remote wake-ups"); reap its failed sends with a wait of 0. */
int spool__reactor_init_shared(spool__reactor *r);
void spool__reactor_exit(spool__reactor *r);

/* Submits pending SQEs and waits for at least one CQE or until timeout_ns
 * passes (UINT64_MAX: no timeout; 0: do not wait), then reaps every CQE
 * (those that overflowed the CQ ring too), passing all but wake-up
 * messages to on_cqe.
 * Returns the number of wake-up messages reaped, or a negative errno other
 * than -ETIME, -EINTR, -EAGAIN and -EBUSY (those just end the wait early).
 * Owner only. */
int spool__reactor_wait(spool__reactor *r, uint64_t timeout_ns);

/* Reaps the CQEs already posted, without entering the kernel (what
 * spool__reactor_wait does after its system call). Owner only. */
int spool__reactor_reap(spool__reactor *r);

/* Whether entering the kernel would bring news: SQEs to submit, or
 * completions the kernel holds back until we enter (deferred task work,
 * flagged by IORING_SQ_TASKRUN; a ring without TASKRUN_FLAG cannot tell,
 * so yes). Owner only; reads ring memory only. */
static inline bool spool__reactor_enter_due(const spool__reactor *r)
{
    if (io_uring_sq_ready(&r->ring))
        return true;
    if (!(r->flags & IORING_SETUP_TASKRUN_FLAG))
        return true;
    return IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN;
}

/* Sends a wake-up message to the ring whose fd is target_fd. Returns 0 or
 * a negative errno. Owner of r only; target may be any ring. */
int spool__reactor_wake(spool__reactor *r, int target_fd);

static inline int spool__reactor_fd(const spool__reactor *r)
{
    return r->ring.ring_fd;
}

#endif /* SPOOL_REACTOR_H */

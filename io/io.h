/*
 * io.h — one I/O operation of a task on its worker's ring, start to
 * finish (io.c), for the calls of file.c and socket.c.
 *
 *     spool__io io;
 *     int rc = spool__io_start(&io);         // -EPERM, -ECANCELED, -ETIMEDOUT
 *     if (rc) return rc;
 *     io_uring_prep_read(io.sqe, fd, buf, n, off);
 *     return spool__io_finish(&io);          // the CQE's res, or the wait's error
 *
 * The operation record lives on the task's stack; its address, tagged
 * with a sequence number in the top 16 bits, is the SQE's user_data.
 * Only the worker that owns the ring reaps its CQEs (the ring is
 * SINGLE_ISSUER and DEFER_TASKRUN), stores the result and unparks the
 * task. A task that gives up (cancelled, timed out) asks the owner ring
 * for IORING_OP_ASYNC_CANCEL — directly if it runs on that worker, else
 * through a MSG_RING request — and then waits, shielded, for the original
 * CQE: the record (and the caller's buffer) outlives the operation.
 */
#ifndef SPOOL_IO_H
#define SPOOL_IO_H

#include "wait.h"
#include "worker.h"

#include <liburing.h>

/* user_data tags in the low 3 bits (records are 8-byte aligned). */
#define SPOOL__UD_REC 0u         /* a record's completion: the record says how to handle it */
#define SPOOL__UD_CANCEL_REQ 2u  /* MSG_RING from another worker: cancel this op */
#define SPOOL__UD_CANCEL_ACK 3u  /* a CQE to ignore: ASYNC_CANCEL, MSG_RING and untaken-fd close (failures only) */
#define SPOOL__UD_TAG_MASK UINT64_C(7)
#define SPOOL__UD_PTR_MASK UINT64_C(0x0000fffffffffff8)

/* The head of every record an SQE's user_data points to: the handler of
 * its CQEs, so a completion finds its code through its record (an
 * operation's, io.c; a listener's multishot accept, listener.c), not by a
 * file's name. Owner worker only. */
typedef struct spool__io_rec spool__io_rec;
struct spool__io_rec {
    void (*complete)(spool__worker *w, const struct io_uring_cqe *cqe, spool__io_rec *self);
};

typedef struct spool__io_op {
    spool__io_rec rec;            /* first: user_data points here */
    spool_task *task;
    _Atomic int done;             /* 1 once result is set: the owner's release store publishes
                                   * result; the task's acquire loads (io.c) pair with it */
    int result;                   /* the CQE's res (plain: written before done, read after it) */
} spool__io_op;

typedef struct spool__io {
    spool__wait wt;
    spool__worker *w;             /* whose ring holds the SQE */
    struct io_uring_sqe *sqe;     /* to be prepared by the caller */
    spool__io_op op;
    uint64_t user_data;
} spool__io;

/* The checks every I/O call makes before it starts, on either driver:
 * 0, or -EPERM outside a task, -ECANCELED / -ETIMEDOUT (spool__wait_check). */
int spool__io_may_start(void);

/* Starts an operation: the checks of a wait, then an SQE on the current
 * worker's ring. Returns 0, -EPERM outside a task, -ECANCELED /
 * -ETIMEDOUT (nothing submitted), -EBUSY if no SQE can be had. */
int spool__io_start(spool__io *io);

/* Queues the prepared SQE (submitted with the worker's next batch) and
 * waits for its completion, cancelling it if the wait is cancelled or
 * times out. Returns the CQE's res; or -ECANCELED / -ETIMEDOUT if the
 * operation was cancelled for that reason (it completed with
 * -ECANCELED, or -EINTR for some interrupted operations). */
int spool__io_finish(spool__io *io);

/* An SQE on w's ring (owner only), submitting what is queued first if
 * the SQ ring is full; NULL only if that submit fails. */
struct io_uring_sqe *spool__io_take_sqe(spool__worker *w);

/* Asks owner's ring to cancel the operation tagged user_data: an
 * ASYNC_CANCEL queued directly when the caller runs on owner, else a
 * MSG_RING request from the caller's ring that owner turns into one.
 * Fire and forget: a lost request is the caller's to repeat, a late one
 * finds nothing. Task context (a worker's thread). */
void spool__io_cancel(spool__worker *owner, uint64_t user_data);

/* Tags sqe for w's ring: user_data = record | a 16-bit sequence number
 * in the top bits (a late cancel request for a record since reused
 * cannot match a newer operation) | tag; counts it in flight on w until
 * its last CQE. Owner only. Returns the user_data. */
uint64_t spool__io_tag(spool__worker *w, struct io_uring_sqe *sqe, const void *record, unsigned tag);

/* spool__io_cancel, then sets wt's own deadline so that the waiter
 * comes back to ask again if the operation's last completion has not
 * come in 100 ms (a request can be lost; a late one is harmless). */
void spool__io_cancel_and_retry_later(spool__wait *wt, spool__worker *owner, uint64_t user_data);



/* Handles one CQE that is not a wake-up message (reactor.c's reaping,
 * owner only). */
void spool__io_complete(void *worker, const struct io_uring_cqe *cqe);

/* The body of a call that is one operation: start, prepare `sqe` with
 * `prep` (a statement using the variable sqe), finish. */
#define SPOOL__IO_CALL(prep)                     \
    do {                                         \
        spool__io io_;                           \
        int rc_ = spool__io_start(&io_);         \
        if (rc_)                                 \
            return rc_;                          \
        struct io_uring_sqe *sqe = io_.sqe;      \
        prep;                                    \
        return spool__io_finish(&io_);           \
    } while (0)

#endif /* SPOOL_IO_H */

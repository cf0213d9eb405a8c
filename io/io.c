/*
 * io.c — a task's I/O operation on its worker's ring (see io.h), and the
 * handling of its completion. When the worker submits and reaps is the
 * scheduler's choice (scheduler.c, io_due); how, the driver's (driver.c,
 * reactor.c).
 *
 * Life of an operation
 *   1. The task takes an SQE on the ring of the worker it runs on and
 *      prepares it; user_data = the record's address | a 16-bit sequence
 *      number in the top bits (so a late cancel request for a record
 *      whose stack slot was reused cannot match a newer operation).
 *   2. It parks. The SQE goes to the kernel with the worker's next batch,
 *      when one is due (scheduler.c, io_due): once SPOOL_IO_BATCH SQEs are
 *      pending, or every SPOOL_IO_BATCH_TICKS + 1 ticks, or as soon as no
 *      other task is ready to run on the worker, and whenever it parks in
 *      the ring; tick_has_duties keeps a direct hand-off from skipping a
 *      due batch. So many tasks' operations share one io_uring_enter.
 *   3. The ring's owner reaps the CQE (while operations are in flight: on
 *      a tick where the ring shows completions, posted or held by the
 *      kernel, or every few ticks on a ring that cannot flag them; or when
 *      it parks in the ring), stores res, sets done (release) and unparks
 *      the task (to the back of the global queue: spool__wake_fifo): the
 *      record's last touch by the owner is the store of done, after which
 *      the task may return.
 *   4. Cancelled or timed out while parked: the task asks for
 *      IORING_OP_ASYNC_CANCEL on the owner ring and waits, shielded, for
 *      the original CQE (step 3), asking again every 100 ms in case a
 *      request was lost, before it returns: a buffer on its stack
 *      is never written after the call. If the operation completed
 *      anyway, its result is returned (data is never lost); if the kernel
 *      cancelled it, the wait's error is.
 *   The cancel request: on the owner worker, an SQE directly; from
 *   another worker (a woken task runs where its waker runs), a MSG_RING
 *   to the owner ring carrying the user_data with its tag bits replaced by
 *   CANCEL_REQ (the tag goes as the message's res), which the owner turns
 *   into the ASYNC_CANCEL when it reaps it. The request holds only
 *   the user_data value, never dereferenced, so it may arrive after the
 *   operation ended: the kernel then finds nothing (-ENOENT).
 */
#include "io.h"

#include "scheduler.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>

/* When the SQ ring is full of SQEs not yet sent, they go to the kernel
 * first (a submit only: this may run in the middle of a reap), which
 * empties it. */
struct io_uring_sqe *spool__io_take_sqe(spool__worker *w)
{
    /* Every CQE but a wake-up answers an SQE taken here: the reactor
     * hands them to io/ (the runtime below knows no handler by name). */
    w->reactor.on_cqe = spool__io_complete;
    w->reactor.on_cqe_ctx = w;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->reactor.ring);
    if (!sqe) {
        io_uring_submit(&w->reactor.ring);
        sqe = io_uring_get_sqe(&w->reactor.ring);
    }
    return sqe;
}

/* Queues IORING_OP_ASYNC_CANCEL for the operation tagged target on w's
 * ring (w must own the operation). Its own CQE comes only on failure
 * (nothing found: the operation ended), tagged CANCEL_ACK and ignored. */
static void queue_cancel(spool__worker *w, uint64_t target)
{
    struct io_uring_sqe *sqe = spool__io_take_sqe(w);
    if (!sqe)
        return; /* unreachable in practice; the requester asks again */
    io_uring_prep_cancel64(sqe, target, 0);
    sqe->user_data = SPOOL__UD_CANCEL_ACK;
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* An operation's CQE: its result for the task, which is woken. */
static void op_complete(spool__worker *w, const struct io_uring_cqe *cqe, spool__io_rec *rec)
{
    spool__io_op *op = (spool__io_op *)rec;
    spool_task *t = op->task;
    op->result = cqe->res;
    w->io_inflight--;
    atomic_store_explicit(&op->done, 1, memory_order_release); /* op may be gone from here on */
    if (spool__unpark_claim(t))
        spool__wake_fifo(w, t);
}

int spool__io_may_start(void)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    return spool__wait_check(w->current);
}

int spool__io_start(spool__io *io)
{
    int rc = spool__wait_begin(&io->wt, UINT64_MAX);
    if (rc)
        return rc;
    spool__worker *w = io->wt.w;
    struct io_uring_sqe *sqe = spool__io_take_sqe(w);
    if (!sqe)
        return -EBUSY;
    io->w = w;
    io->sqe = sqe;
    io->op.rec.complete = op_complete;
    io->op.task = io->wt.task;
    atomic_init(&io->op.done, 0);
    io->op.result = 0;
    return 0;
}

void spool__io_cancel(spool__worker *owner, uint64_t user_data)
{
    spool__worker *here = spool__worker_current();
    if (here == owner) {
        queue_cancel(owner, user_data);
        return;
    }
    /* Another worker's ring: ask its owner with a message. */
    struct io_uring_sqe *sqe = spool__io_take_sqe(here);
    if (!sqe)
        return; /* asked again after SPOOL_IO_CANCEL_RETRY_NS */
    /* Acquire: pairs with the owner's release store of its ring fd at
     * start-up (runtime.c), so a ring set up before is what we message. */
    int fd = atomic_load_explicit(&owner->ring_fd, memory_order_acquire);
    /* The target's own tag travels as the message's res. */
    io_uring_prep_msg_ring(sqe, fd, (unsigned)(user_data & SPOOL__UD_TAG_MASK),
                           (user_data & ~SPOOL__UD_TAG_MASK) | SPOOL__UD_CANCEL_REQ, 0);
    sqe->user_data = SPOOL__UD_CANCEL_ACK;
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/* How long a task that asked for a cancel waits for the original
 * completion before asking again: a request can be lost (no SQE, a
 * MSG_RING that failed) and a late one is harmless (-ENOENT). */
#define SPOOL_IO_CANCEL_RETRY_NS (100u * 1000u * 1000u)

void spool__io_cancel_and_retry_later(spool__wait *wt, spool__worker *owner, uint64_t user_data)
{
    spool__io_cancel(owner, user_data);
    wt->own_deadline = spool_now_ns() + SPOOL_IO_CANCEL_RETRY_NS;
    wt->armed = false; /* the next park arms a timer for it */
}

uint64_t spool__io_tag(spool__worker *w, struct io_uring_sqe *sqe, const void *record, unsigned tag)
{
    w->io_seq++;
    uint64_t user_data = (uint64_t)(uintptr_t)record | ((uint64_t)w->io_seq << 48) | tag;
    io_uring_sqe_set_data64(sqe, user_data);
    w->io_inflight++;
    return user_data;
}

/* The name of an operation, for spool_dump: what the public call that
 * prepares it is called. */
static const char *op_name(unsigned opcode)
{
    switch (opcode) {
    case IORING_OP_READ: return "read";
    case IORING_OP_WRITE: return "write";
    case IORING_OP_READV: return "readv";
    case IORING_OP_WRITEV: return "writev";
    case IORING_OP_RECV: return "recv";
    case IORING_OP_SEND: return "send";
    case IORING_OP_RECVMSG: return "recvmsg";
    case IORING_OP_SENDMSG: return "sendmsg";
    case IORING_OP_ACCEPT: return "accept";
    case IORING_OP_CONNECT: return "connect";
    case IORING_OP_POLL_ADD: return "poll";
    case IORING_OP_OPENAT: return "open";
    case IORING_OP_CLOSE: return "close";
    case IORING_OP_FSYNC: return "fsync";
    case IORING_OP_STATX: return "statx";
    default: return "an io_uring operation";
    }
}

int spool__io_finish(spool__io *io)
{
    /* What this wait is, for spool_dump: read back from the SQE the caller
     * prepared (the fd is -1 for calls on a path: open, statx). */
    spool__wait_on(&io->wt, SPOOL__WAIT_IO, NULL);
    io->wt.fd = io->sqe->fd;
    io->wt.op = op_name(io->sqe->opcode);
    io->user_data = spool__io_tag(io->w, io->sqe, &io->op.rec, SPOOL__UD_REC);
    int err = 0;
    /* Acquire (both loads): pairs with spool__io_complete's release
     * store of done, so op.result is the CQE's once done reads 1. */
    while (!atomic_load_explicit(&io->op.done, memory_order_acquire)) {
        int rc = spool__wait_park(&io->wt);
        if (atomic_load_explicit(&io->op.done, memory_order_acquire))
            break;
        if (rc && !err) {
            err = rc;
            io->wt.shielded = true; /* until the original completion */
            spool__io_cancel_and_retry_later(&io->wt, io->w, io->user_data);
        } else if (err && spool_now_ns() >= io->wt.own_deadline) {
            spool__io_cancel_and_retry_later(&io->wt, io->w, io->user_data); /* maybe lost */
        }
    }
    spool__wait_end(&io->wt);
    int res = io->op.result;
    if (err && (res == -ECANCELED || res == -EINTR))
        return err; /* cancelled by us: say why */
    if (err == -ETIMEDOUT)
        spool__wait_unfire(&io->wt); /* it completed after all */
    return res;
}

void spool__io_complete(void *worker, const struct io_uring_cqe *cqe)
{
    spool__worker *w = worker;
    uint64_t ud = cqe->user_data;
    switch (ud & SPOOL__UD_TAG_MASK) {
    case SPOOL__UD_REC: {
        spool__io_rec *rec = (spool__io_rec *)(uintptr_t)(ud & SPOOL__UD_PTR_MASK);
        rec->complete(w, cqe, rec);
        return;
    }
    case SPOOL__UD_CANCEL_REQ:
        queue_cancel(w, (ud & ~SPOOL__UD_TAG_MASK) | ((uint64_t)cqe->res & SPOOL__UD_TAG_MASK));
        return;
    default: /* CANCEL_ACK: the cancel found nothing, or a request failed */
        return;
    }
}

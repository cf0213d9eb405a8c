/*
 * nowait.c — file calls that cannot block, tried on the worker first
 * (see nowait.h).
 */
#include "nowait.h"

#include "scheduler.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Counts a call done here by the running task; its
 * SPOOL__NOWAIT_BUDGET-th call in a row on this worker (no other task's
 * call between) first yields, to the back of the global queue, so the
 * worker's other tasks get their turn. The count follows one task at a
 * time: a task that does a few calls and ends (W7: open, two reads)
 * never yields, however many such tasks follow each other. The caller
 * has just made the checks of a wait, so the yield need not be a
 * cancellation point: a cancellation shows at the next wait. Owner
 * only: plain fields. */
static void spend_budget(void)
{
    spool__worker *w = spool__worker_current();
    if (w->nowait_task != w->current) {
        w->nowait_task = w->current;
        w->nowait_calls = 0;
    }
    if (++w->nowait_calls == SPOOL__NOWAIT_BUDGET) {
        w->nowait_calls = 0;
        spool__yield_uncancellable(w);
    }
}

/* A system call's result as nowait.h has it: >= 0, else -EAGAIN. */
static int done_or_again(long r)
{
    return r >= 0 ? (int)r : -EAGAIN;
}

int spool__nowait_open(const char *path, int flags)
{
    if (flags & (O_CREAT | O_TRUNC | O_TMPFILE))
        return -EAGAIN;
    spend_budget();
    struct open_how how = {.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC), .resolve = RESOLVE_CACHED};
    return done_or_again(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
}

int spool__nowait_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    spend_budget();
    return done_or_again(preadv2(fd, iov, iovcnt, off < 0 ? -1 : off, RWF_NOWAIT));
}

int spool__nowait_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    spend_budget();
    return done_or_again(pwritev2(fd, iov, iovcnt, off < 0 ? -1 : off, RWF_NOWAIT));
}

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

/* Whether the calling worker may do this call here: false on every
 * SPOOL__NOWAIT_BUDGET-th call (the caller then suspends in the driver's
 * way, and the worker's other tasks get their turn). The count is the
 * worker's own (owner only: plain). */
static bool within_budget(void)
{
    spool__worker *w = spool__worker_current();
    return ++w->nowait_calls % SPOOL__NOWAIT_BUDGET != 0;
}

/* A system call's result as nowait.h has it: >= 0, else -EAGAIN. */
static int done_or_again(long r)
{
    return r >= 0 ? (int)r : -EAGAIN;
}

int spool__nowait_open(const char *path, int flags)
{
    if ((flags & (O_CREAT | O_TRUNC | O_TMPFILE)) || !within_budget())
        return -EAGAIN;
    struct open_how how = {.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC), .resolve = RESOLVE_CACHED};
    return done_or_again(syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
}

int spool__nowait_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (!within_budget())
        return -EAGAIN;
    return done_or_again(preadv2(fd, iov, iovcnt, off < 0 ? -1 : off, RWF_NOWAIT));
}

int spool__nowait_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (!within_budget())
        return -EAGAIN;
    return done_or_again(pwritev2(fd, iov, iovcnt, off < 0 ? -1 : off, RWF_NOWAIT));
}

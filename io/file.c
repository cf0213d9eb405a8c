/*
 * file.c — file calls. On io_uring each is one operation (io.h), except
 * close (close(2) on the worker, on both drivers) and open, read and
 * write, which are first tried without blocking on the worker (nowait.h): an open of a cached path or a read of cached data is
 * then one system call with no suspension, where the operation would cost
 * the task a park, a batch, a reap and a wake-up for the same work done
 * inline in the kernel. On epoll, ready.c (the same first try, then the
 * blocking pool).
 */
#include "io.h"
#include "nowait.h"
#include "ready.h"

#include "driver.h"
#include "scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The io_uring path's first try: the checks of a wait (outside a task,
 * or cancelled: return at once, nothing done), then `attempt` (a
 * spool__nowait_* call); its result if it was done, else on to the ring. */
#define TRY_WITHOUT_BLOCKING(attempt)          \
    do {                                       \
        int try_rc_ = spool__io_may_start();   \
        if (try_rc_)                           \
            return try_rc_;                    \
        try_rc_ = (attempt);                   \
        if (try_rc_ != -EAGAIN)                \
            return try_rc_;                    \
    } while (0)

/* io_uring's "current file position" offset. */
static uint64_t offset_of(int64_t off)
{
    return off < 0 ? (uint64_t)-1 : (uint64_t)off;
}

int spool_open(const char *path, int flags, unsigned mode)
{
    if (!path)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_open(path, flags, mode);
    TRY_WITHOUT_BLOCKING(spool__nowait_open(path, flags));
    SPOOL__IO_CALL(io_uring_prep_openat(sqe, AT_FDCWD, path, flags | O_CLOEXEC, mode));
}

int spool_read(int fd, void *buf, size_t n, int64_t off)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX; /* a short read, as read(2) may give */
    if (spool__on_epoll())
        return spool__ready_read(fd, buf, n, off);
    struct iovec v = {.iov_base = buf, .iov_len = n};
    TRY_WITHOUT_BLOCKING(spool__nowait_readv(fd, &v, 1, off));
    SPOOL__IO_CALL(io_uring_prep_read(sqe, fd, buf, (unsigned)n, offset_of(off)));
}

int spool_write(int fd, const void *buf, size_t n, int64_t off)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    if (spool__on_epoll())
        return spool__ready_write(fd, buf, n, off);
    struct iovec v = {.iov_base = (void *)buf, .iov_len = n};
    TRY_WITHOUT_BLOCKING(spool__nowait_writev(fd, &v, 1, off));
    SPOOL__IO_CALL(io_uring_prep_write(sqe, fd, buf, (unsigned)n, offset_of(off)));
}

int spool_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_readv(fd, iov, iovcnt, off);
    TRY_WITHOUT_BLOCKING(spool__nowait_readv(fd, iov, iovcnt, off));
    SPOOL__IO_CALL(io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, offset_of(off)));
}

int spool_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_writev(fd, iov, iovcnt, off);
    TRY_WITHOUT_BLOCKING(spool__nowait_writev(fd, iov, iovcnt, off));
    SPOOL__IO_CALL(io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, offset_of(off)));
}

int spool_fsync(int fd, int datasync)
{
    if (spool__on_epoll())
        return spool__ready_fsync(fd, datasync);
    SPOOL__IO_CALL(io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0));
}

int spool_statx(const char *path, int flags, unsigned mask, struct statx *out)
{
    if (!path || !out)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_statx(path, flags, mask, out);
    SPOOL__IO_CALL(io_uring_prep_statx(sqe, AT_FDCWD, path, flags, mask, out));
}

int spool_close(int fd)
{
    /* close(2) on the worker, on both drivers: a close of a regular file,
     * a pipe or a socket does not block (a file system that flushes on
     * close, NFS with dirty pages, is the exception: spool_fsync first,
     * which goes the driver's way). Through the ring it would cost the
     * task a suspension for the same work done inline in the kernel, and
     * keep the fd number taken until the completion. Not a cancellation
     * point: cleanup in a cancelled task must close, exactly once. */
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    return close(fd) < 0 ? -errno : 0;
}

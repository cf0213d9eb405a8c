/*
 * nowait.h — file calls made so that they cannot block (nowait.c), tried
 * on the worker before the driver's way, on both drivers: an open whose
 * path is all in the kernel's lookup cache, a read of data in the page
 * cache, a write the page cache takes at once. Such a call then costs one
 * system call and no suspension; otherwise the call goes the driver's way
 * (an io_uring operation, or the blocking pool on epoll), whose answer is
 * the authoritative one.
 *
 * Each returns the call's result (>= 0), or -EAGAIN for "not done here:
 * take the driver's way" — whatever the reason (it would block, the file
 * system refuses the flag, a bad fd: the driver's way reports the real
 * error). The caller has made the checks of a wait (spool__io_may_start)
 * and runs in a task. Arguments arrive checked (file.c).
 *
 * Fairness: a call done here does not suspend, so a task reading a cached
 * file in a loop would keep its worker from every other task. A task's
 * SPOOL__NOWAIT_BUDGET-th such call in a row on a worker first yields,
 * which lets the others run (Tokio's cooperative budget is the same size: 128 operations
 * per task poll). A yield, not the driver's way: that would park the
 * caller in I/O (on epoll, a thread hand-off), and while callers holding
 * a semaphore's permits are parked, every task behind them starts and
 * parks on the semaphore with a stack of its own (W7: 10,000 of them).
 */
#ifndef SPOOL_NOWAIT_H
#define SPOOL_NOWAIT_H

#include <stdint.h>
#include <sys/uio.h>

#define SPOOL__NOWAIT_BUDGET 128u

/* openat2(AT_FDCWD, path, {flags | O_CLOEXEC, RESOLVE_CACHED}) (Linux
 * 5.12+); never for O_CREAT, O_TRUNC or O_TMPFILE, which may write (and
 * are the only flags that take a mode). Returns: the fd, or -EAGAIN. */
int spool__nowait_open(const char *path, int flags);

/* preadv2 / pwritev2 with RWF_NOWAIT (Linux 4.14+) at off (-1: at the
 * file position, as read(2)). Returns: the count, or -EAGAIN. */
int spool__nowait_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
int spool__nowait_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);

#endif /* SPOOL_NOWAIT_H */

/*
 * ready.c — the I/O calls on the epoll driver (see ready.h).
 *
 * Sockets: recv/send with MSG_DONTWAIT, so the fd's own O_NONBLOCK does
 * not matter. accept sets O_NONBLOCK on the listening socket (once; it
 * stays), since another acceptor may take the connection between the
 * readiness and the call. connect sets it for the call and puts the
 * flags back. Other pollable fds (pipes, eventfds, signalfds, ttys) get
 * O_NONBLOCK too, as Go's runtime does (a blocking pipe write of more
 * than the pipe holds would block the worker until a reader came), except
 * standard input, output and error, which other processes may share:
 * those, when blocking, and regular files and block devices go to the
 * blocking pool, like open, statx and fsync.
 */
#include "ready.h"

#include "io.h"
#include "nowait.h"

#include "driver.h"
#include "scheduler.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The loop of a readiness call `op` (its name, for spool_dump):
 * `attempt` (an expression setting r, a ssize_t, and errno) until it does
 * not say EAGAIN, waiting for `ev` on fd in between. */
#define READY_LOOP(op, fd, ev, attempt)                  \
    do {                                                 \
        int rc_ = spool__io_may_start();                 \
        if (rc_)                                         \
            return rc_;                                  \
        for (;;) {                                       \
            ssize_t r = (attempt);                       \
            if (r >= 0)                                  \
                return (int)r;                           \
            if (errno == EINTR)                          \
                continue;                                \
            if (errno != EAGAIN && errno != EWOULDBLOCK) \
                return -errno;                           \
            rc_ = spool__fd_wait((fd), (ev), (op));      \
            if (rc_ < 0)                                 \
                return rc_;                              \
        }                                                \
    } while (0)

/* ---- the blocking pool: regular files -------------------------------------- */

/* One file call for a pool thread: the arguments, the call, its result. */
struct file_call {
    int (*fn)(struct file_call *);
    /* The same call made so that it cannot block, tried on the worker
     * first (NULL: none; nowait.h): data in the page cache, a path in the
     * dentry cache. -EAGAIN sends the call to the pool, whose answer is
     * the authoritative one. */
    int (*nowait)(struct file_call *);
    const char *op; /* its name, for spool_dump */
    int fd, flags, iovcnt;
    unsigned mode, mask;
    const char *path;
    void *buf;
    const struct iovec *iov;
    size_t n;
    int64_t off;
    struct statx *stx;
};

static int run_file_call(void *arg)
{
    struct file_call *c = arg;
    int rc = c->fn(c);
    return rc < 0 ? -errno : rc;
}

/* Runs c: its non-blocking form on the worker if it has one and that
 * succeeds, else on the blocking pool, where the task waits; a
 * cancellation that comes meanwhile shows at its next wait (the call has
 * run: its result is not lost). */
static int on_pool(struct file_call *c)
{
    if (c->nowait) {
        int rc = spool__io_may_start();
        if (rc)
            return rc;
        rc = c->nowait(c);
        if (rc >= 0)
            return rc;
    }
    return spool_to_thread(run_file_call, c);
}

/* ssize_t results of read(2)-like calls as int: n was capped by the
 * caller. */
static int do_read(struct file_call *c)
{
    return (int)(c->off < 0 ? read(c->fd, c->buf, c->n) : pread(c->fd, c->buf, c->n, c->off));
}
static int do_write(struct file_call *c)
{
    return (int)(c->off < 0 ? write(c->fd, c->buf, c->n) : pwrite(c->fd, c->buf, c->n, c->off));
}
static int do_readv(struct file_call *c)
{
    return (int)(c->off < 0 ? readv(c->fd, c->iov, c->iovcnt) : preadv(c->fd, c->iov, c->iovcnt, c->off));
}
static int do_writev(struct file_call *c)
{
    return (int)(c->off < 0 ? writev(c->fd, c->iov, c->iovcnt) : pwritev(c->fd, c->iov, c->iovcnt, c->off));
}
static int do_open(struct file_call *c)
{
    return open(c->path, c->flags | O_CLOEXEC, c->mode);
}

/* The non-blocking forms (nowait.h). */
static int nowait_read(struct file_call *c)
{
    struct iovec v = {.iov_base = c->buf, .iov_len = c->n};
    return spool__nowait_readv(c->fd, &v, 1, c->off);
}
static int nowait_readv(struct file_call *c)
{
    return spool__nowait_readv(c->fd, c->iov, c->iovcnt, c->off);
}
static int nowait_write(struct file_call *c)
{
    struct iovec v = {.iov_base = c->buf, .iov_len = c->n};
    return spool__nowait_writev(c->fd, &v, 1, c->off);
}
static int nowait_writev(struct file_call *c)
{
    return spool__nowait_writev(c->fd, c->iov, c->iovcnt, c->off);
}
static int nowait_open(struct file_call *c)
{
    return spool__nowait_open(c->path, c->flags);
}
static int do_fsync(struct file_call *c)
{
    return c->flags ? fdatasync(c->fd) : fsync(c->fd);
}
static int do_statx(struct file_call *c)
{
    return statx(AT_FDCWD, c->path, c->flags, c->mask, c->stx);
}

/* What kind of fd: 1 a file epoll cannot watch (regular, block device,
 * directory), 0 pollable, or a negative errno. */
static int is_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode);
}

/* read/write/readv/writev: the pool for files (and blocking standard
 * streams), readiness for the rest (made O_NONBLOCK first). */
static int rw_call(struct file_call *c, uint32_t ev)
{
    int kind = is_file(c->fd);
    if (kind < 0)
        return kind;
    if (kind)
        return on_pool(c);
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK)) {
        if (c->fd <= STDERR_FILENO)
            return on_pool(c);
        if (fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0)
            return -errno;
    }
    int rc = spool__io_may_start();
    if (rc)
        return rc;
    for (;;) {
        rc = c->fn(c);
        if (rc >= 0)
            return rc;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        rc = spool__fd_wait(c->fd, ev, c->op);
        if (rc < 0)
            return rc;
    }
}

int spool__ready_read(int fd, void *buf, size_t n, int64_t off)
{
    struct file_call c = {.op = "read", .fn = do_read, .nowait = nowait_read, .fd = fd, .buf = buf, .n = n, .off = off};
    return rw_call(&c, EPOLLIN);
}

int spool__ready_write(int fd, const void *buf, size_t n, int64_t off)
{
    struct file_call c = {.op = "write", .fn = do_write, .nowait = nowait_write, .fd = fd, .buf = (void *)buf, .n = n, .off = off};
    return rw_call(&c, EPOLLOUT);
}

int spool__ready_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    struct file_call c = {.op = "readv", .fn = do_readv, .nowait = nowait_readv, .fd = fd, .iov = iov, .iovcnt = iovcnt, .off = off};
    return rw_call(&c, EPOLLIN);
}

int spool__ready_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    struct file_call c = {.op = "writev", .fn = do_writev, .nowait = nowait_writev, .fd = fd, .iov = iov, .iovcnt = iovcnt, .off = off};
    return rw_call(&c, EPOLLOUT);
}

int spool__ready_open(const char *path, int flags, unsigned mode)
{
    struct file_call c = {.fn = do_open, .nowait = nowait_open, .path = path, .flags = flags, .mode = mode};
    return on_pool(&c);
}

int spool__ready_fsync(int fd, int datasync)
{
    struct file_call c = {.fn = do_fsync, .fd = fd, .flags = datasync};
    return on_pool(&c);
}

int spool__ready_statx(const char *path, int flags, unsigned mask, struct statx *out)
{
    struct file_call c = {.fn = do_statx, .path = path, .flags = flags, .mask = mask, .stx = out};
    return on_pool(&c);
}

/* ---- sockets ---------------------------------------------------------------- */

int spool__ready_recv(int fd, void *buf, size_t n, int flags)
{
    int rc = spool__io_may_start();
    if (rc)
        return rc;
    /* The last read here came back short: the socket is most likely
     * empty, and a try would cost a system call to learn EAGAIN. Wait
     * first (data that came meanwhile is reported at once). */
    if (!(flags & MSG_PEEK) && spool__fd_take_drained(fd)) {
        rc = spool__fd_wait(fd, EPOLLIN, "recv");
        if (rc < 0)
            return rc;
    }
    for (;;) {
        ssize_t r = recv(fd, buf, n, flags | MSG_DONTWAIT);
        if (r >= 0) {
            if (r > 0 && (size_t)r < n)
                spool__fd_set_drained(fd);
            return (int)r;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        rc = spool__fd_wait(fd, EPOLLIN, "recv");
        if (rc < 0)
            return rc;
    }
}

int spool__ready_send(int fd, const void *buf, size_t n, int flags)
{
    READY_LOOP("send", fd, EPOLLOUT, send(fd, buf, n, flags | MSG_DONTWAIT | MSG_NOSIGNAL));
}

int spool__ready_recvmsg(int fd, struct msghdr *msg, int flags)
{
    READY_LOOP("recvmsg", fd, EPOLLIN, recvmsg(fd, msg, flags | MSG_DONTWAIT));
}

int spool__ready_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    READY_LOOP("sendmsg", fd, EPOLLOUT, sendmsg(fd, msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL));
}

int spool__ready_accept(int fd, struct sockaddr *addr, unsigned *addrlen)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -errno;
    READY_LOOP("accept", fd, EPOLLIN, accept4(fd, addr, (socklen_t *)addrlen, SOCK_CLOEXEC));
}

int spool__ready_connect(int fd, const struct sockaddr *addr, unsigned addrlen)
{
    int rc = spool__io_may_start();
    if (rc)
        return rc;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -errno;
    for (;;) {
        if (connect(fd, addr, addrlen) == 0) {
            rc = 0;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) { /* a Unix socket's full backlog: wait, try again */
            rc = spool__fd_wait(fd, EPOLLOUT, "connect");
            if (rc < 0)
                break;
            continue;
        }
        if (errno != EINPROGRESS) {
            rc = -errno;
            break;
        }
        rc = spool__fd_wait(fd, EPOLLOUT, "connect");
        if (rc < 0)
            break;
        int err = 0;
        socklen_t len = sizeof err;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ? -errno : -err;
        break;
    }
    if (!(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl);
    return rc;
}

int spool__ready_poll(int fd, unsigned events)
{
    int rc = spool__io_may_start();
    if (rc)
        return rc;
    struct pollfd p = {.fd = fd, .events = (short)events};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (n > 0)
        return p.revents;
    /* POLLIN, POLLOUT, POLLPRI, POLLERR, POLLHUP have epoll's values. */
    return spool__fd_wait(fd, events, "poll");
}

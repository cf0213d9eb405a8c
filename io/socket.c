/*
 * socket.c — socket calls, each one io_uring operation (io.h), and the
 * plain system calls that never block (socket, shutdown).
 */
#include "io.h"
#include "ready.h"

#include "driver.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int spool_socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

int spool_connect(int fd, const struct sockaddr *addr, unsigned addrlen)
{
    if (!addr)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_connect(fd, addr, addrlen);
    SPOOL__IO_CALL(io_uring_prep_connect(sqe, fd, addr, addrlen));
}

int spool_accept(int fd, struct sockaddr *addr, unsigned *addrlen)
{
    if (addr && !addrlen)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_accept(fd, addr, addrlen);
    SPOOL__IO_CALL(io_uring_prep_accept(sqe, fd, addr, (socklen_t *)addrlen, SOCK_CLOEXEC));
}

/* A length the SQE can carry (32 bits): longer transfers come out short,
 * as a socket's may anyway. */
static size_t sqe_len(size_t n)
{
    return n > INT32_MAX ? INT32_MAX : n;
}

int spool_recv(int fd, void *buf, size_t n, int flags)
{
    n = sqe_len(n);
    if (spool__on_epoll())
        return spool__ready_recv(fd, buf, n, flags);
    SPOOL__IO_CALL(io_uring_prep_recv(sqe, fd, buf, n, flags));
}

int spool_send(int fd, const void *buf, size_t n, int flags)
{
    n = sqe_len(n);
    if (spool__on_epoll())
        return spool__ready_send(fd, buf, n, flags);
    SPOOL__IO_CALL(io_uring_prep_send(sqe, fd, buf, n, flags | MSG_NOSIGNAL));
}

int spool_send_all(int fd, const void *buf, size_t n, int flags)
{
    if (n > INT32_MAX)
        return -EINVAL; /* the count must fit the result */
    const char *p = buf;
    size_t sent = 0;
    while (sent < n) {
        int rc = spool_send(fd, p + sent, n - sent, flags);
        if (rc < 0)
            return rc;
        sent += (size_t)rc;
    }
    return (int)n;
}

int spool_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (!msg)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_recvmsg(fd, msg, flags);
    SPOOL__IO_CALL(io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags));
}

int spool_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!msg)
        return -EINVAL;
    if (spool__on_epoll())
        return spool__ready_sendmsg(fd, msg, flags);
    SPOOL__IO_CALL(io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL));
}

int spool_shutdown(int fd, int how)
{
    return shutdown(fd, how) < 0 ? -errno : 0;
}

int spool_poll(int fd, unsigned events)
{
    if (spool__on_epoll())
        return spool__ready_poll(fd, events);
    SPOOL__IO_CALL(io_uring_prep_poll_add(sqe, fd, events));
}

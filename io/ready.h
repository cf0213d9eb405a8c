/*
 * ready.h — the I/O calls on the epoll driver (ready.c): each tries its
 * system call without blocking and, on EAGAIN, waits for its fd through
 * spool__fd_wait (runtime/driver.h), then tries again. Regular files,
 * which epoll cannot watch, go to the blocking pool. file.c and socket.c
 * call these when spool__on_epoll() says so; arguments arrive checked.
 *
 * The contracts are those of spool.h, on either driver: the same results
 * and errors, cancellation and timeout scopes (a call gives up only while
 * it waits, so nothing was taken from the fd), and a cancelled call never
 * touches its buffer after it returns (the system call runs in the task).
 * What differs is written in docs/io.md ("Drivers").
 */
#ifndef SPOOL_READY_H
#define SPOOL_READY_H

#include <spool/spool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

int spool__ready_open(const char *path, int flags, unsigned mode);
int spool__ready_read(int fd, void *buf, size_t n, int64_t off);
int spool__ready_write(int fd, const void *buf, size_t n, int64_t off);
int spool__ready_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
int spool__ready_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
int spool__ready_fsync(int fd, int datasync);
int spool__ready_statx(const char *path, int flags, unsigned mask, struct statx *out);
int spool__ready_connect(int fd, const struct sockaddr *addr, unsigned addrlen);
int spool__ready_accept(int fd, struct sockaddr *addr, unsigned *addrlen);
int spool__ready_recv(int fd, void *buf, size_t n, int flags);
int spool__ready_send(int fd, const void *buf, size_t n, int flags);
int spool__ready_recvmsg(int fd, struct msghdr *msg, int flags);
int spool__ready_sendmsg(int fd, const struct msghdr *msg, int flags);
int spool__ready_poll(int fd, unsigned events);

#endif /* SPOOL_READY_H */

/*
 * test_io.c — the I/O calls on io_uring (io/): files (and the fairness of
 * those done inline, without suspending), sockets, the
 * cancellation guarantee (a cancelled or timed-out call returns only once
 * the kernel is done with its buffer; a completed operation's data is
 * never lost), more operations in flight than the ring has entries, and
 * bad input.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check_util.h"
#include "scheduler.h"

/* ---- files ----------------------------------------------------------------- */

static int main_files(void *arg)
{
    (void)arg;
    char path[] = "/tmp/spool_test_io_XXXXXX";
    int tmp = mkstemp(path);
    ck_assert_int_ge(tmp, 0);
    close(tmp);
    int fd = spool_open(path, O_RDWR | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(spool_write(fd, "hello, ", 7, 0), 7);
    ck_assert_int_eq(spool_write(fd, "world", 5, 7), 5);
    char buf[32] = {0};
    ck_assert_int_eq(spool_read(fd, buf, sizeof buf, 0), 12);
    ck_assert_str_eq(buf, "hello, world");
    /* off = -1: the file position. */
    ck_assert_int_eq(spool_read(fd, buf, 5, -1), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert_int_eq(spool_read(fd, buf, 2, -1), 2);
    ck_assert_int_eq(memcmp(buf, ", ", 2), 0);
    char a[3] = "abc", b[2] = "de";
    struct iovec iov[2] = {{a, 3}, {b, 2}};
    ck_assert_int_eq(spool_writev(fd, iov, 2, 12), 5);
    char c[3], d[2];
    struct iovec in[2] = {{c, 3}, {d, 2}};
    ck_assert_int_eq(spool_readv(fd, in, 2, 12), 5);
    ck_assert_int_eq(memcmp(c, "abc", 3), 0);
    ck_assert_int_eq(memcmp(d, "de", 2), 0);
    ck_assert_int_eq(spool_fsync(fd, 0), 0);
    ck_assert_int_eq(spool_fsync(fd, 1), 0);
    struct statx st;
    ck_assert_int_eq(spool_statx(path, 0, STATX_SIZE, &st), 0);
    ck_assert_uint_eq(st.stx_size, 17);
    ck_assert_int_eq(spool_close(fd), 0);
    ck_assert_int_eq(spool_close(fd), -EBADF);
    ck_assert_int_eq(spool_read(fd, buf, 1, 0), -EBADF);
    ck_assert_int_eq(spool_open("/nonexistent/spool", O_RDONLY, 0), -ENOENT);
    ck_assert_int_eq(spool_statx("/nonexistent/spool", 0, STATX_SIZE, &st), -ENOENT);
    ck_assert_int_eq(spool_open(NULL, O_RDONLY, 0), -EINVAL);
    unlink(path);
    return 0;
}

START_TEST(file_calls_read_write_stat_and_fail_with_the_kernels_errno)
{
    ck_assert_int_eq(run_on(2, main_files, NULL), 0);
}
END_TEST

START_TEST(io_calls_outside_a_task_return_eperm)
{
    char buf[4];
    ck_assert_int_eq(spool_read(0, buf, 1, 0), -EPERM);
    ck_assert_int_eq(spool_write(1, buf, 1, 0), -EPERM);
    ck_assert_int_eq(spool_recv(0, buf, 1, 0), -EPERM);
    ck_assert_int_eq(spool_close(0), -EPERM);
    ck_assert_int_eq(spool_poll(0, POLLIN), -EPERM);
    ck_assert_int_eq(spool_tcp_listen("127.0.0.1", 0, 1), -EPERM);
}
END_TEST

/* A read of cached data is done inline, without suspending (io/nowait.h);
 * still, a task reading a cached file in a loop must let the other tasks
 * of its worker run. One worker: `other` can run only while the reader
 * is suspended. */
static _Atomic int other_ran;

static int set_other_ran(void *arg)
{
    (void)arg;
    atomic_store(&other_ran, 1);
    return 0;
}

static int main_cached_reader(void *arg)
{
    (void)arg;
    char path[] = "/tmp/spool_test_io_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "x", 1), 1); /* in the page cache now */
    atomic_store(&other_ran, 0);
    spool_task *other = spool_spawn(set_other_ran, NULL);
    ck_assert_ptr_nonnull(other);
    int ran_before_the_end = 0;
    for (int i = 0; i < 10000 && !ran_before_the_end; i++) {
        char c;
        ck_assert_int_eq(spool_read(fd, &c, 1, 0), 1);
        ran_before_the_end = atomic_load(&other_ran);
    }
    ck_assert_msg(ran_before_the_end, "10,000 cached reads never let the other task run");
    ck_assert_int_eq(spool_join(other), 0);
    close(fd);
    return 0;
}

START_TEST(a_task_reading_cached_data_in_a_loop_lets_the_others_run)
{
    ck_assert_int_eq(run_on(1, main_cached_reader, NULL), 0);
}
END_TEST

/* ---- sockets --------------------------------------------------------------------- */

static int echo_once(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int c = spool_accept(lfd, NULL, NULL);
    if (c < 0)
        return c;
    char buf[256];
    int total = 0, n;
    while ((n = spool_recv(c, buf, sizeof buf, 0)) > 0) {
        int rc = spool_send_all(c, buf, (size_t)n, 0);
        if (rc < 0)
            return rc;
        total += n;
    }
    spool_close(c);
    return n < 0 ? n : total;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int main_sockets(void *arg)
{
    const char *host = arg;
    int lfd = spool_tcp_listen(host, 0, 16);
    ck_assert_int_ge(lfd, 0);
    unsigned port = bound_port(lfd);
    spool_task *server = spool_spawn(echo_once, (void *)(intptr_t)lfd);
    int fd = spool_tcp_connect(host, port);
    ck_assert_int_ge(fd, 0);
    char out[100], in[100];
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < sizeof out; i++)
            out[i] = (char)(round + i);
        ck_assert_int_eq(spool_send_all(fd, out, sizeof out, 0), (int)sizeof out);
        size_t got = 0;
        while (got < sizeof in) {
            int n = spool_recv(fd, in + got, sizeof in - got, 0);
            ck_assert_int_gt(n, 0);
            got += (size_t)n;
        }
        ck_assert_int_eq(memcmp(in, out, sizeof in), 0);
    }
    ck_assert_int_eq(spool_poll(fd, POLLOUT) & POLLOUT, POLLOUT);
    ck_assert_int_eq(spool_shutdown(fd, SHUT_WR), 0);
    ck_assert_int_eq(spool_recv(fd, in, sizeof in, 0), 0); /* the server closed: EOF */
    ck_assert_int_eq(spool_join(server), 100 * (int)sizeof out);
    spool_close(fd);
    spool_close(lfd);
    return 0;
}

START_TEST(tcp_echo_over_ipv4_and_ipv6)
{
    ck_assert_int_eq(run_on(2, main_sockets, "127.0.0.1"), 0);
    ck_assert_int_eq(run_on(2, main_sockets, "::1"), 0);
    ck_assert_int_eq(run_on(1, main_sockets, "localhost"), 0);
}
END_TEST

/* A NULL host is -EINVAL (getaddrinfo would take it for the loopback
 * address and connect there): nothing reaches a listener on loopback. */
static int main_connect_null_host(void *arg)
{
    (void)arg;
    int lfd = spool_tcp_listen("127.0.0.1", 0, 16);
    ck_assert_int_ge(lfd, 0);
    unsigned port = bound_port(lfd);
    ck_assert_int_eq(spool_tcp_connect(NULL, port), -EINVAL);
    ck_assert_int_eq(spool_tcp_connect(NULL, 70000), -EINVAL);
    /* No connection is waiting to be accepted. */
    ck_assert_int_eq(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_msg(c < 0, "spool_tcp_connect(NULL, port) connected to the loopback listener");
    /* The listener works: a named host gets through. */
    int fd = spool_tcp_connect("127.0.0.1", port);
    ck_assert_int_ge(fd, 0);
    spool_close(fd);
    spool_close(lfd);
    return 0;
}

START_TEST(tcp_connect_to_a_null_host_is_einval)
{
    ck_assert_int_eq(spool_tcp_connect(NULL, 80), -EINVAL); /* a bad argument before the context */
    ck_assert_int_eq(run_on(1, main_connect_null_host, NULL), 0);
}
END_TEST

static int main_unix(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/spool_test_io_%d.sock", (int)getpid());
    int lfd = spool_unix_listen(path, 4);
    ck_assert_int_ge(lfd, 0);
    spool_task *server = spool_spawn(echo_once, (void *)(intptr_t)lfd);
    int fd = spool_unix_connect(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(spool_send_all(fd, "ping", 4, 0), 4);
    char buf[8];
    ck_assert_int_eq(spool_recv(fd, buf, 4, MSG_WAITALL), 4);
    spool_shutdown(fd, SHUT_WR);
    ck_assert_int_eq(spool_join(server), 4);
    spool_close(fd);
    spool_close(lfd);
    unlink(path);
    ck_assert_int_eq(spool_unix_connect(path), -ENOENT);
    return 0;
}

START_TEST(unix_sockets_listen_and_connect)
{
    ck_assert_int_eq(run_on(2, main_unix, NULL), 0);
}
END_TEST

static int main_vanished_peer(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    char buf[64] = {0};
    ck_assert_int_eq(spool_send(sv[0], buf, sizeof buf, 0), -EPIPE); /* no SIGPIPE: we are still here */
    close(sv[0]);
    return 0;
}

START_TEST(a_send_to_a_vanished_peer_is_epipe_not_sigpipe)
{
    ck_assert_int_eq(run_on(1, main_vanished_peer, NULL), 0);
}
END_TEST

/* ---- cancellation ----------------------------------------------------------- */

struct blocked_recv {
    int fd;
    char buf[16];
    int rc;
};

static int recv_into(void *arg)
{
    struct blocked_recv *b = arg;
    b->rc = spool_recv(b->fd, b->buf, sizeof b->buf, 0);
    return b->rc;
}

static int main_cancel_recv(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* Cancelled: -ECANCELED, and the buffer is not written afterwards
     * (data sent after the call returned stays in the socket). */
    struct blocked_recv b = {.fd = sv[0]};
    memset(b.buf, 'x', sizeof b.buf);
    spool_task *t = spool_spawn(recv_into, &b);
    spool_sleep_ms(5);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(write(sv[1], "late", 4), 4);
    spool_sleep_ms(5);
    for (size_t i = 0; i < sizeof b.buf; i++)
        ck_assert_int_eq(b.buf[i], 'x');
    char buf[8];
    ck_assert_int_eq(spool_recv(sv[0], buf, sizeof buf, 0), 4); /* nothing was lost */

    /* Timed out: -ETIMEDOUT, and the scope says so. */
    spool_timeout to;
    uint64_t t0 = spool_now_ns(); /* before the deadline is set from the clock */
    spool_timeout_enter(&to, 5 * SPOOL_MSEC);
    ck_assert_int_eq(spool_recv(sv[0], buf, sizeof buf, 0), -ETIMEDOUT);
    ck_assert_uint_ge(spool_now_ns() - t0, 5 * SPOOL_MSEC);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);

    /* Already cancelled: nothing submitted; but close still closes. */
    spool_task_cancel(spool_current());
    ck_assert_int_eq(spool_recv(sv[0], buf, sizeof buf, 0), -ECANCELED);
    int extra = dup(sv[0]);
    ck_assert_int_ge(extra, 0);
    ck_assert_int_eq(spool_close(extra), 0);
    ck_assert_int_eq(fcntl(extra, F_GETFD), -1); /* gone */
    ck_assert_int_eq(spool_shield_begin(), 0);
    ck_assert_int_eq(write(sv[1], "ok", 2), 2);
    ck_assert_int_eq(spool_recv(sv[0], buf, sizeof buf, 0), 2); /* shielded */
    spool_shield_end();
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(a_cancelled_or_timed_out_recv_returns_only_when_the_kernel_is_done)
{
    ck_assert_int_eq(run_on(1, main_cancel_recv, NULL), 0);
    ck_assert_int_eq(run_on(2, main_cancel_recv, NULL), 0);
}
END_TEST

/* Cancel racing data: every byte written is either returned by a recv
 * that succeeded or still in the socket; never lost, never duplicated. */
static int main_cancel_vs_data(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    uint64_t rng = 99;
    unsigned got = 0, written = 0;
    for (unsigned i = 0; i < rounds; i++) {
        struct blocked_recv b = {.fd = sv[0]};
        spool_task *t = spool_spawn(recv_into, &b);
        if (xorshift(&rng) & 1)
            spool_yield();
        REQUIRE(write(sv[1], "z", 1) == 1);
        written++;
        spool_task_cancel(t);
        int r = spool_join(t);
        /* Bytes (this round's, and any an earlier cancelled round left),
         * or the cancellation. */
        if (!(r >= 1 || r == -ECANCELED))
            ck_abort_msg("round %u: recv returned %d", i, r);
        if (r > 0)
            got += (unsigned)r;
    }
    /* What the cancelled recvs did not take is still there. */
    char buf[4096];
    int left = 0, n;
    while ((n = (int)recv(sv[0], buf, sizeof buf, MSG_DONTWAIT)) > 0)
        left += n;
    ck_assert_uint_eq(got + (unsigned)left, written);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(a_recv_cancelled_as_data_arrives_loses_nothing)
{
    unsigned rounds = SANITIZED ? 500 : 5000;
    ck_assert_int_eq(run_on(2, main_cancel_vs_data, (void *)(uintptr_t)rounds), 0);
    ck_assert_int_eq(run_on(1, main_cancel_vs_data, (void *)(uintptr_t)rounds), 0);
}
END_TEST

/* ---- many operations in flight ------------------------------------------------- */

enum { PIPES = 1500 };

static int read_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    return spool_read(fd, &c, 1, -1) == 1 && c == 'q' ? 1 : 0;
}

static int main_many_in_flight(void *arg)
{
    (void)arg;
    static int fds[PIPES][2];
    static spool_task *t[PIPES];
    for (int i = 0; i < PIPES; i++)
        ck_assert_int_eq(pipe2(fds[i], O_CLOEXEC), 0);
    for (int i = 0; i < PIPES; i++)
        t[i] = spool_spawn(read_one, (void *)(intptr_t)fds[i][0]);
    spool_sleep_ms(20); /* all parked in reads: more than the ring's 256 entries */
    for (int i = 0; i < PIPES; i++)
        ck_assert_int_eq(write(fds[i][1], "q", 1), 1);
    int results[PIPES];
    ck_assert_int_eq(spool_gather(t, PIPES, results), 0);
    for (int i = 0; i < PIPES; i++) {
        ck_assert_int_eq(results[i], 1);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    return 0;
}

START_TEST(more_operations_in_flight_than_ring_entries_all_complete)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * PIPES + 64) {
        rl.rlim_cur = rl.rlim_max < 2 * PIPES + 64 ? rl.rlim_max : 2 * PIPES + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ck_assert_int_eq(run_on(2, main_many_in_flight, NULL), 0);
}
END_TEST

/* A worker that never runs out of tasks still reaps completions: a read
 * on one worker completes while a CPU-bound task on the same worker keeps
 * yielding (the ring is looked at every tick, and entered when the kernel
 * flags completions it holds back). */
static _Atomic int reader_done;

static int reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4];
    int rc = spool_read(fd, buf, sizeof buf, -1);
    atomic_store(&reader_done, 1);
    return rc;
}

static int busy_until_reader_done(void *arg)
{
    (void)arg;
    uint64_t deadline = spool_now_ns() + HANG_GUARD_NS;
    while (!atomic_load(&reader_done) && spool_now_ns() < deadline)
        spool_yield();
    return atomic_load(&reader_done) ? 0 : -ETIMEDOUT;
}

static int main_busy_worker(void *arg)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    atomic_store(&reader_done, 0);
    spool_task *r = spool_spawn(reader, (void *)(intptr_t)p[0]);
    spool_task *b = spool_spawn(busy_until_reader_done, NULL);
    spool_sleep_ms(2); /* both running; the reader parked in its read */
    ck_assert_int_eq(write(p[1], "abc", 3), 3);
    ck_assert_int_eq(spool_join(b), 0);
    ck_assert_int_eq(spool_join(r), 3);
    close(p[0]);
    close(p[1]);
    return 0;
}

START_TEST(completions_are_reaped_while_the_worker_stays_busy)
{
    ck_assert_int_eq(run_on(1, main_busy_worker, NULL), 0);
}
END_TEST

/* ---- UDP and readiness ----------------------------------------------------------- */

static int main_udp_and_poll(void *arg)
{
    (void)arg;
    int a = spool_socket(AF_INET, SOCK_DGRAM, 0), b = spool_socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(b, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(b, (struct sockaddr *)&addr, &len);
    char out[] = "datagram";
    struct iovec iov = {out, sizeof out};
    struct msghdr msg = {.msg_name = &addr, .msg_namelen = sizeof addr, .msg_iov = &iov, .msg_iovlen = 1};
    ck_assert_int_eq(spool_sendmsg(a, &msg, 0), (int)sizeof out);
    ck_assert_int_eq(spool_poll(b, POLLIN) & POLLIN, POLLIN);
    char in[64];
    struct sockaddr_in from;
    struct iovec iin = {in, sizeof in};
    struct msghdr rmsg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iin, .msg_iovlen = 1};
    ck_assert_int_eq(spool_recvmsg(b, &rmsg, 0), (int)sizeof out);
    ck_assert_str_eq(in, "datagram");
    ck_assert_uint_eq(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ck_assert_int_eq(spool_recvmsg(b, NULL, 0), -EINVAL);
    /* A poll that times out. */
    spool_timeout to;
    spool_timeout_enter(&to, 2 * SPOOL_MSEC);
    ck_assert_int_eq(spool_poll(b, POLLIN), -ETIMEDOUT);
    spool_timeout_exit(&to);
    spool_close(a);
    spool_close(b);
    return 0;
}

START_TEST(udp_datagrams_and_poll_readiness)
{
    ck_assert_int_eq(run_on(2, main_udp_and_poll, NULL), 0);
}
END_TEST

/* ---- more in flight than the CQ ring holds ---------------------------------------- */

/* More operations in flight than the CQ ring's 4096 entries (and the SQ
 * ring's 256), all completing in one burst. (With DEFER_TASKRUN the
 * kernel posts deferred completions in batches as the worker enters, so
 * the burst does not necessarily overflow the CQ ring; the overflow path
 * of runtime/reactor.c is not forced by this test.) */
enum { OVERFLOW_PIPES = 4500 };

static int main_cq_overflow(void *arg)
{
    (void)arg;
    static int fds[OVERFLOW_PIPES][2];
    static spool_task *t[OVERFLOW_PIPES];
    for (int i = 0; i < OVERFLOW_PIPES; i++)
        ck_assert_int_eq(pipe2(fds[i], O_CLOEXEC), 0);
    for (int i = 0; i < OVERFLOW_PIPES; i++)
        t[i] = spool_spawn(read_one, (void *)(intptr_t)fds[i][0]);
    spool_sleep_ms(50); /* every reader parked in its read */
    /* Every read completes while this task holds the only worker: the
     * completions pile up in the kernel until the worker next enters. */
    for (int i = 0; i < OVERFLOW_PIPES; i++)
        ck_assert_int_eq(write(fds[i][1], "q", 1), 1);
    int results[OVERFLOW_PIPES];
    ck_assert_int_eq(spool_gather(t, OVERFLOW_PIPES, results), 0);
    for (int i = 0; i < OVERFLOW_PIPES; i++) {
        ck_assert_int_eq(results[i], 1);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    return 0;
}

START_TEST(more_operations_in_flight_than_the_cq_ring_all_complete_in_one_burst)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = 2 * OVERFLOW_PIPES + 64;
    if (rl.rlim_max < want) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE hard limit %lu < %lu\n", (unsigned long)rl.rlim_max, (unsigned long)want);
        return;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ck_assert_int_eq(run_on(1, main_cq_overflow, NULL), 0);
}
END_TEST

/* White-box: a wake-up message that fails (aimed at an fd that is not a
 * ring) posts a CQE on the sender's ring; it must not be taken for the
 * completion of whatever operation last used that SQE slot. */
static int main_failed_wake(void *arg)
{
    (void)arg;
    if (strcmp(spool_backend_name(), "io_uring") != 0)
        return 0; /* io_uring's own (the epoll driver wakes through an eventfd) */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    char c = 0;
    /* Every SQE slot of this worker's ring once held an operation. */
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(write(p[1], "x", 1), 1);
        ck_assert_int_eq(spool_read(p[0], &c, 1, -1), 1);
    }
    spool__worker *w = spool__worker_current();
    ck_assert_int_eq(spool__reactor_wake(&w->reactor, p[0]), 0); /* fails in the kernel */
    for (int i = 0; i < 50; i++) { /* reap its CQE among real ones */
        ck_assert_int_eq(write(p[1], "y", 1), 1);
        ck_assert_int_eq(spool_read(p[0], &c, 1, -1), 1);
        ck_assert_int_eq(c, 'y');
    }
    ck_assert_uint_eq(spool__worker_current()->io_inflight, 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

/* A read that timed out, its fd closed, and the fd's number taken at once
 * by a new socket: a read on the new one must be woken by its data (the
 * epoll driver once trusted the old, vanished registration: a lost
 * wake-up). Both drivers; one worker, so the same table is used. */
struct reuse {
    int fd;
    int rc;
};

static int read_one_byte(void *arg)
{
    struct reuse *r = arg;
    char c;
    r->rc = spool_recv(r->fd, &c, 1, 0);
    return 0;
}

static int main_fd_reuse(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        spool_timeout to;
        spool_timeout_enter(&to, SPOOL_MSEC);
        char c;
        ck_assert_int_eq(spool_recv(sv[0], &c, 1, 0), -ETIMEDOUT);
        ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
        int old = sv[0];
        close(sv[0]);
        close(sv[1]);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(sv[0], old); /* the lowest free number: the same */
        struct reuse r = {.fd = sv[0], .rc = 1000};
        spool_task *t = spool_spawn(read_one_byte, &r);
        ck_assert_ptr_nonnull(t);
        spool_sleep_ms(1); /* most often the read waits by now; either way it must end */
        ck_assert_int_eq(write(sv[1], "x", 1), 1);
        spool_timeout_enter(&to, HANG_GUARD_NS);
        ck_assert_int_eq(spool_join(t), 0);
        ck_assert_int_eq(spool_timeout_exit(&to), 0);
        ck_assert_int_eq(r.rc, 1);
        close(sv[0]);
        close(sv[1]);
    }
    return 0;
}

START_TEST(a_wait_on_a_reused_fd_number_is_woken)
{
    ck_assert_int_eq(run_on(1, main_fd_reuse, NULL), 0);
}
END_TEST

START_TEST(a_failed_wake_up_message_is_not_taken_for_an_operation)
{
    ck_assert_int_eq(run_on(1, main_failed_wake, NULL), 0);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    ADD_TEST(s, file_calls_read_write_stat_and_fail_with_the_kernels_errno);
    ADD_TEST(s, io_calls_outside_a_task_return_eperm);
    ADD_TEST(s, a_task_reading_cached_data_in_a_loop_lets_the_others_run);
    ADD_TEST(s, tcp_echo_over_ipv4_and_ipv6);
    ADD_TEST(s, tcp_connect_to_a_null_host_is_einval);
    ADD_TEST(s, a_wait_on_a_reused_fd_number_is_woken);
    ADD_TEST(s, unix_sockets_listen_and_connect);
    ADD_TEST(s, a_send_to_a_vanished_peer_is_epipe_not_sigpipe);
    ADD_TEST(s, a_cancelled_or_timed_out_recv_returns_only_when_the_kernel_is_done);
    ADD_TEST(s, a_recv_cancelled_as_data_arrives_loses_nothing);
    ADD_TEST(s, more_operations_in_flight_than_ring_entries_all_complete);
    ADD_TEST(s, completions_are_reaped_while_the_worker_stays_busy);
    ADD_TEST(s, udp_datagrams_and_poll_readiness);
    ADD_TEST(s, a_failed_wake_up_message_is_not_taken_for_an_operation);
    ADD_TEST(s, more_operations_in_flight_than_the_cq_ring_all_complete_in_one_burst);
    return s;
}

int main(void)
{
    return check_main(io_suite, 120);
}

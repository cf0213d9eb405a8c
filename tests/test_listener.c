/*
 * test_listener.c — spool_listener (io/listener.c), a multishot accept:
 * every connection is accepted exactly once across concurrent acceptors;
 * an accept cancelled or timed out loses no connection; closing a
 * listener closes the connections nobody took and leaks no fd, from any
 * worker; EMFILE stops the listener until the next accept, which gets the
 * connection that waited in the backlog, and strands no other waiting
 * accept; a listener nobody drains pauses at its high mark and the
 * backlog holds the rest; bad input is an error and the runtime runs on.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_util.h"
#include "scheduler.h"

static unsigned bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    return ntohs(sin.sin_port);
}

/* Open fds of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Reads exactly n bytes. Returns: 0, or recv's error / -EPIPE on EOF. */
static int recv_exact(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = spool_recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return r < 0 ? r : -EPIPE;
        got += (size_t)r;
    }
    return 0;
}

/* ---- every connection accepted once, by concurrent acceptors ---------------- */

#define CONNS (SANITIZED ? 400 : 3000)
#define ACCEPTORS 4
#define CLIENT_BATCH 100

struct accept_run {
    spool_listener *l;
    unsigned port;
    _Atomic int seen[CONNS];
    _Atomic int accepted;
    _Atomic int timeouts;
    uint64_t timeout_ns; /* acceptors' per-accept timeout; 0: none */
};

/* Accepts until cancelled: reads the client's index, counts it, acks. */
static int acceptor(void *arg)
{
    struct accept_run *r = arg;
    for (;;) {
        struct sockaddr_in peer;
        unsigned len = sizeof peer;
        spool_timeout to;
        if (r->timeout_ns)
            spool_timeout_enter(&to, r->timeout_ns);
        int fd = spool_listener_accept(r->l, (struct sockaddr *)&peer, &len);
        int scope = r->timeout_ns ? spool_timeout_exit(&to) : 0;
        if (fd == -ETIMEDOUT) {
            ck_assert_int_eq(scope, -ETIMEDOUT);
            atomic_fetch_add(&r->timeouts, 1);
            continue;
        }
        if (fd == -ECANCELED)
            return 0;
        REQUIRE(fd >= 0);
        REQUIRE(len == sizeof peer && peer.sin_family == AF_INET);
        uint32_t idx;
        REQUIRE(recv_exact(fd, &idx, sizeof idx) == 0);
        REQUIRE(idx < CONNS);
        atomic_fetch_add(&r->seen[idx], 1);
        atomic_fetch_add(&r->accepted, 1);
        REQUIRE(spool_send_all(fd, "k", 1, 0) == 1);
        spool_close(fd);
    }
}

struct client_arg {
    struct accept_run *r;
    uint32_t idx;
};

static int client(void *arg)
{
    struct client_arg *c = arg;
    int fd = spool_tcp_connect("127.0.0.1", c->r->port);
    REQUIRE(fd >= 0);
    REQUIRE(spool_send_all(fd, &c->idx, sizeof c->idx, 0) == (int)sizeof c->idx);
    char ack;
    REQUIRE(recv_exact(fd, &ack, 1) == 0 && ack == 'k');
    spool_close(fd);
    return 0;
}

/* CONNS clients, CLIENT_BATCH at a time (a pause between batches when
 * pause_ns), against ACCEPTORS acceptors; then every index was seen once. */
static int main_accept_all(void *arg)
{
    struct accept_run *r = arg;
    int fds_before = open_fds();
    int lfd = spool_tcp_listen("127.0.0.1", 0, 1024);
    ck_assert_int_ge(lfd, 0);
    r->port = bound_port(lfd);
    r->l = spool_listener_open(lfd);
    ck_assert_ptr_nonnull(r->l);
    spool_task *acc[ACCEPTORS];
    for (int i = 0; i < ACCEPTORS; i++)
        acc[i] = spool_spawn(acceptor, r);
    static struct client_arg args[CONNS];
    spool_task *batch[CLIENT_BATCH];
    for (uint32_t base = 0; base < CONNS; base += CLIENT_BATCH) {
        for (uint32_t i = 0; i < CLIENT_BATCH; i++) {
            args[base + i] = (struct client_arg){r, base + i};
            batch[i] = spool_spawn(client, &args[base + i]);
        }
        ck_assert_int_eq(spool_gather(batch, CLIENT_BATCH, NULL), 0);
        if (r->timeout_ns)
            spool_sleep_ns(2 * r->timeout_ns); /* let the acceptors time out */
    }
    for (int i = 0; i < ACCEPTORS; i++)
        spool_task_cancel(acc[i]);
    ck_assert_int_eq(spool_gather(acc, ACCEPTORS, NULL), 0);
    ck_assert_int_eq(spool_listener_close(r->l), 0);
    spool_close(lfd);
    for (int i = 0; i < CONNS; i++)
        ck_assert_int_eq(atomic_load(&r->seen[i]), 1);
    ck_assert_int_eq(atomic_load(&r->accepted), CONNS);
    ck_assert_int_eq(open_fds(), fds_before);
    return 0;
}

START_TEST(concurrent_acceptors_take_every_connection_exactly_once)
{
    static struct accept_run r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(run_on(2, main_accept_all, &r), 0);
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(run_on(1, main_accept_all, &r), 0);
}
END_TEST

START_TEST(accepts_that_time_out_lose_no_connection)
{
    static struct accept_run r;
    memset(&r, 0, sizeof r);
    r.timeout_ns = 200 * SPOOL_USEC;
    ck_assert_int_eq(run_on(2, main_accept_all, &r), 0);
    printf("test_listener: %d accepts timed out, no connection lost\n", atomic_load(&r.timeouts));
    ck_assert_int_gt(atomic_load(&r.timeouts), 0);
}
END_TEST

/* ---- close: the connections nobody took are closed, no fd leaks ---------------- */

#define CLOSE_ROUNDS (SANITIZED ? 20 : 100)
#define QUEUED 5

struct close_round {
    spool_listener *l;
    spool__worker *owner; /* where the acceptor ran: the ring it armed */
};

static int accept_one(void *arg)
{
    struct close_round *c = arg;
    int fd = spool_listener_accept(c->l, NULL, NULL);
    c->owner = spool__worker_current();
    return fd;
}

static int close_listener(void *arg)
{
    struct close_round *c = arg;
    int cross = spool__worker_current() != c->owner;
    ck_assert_int_eq(spool_listener_close(c->l), 0);
    return cross;
}

static int main_close(void *arg)
{
    (void)arg;
    int fds_before = open_fds();
    int cross = 0;
    for (int round = 0; round < CLOSE_ROUNDS; round++) {
        int lfd = spool_tcp_listen("127.0.0.1", 0, 64);
        ck_assert_int_ge(lfd, 0);
        struct close_round c = {.l = spool_listener_open(lfd)};
        ck_assert_ptr_nonnull(c.l);
        spool_task *t = spool_spawn(accept_one, &c);
        int clients[QUEUED];
        for (int i = 0; i < QUEUED; i++) {
            clients[i] = spool_tcp_connect("127.0.0.1", bound_port(lfd));
            ck_assert_int_ge(clients[i], 0);
        }
        int fd = spool_join(t);
        ck_assert_int_ge(fd, 0);
        if (round % 2)
            spool_sleep_ms(1); /* the rest queued in the listener, or not yet */
        cross += spool_join(spool_spawn(close_listener, &c));
        spool_close(fd);
        spool_close(lfd);
        /* Every client sees its connection end (EOF or reset), none hangs. */
        for (int i = 0; i < QUEUED; i++) {
            char b;
            spool_timeout to;
            spool_timeout_enter(&to, HANG_GUARD_NS);
            int n = spool_recv(clients[i], &b, 1, 0);
            ck_assert_int_eq(spool_timeout_exit(&to), 0);
            ck_assert_msg(n == 0 || n == -ECONNRESET, "client %d: recv %d", i, n);
            spool_close(clients[i]);
        }
    }
    printf("test_listener: %d of %d closes ran on another worker than the ring\n", cross, CLOSE_ROUNDS);
    ck_assert_int_eq(open_fds(), fds_before);
    return 0;
}

START_TEST(close_ends_the_connections_nobody_took_and_leaks_no_fd)
{
    ck_assert_int_eq(run_on(2, main_close, NULL), 0);
}
END_TEST

/* ---- EMFILE ----------------------------------------------------------------- */

/* A listener and an unconnected client socket, then every fd in use
 * under a lowered RLIMIT_NOFILE. */
struct fd_famine {
    int lfd, cfd;            /* listening socket, client socket */
    spool_listener *l;
    struct sockaddr_in sin;  /* the listener's address */
    struct rlimit old;
    int filler[128], nfill;
};

/* Sets up f: lowers the limit to 64 above the fds open and fills them. */
static void starve_fds(struct fd_famine *f)
{
    f->lfd = spool_tcp_listen("127.0.0.1", 0, 16);
    ck_assert_int_ge(f->lfd, 0);
    f->l = spool_listener_open(f->lfd);
    ck_assert_ptr_nonnull(f->l);
    f->cfd = spool_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->cfd, 0);
    f->sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)bound_port(f->lfd))};
    f->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &f->old), 0);
    struct rlimit rl = f->old;
    rl.rlim_cur = (rlim_t)open_fds() + 64;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    f->nfill = 0;
    while (f->nfill < 128 && (f->filler[f->nfill] = dup(f->lfd)) >= 0)
        f->nfill++;
    ck_assert_int_eq(errno, EMFILE);
}

/* Closes the fillers and restores the limit. */
static void end_famine(struct fd_famine *f)
{
    while (f->nfill)
        close(f->filler[--f->nfill]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &f->old), 0);
}

static int main_emfile(void *arg)
{
    (void)arg;
    struct fd_famine f;
    starve_fds(&f);
    spool_listener *l = f.l;
    ck_assert_int_eq(spool_connect(f.cfd, (struct sockaddr *)&f.sin, sizeof f.sin), 0);
    ck_assert_int_eq(spool_listener_accept(l, NULL, NULL), -EMFILE);
    /* A free fd: the next accept arms again and gets the connection that
     * waited in the backlog. */
    close(f.filler[--f.nfill]);
    int fd = spool_listener_accept(l, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(spool_send_all(f.cfd, "x", 1, 0), 1);
    char b;
    ck_assert_int_eq(spool_recv(fd, &b, 1, 0), 1);
    end_famine(&f);
    ck_assert_int_eq(spool_listener_close(l), 0);
    spool_close(fd);
    spool_close(f.cfd);
    spool_close(f.lfd);
    return 0;
}

START_TEST(emfile_stops_the_listener_until_the_next_accept_which_gets_the_waiting_connection)
{
    ck_assert_int_eq(run_on(2, main_emfile, NULL), 0);
}
END_TEST

/* One accept, under a timeout of its own. */
static int accept_once_within(void *arg)
{
    spool_timeout to;
    spool_timeout_enter(&to, HANG_GUARD_NS);
    int fd = spool_listener_accept(arg, NULL, NULL);
    spool_timeout_exit(&to);
    return fd;
}

/* Two tasks wait in accept when the request fails with EMFILE: the first
 * takes the error; the second must not be left waiting with nothing
 * armed (it sees the error itself, or the connection). */
static int main_emfile_two_waiters(void *arg)
{
    (void)arg;
    struct fd_famine f;
    starve_fds(&f);
    spool_listener *l = f.l;
    spool_task *t1 = spool_spawn(accept_once_within, l);
    spool_task *t2 = spool_spawn(accept_once_within, l);
    spool_sleep_ms(5); /* both wait in accept */
    ck_assert_int_eq(spool_connect(f.cfd, (struct sockaddr *)&f.sin, sizeof f.sin), 0);
    ck_assert_int_eq(spool_join(t1), -EMFILE);
    int r2 = spool_join(t2);
    ck_assert_msg(r2 == -EMFILE, "the second waiter got %d, not -EMFILE", r2);
    end_famine(&f);
    int fd = spool_listener_accept(l, NULL, NULL); /* the connection waited in the backlog */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(spool_listener_close(l), 0);
    spool_close(fd);
    spool_close(f.cfd);
    spool_close(f.lfd);
    return 0;
}

START_TEST(an_accept_error_strands_no_other_waiting_accept)
{
    ck_assert_int_eq(run_on(1, main_emfile_two_waiters, NULL), 0);
    ck_assert_int_eq(run_on(2, main_emfile_two_waiters, NULL), 0);
}
END_TEST

/* ---- backpressure ------------------------------------------------------------ */

#define FLOOD (SANITIZED ? 200 : 400)
#define FLOOD_BATCH 10

struct drain {
    spool_listener *l;
    int n;          /* connections to accept */
    bool suspends;  /* close each through the ring (a suspension), else close(2) */
};

/* Accepts d->n connections, closing each. */
static int drain(void *arg)
{
    struct drain *d = arg;
    for (int i = 0; i < d->n; i++) {
        int fd = spool_listener_accept(d->l, NULL, NULL);
        REQUIRE(fd >= 0);
        if (d->suspends)
            spool_close(fd);
        else
            close(fd);
    }
    return 0;
}

static int main_backpressure(void *arg)
{
    (void)arg;
    if (strcmp(spool_backend_name(), "io_uring") != 0)
        return 0; /* the multishot accept's (on epoll, nothing is accepted unasked) */
    int lfd = spool_tcp_listen("127.0.0.1", 0, 4096);
    ck_assert_int_ge(lfd, 0);
    unsigned port = bound_port(lfd);
    spool_listener *l = spool_listener_open(lfd);
    ck_assert_ptr_nonnull(l);
    int first = spool_tcp_connect("127.0.0.1", port);
    int fd = spool_listener_accept(l, NULL, NULL); /* arms the request */
    ck_assert_int_ge(fd, 0);
    int base = open_fds();
    /* Nobody accepts now: connections keep coming, a few at a time. */
    static int clients[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        clients[i] = spool_tcp_connect("127.0.0.1", port);
        ck_assert_int_ge(clients[i], 0);
        if (i % FLOOD_BATCH == FLOOD_BATCH - 1)
            spool_sleep_ms(1);
    }
    spool_sleep_ms(20);
    int held = open_fds() - base - FLOOD; /* accepted by the kernel, untaken */
    printf("test_listener: %d of %d connections accepted untaken (pause at 64)\n", held, FLOOD);
    ck_assert_int_ge(held, 64);
    ck_assert_int_lt(held, FLOOD / 2);
    /* Taking them re-arms it: every connection arrives. */
    ck_assert_int_eq(spool_join(spool_spawn(drain, &(struct drain){l, FLOOD, true})), 0);
    ck_assert_int_eq(spool_listener_close(l), 0);
    for (int i = 0; i < FLOOD; i++)
        spool_close(clients[i]);
    spool_close(fd);
    spool_close(first);
    spool_close(lfd);
    return 0;
}

/* A burst far past the high mark lands in the backlog at once (blocking
 * connects, no suspension), so the owner reaps it in one go, pauses, and
 * the acceptor (which never suspends but in accept) has taken the whole
 * queue and waits again, for one last client, before the cancel's
 * completion comes: the owner must re-arm for it then, or it waits
 * forever. */
static int main_burst(void *arg)
{
    (void)arg;
    int lfd = spool_tcp_listen("127.0.0.1", 0, 4096);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)bound_port(lfd))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    spool_listener *l = spool_listener_open(lfd);
    ck_assert_ptr_nonnull(l);
    struct drain d = {l, FLOOD + 1, false}; /* never suspends but in accept */
    spool_task *acc = spool_spawn(drain, &d);
    spool_sleep_ms(1); /* it arms and waits */
    static int clients[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(clients[i], 0);
        ck_assert_int_eq(connect(clients[i], (struct sockaddr *)&sin, sizeof sin), 0);
    }
    /* The acceptor takes the burst and waits for one more. */
    spool_sleep_ms(5);
    int last = spool_tcp_connect("127.0.0.1", bound_port(lfd));
    ck_assert_int_ge(last, 0);
    spool_timeout to;
    spool_timeout_enter(&to, HANG_GUARD_NS);
    int rc = spool_join(acc);
    ck_assert_int_eq(spool_timeout_exit(&to), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(spool_listener_close(l), 0);
    for (int i = 0; i < FLOOD; i++)
        close(clients[i]);
    spool_close(last);
    spool_close(lfd);
    return 0;
}

START_TEST(a_burst_past_the_high_mark_reaches_one_acceptor_whole)
{
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(run_on(1, main_burst, NULL), 0);
        ck_assert_int_eq(run_on(2, main_burst, NULL), 0);
    }
}
END_TEST

START_TEST(a_listener_nobody_drains_pauses_and_the_backlog_holds_the_rest)
{
    /* One worker: the ring's owner reaps between the connects (each one
     * suspends), so the kernel never accepts a large burst unseen. */
    ck_assert_int_eq(run_on(1, main_backpressure, NULL), 0);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

static int main_bad_input(void *arg)
{
    spool_listener *outside = arg;
    ck_assert_int_eq(spool_listener_accept(NULL, NULL, NULL), -EINVAL);
    struct sockaddr_in sin;
    ck_assert_int_eq(spool_listener_accept(outside, (struct sockaddr *)&sin, NULL), -EINVAL);
    ck_assert_int_eq(spool_listener_close(NULL), -EINVAL);
    /* A socket that is not listening: accept(2)'s error, and the
     * runtime (and the listener) carry on. */
    int s = spool_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    spool_listener *l = spool_listener_open(s);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(spool_listener_accept(l, NULL, NULL), -EINVAL);
    ck_assert_int_eq(spool_listener_accept(l, NULL, NULL), -EINVAL);
    ck_assert_int_eq(spool_listener_close(l), 0);
    spool_close(s);
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    ck_assert_int_eq(spool_listener_close(outside), 0); /* never armed */
    return 0;
}

START_TEST(bad_input_is_an_error_and_the_runtime_runs_on)
{
    errno = 0;
    ck_assert_ptr_null(spool_listener_open(-1));
    ck_assert_int_eq(errno, EINVAL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    spool_listener *l = spool_listener_open(s);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(spool_listener_accept(l, NULL, NULL), -EPERM);
    ck_assert_int_eq(spool_listener_close(l), -EPERM);
    ck_assert_int_eq(run_on(2, main_bad_input, l), 0);
    close(s);
}
END_TEST

static Suite *listener_suite(void)
{
    Suite *s = suite_create("listener");
    ADD_TEST(s, concurrent_acceptors_take_every_connection_exactly_once);
    ADD_TEST(s, accepts_that_time_out_lose_no_connection);
    ADD_TEST(s, close_ends_the_connections_nobody_took_and_leaks_no_fd);
    ADD_TEST(s, emfile_stops_the_listener_until_the_next_accept_which_gets_the_waiting_connection);
    ADD_TEST(s, an_accept_error_strands_no_other_waiting_accept);
    ADD_TEST(s, a_listener_nobody_drains_pauses_and_the_backlog_holds_the_rest);
    ADD_TEST(s, a_burst_past_the_high_mark_reaches_one_acceptor_whole);
    ADD_TEST(s, bad_input_is_an_error_and_the_runtime_runs_on);
    return s;
}

int main(void)
{
    return check_main(listener_suite, 120);
}

/*
 * echo_floor.c — a raw, single-threaded TCP echo server (no spool), to
 * measure the *kernel floor* of server CPU time per message under the W6
 * (tcp_echo) workload of shared/bench/WORKLOADS.md: 100 connections,
 * 64-byte ping-pong messages over loopback, driven by bench/echo_client.
 * It is a measuring tool, not part of the runtime: it tells how much of
 * spool's per-message cost is the kernel's (TCP over loopback, the system
 * calls, io_uring's own work) and which io_uring technique gets closest
 * to the floor.
 *
 * usage: echo_floor [--port N] [--mode M] [--entries E]
 *   --port   TCP port on 127.0.0.1 (default 8888; 0: any free port)
 *   --mode   one of
 *     epoll            epoll_wait + recv + send on nonblocking sockets
 *                      (level-triggered; accept4), the classic C server;
 *     uring-recv       io_uring: one IORING_OP_RECV SQE per message per
 *                      connection, then one SEND; every SQE of a loop
 *                      iteration goes in with one io_uring_submit_and_wait
 *                      (what spool does today);
 *     uring-recv-pf    the same, with IORING_RECVSEND_POLL_FIRST on the
 *                      recv (skip the recv attempt that would fail with
 *                      -EAGAIN, arm the poll at once);
 *     uring-multishot  io_uring multishot recv (IOSQE_BUFFER_SELECT) fed by
 *                      a provided buffer ring; the echo is sent from the
 *                      ring buffer, which goes back to the ring once the
 *                      send completes; re-armed when a CQE comes without
 *                      IORING_CQE_F_MORE.
 *                    The uring modes accept with a multishot accept.
 *   --entries  SQ entries of the ring (default 1024; CQ is 4x)
 *   --cc     TCP congestion control for the accepted sockets (setsockopt
 *            TCP_CONGESTION, e.g. reno; default: the system's)
 * Rings are set up with SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN
 * (falling back to COOP_TASKRUN, then to no flags, if refused) and the
 * ring fd is registered, as spool's reactor does. Sends use MSG_NOSIGNAL.
 * Prints "listening on 127.0.0.1:PORT" (--port 0: a free port) and then
 * "mode=M ring flags=0x.." on stderr; runs until SIGINT or SIGTERM.
 * bench/run's W6 runs it in uring-recv mode as io_uring's "kernel floor" row,
 * and in epoll mode as the epoll driver's.
 *
 * Per-connection ordering: a connection has at most one send in flight;
 * in multishot mode, data that arrives while a send is in flight waits in
 * a per-connection FIFO of ring buffers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 16384      /* recv buffer, epoll and uring-recv modes */
#define RING_BUFS 1024      /* provided buffers, multishot mode (power of 2) */
#define RING_BUF_SIZE 4096  /* bytes per provided buffer */
#define BGID 0              /* buffer group id */
#define NO_BID 0xffffu

static volatile sig_atomic_t g_stop;
static const char *g_cc; /* --cc, or NULL */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "echo_floor: %s: %s\n", what, strerror(err));
    exit(1);
}

/* Options of an accepted socket. */
static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as spool's echo_server */
    if (g_cc != NULL && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, g_cc, (socklen_t)strlen(g_cc)) < 0)
        die("setsockopt TCP_CONGESTION", errno);
}

static int listen_on(unsigned port, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        die("socket", errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind", errno);
    if (listen(fd, 4096) < 0)
        die("listen", errno);
    return fd;
}

/* Says where lfd listens ("listening on 127.0.0.1:PORT", the line
 * bench/compare.py waits for; --port 0 picks a free port) and how. */
static void announce(int lfd, const char *mode, unsigned ring_flags)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        die("getsockname", errno);
    fprintf(stderr, "listening on 127.0.0.1:%u\nmode=%s ring flags=0x%x\n", ntohs(a.sin_port), mode,
            ring_flags);
}

/* ---- epoll ------------------------------------------------------------ */

struct econn {
    int fd;
    unsigned pend_off, pend_len; /* unsent part of buf (EPOLLOUT pending) */
    char buf[BUF_SIZE];
};

static void econn_close(int ep, struct econn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Sends buf[off..off+len); returns 1 when all sent, 0 when the rest must
 * wait for EPOLLOUT (recorded in c), -1 on error. */
static int econn_send(struct econn *c, unsigned off, unsigned len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, c->buf + off, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                c->pend_off = off;
                c->pend_len = len;
                return 0;
            }
            return -1;
        }
        off += (unsigned)n;
        len -= (unsigned)n;
    }
    c->pend_len = 0;
    return 1;
}

static void run_epoll(unsigned port)
{
    int lfd = listen_on(port, 1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1", errno);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl", errno);
    announce(lfd, "epoll", 0);

    struct epoll_event evs[256];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait", errno);
        }
        for (int i = 0; i < n; i++) {
            struct econn *c = evs[i].data.ptr;
            if (c == NULL) { /* the listener */
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break; /* EAGAIN, or out of fds: wait for the next event */
                    set_nodelay(fd);
                    c = malloc(sizeof *c);
                    if (c == NULL)
                        die("malloc", ENOMEM);
                    c->fd = fd;
                    c->pend_len = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0)
                        die("epoll_ctl", errno);
                }
                continue;
            }
            if (c->pend_len > 0) { /* waiting for EPOLLOUT */
                int r = econn_send(c, c->pend_off, c->pend_len);
                if (r < 0) {
                    econn_close(ep, c);
                } else if (r > 0) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
                continue;
            }
            ssize_t got = recv(c->fd, c->buf, BUF_SIZE, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got <= 0) {
                econn_close(ep, c);
                continue;
            }
            int r = econn_send(c, 0, (unsigned)got);
            if (r < 0) {
                econn_close(ep, c);
            } else if (r == 0) {
                struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
            }
        }
    }
    close(ep);
    close(lfd);
}

/* ---- io_uring, shared ------------------------------------------------- */

/* user_data: a pointer (8-aligned) with the operation in the low 3 bits;
 * in multishot mode a send also carries its buffer id in bits 48..63. */
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(p, op) ((uint64_t)(uintptr_t)(p) | (uint64_t)(op))
#define UD_OP(u) ((unsigned)((u)&7u))
#define UD_PTR(u) ((void *)(uintptr_t)((u) & 0x0000fffffffffff8ull))
#define UD_BID(u) ((unsigned)((u) >> 48))

static struct io_uring g_ring;
static unsigned g_ring_flags;

static void ring_init(unsigned entries)
{
    static const unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int err = 0;
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = attempts[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        err = io_uring_queue_init_params(entries, &g_ring, &p);
        if (err == 0) {
            g_ring_flags = attempts[i];
            io_uring_register_ring_fd(&g_ring); /* as spool does; optional */
            return;
        }
    }
    die("io_uring_queue_init_params", -err);
}

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&g_ring);
    while (sqe == NULL) { /* SQ full: push what is there */
        io_uring_submit(&g_ring);
        sqe = io_uring_get_sqe(&g_ring);
    }
    return sqe;
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

/* Waits for at least one CQE (submitting every queued SQE in the same
 * io_uring_enter) and hands each CQE to fn. */
static void ring_loop(void (*fn)(struct io_uring_cqe *))
{
    while (!g_stop) {
        int r = io_uring_submit_and_wait(&g_ring, 1);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY)
            die("io_uring_submit_and_wait", -r);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&g_ring, head, cqe) {
            fn(cqe);
            seen++;
        }
        io_uring_cq_advance(&g_ring, seen);
    }
}

/* ---- io_uring, one recv SQE per message ------------------------------- */

struct uconn {
    int fd;
    unsigned off, len; /* the echo being sent: buf[off..len) */
    char buf[BUF_SIZE];
};

static int g_lfd;
static unsigned g_recv_ioprio; /* 0, or IORING_RECVSEND_POLL_FIRST */

static void uconn_recv(struct uconn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
    sqe->ioprio |= (uint16_t)g_recv_ioprio;
    io_uring_sqe_set_data64(sqe, UD(c, OP_RECV));
}

static void uconn_send(struct uconn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UD(c, OP_SEND));
}

static void uconn_close(struct uconn *c)
{
    close(c->fd);
    free(c);
}

static void recv_cqe(struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    switch (UD_OP(ud)) {
    case OP_ACCEPT: {
        if (res >= 0) {
            set_nodelay(res);
            struct uconn *c = malloc(sizeof *c);
            if (c == NULL)
                die("malloc", ENOMEM);
            c->fd = res;
            uconn_recv(c);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE) && !g_stop)
            arm_accept(g_lfd);
        break;
    }
    case OP_RECV: {
        struct uconn *c = UD_PTR(ud);
        if (res == -EAGAIN || res == -EINTR) {
            uconn_recv(c);
        } else if (res <= 0) {
            uconn_close(c);
        } else {
            c->off = 0;
            c->len = (unsigned)res;
            uconn_send(c);
        }
        break;
    }
    case OP_SEND: {
        struct uconn *c = UD_PTR(ud);
        if (res == -EAGAIN || res == -EINTR) {
            uconn_send(c);
        } else if (res < 0) {
            uconn_close(c);
        } else {
            c->off += (unsigned)res;
            if (c->off < c->len)
                uconn_send(c);
            else
                uconn_recv(c);
        }
        break;
    }
    }
}

static void run_uring_recv(unsigned port, unsigned entries, int poll_first)
{
    g_recv_ioprio = poll_first ? IORING_RECVSEND_POLL_FIRST : 0;
    g_lfd = listen_on(port, 0);
    ring_init(entries);
    arm_accept(g_lfd);
    announce(g_lfd, poll_first ? "uring-recv-pf" : "uring-recv", g_ring_flags);
    ring_loop(recv_cqe);
    io_uring_queue_exit(&g_ring);
    close(g_lfd);
}

/* ---- io_uring, multishot recv + provided buffer ring ------------------ */

struct mconn {
    int fd;
    int recv_armed;   /* the multishot recv is live */
    int sending;      /* a send is in flight (its bid is head) */
    int dead;         /* peer closed or error: free when idle */
    unsigned head, tail; /* FIFO of bids waiting to be (or being) sent */
};

struct bufstate {
    unsigned len, off; /* bytes in the buffer; bytes of it sent */
    unsigned next;     /* next bid in its connection's FIFO, or NO_BID */
};

static struct io_uring_buf_ring *g_br;
static char *g_bufs;
static struct bufstate g_bs[RING_BUFS];

static char *buf_addr(unsigned bid)
{
    return g_bufs + (size_t)bid * RING_BUF_SIZE;
}

static void buf_return(unsigned bid)
{
    io_uring_buf_ring_add(g_br, buf_addr(bid), RING_BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(RING_BUFS), 0);
    io_uring_buf_ring_advance(g_br, 1);
}

static void setup_buf_ring(void)
{
    size_t sz = RING_BUFS * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap", errno);
    g_br = mem;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = RING_BUFS;
    reg.bgid = BGID;
    int r = io_uring_register_buf_ring(&g_ring, &reg, 0);
    if (r < 0)
        die("io_uring_register_buf_ring", -r);
    io_uring_buf_ring_init(g_br);
    g_bufs = aligned_alloc(4096, (size_t)RING_BUFS * RING_BUF_SIZE);
    if (g_bufs == NULL)
        die("aligned_alloc", ENOMEM);
    for (unsigned bid = 0; bid < RING_BUFS; bid++)
        io_uring_buf_ring_add(g_br, buf_addr(bid), RING_BUF_SIZE, (unsigned short)bid,
                              io_uring_buf_ring_mask(RING_BUFS), (int)bid);
    io_uring_buf_ring_advance(g_br, RING_BUFS);
}

static void mconn_arm_recv(struct mconn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, UD(c, OP_RECV));
    c->recv_armed = 1;
}

/* Sends the head of c's FIFO. */
static void mconn_send_head(struct mconn *c)
{
    unsigned bid = c->head;
    struct bufstate *b = &g_bs[bid];
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, buf_addr(bid) + b->off, b->len - b->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UD(c, OP_SEND) | ((uint64_t)bid << 48));
    c->sending = 1;
}

/* Frees c once nothing of it is in flight; returns its queued buffers. */
static void mconn_maybe_free(struct mconn *c)
{
    if (!c->dead || c->recv_armed || c->sending)
        return;
    while (c->head != NO_BID) {
        unsigned bid = c->head;
        c->head = g_bs[bid].next;
        buf_return(bid);
    }
    close(c->fd);
    free(c);
}

static void multishot_cqe(struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    switch (UD_OP(ud)) {
    case OP_ACCEPT: {
        if (res >= 0) {
            set_nodelay(res);
            struct mconn *c = calloc(1, sizeof *c);
            if (c == NULL)
                die("calloc", ENOMEM);
            c->fd = res;
            c->head = c->tail = NO_BID;
            mconn_arm_recv(c);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE) && !g_stop)
            arm_accept(g_lfd);
        break;
    }
    case OP_RECV: {
        struct mconn *c = UD_PTR(ud);
        if (!(cqe->flags & IORING_CQE_F_MORE))
            c->recv_armed = 0;
        if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            g_bs[bid].len = (unsigned)res;
            g_bs[bid].off = 0;
            g_bs[bid].next = NO_BID;
            if (c->dead) {
                buf_return(bid);
            } else {
                if (c->tail == NO_BID)
                    c->head = bid;
                else
                    g_bs[c->tail].next = bid;
                c->tail = bid;
                if (!c->sending)
                    mconn_send_head(c);
            }
        } else if (res == -ENOBUFS || res == -EAGAIN || res == -EINTR) {
            /* out of buffers (they come back as sends finish): re-arm */
        } else {
            c->dead = 1; /* 0: peer closed; < 0: error */
        }
        if (!c->recv_armed) {
            if (!c->dead && !g_stop)
                mconn_arm_recv(c);
            else
                mconn_maybe_free(c);
        }
        break;
    }
    case OP_SEND: {
        struct mconn *c = UD_PTR(ud);
        unsigned bid = UD_BID(ud);
        struct bufstate *b = &g_bs[bid];
        c->sending = 0;
        if (res == -EAGAIN || res == -EINTR) {
            mconn_send_head(c);
            break;
        }
        if (res < 0) {
            c->dead = 1;
        } else {
            b->off += (unsigned)res;
            if (b->off < b->len && !c->dead) {
                mconn_send_head(c);
                break;
            }
        }
        /* this buffer is done: back to the ring, on to the next */
        c->head = b->next;
        if (c->head == NO_BID)
            c->tail = NO_BID;
        buf_return(bid);
        if (c->dead) {
            if (c->recv_armed) {
                /* stop the multishot recv; its last CQE frees c */
                struct io_uring_sqe *sqe = get_sqe();
                io_uring_prep_cancel64(sqe, UD(c, OP_RECV), 0);
                io_uring_sqe_set_data64(sqe, 0); /* op 0: ignored */
            }
            mconn_maybe_free(c);
        } else if (c->head != NO_BID) {
            mconn_send_head(c);
        }
        break;
    }
    }
}

static void run_uring_multishot(unsigned port, unsigned entries)
{
    g_lfd = listen_on(port, 0);
    ring_init(entries);
    setup_buf_ring();
    arm_accept(g_lfd);
    announce(g_lfd, "uring-multishot", g_ring_flags);
    ring_loop(multishot_cqe);
    io_uring_queue_exit(&g_ring);
    close(g_lfd);
}

/* ---- main ------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: echo_floor [--port N] "
                    "[--mode epoll|uring-recv|uring-recv-pf|uring-multishot] [--entries E] [--cc NAME]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned port = 8888, entries = 1024;
    const char *mode = "uring-recv";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--mode") == 0)
            mode = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--cc") == 0)
            g_cc = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--entries") == 0)
            entries = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            usage();
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: waits return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(mode, "epoll") == 0)
        run_epoll(port);
    else if (strcmp(mode, "uring-recv") == 0)
        run_uring_recv(port, entries, 0);
    else if (strcmp(mode, "uring-recv-pf") == 0)
        run_uring_recv(port, entries, 1);
    else if (strcmp(mode, "uring-multishot") == 0)
        run_uring_multishot(port, entries);
    else
        usage();
    return 0;
}

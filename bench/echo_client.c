/*
 * echo_client.c — the W6 (tcp_echo) load client, one binary for every
 * server (spool, asyncio streams/protocol, uvloop): see
 * shared/bench/WORKLOADS.md.
 *
 * C connections, spread over T threads. Each connection sends a 64-byte
 * message, waits for the whole echo (checked byte for byte), and sends
 * the next, for D seconds. Prints one JSON line on stdout:
 *   {"workload":"tcp_echo","impl":"client","connections":C,"threads":T,
 *    "duration_s":D,"msgs":M,"msgs_per_s":R,"p50_us":..,"p99_us":..,
 *    "p999_us":..,"wall_s":..,"ok":true}
 * (p50/p99/p999: per-message round trip, send to last byte of the echo).
 * Exits non-zero on any error: a refused or reset connection, a short or
 * wrong echo, a timeout of 10 s on any reply.
 *
 * Design (to keep the client off the critical path on a 2-core machine,
 * where it shares the CPUs with the server): plain pthreads and blocking
 * sockets, but a thread does not block on one socket at a time: it keeps
 * all of its connections in flight and waits for whichever replies first
 * with epoll_wait, so one wake-up collects many echoes (a thread per
 * connection would pay a context switch per message, and would measure
 * the client's scheduler more than the server). Default T = 1: one
 * thread keeps 100 connections busy with about 2 system calls per message
 * (send, recv) plus one epoll_wait per batch, which leaves the other core
 * to the server; --threads 2 is there for servers with more workers.
 *
 * usage: echo_client [--host H] [--port N] [--connections C]
 *                    [--threads T] [--duration D] [--size B]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096
#define REPLY_TIMEOUT_NS (10ull * 1000000000ull)

static const char *g_host = "127.0.0.1";
static unsigned g_port = 8888;
static unsigned g_conns = 100;
static unsigned g_threads = 1;
static double g_duration = 5.0;
static unsigned g_size = 64;
static atomic_int g_failed;

struct conn {
    int fd;
    unsigned id;
    uint64_t seq;        /* message number on this connection */
    uint64_t sent_ns;    /* when the current message was sent */
    unsigned got;        /* bytes of the echo received so far */
    char msg[MAX_SIZE];  /* the message in flight */
    char in[MAX_SIZE];
};

struct worker {
    pthread_t th;
    unsigned first, count;  /* its connections: conns[first .. first+count) */
    struct conn *conns;
    uint32_t *lat;          /* round trips, ns (clamped to UINT32_MAX) */
    size_t nlat, caplat;
    uint64_t msgs;
    uint64_t end_ns;        /* when to stop sending */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, unsigned id, int err)
{
    if (atomic_fetch_add(&g_failed, 1) == 0)
        fprintf(stderr, "echo_client: connection %u: %s%s%s\n", id, what, err ? ": " : "",
                err ? strerror(err) : "");
}

/* The message seq of connection id: recognisable bytes, so that an echo
 * from the wrong connection or of an older message is caught. */
static void fill(struct conn *c)
{
    int n = snprintf(c->msg, g_size, "c%u s%llu ", c->id, (unsigned long long)c->seq);
    if (n < 0)
        n = 0;
    for (unsigned i = (unsigned)n < g_size ? (unsigned)n : g_size; i < g_size; i++)
        c->msg[i] = (char)('a' + (c->id + c->seq + i) % 26);
    if (g_size > 0)
        c->msg[g_size - 1] = '\n';
}

static int send_msg(struct conn *c)
{
    c->seq++;
    fill(c);
    c->got = 0;
    c->sent_ns = now_ns();
    size_t off = 0;
    while (off < g_size) {
        ssize_t n = send(c->fd, c->msg + off, g_size - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("send", c->id, errno);
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

static void record(struct worker *w, uint64_t ns)
{
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 1 << 16;
        uint32_t *p = realloc(w->lat, cap * sizeof *p);
        if (!p) {
            fail("out of memory", 0, ENOMEM);
            return;
        }
        w->lat = p;
        w->caplat = cap;
    }
    w->lat[w->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        fail("epoll_create1", 0, errno);
        return NULL;
    }
    unsigned inflight = 0;
    for (unsigned i = 0; i < w->count; i++) {
        struct conn *c = &w->conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            fail("epoll_ctl", c->id, errno);
            goto out;
        }
    }
    for (unsigned i = 0; i < w->count; i++) {
        if (send_msg(&w->conns[i]) < 0)
            goto out;
        inflight++;
    }
    struct epoll_event evs[256];
    uint64_t last_progress = now_ns();
    while (inflight > 0 && !atomic_load_explicit(&g_failed, memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait", 0, errno);
            break;
        }
        uint64_t now = now_ns();
        if (n == 0) {
            if (now - last_progress > REPLY_TIMEOUT_NS) {
                fail("no reply within 10 s", w->conns[0].id, 0);
                break;
            }
            continue;
        }
        last_progress = now;
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->got, g_size - c->got, MSG_DONTWAIT);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                fail("recv", c->id, errno);
                goto out;
            }
            if (r == 0) {
                fail(c->got ? "EOF in the middle of an echo" : "EOF (server closed)", c->id, 0);
                goto out;
            }
            if (c->got + (unsigned)r < g_size && memcmp(c->in + c->got, c->msg + c->got, (size_t)r) != 0) {
                fail("wrong echo bytes", c->id, 0);
                goto out;
            }
            c->got += (unsigned)r;
            if (c->got < g_size)
                continue;
            uint64_t t = now_ns();
            if (memcmp(c->in, c->msg, g_size) != 0) {
                fail("wrong echo bytes", c->id, 0);
                goto out;
            }
            w->msgs++;
            record(w, t - c->sent_ns);
            if (t < w->end_ns) {
                if (send_msg(c) < 0)
                    goto out;
            } else {
                inflight--;
            }
        }
    }
out:
    close(ep);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int connect_one(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_client [--host H] [--port N] [--connections C] [--threads T] "
                    "[--duration D] [--size B]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *a = argv[i], *v = argv[++i];
        char *end;
        if (!strcmp(a, "--host")) {
            g_host = v;
            continue;
        }
        if (!strcmp(a, "--duration")) {
            g_duration = strtod(v, &end);
            if (*end || !(g_duration > 0))
                usage();
            continue;
        }
        unsigned long n = strtoul(v, &end, 10);
        if (*end || end == v)
            usage();
        if (!strcmp(a, "--port") && n <= 65535)
            g_port = (unsigned)n;
        else if (!strcmp(a, "--connections") && n >= 1 && n <= 1000000)
            g_conns = (unsigned)n;
        else if (!strcmp(a, "--threads") && n >= 1 && n <= 1024)
            g_threads = (unsigned)n;
        else if (!strcmp(a, "--size") && n >= 1 && n <= MAX_SIZE)
            g_size = (unsigned)n;
        else
            usage();
    }
    if (g_threads > g_conns)
        g_threads = g_conns;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_client: --host must be an IPv4 address: %s\n", g_host);
        return 2;
    }
    struct conn *conns = calloc(g_conns, sizeof *conns);
    struct worker *ws = calloc(g_threads, sizeof *ws);
    if (!conns || !ws) {
        fprintf(stderr, "echo_client: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < g_conns; i++) {
        conns[i].id = i;
        int fd = connect_one(&sa);
        if (fd < 0) {
            fprintf(stderr, "echo_client: connect %s:%u (connection %u): %s\n", g_host, g_port, i,
                    strerror(-fd));
            return 1;
        }
        conns[i].fd = fd;
    }
    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)(g_duration * 1e9);
    unsigned next = 0;
    for (unsigned t = 0; t < g_threads; t++) {
        unsigned cnt = g_conns / g_threads + (t < g_conns % g_threads);
        ws[t] = (struct worker){.first = next, .count = cnt, .conns = conns + next, .end_ns = end};
        next += cnt;
        if (pthread_create(&ws[t].th, NULL, run_worker, &ws[t]) != 0) {
            fprintf(stderr, "echo_client: pthread_create failed\n");
            return 1;
        }
    }
    uint64_t msgs = 0;
    size_t nlat = 0;
    for (unsigned t = 0; t < g_threads; t++) {
        pthread_join(ws[t].th, NULL);
        msgs += ws[t].msgs;
        nlat += ws[t].nlat;
    }
    uint64_t t1 = now_ns();
    for (unsigned i = 0; i < g_conns; i++)
        close(conns[i].fd);
    int ok = atomic_load(&g_failed) == 0 && msgs > 0;
    uint32_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
    if (!all) {
        fprintf(stderr, "echo_client: out of memory\n");
        return 1;
    }
    size_t k = 0;
    for (unsigned t = 0; t < g_threads; t++) {
        if (ws[t].nlat)
            memcpy(all + k, ws[t].lat, ws[t].nlat * sizeof *all);
        k += ws[t].nlat;
        free(ws[t].lat);
    }
    qsort(all, nlat, sizeof *all, cmp_u32);
    double p50 = nlat ? all[(size_t)((double)(nlat - 1) * 0.50)] / 1e3 : 0;
    double p99 = nlat ? all[(size_t)((double)(nlat - 1) * 0.99)] / 1e3 : 0;
    double p999 = nlat ? all[(size_t)((double)(nlat - 1) * 0.999)] / 1e3 : 0;
    double wall = (double)(t1 - t0) / 1e9;
    printf("{\"workload\":\"tcp_echo\",\"impl\":\"client\",\"connections\":%u,\"threads\":%u,"
           "\"size\":%u,\"duration_s\":%.3f,\"msgs\":%llu,\"wall_s\":%.6f,\"msgs_per_s\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"ok\":%s}\n",
           g_conns, g_threads, g_size, g_duration, (unsigned long long)msgs, wall,
           wall > 0 ? (double)msgs / wall : 0.0, p50, p99, p999, ok ? "true" : "false");
    fflush(stdout);
    free(all);
    free(ws);
    free(conns);
    return ok ? 0 : 1;
}

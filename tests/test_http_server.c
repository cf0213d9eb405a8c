/*
 * test_http_server.c — examples/http_server against real sockets: the
 * built binary (its path comes from tests/CMakeLists.txt as
 * SPOOL_HTTP_SERVER) is started on a free port for each test and driven by
 * plain blocking clients: a valid request, pipelining, keep-alive and
 * HTTP/1.0, malformed and oversized requests (400 / 431 and a close, the
 * server still serving others), slowloris clients cut off by the idle
 * timeout and by the request deadline (a body dripped byte by byte), a
 * body too long to drop (answered, then closed), empty lines before a
 * request line (ignored), and a clean exit (status 0) on SIGTERM with
 * connections open.
 */
#include "check_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SPOOL_HTTP_SERVER
#define SPOOL_HTTP_SERVER ""
#endif

/* ---- the server process -------------------------------------------------- */

struct server {
    pid_t pid;
    int err_fd;     /* its stderr (kept open: it writes there when it stops) */
    unsigned port;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts the server with --idle-ms idle_ms on port 0 and waits for its
 * "listening on 127.0.0.1:PORT" line. */
static void server_start(struct server *s, unsigned idle_ms)
{
    ck_assert_msg(access(SPOOL_HTTP_SERVER, X_OK) == 0, "http_server not built: '%s'",
                  SPOOL_HTTP_SERVER);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    char idle[16];
    snprintf(idle, sizeof idle, "%u", idle_ms);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        close(p[1]);
        const char *argv[] = {SPOOL_HTTP_SERVER, "--host", "127.0.0.1", "--port", "0", "--workers", "2",
                              "--idle-ms", idle, NULL};
        exec_built(argv);
        _exit(127);
    }
    close(p[1]);
    s->pid = pid;
    s->err_fd = p[0];
    s->port = 0;
    char line[512];
    size_t len = 0;
    double end = now_s() + 20;
    while (s->port == 0) {
        struct pollfd pfd = {.fd = s->err_fd, .events = POLLIN};
        int ms = (int)((end - now_s()) * 1000);
        ck_assert_msg(ms > 0, "no 'listening on' line within 20 s");
        ck_assert_int_ge(poll(&pfd, 1, ms), 0);
        ssize_t n = read(s->err_fd, line + len, sizeof line - 1 - len);
        ck_assert_msg(n > 0, "the server exited before listening: %.*s", (int)len, line);
        len += (size_t)n;
        line[len] = 0;
        const char *l = strstr(line, "listening on 127.0.0.1:");
        if (l && strchr(l, '\n'))
            s->port = (unsigned)atoi(l + strlen("listening on 127.0.0.1:"));
        ck_assert_uint_lt(len, sizeof line - 1);
    }
    ck_assert_uint_gt(s->port, 0);
}

/* SIGTERM; the server must exit with status 0 within 10 s. */
static void server_stop(struct server *s)
{
    ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
    int status = 0;
    double end = now_s() + 10;
    pid_t r;
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && now_s() < end)
        usleep(10000);
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        ck_abort_msg("the server did not stop within 10 s of SIGTERM");
    }
    close(s->err_fd);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server exit status 0x%x",
                  status);
}

/* ---- clients ------------------------------------------------------------- */

struct client {
    int fd;
    size_t len;
    char buf[64 * 1024];
};

static struct client *client_open(const struct server *s)
{
    struct client *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static void client_close(struct client *c)
{
    close(c->fd);
    free(c);
}

static void client_send(struct client *c, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL);
        ck_assert_msg(k > 0, "send: %s", strerror(errno));
        b += k;
        n -= (size_t)k;
    }
}

static void client_sends(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* Reads more into the buffer. Returns: bytes read, 0 on EOF, -1 on a
 * timeout, -2 on a reset. */
static int client_fill(struct client *c)
{
    ck_assert_uint_lt(c->len, sizeof c->buf);
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0)
        return errno == ECONNRESET ? -2 : -1;
    c->len += (size_t)n;
    return (int)n;
}

struct response {
    int status;
    int close;          /* Connection: close */
    char body[256];
    size_t body_len;
    char head[1024];
};

/* Reads one response (head and Content-Length body). Returns: 0, or what
 * client_fill returned when the stream ended first. */
static int client_response(struct client *c, struct response *r)
{
    memset(r, 0, sizeof *r);
    for (;;) {
        char *e = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (e) {
            size_t hlen = (size_t)(e - c->buf) + 4;
            ck_assert_uint_lt(hlen, sizeof r->head);
            memcpy(r->head, c->buf, hlen);
            r->head[hlen] = 0;
            const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
            ck_assert_ptr_nonnull(cl);
            size_t blen = (size_t)atoi(cl + 18);
            ck_assert_uint_lt(blen, sizeof r->body);
            while (c->len < hlen + blen) {
                int rc = client_fill(c);
                if (rc <= 0)
                    return rc;
            }
            ck_assert_int_eq(strncmp(r->head, "HTTP/1.1 ", 9), 0);
            r->status = atoi(r->head + 9);
            r->close = strcasestr(r->head, "\r\nConnection: close\r\n") != NULL;
            memcpy(r->body, c->buf + hlen, blen);
            r->body_len = blen;
            memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
            c->len -= hlen + blen;
            return 0;
        }
        int rc = client_fill(c);
        if (rc <= 0)
            return rc;
    }
}

/* After the last response: the server must close (EOF, or a reset) with
 * nothing more sent, within the receive timeout. */
static void expect_closed(struct client *c)
{
    int rc;
    while ((rc = client_fill(c)) > 0)
        ;
    ck_assert_msg(rc == 0 || rc == -2, "the server did not close the connection (rc %d)", rc);
    ck_assert_uint_eq(c->len, 0);
}

static void expect_hello(struct client *c)
{
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 13);
    ck_assert_int_eq(memcmp(r.body, "Hello, World!", 13), 0);
}

static const char GET[] = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* ---- tests ----------------------------------------------------------------- */

START_TEST(a_valid_request_gets_200_and_the_body_and_the_connection_stays_open)
{
    struct server s;
    server_start(&s, 10000);
    struct client *c = client_open(&s);
    client_sends(c, GET);
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17), 0);
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nContent-Type: text/plain\r\n"));
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nContent-Length: 13\r\n"));
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nServer: "));
    ck_assert_ptr_nonnull(strstr(r.head, " GMT\r\n"));
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nDate: "));
    ck_assert_int_eq(r.close, 0);
    ck_assert_uint_eq(r.body_len, 13);
    ck_assert_int_eq(memcmp(r.body, "Hello, World!", 13), 0);
    /* keep-alive: the same connection serves /, a 404, a HEAD, a 405 */
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_hello(c);
    client_sends(c, "GET /nope HTTP/1.1\r\nhost: x\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 404);
    client_sends(c, "DELETE /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 405);
    /* a request in pieces, then one with a body to discard */
    client_sends(c, "GET /plain");
    usleep(20000);
    client_sends(c, "text?x=1 HTTP/1.1\r\nHo");
    usleep(20000);
    client_sends(c, "st: x\r\n\r\n");
    expect_hello(c);
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    expect_hello(c);
    client_sends(c, GET);
    expect_hello(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(ten_pipelined_requests_in_one_send_get_ten_responses_in_order)
{
    struct server s;
    server_start(&s, 10000);
    struct client *c = client_open(&s);
    char req[4096];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(req + n, sizeof req - n, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
                              i % 3 == 2 ? "/missing" : i % 2 ? "/" : "/plaintext");
    client_send(c, req, n);
    for (int i = 0; i < 10; i++) {
        struct response r;
        ck_assert_int_eq(client_response(c, &r), 0);
        ck_assert_int_eq(r.status, i % 3 == 2 ? 404 : 200);
    }
    /* nothing more: a request still works on the connection */
    ck_assert_uint_eq(c->len, 0);
    client_sends(c, GET);
    expect_hello(c);
    /* many more pipelined than one output buffer holds */
    static char big[300 * sizeof GET];
    size_t bl = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(big + bl, GET, sizeof GET - 1);
        bl += sizeof GET - 1;
    }
    client_send(c, big, bl);
    for (int i = 0; i < 300; i++)
        expect_hello(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

/* Sends req on a new connection; expects one response of `status` (or
 * `alt`), then the close; then checks that a new client is served. */
static void bad_request(const struct server *s, const void *req, size_t n, int status, int alt)
{
    struct client *c = client_open(s);
    client_send(c, req, n);
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_msg(r.status == status || r.status == alt, "status %d for %.40s", r.status,
                  (const char *)req);
    ck_assert_int_eq(r.close, 1);
    expect_closed(c);
    client_close(c);
    c = client_open(s);
    client_sends(c, GET);
    expect_hello(c);
    client_close(c);
}

START_TEST(garbage_gets_400_and_a_close_and_the_server_serves_others)
{
    struct server s;
    server_start(&s, 10000);
    static const char *bad[] = {
        "garbage\r\n\r\n",
        "GET /plaintext\r\nHost: x\r\n\r\n",               /* no version */
        "GET  /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",     /* two spaces */
        "GET /plaintext HTTP/1.1\r\nHost x\r\n\r\n",       /* no colon */
        "GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n",     /* space before the colon */
        "GET /plaintext HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", /* obs-fold */
        "GET /plaintext HTTP/1.1\r\n\r\n",                 /* HTTP/1.1 without Host */
        "GET /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
        "GET /plaintext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /plaintext HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", /* bare CR */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        bad_request(&s, bad[i], strlen(bad[i]), 400, 400);
    /* binary junk without a line end is refused at once */
    static const char junk[] = {'\x16', '\x03', '\x01', '\x00', '\xa5', '\x01'};
    bad_request(&s, junk, sizeof junk, 400, 400);
    /* an unknown major version */
    static const char v2[] = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
    bad_request(&s, v2, sizeof v2 - 1, 505, 400);
    /* a good request pipelined before the garbage is answered first */
    struct client *c = client_open(&s);
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD REQUEST\r\n\r\n");
    expect_hello(c);
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 400);
    expect_closed(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(an_oversized_header_block_gets_431_and_a_close)
{
    struct server s;
    server_start(&s, 10000);
    for (int round = 0; round < 2; round++) {
        /* round 0: 9 KiB in one header; round 1: 40 KiB, more than the
         * server reads before it answers */
        size_t fill = round ? 40 * 1024 : 9 * 1024;
        char *req = malloc(fill + 128);
        ck_assert_ptr_nonnull(req);
        size_t n = (size_t)sprintf(req, "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(req + n, 'a', fill);
        n += fill;
        memcpy(req + n, "\r\n\r\n", 4);
        n += 4;
        bad_request(&s, req, n, 431, 400);
        free(req);
    }
    /* many small header lines */
    static char many[120 * 12 + 64];
    size_t n = (size_t)sprintf(many, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 120; i++)
        n += (size_t)sprintf(many + n, "X-%03d: v\r\n", i);
    n += (size_t)sprintf(many + n, "\r\n");
    bad_request(&s, many, n, 431, 400);
    /* a request line alone past the limit */
    char *line = malloc(10 * 1024);
    ck_assert_ptr_nonnull(line);
    memcpy(line, "GET /", 5);
    memset(line + 5, 'a', 10 * 1024 - 5);
    bad_request(&s, line, 10 * 1024, 431, 400);
    free(line);
    server_stop(&s);
}
END_TEST

START_TEST(a_slowloris_client_is_cut_off_after_the_idle_timeout)
{
    struct server s;
    server_start(&s, 300);
    /* a partial request, then nothing */
    struct client *slow = client_open(&s);
    double t0 = now_s();
    client_sends(slow, "GET /plaintext HTTP/1.1\r\nHost: x\r\n");
    /* meanwhile others are served */
    struct client *c = client_open(&s);
    client_sends(c, GET);
    expect_hello(c);
    client_close(c);
    struct response r;
    int rc = client_response(slow, &r);
    if (rc == 0) {
        ck_assert_int_eq(r.status, 408);
        expect_closed(slow);
    } else {
        ck_assert_msg(rc == 0 || rc == -2, "not cut off (rc %d)", rc);
    }
    double dt = now_s() - t0;
    ck_assert_msg(dt >= 0.25 && dt < 5.0, "cut off after %.3f s (idle 0.3 s)", dt);
    client_close(slow);

    /* one that drips a byte every 50 ms: the request must be complete
     * within the idle time of its first byte */
    slow = client_open(&s);
    t0 = now_s();
    static const char drip[] = "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int cut = 0;
    for (size_t i = 0; i < sizeof drip - 1 && !cut; i++) {
        if (send(slow->fd, drip + i, 1, MSG_NOSIGNAL) != 1)
            cut = 1;
        struct pollfd pfd = {.fd = slow->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) > 0)
            cut = 1;
    }
    dt = now_s() - t0;
    ck_assert_msg(cut, "a dripping client was not cut off in %.3f s", dt);
    ck_assert_msg(dt < 2.0, "cut off after %.3f s (idle 0.3 s)", dt);
    client_close(slow);

    /* an idle keep-alive connection is closed too, without a response */
    c = client_open(&s);
    client_sends(c, GET);
    expect_hello(c);
    t0 = now_s();
    expect_closed(c);
    dt = now_s() - t0;
    ck_assert_msg(dt >= 0.25 && dt < 5.0, "idle close after %.3f s", dt);
    client_close(c);
    server_stop(&s);
}
END_TEST

/* Sends body bytes one at a time, 50 ms apart, until the server closes
 * the connection (a send fails, or EOF / a reset is readable) or `max`
 * bytes went out. Returns: 1 if it was closed. */
static int drip_until_closed(struct client *c, int max)
{
    for (int i = 0; i < max; i++) {
        if (send(c->fd, "x", 1, MSG_NOSIGNAL) != 1)
            return 1;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) > 0) {
            int rc = client_fill(c);
            ck_assert_msg(rc == 0 || rc == -2, "data after the response (rc %d)", rc);
            return 1;
        }
    }
    return 0;
}

START_TEST(a_body_dripped_byte_by_byte_is_cut_off_by_the_request_deadline)
{
    struct server s;
    server_start(&s, 300);
    struct client *c = client_open(&s);
    /* The request is answered once its headers are in; its body must
     * then come within the request's deadline (0.3 s from its first
     * byte). 200 drips of 50 ms (10 s) are a hang guard, not a timing
     * claim. */
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    expect_hello(c);
    ck_assert_msg(drip_until_closed(c, 200), "a body dripped byte by byte was never cut off");
    client_close(c);
    /* The server serves others. */
    c = client_open(&s);
    client_sends(c, GET);
    expect_hello(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(a_body_too_long_to_drop_is_answered_then_the_connection_closed)
{
    struct server s;
    server_start(&s, 60000); /* the request deadline is not what closes it */
    struct client *c = client_open(&s);
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\nabc");
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.close, 1);
    ck_assert_msg(drip_until_closed(c, 200), "the connection stayed open to drain the body");
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(empty_lines_before_a_request_line_are_ignored)
{
    struct server s;
    server_start(&s, 10000);
    struct client *c = client_open(&s);
    client_sends(c, "\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_hello(c);
    /* after a request (a body's stray CRLF), bare LFs, and split CRLF */
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n");
    expect_hello(c);
    client_sends(c, "\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\r");
    expect_hello(c);
    usleep(20000);
    client_sends(c, "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_hello(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(http_1_0_closes_after_the_response_unless_keep_alive)
{
    struct server s;
    server_start(&s, 10000);
    struct client *c = client_open(&s);
    double t0 = now_s();
    client_sends(c, "GET /plaintext HTTP/1.0\r\n\r\n");
    struct response r;
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(memcmp(r.body, "Hello, World!", 13), 0);
    expect_closed(c);
    ck_assert_msg(now_s() - t0 < 5.0, "closed only after %.3f s", now_s() - t0);
    client_close(c);

    c = client_open(&s);
    for (int i = 0; i < 3; i++) {
        client_sends(c, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        ck_assert_int_eq(client_response(c, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nConnection: keep-alive\r\n"));
    }
    /* and HTTP/1.1 with Connection: close */
    client_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.close, 1);
    expect_closed(c);
    client_close(c);
    server_stop(&s);
}
END_TEST

START_TEST(sigterm_stops_the_server_with_connections_open)
{
    struct server s;
    server_start(&s, 60000);
    struct client *cs[20];
    for (int i = 0; i < 20; i++) {
        cs[i] = client_open(&s);
        client_sends(cs[i], i % 2 ? GET : "GET / HTTP/1.1\r\n"); /* half mid-request */
        if (i % 2)
            expect_hello(cs[i]);
    }
    server_stop(&s); /* exit status 0 */
    for (int i = 0; i < 20; i++) {
        int rc;
        while ((rc = client_fill(cs[i])) > 0)
            ;
        ck_assert_msg(rc == 0 || rc == -2, "connection %d still open after exit", i);
        client_close(cs[i]);
    }
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http_server");
    ADD_TEST(s, a_valid_request_gets_200_and_the_body_and_the_connection_stays_open);
    ADD_TEST(s, ten_pipelined_requests_in_one_send_get_ten_responses_in_order);
    ADD_TEST(s, garbage_gets_400_and_a_close_and_the_server_serves_others);
    ADD_TEST(s, an_oversized_header_block_gets_431_and_a_close);
    ADD_TEST(s, a_slowloris_client_is_cut_off_after_the_idle_timeout);
    ADD_TEST(s, a_body_dripped_byte_by_byte_is_cut_off_by_the_request_deadline);
    ADD_TEST(s, a_body_too_long_to_drop_is_answered_then_the_connection_closed);
    ADD_TEST(s, empty_lines_before_a_request_line_are_ignored);
    ADD_TEST(s, http_1_0_closes_after_the_response_unless_keep_alive);
    ADD_TEST(s, sigterm_stops_the_server_with_connections_open);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return check_main(http_suite, 120);
}

/*
 * http_server.c — an HTTP/1.1 server for TechEmpower's plaintext test:
 * `GET /plaintext` (and `GET /`) answer 200 `Hello, World!` with Server,
 * Date, Content-Type and Content-Length headers. One task per connection,
 * every wait through io_uring. The C twin of bench/asyncio/http_server.py.
 *
 *   http_server [--host 127.0.0.1] [--port 8080] [--workers N] [--idle-ms 10000]
 *               [--tls CERT KEY]
 *
 * --tls serves HTTPS instead: CERT is the PEM certificate chain, KEY its
 * private key. Each connection's task runs the TLS handshake (within the
 * idle timeout) and then reads and writes through a spool_stream carrying
 * the session: the same loop, decrypted. Closing sends close_notify. The
 * library must have been built with OpenSSL 3 (spool_tls_available()).
 *
 * Behaviour
 *   - keep-alive by default for HTTP/1.1; HTTP/1.0 closes after the
 *     response unless the request says `Connection: keep-alive`;
 *     `Connection: close` closes after the response.
 *   - pipelining: every complete request in the buffer is answered, in
 *     order, and the responses of one read go out in one send.
 *   - 400 Bad Request and close on a malformed request line or header
 *     (bare CR, control bytes, obs-fold, a space before the colon, a bad
 *     Content-Length, Transfer-Encoding (not supported), HTTP/1.1 without
 *     exactly one Host); 505 for an HTTP version other than 1.x; 431 and
 *     close when the header block passes 8 KiB or 100 header lines.
 *   - 404 for other paths, 405 for methods other than GET and HEAD.
 *   - empty lines before a request line are ignored (RFC 9112 §2.2).
 *   - a request body (Content-Length) of up to 64 KiB is read and
 *     discarded; a longer one is not read: the response says
 *     `Connection: close` and the connection closes after it.
 *   - idle timeout (--idle-ms): a connection with no request in progress
 *     is closed after that long without data; a request begun must be
 *     complete — request line, headers and body — within that long of its
 *     first byte (empty lines before it included), else the connection
 *     closes, with a 408 if the headers were not complete: a slowloris
 *     client that drips bytes, into the headers or into a body, is cut
 *     off too.
 *   - a connection whose task cannot start (no memory for its stack) is
 *     answered 503 if the socket takes it at once, and closed: the
 *     accept loop spawns with spool_spawn_owned, whose drop closes the fd.
 *   - SIGINT / SIGTERM: stop accepting, cancel the connections, exit 0.
 *   - prints "backend: DRIVER" (spool_backend_name(): io_uring or epoll)
 *     and "listening on HOST:PORT" on stderr when it accepts (--port 0:
 *     the port the kernel picked).
 *
 * Memory: one 32 KiB record per connection (input and output buffers),
 * with --tls the session too (OpenSSL's, and spool's 52 KiB of network
 * buffers); nothing allocated per request.
 *
 * The request parser is in http_parse.c / http_parse.h (plain C, no
 * spool), which tests/fuzz/fuzz_http_parse.c fuzzes; build the two
 * together:
 *   cc http_server.c http_parse.c $(pkg-config --cflags --libs --static spool)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <spool/spool.h>

#include "http_parse.h" /* parse_request: the request line and headers */

#define IN_CAP (16 * 1024)    /* input buffer: > HDR_LIMIT, so a read always has room */
#define OUT_CAP (16 * 1024)   /* output buffer: one send per read, flushed early if full */
#define MAX_RESPONSE 512      /* the longest response we build */
#define LINGER_NS (1 * SPOOL_SEC)
#define LINGER_BYTES (256 * 1024)
#define BODY_DISCARD_MAX (64 * 1024) /* the longest body dropped to keep the connection */
#define REQ_BEGUN 1                  /* serve's req_deadline: see there */

static const char *opt_host = "127.0.0.1";
static unsigned opt_port = 8080;
static unsigned opt_workers = 0;
static uint64_t idle_ns = 10 * SPOOL_SEC;
static int listen_fd = -1;
static sigset_t stop_signals;  /* SIGINT, SIGTERM: blocked in every thread */
static spool_tls_ctx *tls_ctx; /* --tls: the server's TLS context, else NULL */

/* ---- the Date header: formatted once a second per thread ---------------- */

/* Copies the current IMF-fixdate (29 bytes) to out. noinline: the task may
 * move to another worker between two calls, so the thread-local cache's
 * address must be computed afresh inside each call, never kept across a
 * wait by the caller. */
__attribute__((noinline)) static void http_date(char out[29])
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[32];
    time_t now = time(NULL);
    if (now != cached_sec) {
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(cached, sizeof cached, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        cached_sec = now;
    }
    memcpy(out, cached, 29);
}

/* ---- responses ------------------------------------------------------------ */

static const char HEAD_200[] = "HTTP/1.1 200 OK\r\n"
                               "Server: spool\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 13\r\n"
                               "Date: ";
static const char BODY_200[] = "Hello, World!";

struct conn {
    int fd;
    int tls;         /* 1: reads and writes go through s's TLS session */
    spool_stream s;  /* --tls: the stream carrying the session */
    unsigned char sbuf[1]; /* its buffer: never used (every read asks for more) */
    size_t len;      /* bytes in in[] */
    size_t olen;     /* bytes in out[] */
    char date[29];   /* the Date of this batch */
    char in[IN_CAP];
    char out[OUT_CAP];
};

#define PUT(c, lit)                                        \
    do {                                                   \
        memcpy((c)->out + (c)->olen, (lit), sizeof(lit) - 1); \
        (c)->olen += sizeof(lit) - 1;                      \
    } while (0)

/* The connection header a response carries: none when the version's
 * default holds. */
static void put_connection(struct conn *c, int minor, int keep)
{
    if (!keep)
        PUT(c, "Connection: close\r\n");
    else if (minor == 0)
        PUT(c, "Connection: keep-alive\r\n");
}

static void put_ok(struct conn *c, const struct request *r)
{
    PUT(c, HEAD_200);
    memcpy(c->out + c->olen, c->date, 29);
    c->olen += 29;
    PUT(c, "\r\n");
    put_connection(c, r->minor, r->keep_alive);
    PUT(c, "\r\n");
    if (r->method != M_HEAD)
        PUT(c, BODY_200);
}

static void put_error(struct conn *c, int status, int minor, int keep, int head)
{
    const char *reason;
    switch (status) {
    case 400: reason = "Bad Request"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 408: reason = "Request Timeout"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 505: reason = "HTTP Version Not Supported"; break;
    default: reason = "Error"; break;
    }
    int n = snprintf(c->out + c->olen, OUT_CAP - c->olen,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: spool\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n"
                     "Date: %.29s\r\n"
                     "%s%s\r\n"
                     "%s%s",
                     status, reason, strlen(reason) + 1, c->date,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     !keep ? "Connection: close\r\n" : minor == 0 ? "Connection: keep-alive\r\n" : "",
                     head ? "" : reason, head ? "" : "\n");
    if (n > 0 && (size_t)n < OUT_CAP - c->olen)
        c->olen += (size_t)n;
}

/* Sends out[] (within the idle timeout: a client that does not read is
 * dropped). Returns: 0, or a negative errno. */
static int flush(struct conn *c)
{
    if (c->olen == 0)
        return 0;
    spool_timeout to;
    spool_timeout_enter(&to, idle_ns);
    int rc = c->tls ? spool_stream_write(&c->s, c->out, c->olen) : spool_send_all(c->fd, c->out, c->olen, 0);
    spool_timeout_exit(&to);
    c->olen = 0;
    return rc < 0 ? rc : 0;
}

/* Closes after our last response: shut the write side, then read (and
 * drop) what the client still sends for a moment, so that unread input
 * does not turn the close into a reset that could destroy the response
 * before the client reads it. */
static void linger_close(struct conn *c)
{
    if (c->tls) {
        spool_timeout to;
        spool_timeout_enter(&to, LINGER_NS < idle_ns ? LINGER_NS : idle_ns);
        int rc = spool_stream_tls_shutdown(&c->s); /* close_notify */
        spool_timeout_exit(&to);
        if (rc < 0)
            return;
    }
    if (spool_shutdown(c->fd, SHUT_WR) == 0) {
        spool_timeout to;
        spool_timeout_enter(&to, LINGER_NS < idle_ns ? LINGER_NS : idle_ns);
        size_t total = 0;
        int n;
        while (total < LINGER_BYTES && (n = spool_recv(c->fd, c->in, IN_CAP, 0)) > 0)
            total += (size_t)n;
        spool_timeout_exit(&to);
    }
}

/* ---- a connection ----------------------------------------------------------- */

/* Turns a connection away without serving it: a 503 if the socket takes
 * it at once (MSG_DONTWAIT: this never waits, so it may run in no task),
 * then close(2). */
static void refuse(int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Server: spool\r\n"
                               "Content-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    (void)send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
}

/* serve's drop (spool_spawn_owned): its task could not start, so serve
 * never runs and the fd is ours to close. Runs on a worker in no task. */
static void serve_never_ran(void *arg)
{
    refuse((int)(intptr_t)arg);
}

static int serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct conn *c = malloc(sizeof *c);
    if (!c) {
        refuse(fd);
        return 0;
    }
    c->fd = fd;
    c->len = 0;
    c->olen = 0;
    c->tls = 0;
    if (tls_ctx) {
        /* The handshake, within the idle timeout. The stream's buffer is
         * one byte: every read below asks for more than that, so it goes
         * straight into in[] (spool_stream_read). */
        spool_stream_init(&c->s, fd, c->sbuf, sizeof c->sbuf);
        spool_timeout to;
        spool_timeout_enter(&to, idle_ns);
        int rc = spool_stream_tls_accept(&c->s, tls_ctx);
        spool_timeout_exit(&to);
        if (rc < 0) {
            spool_stream_tls_free(&c->s); /* the handshake shut the socket down */
            close(fd);
            free(c);
            return 0;
        }
        c->tls = 1;
    }
    uint64_t discard = 0;      /* body bytes of the current request still to drop */
    /* When the current request (from its first byte, empty lines before
     * it included, through its headers and its body) must be complete;
     * 0: none in progress (the connection is idle); REQ_BEGUN: one began
     * in the read being processed, and gets its deadline after it only if
     * it is still in progress then (one that a read holds whole never
     * reads the clock). */
    uint64_t req_deadline = 0;
    int closing = 0;           /* 1: close (lingering) after the flush */

    while (!closing) {
        spool_timeout to;
        spool_timeout_enter_at(&to, req_deadline ? req_deadline : spool_now_ns() + idle_ns);
        int n = c->tls ? spool_stream_read(&c->s, c->in + c->len, IN_CAP - c->len)
                       : spool_recv(fd, c->in + c->len, IN_CAP - c->len, 0);
        spool_timeout_exit(&to);
        if (n <= 0) {
            /* Out of time: headers not complete get a 408; a body being
             * dropped belongs to a request answered already, and a
             * connection with nothing pending just closes. */
            if (n == -ETIMEDOUT && c->len > 0 && !discard) {
                http_date(c->date);
                put_error(c, 408, 1, 0, 0);
                flush(c);
                linger_close(c);
            }
            break;
        }
        c->len += (size_t)n;
        http_date(c->date);

        size_t pos = 0;
        while (pos < c->len) {
            if (!req_deadline)
                req_deadline = REQ_BEGUN; /* the first byte of a request */
            if (discard) {
                size_t d = c->len - pos < discard ? c->len - pos : (size_t)discard;
                pos += d;
                discard -= d;
                if (!discard)
                    req_deadline = 0; /* the request is complete */
                continue;
            }
            /* RFC 9112 §2.2: ignore empty lines before a request line
             * (a lone CR at the end waits for its LF, in parse_request). */
            if (c->in[pos] == '\n') {
                pos++;
                continue;
            }
            if (c->in[pos] == '\r' && pos + 1 < c->len && c->in[pos + 1] == '\n') {
                pos += 2;
                continue;
            }
            struct request r;
            int rc = parse_request(c->in + pos, c->len - pos, &r);
            if (rc == PARSE_INCOMPLETE)
                break;
            if (OUT_CAP - c->olen < MAX_RESPONSE && flush(c) < 0) {
                closing = 2;
                break;
            }
            if (rc < 0) {
                put_error(c, -rc, 1, 0, 0);
                closing = 1;
                pos = c->len;
                break;
            }
            pos += (size_t)rc;
            discard = r.content_length;
            if (!discard)
                req_deadline = 0; /* the request is complete */
            else if (discard > BODY_DISCARD_MAX)
                r.keep_alive = 0; /* not read: answer, then close */
            if ((r.path_len == 10 && memcmp(r.path, "/plaintext", 10) == 0) ||
                (r.path_len == 1 && r.path[0] == '/')) {
                if (r.method == M_OTHER)
                    put_error(c, 405, r.minor, r.keep_alive, 0);
                else
                    put_ok(c, &r);
            } else {
                put_error(c, 404, r.minor, r.keep_alive, r.method == M_HEAD);
            }
            if (!r.keep_alive) {
                closing = 1;
                break;
            }
        }
        if (closing == 2)
            break;
        /* keep the partial request that follows */
        size_t left = c->len - pos;
        if (left && pos)
            memmove(c->in, c->in + pos, left);
        c->len = left;
        if (req_deadline == REQ_BEGUN)
            req_deadline = spool_now_ns() + idle_ns; /* it goes on past this read */
        if (flush(c) < 0)
            break;
        if (closing)
            linger_close(c);
    }
    if (c->tls)
        spool_stream_tls_free(&c->s);
    close(fd);
    free(c);
    return 0;
}

/* ---- accepting, signals, main ------------------------------------------- */

/* Accepts from l, a task per connection, until cancelled. */
static int accept_conns(spool_listener *l)
{
    for (;;) {
        int fd = spool_listener_accept(l, NULL, NULL);
        if (fd < 0) {
            if (fd == -ECANCELED || spool_cancelled())
                return 0;
            if (fd == -EBADF || fd == -EINVAL)
                return fd; /* the listening socket is broken */
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS || fd == -EBUSY) {
                if (spool_sleep_ms(10) == -ECANCELED)
                    return 0;
            }
            continue; /* ECONNABORTED and the like: the next one */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* The task owns fd from here: serve closes it, or serve_never_ran
         * if the task cannot start (or the spawn fails: then at once). */
        spool_task *t = spool_spawn_owned(serve, (void *)(intptr_t)fd, serve_never_ran);
        if (!t) {
            if (spool_sleep_ms(10) == -ECANCELED)
                return 0; /* out of memory: let some connections end */
            continue;
        }
        spool_detach(t);
    }
}

/* The accept loop: one multishot accept (a spool_listener) for the
 * server's life. */
static int acceptor(void *arg)
{
    (void)arg;
    spool_listener *l = spool_listener_open(listen_fd);
    if (!l)
        return -errno;
    int rc = accept_conns(l);
    spool_listener_close(l); /* not a cancellation point */
    return rc;
}

static int main_task(void *arg)
{
    (void)arg;
    listen_fd = spool_tcp_listen(opt_host, opt_port, 4096);
    if (listen_fd < 0) {
        fprintf(stderr, "http_server: cannot listen on %s:%u: %s\n", opt_host, opt_port,
                spool_strerror(listen_fd));
        return 1;
    }
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    unsigned port = opt_port;
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &slen) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    spool_task *acc = spool_spawn(acceptor, NULL);
    if (!acc) {
        fprintf(stderr, "http_server: out of memory\n");
        return 1;
    }
    spool_detach(acc);
    fprintf(stderr, "backend: %s\nlistening on %s:%u\n", spool_backend_name(), opt_host, port);

    /* Until SIGINT or SIGTERM (blocked in every thread: main blocked them
     * before spool_run). */
    int sig = spool_signal_wait(&stop_signals);
    if (sig > 0)
        fprintf(stderr, "http_server: signal %d, stopping\n", sig);
    else
        fprintf(stderr, "http_server: spool_signal_wait: %s\n", spool_strerror(sig));
    return 0; /* spool_run cancels the acceptor and the connections */
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *e;
    errno = 0;
    unsigned long v = strtoul(s, &e, 10);
    if (errno || *s == '\0' || *e != '\0' || *s == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: http_server [--host H] [--port P] [--workers N] [--idle-ms MS] [--tls CERT KEY]\n"
               "  --host     address to bind (default 127.0.0.1)\n"
               "  --port     TCP port (default 8080; 0: any free port)\n"
               "  --workers  worker threads (default 0: one per CPU)\n"
               "  --idle-ms  idle timeout per connection, and the time a request\n"
               "             (headers and body) has from its first byte (default 10000)\n"
               "  --tls      serve HTTPS with this certificate chain and key (PEM files)\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned long v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--tls") == 0) {
            if (i + 2 >= argc) {
                usage(stderr);
                return 2;
            }
            int rc = tls_ctx ? -EINVAL : spool_tls_ctx_new(&tls_ctx, SPOOL_TLS_SERVER);
            if (rc == 0)
                rc = spool_tls_ctx_use_cert_file(tls_ctx, argv[i + 1], argv[i + 2]);
            if (rc < 0) {
                fprintf(stderr, "http_server: --tls %s %s: %s%s%s\n", argv[i + 1], argv[i + 2],
                        spool_strerror(rc), tls_ctx ? ": " : "",
                        tls_ctx ? spool_tls_ctx_error(tls_ctx) : "");
                spool_tls_ctx_free(tls_ctx);
                return 2;
            }
            const char *alpn[] = {"http/1.1"};
            spool_tls_ctx_set_alpn(tls_ctx, alpn, 1);
            i += 2;
            continue;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--host") == 0) {
            opt_host = val;
        } else if (strcmp(a, "--port") == 0 && parse_uint(val, 65535, &v) == 0) {
            opt_port = (unsigned)v;
        } else if (strcmp(a, "--workers") == 0 && parse_uint(val, SPOOL_MAX_WORKERS, &v) == 0) {
            opt_workers = (unsigned)v;
        } else if (strcmp(a, "--idle-ms") == 0 && parse_uint(val, 86400000UL, &v) == 0 && v > 0) {
            idle_ns = (uint64_t)v * SPOOL_MSEC;
        } else {
            fprintf(stderr, "http_server: bad argument %s %s\n", a, val);
            usage(stderr);
            return 2;
        }
    }
    tables_init();

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* before spool_run: workers inherit it */

    spool_config cfg = {.workers = opt_workers};
    int rc = spool_run(main_task, NULL, &cfg);
    if (listen_fd >= 0)
        close(listen_fd);
    spool_tls_ctx_free(tls_ctx);
    if (rc < 0) {
        fprintf(stderr, "http_server: %s\n", spool_strerror(rc));
        return 1;
    }
    return rc;
}

/*
 * test_tls.c — TLS streams (io/tls.c) on OpenSSL 3: spool client and
 * spool server over a socketpair (readline / readexactly / write, ALPN,
 * close_notify as a clean EOF, a few MiB both ways at once), against the
 * real programs `openssl s_client`, `openssl s_server` and `curl` (the
 * HTTPS example), refusals with a clear error and reason (wrong hostname,
 * expired certificate, unknown CA), a handshake with a peer that never
 * speaks, timed out and cancelled, an EOF without close_notify, a write
 * cut off mid-record that breaks the session, STARTTLS (bytes buffered
 * before the handshake), and a server that requires a client certificate.
 *
 * The keys and certificates are made at start by tests/tls_certs.sh (the
 * openssl command) in a temporary directory. Built without TLS, or without
 * the openssl command, every test says it skips (loudly) and passes.
 *
 * Loop tests run _i = 0, 1: workers = 1 + _i.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"

static char dir[64];          /* the certificates: "" none (skip) */
static pid_t maker_pid;       /* who made dir (and removes it at exit) */
static char path_buf[8][256];

/* DIR/name (a few at once: a ring of buffers). */
static const char *P(const char *name)
{
    static int k;
    char *b = path_buf[k++ & 7];
    snprintf(b, sizeof path_buf[0], "%s/%s", dir, name);
    return b;
}

#define SKIP_UNLESS_TLS()                                                                  \
    do {                                                                                   \
        if (!dir[0]) {                                                                     \
            fprintf(stderr, "test_tls: SKIPPED %s: %s\n", __func__,                        \
                    spool_tls_available() ? "no openssl command" : "built without TLS");   \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static void remove_dir(void)
{
    if (dir[0] && getpid() == maker_pid) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_tls: could not remove %s\n", dir);
    }
}

static void make_certs(void)
{
    if (!spool_tls_available())
        return;
    if (system("openssl version >/dev/null 2>&1") != 0)
        return;
    snprintf(dir, sizeof dir, "/tmp/spool-tls-XXXXXX");
    if (!mkdtemp(dir)) { /* outside a test: no ck_assert here */
        perror("test_tls: mkdtemp");
        abort();
    }
    maker_pid = getpid();
    atexit(remove_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/tls_certs.sh '%s'", SPOOL_TESTS_DIR, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_tls: tests/tls_certs.sh failed\n");
        abort();
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- contexts ------------------------------------------------------------ */

static spool_tls_ctx *server_ctx(const char *name)
{
    spool_tls_ctx *c;
    ck_assert_int_eq(spool_tls_ctx_new(&c, SPOOL_TLS_SERVER), 0);
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    int rc = spool_tls_ctx_use_cert_file(c, P(cert), P(key));
    ck_assert_msg(rc == 0, "use_cert_file: %d %s", rc, spool_tls_ctx_error(c));
    return c;
}

static spool_tls_ctx *client_ctx(int with_ca)
{
    spool_tls_ctx *c;
    ck_assert_int_eq(spool_tls_ctx_new(&c, SPOOL_TLS_CLIENT), 0);
    if (with_ca)
        ck_assert_int_eq(spool_tls_ctx_load_ca(c, P("ca.pem"), NULL), 0);
    return c;
}

/* ---- one connection over a socketpair, both ends in this process --------- */

struct end {
    spool_tls_ctx *ctx;
    int fd;
    const char *name;     /* the client's server_name */
    spool_stream s;
    unsigned char buf[4096];
    int hs;               /* the handshake's result */
    char err[256];        /* its reason */
    int (*body)(struct end *e); /* after a handshake that succeeded */
    int result;
    struct end *peer;
};

static int handshake(struct end *e, int server)
{
    ck_assert_int_eq(spool_stream_init(&e->s, e->fd, e->buf, sizeof e->buf), 0);
    e->hs = server ? spool_stream_tls_accept(&e->s, e->ctx) : spool_stream_tls_connect(&e->s, e->ctx, e->name);
    const char *why = spool_stream_tls_error(&e->s);
    snprintf(e->err, sizeof e->err, "%s", why ? why : "");
    return e->hs;
}

static int end_task(void *arg, int server)
{
    struct end *e = arg;
    if (handshake(e, server) == 0 && e->body)
        e->result = e->body(e);
    spool_stream_tls_free(&e->s);
    return 0;
}

static int server_task(void *arg) { return end_task(arg, 1); }
static int client_task(void *arg) { return end_task(arg, 0); }

struct pair {
    struct end srv, cli;
};

static int pair_main(void *arg)
{
    struct pair *p = arg;
    spool_task *t1 = spool_spawn(server_task, &p->srv);
    spool_task *t2 = spool_spawn(client_task, &p->cli);
    ck_assert_ptr_nonnull(t1);
    ck_assert_ptr_nonnull(t2);
    spool_join(t1);
    spool_join(t2);
    return 0;
}

/* Runs a server (certificate `cert`) and a client (trusting the test CA if
 * with_ca, connecting to `name`) over a socketpair on `workers` workers. */
static void run_pair(struct pair *p, unsigned workers, const char *cert, int with_ca, const char *name)
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    p->srv.fd = fds[0];
    p->cli.fd = fds[1];
    p->srv.ctx = server_ctx(cert);
    p->cli.ctx = client_ctx(with_ca);
    p->cli.name = name;
    p->srv.peer = &p->cli;
    p->cli.peer = &p->srv;
    ck_assert_int_eq(run_on(workers, pair_main, p), 0);
    close(fds[0]);
    close(fds[1]);
    spool_tls_ctx_free(p->srv.ctx);
    spool_tls_ctx_free(p->cli.ctx);
}

/* Runs srv_body and cli_body over a pair that shakes hands with the
 * localhost certificate (the client trusting the test CA) on `workers`
 * workers, and checks that both handshakes succeeded. The caller checks
 * the bodies' results and frees the pair. */
static struct pair *run_bodies(int (*srv_body)(struct end *), int (*cli_body)(struct end *), unsigned workers)
{
    struct pair *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    p->srv.body = srv_body;
    p->cli.body = cli_body;
    run_pair(p, workers, "localhost", 1, "localhost");
    ck_assert_msg(p->srv.hs == 0 && p->cli.hs == 0, "handshake: %s / %s", p->srv.err, p->cli.err);
    return p;
}

/* ---- the tests ----------------------------------------------------------- */

static int echo_server(struct end *e)
{
    char line[128];
    int n = spool_stream_readline(&e->s, line, sizeof line);
    if (n != 6 || memcmp(line, "hello\n", 6) != 0)
        return -1000;
    char block[1000];
    if (spool_stream_readexactly(&e->s, block, sizeof block, NULL) != (int)sizeof block)
        return -1001;
    for (size_t i = 0; i < sizeof block; i++)
        if (block[i] != (char)(i * 7))
            return -1002;
    const char *alpn = spool_stream_tls_alpn(&e->s);
    if (!alpn || strcmp(alpn, "http/1.1") != 0)
        return -1003;
    if (spool_stream_write(&e->s, "world\n", 6) != 6)
        return -1004;
    n = spool_stream_read(&e->s, line, sizeof line); /* the client's close_notify */
    if (n != 0)
        return n < 0 ? n : -1005;
    return spool_stream_tls_shutdown(&e->s);
}

static int echo_client(struct end *e)
{
    const char *alpn = spool_stream_tls_alpn(&e->s);
    if (!alpn || strcmp(alpn, "http/1.1") != 0)
        return -2000;
    char block[1000];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)(i * 7);
    if (spool_stream_write(&e->s, "hello\n", 6) != 6 ||
        spool_stream_write(&e->s, block, sizeof block) != (int)sizeof block)
        return -2001;
    char line[128];
    int n = spool_stream_readline(&e->s, line, sizeof line);
    if (n != 6 || memcmp(line, "world\n", 6) != 0)
        return -2002;
    int rc = spool_stream_tls_shutdown(&e->s);
    if (rc)
        return rc;
    if (spool_stream_write(&e->s, "x", 1) != -EPIPE)
        return -2003;
    n = spool_stream_read(&e->s, line, sizeof line); /* the server's close_notify */
    return n == 0 ? 0 : n < 0 ? n : -2004;
}

START_TEST(client_and_server_talk_with_alpn_and_close_notify_is_a_clean_eof)
{
    SKIP_UNLESS_TLS();
    struct pair *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    p->srv.body = echo_server;
    p->cli.body = echo_client;
    /* ALPN: the server prefers h2, the client offers http/1.1 only. */
    const char *srv_alpn[] = {"h2", "http/1.1"}, *cli_alpn[] = {"http/1.1"};
    int fds[2];
    spool_tls_ctx *sc = server_ctx("localhost"), *cc = client_ctx(1);
    ck_assert_int_eq(spool_tls_ctx_set_alpn(sc, srv_alpn, 2), 0);
    ck_assert_int_eq(spool_tls_ctx_set_alpn(cc, cli_alpn, 1), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    p->srv.fd = fds[0];
    p->cli.fd = fds[1];
    p->srv.ctx = sc;
    p->cli.ctx = cc;
    p->cli.name = "localhost";
    ck_assert_int_eq(run_on(1 + (unsigned)_i, pair_main, p), 0);
    ck_assert_msg(p->srv.hs == 0 && p->cli.hs == 0, "handshake: server %d (%s), client %d (%s)",
                  p->srv.hs, p->srv.err, p->cli.hs, p->cli.err);
    ck_assert_int_eq(p->srv.result, 0);
    ck_assert_int_eq(p->cli.result, 0);
    close(fds[0]);
    close(fds[1]);
    spool_tls_ctx_free(sc);
    spool_tls_ctx_free(cc);
    free(p);
}
END_TEST

/* ---- a few MiB both ways at once ----------------------------------------- */

#define BIG ((size_t)(SANITIZED ? 1 : 4) << 20)

static unsigned char pattern(size_t i, int who)
{
    return (unsigned char)((i * 31 + (i >> 13) + (unsigned)who * 101) & 0xff);
}

struct writer_arg {
    spool_stream *s;
    int who;
};

static int big_writer(void *arg)
{
    struct writer_arg *w = arg;
    unsigned char *chunk = malloc(100000);
    if (!chunk)
        return -ENOMEM;
    size_t off = 0;
    int rc = 0;
    while (off < BIG && rc >= 0) {
        size_t n = BIG - off < 100000 ? BIG - off : 100000;
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(off + i, w->who);
        rc = spool_stream_write(w->s, chunk, n);
        off += n;
    }
    free(chunk);
    return rc < 0 ? rc : 0;
}

static int big_both_ways(struct end *e)
{
    int me = e->name != NULL; /* the client has a name */
    struct writer_arg w = {&e->s, me};
    spool_task *t = spool_spawn(big_writer, &w);
    if (!t)
        return -ENOMEM;
    unsigned char buf[7000];
    size_t got = 0;
    int bad = 0;
    while (got < BIG) {
        int n = spool_stream_read(&e->s, buf, sizeof buf);
        if (n <= 0) {
            bad = n < 0 ? n : -3000;
            break;
        }
        for (int i = 0; i < n; i++)
            if (buf[i] != pattern(got + (size_t)i, !me))
                bad = -3001;
        got += (size_t)n;
    }
    int wrc = spool_join(t);
    if (bad)
        return bad;
    return wrc;
}

START_TEST(a_few_mib_both_ways_at_once_arrive_intact)
{
    SKIP_UNLESS_TLS();
    struct pair *p = run_bodies(big_both_ways, big_both_ways, 1 + (unsigned)_i);
    ck_assert_int_eq(p->srv.result, 0);
    ck_assert_int_eq(p->cli.result, 0);
    free(p);
}
END_TEST

/* ---- refusals ------------------------------------------------------------ */

/* A read that must fail: the peer refused us after our handshake ended. */
static int reader_expects_refusal(struct end *e)
{
    char b[16];
    int n = spool_stream_read(&e->s, b, sizeof b);
    const char *why = spool_stream_tls_error(&e->s);
    snprintf(e->err, sizeof e->err, "%s", why ? why : "");
    return n;
}

static void refused(const char *cert, int with_ca, const char *name, int want, const char *reason)
{
    struct pair *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    run_pair(p, 2, cert, with_ca, name);
    ck_assert_msg(p->cli.hs == want, "client handshake %d (%s), want %d", p->cli.hs, p->cli.err, want);
    ck_assert_msg(strstr(p->cli.err, reason), "reason '%s' lacks '%s'", p->cli.err, reason);
    ck_assert_msg(p->srv.hs < 0, "the server's handshake should fail too: %d", p->srv.hs);
    free(p);
}

START_TEST(a_wrong_hostname_is_refused_with_a_reason)
{
    SKIP_UNLESS_TLS();
    refused("wrong", 1, "localhost", -EKEYREJECTED, "hostname mismatch");
    refused("localhost", 1, "other.example", -EKEYREJECTED, "hostname mismatch");
    refused("localhost", 1, "127.0.0.2", -EKEYREJECTED, "IP address mismatch");
}
END_TEST

START_TEST(an_expired_certificate_is_refused)
{
    SKIP_UNLESS_TLS();
    refused("expired", 1, "localhost", -EKEYEXPIRED, "certificate has expired");
}
END_TEST

START_TEST(an_unknown_ca_is_refused_and_verification_can_be_turned_off)
{
    SKIP_UNLESS_TLS();
    refused("localhost", 0, "localhost", -EKEYREJECTED, "certificate verify failed");
    /* The explicit opt-out: any certificate, any name. */
    struct pair *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    p->srv.fd = fds[0];
    p->cli.fd = fds[1];
    p->srv.ctx = server_ctx("wrong");
    p->cli.ctx = client_ctx(0);
    ck_assert_int_eq(spool_tls_ctx_set_verify(p->cli.ctx, SPOOL_TLS_VERIFY_HOSTNAME), -EINVAL);
    ck_assert_int_eq(spool_tls_ctx_set_verify(p->cli.ctx, SPOOL_TLS_REQUIRE_PEER_CERT), -EINVAL);
    ck_assert_int_eq(spool_tls_ctx_set_verify(p->cli.ctx, 0), 0);
    p->cli.name = NULL;
    ck_assert_int_eq(run_on(2, pair_main, p), 0);
    ck_assert_msg(p->cli.hs == 0 && p->srv.hs == 0, "%s / %s", p->cli.err, p->srv.err);
    close(fds[0]);
    close(fds[1]);
    spool_tls_ctx_free(p->srv.ctx);
    spool_tls_ctx_free(p->cli.ctx);
    free(p);
}
END_TEST

/* In a task: the calls that check their stream there. */
static int bad_streams(void *arg)
{
    spool_tls_ctx *cli = arg;
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    spool_stream s;
    unsigned char buf[64];
    ck_assert_int_eq(spool_stream_init(&s, fds[0], buf, sizeof buf), 0);
    /* Hostnames are checked: a name is needed. */
    ck_assert_int_eq(spool_stream_tls_connect(&s, cli, NULL), -EINVAL);
    ck_assert_int_eq(spool_stream_tls_connect(&s, cli, ""), -EINVAL);
    ck_assert_ptr_null(s.tls);
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(spool_stream_init(&s, fds[0], buf, sizeof buf), 0);
    ck_assert_int_eq(spool_stream_tls_connect(&s, cli, "localhost"), -ENOTSOCK);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

START_TEST(bad_arguments_and_files_are_clear_errors)
{
    SKIP_UNLESS_TLS();
    spool_tls_ctx *c = NULL;
    ck_assert_int_eq(spool_tls_ctx_new(NULL, SPOOL_TLS_CLIENT), -EINVAL);
    ck_assert_int_eq(spool_tls_ctx_new(&c, 7), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(spool_tls_ctx_new(&c, SPOOL_TLS_SERVER), 0);
    ck_assert_int_eq(spool_tls_ctx_use_cert_file(c, P("nonexistent.pem"), NULL), -ENOENT);
    ck_assert_str_ne(spool_tls_ctx_error(c), "");
    ck_assert_int_eq(spool_tls_ctx_use_cert_file(c, P("localhost.pem"), P("wrong.key")), -EINVAL);
    ck_assert_msg(strlen(spool_tls_ctx_error(c)) > 0, "no reason");
    ck_assert_int_eq(spool_tls_ctx_use_cert_pem(c, "junk", 4, NULL, 0), -EINVAL);
    const char *empty[] = {""};
    ck_assert_int_eq(spool_tls_ctx_set_alpn(c, empty, 1), -EINVAL);
    ck_assert_int_eq(spool_tls_ctx_set_alpn(c, NULL, 1), -EINVAL);
    ck_assert_int_eq(spool_tls_ctx_load_ca_pem(c, "junk", 4), -EINVAL);
    /* From memory: the same files, read here. */
    char cert[8192], key[8192], ca[8192];
    FILE *f;
    size_t nc, nk, na;
    ck_assert_ptr_nonnull(f = fopen(P("localhost.pem"), "r"));
    nc = fread(cert, 1, sizeof cert, f);
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(P("localhost.key"), "r"));
    nk = fread(key, 1, sizeof key, f);
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(P("ca.pem"), "r"));
    na = fread(ca, 1, sizeof ca, f);
    fclose(f);
    ck_assert_int_eq(spool_tls_ctx_use_cert_pem(c, cert, nc, key, nk), 0);
    ck_assert_int_eq(spool_tls_ctx_load_ca_pem(c, ca, na), 0);
    /* Outside a task, or with a context of the wrong role. */
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    spool_stream s;
    unsigned char buf[64];
    ck_assert_int_eq(spool_stream_init(&s, fds[0], buf, sizeof buf), 0);
    ck_assert_int_eq(spool_stream_tls_accept(&s, c), -EPERM);
    ck_assert_int_eq(spool_stream_tls_connect(&s, c, "localhost"), -EINVAL);
    ck_assert_int_eq(spool_stream_tls_shutdown(&s), -EINVAL);
    ck_assert_ptr_null(spool_stream_tls_error(&s));
    ck_assert_ptr_null(spool_stream_tls_alpn(&s));
    spool_stream_tls_free(&s); /* no session: nothing */
    close(fds[0]);
    close(fds[1]);
    spool_tls_ctx_free(c);
    c = client_ctx(1);
    ck_assert_int_eq(run_on(1, bad_streams, c), 0);
    spool_tls_ctx_free(c);
}
END_TEST

/* ---- STARTTLS: bytes buffered before the handshake are its first --------- */

struct starttls {
    spool_tls_ctx *sctx, *cctx;
    int fds[2];
    int srv, cli;
    size_t buffered; /* what the server's stream held when it began TLS */
};

static int starttls_server(void *arg)
{
    struct starttls *t = arg;
    spool_stream s;
    unsigned char buf[4096];
    char line[64];
    spool_stream_init(&s, t->fds[0], buf, sizeof buf);
    spool_sleep_ms(100); /* the ClientHello follows the line: one read takes both */
    int rc = spool_stream_readline(&s, line, sizeof line);
    if (rc != 9 || memcmp(line, "STARTTLS\n", 9) != 0)
        return t->srv = -8000;
    t->buffered = spool_stream_buffered(&s);
    rc = spool_stream_tls_accept(&s, t->sctx);
    if (rc == 0)
        rc = spool_stream_readline(&s, line, sizeof line) == 7 && memcmp(line, "secret\n", 7) == 0 ? 0 : -8001;
    spool_stream_tls_free(&s);
    return t->srv = rc;
}

static int starttls_client(void *arg)
{
    struct starttls *t = arg;
    spool_stream s;
    unsigned char buf[4096];
    spool_stream_init(&s, t->fds[1], buf, sizeof buf);
    int rc = spool_stream_write(&s, "STARTTLS\n", 9);
    if (rc >= 0)
        rc = spool_stream_tls_connect(&s, t->cctx, "localhost");
    if (rc >= 0)
        rc = spool_stream_write(&s, "secret\n", 7);
    spool_stream_tls_free(&s);
    return t->cli = rc < 0 ? rc : 0;
}

static int starttls_main(void *arg)
{
    spool_task *a = spool_spawn(starttls_server, arg), *b = spool_spawn(starttls_client, arg);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    spool_join(a);
    spool_join(b);
    return 0;
}

START_TEST(starttls_takes_the_bytes_buffered_before_it)
{
    SKIP_UNLESS_TLS();
    struct starttls t = {.sctx = server_ctx("localhost"), .cctx = client_ctx(1)};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.fds), 0);
    ck_assert_int_eq(run_on(2, starttls_main, &t), 0);
    ck_assert_int_eq(t.srv, 0);
    ck_assert_int_eq(t.cli, 0);
    if (t.buffered == 0)
        fprintf(stderr, "test_tls: note: the ClientHello came after the line this time\n");
    close(t.fds[0]);
    close(t.fds[1]);
    spool_tls_ctx_free(t.sctx);
    spool_tls_ctx_free(t.cctx);
}
END_TEST

/* ---- mutual TLS: a server that requires a client certificate ------------ */

START_TEST(a_server_requiring_a_client_certificate_refuses_a_client_without_one)
{
    SKIP_UNLESS_TLS();
    for (int with_cert = 0; with_cert < 2; with_cert++) {
        struct pair *p = calloc(1, sizeof *p);
        ck_assert_ptr_nonnull(p);
        int fds[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        p->srv.fd = fds[0];
        p->cli.fd = fds[1];
        p->srv.ctx = server_ctx("localhost");
        ck_assert_int_eq(spool_tls_ctx_load_ca(p->srv.ctx, P("ca.pem"), NULL), 0);
        ck_assert_int_eq(spool_tls_ctx_set_verify(p->srv.ctx, SPOOL_TLS_REQUIRE_PEER_CERT), 0);
        p->cli.ctx = client_ctx(1);
        if (with_cert)
            ck_assert_int_eq(spool_tls_ctx_use_cert_file(p->cli.ctx, P("wrong.pem"), P("wrong.key")), 0);
        p->cli.name = "localhost";
        p->srv.body = p->cli.body = NULL;
        /* TLS 1.3: the client's handshake ends before the server has
         * checked its certificate; the refusal reaches the client as an
         * alert on its first read. */
        p->cli.body = with_cert ? NULL : reader_expects_refusal;
        ck_assert_int_eq(run_on(2, pair_main, p), 0);
        if (with_cert) {
            ck_assert_msg(p->srv.hs == 0 && p->cli.hs == 0, "%s / %s", p->srv.err, p->cli.err);
        } else {
            ck_assert_msg(p->srv.hs == -EKEYREJECTED, "server %d (%s)", p->srv.hs, p->srv.err);
            ck_assert_msg(strstr(p->srv.err, "certificate"), "reason: %s", p->srv.err);
            ck_assert_int_eq(p->cli.hs == 0 ? p->cli.result : p->cli.hs, -EPROTO);
        }
        close(fds[0]);
        close(fds[1]);
        spool_tls_ctx_free(p->srv.ctx);
        spool_tls_ctx_free(p->cli.ctx);
        free(p);
    }
}
END_TEST

/* ---- a peer that never speaks: time-out and cancellation ----------------- */

struct mute {
    spool_tls_ctx *ctx;
    int fd;           /* ours */
    int peer;         /* the mute peer's end */
    uint64_t timeout; /* the timed-out scene's */
    int rc;
    char err[256];
};

static int mute_connect(void *arg)
{
    struct mute *m = arg;
    spool_stream s;
    unsigned char buf[256];
    spool_stream_init(&s, m->fd, buf, sizeof buf);
    m->rc = spool_stream_tls_connect(&s, m->ctx, "localhost");
    const char *why = spool_stream_tls_error(&s);
    snprintf(m->err, sizeof m->err, "%s", why ? why : "");
    /* A failed session fails every call after. */
    if (spool_stream_write(&s, "x", 1) != -ECONNABORTED || spool_stream_read(&s, buf, 1) != -ECONNABORTED)
        m->rc = -4000;
    spool_stream_tls_free(&s);
    return 0;
}

static int mute_timeout_main(void *arg)
{
    struct mute *m = arg;
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, m->timeout), 0);
    mute_connect(m);
    spool_timeout_exit(&to);
    return 0;
}

static int mute_cancel_main(void *arg)
{
    struct mute *m = arg;
    spool_task *t = spool_spawn(mute_connect, m);
    ck_assert_ptr_nonnull(t);
    /* Cancelled once the ClientHello is out: the handshake then waits
     * for an answer that never comes (a fixed sleep was not enough under
     * qemu, where making the ClientHello takes longer). */
    ck_assert_int_ge(spool_poll(m->peer, POLLIN), 0);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    spool_join(t);
    return 0;
}

/* The peer sees the connection end (shutdown), after our ClientHello if
 * any came. Returns: the bytes that came before the end. */
static size_t hello_then_eof(int fd)
{
    unsigned char b[4096];
    size_t total = 0;
    double end = now_s() + 60;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ck_assert_msg(now_s() < end, "no EOF after the handshake gave up");
        ck_assert_int_ge(poll(&pfd, 1, 1000), 0);
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n > 0) {
            if (total == 0)
                ck_assert_int_eq(b[0], 0x16); /* a handshake record */
            total += (size_t)n;
        }
    }
    return total;
}

START_TEST(a_handshake_with_a_mute_peer_times_out_or_is_cancelled_and_ends_the_connection)
{
    SKIP_UNLESS_TLS();
    /* The timed-out scene is meant to end in the wait for the server's
     * answer: one whose deadline passed before the ClientHello was out
     * (nothing came: a slow machine) is played again with twice the
     * timeout; the cancelled scene cancels only once the hello is out. */
    uint64_t timeout = 100 * SPOOL_MSEC;
    for (int cancel = 0; cancel < 2; cancel++) {
        int fds[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        struct mute m = {.ctx = client_ctx(1), .fd = fds[0], .peer = fds[1], .timeout = timeout};
        ck_assert_int_eq(run_on(1 + (unsigned)_i, cancel ? mute_cancel_main : mute_timeout_main, &m), 0);
        ck_assert_msg(m.rc == (cancel ? -ECANCELED : -ETIMEDOUT), "rc %d (%s)", m.rc, m.err);
        ck_assert_msg(strlen(m.err) > 0, "no reason");
        size_t hello = hello_then_eof(fds[1]);
        close(fds[0]);
        close(fds[1]);
        spool_tls_ctx_free(m.ctx);
        if (!cancel && hello == 0 && timeout < 30 * SPOOL_SEC) {
            timeout *= 2;
            cancel--; /* the timed-out scene again */
            continue;
        }
        ck_assert_msg(hello > 0, "the peer saw no ClientHello");
    }
}
END_TEST

/* ---- EOF without close_notify; a write cut off mid-record ---------------- */

static int reader_sees_truncation(struct end *e)
{
    char b[64];
    int n = spool_stream_readline(&e->s, b, sizeof b);
    if (n != 4)
        return -5000;
    n = spool_stream_read(&e->s, b, sizeof b);
    if (n != -ECONNRESET)
        return n < 0 ? n - 10000 : -5001;
    if (!strstr(spool_stream_tls_error(&e->s), "unexpected EOF"))
        return -5002;
    return spool_stream_read(&e->s, b, sizeof b) == -ECONNRESET ? 0 : -5003; /* sticky */
}

static int writer_then_cut(struct end *e)
{
    if (spool_stream_write(&e->s, "abc\n", 4) != 4)
        return -5100;
    shutdown(e->fd, SHUT_WR); /* EOF, no close_notify */
    return 0;
}

START_TEST(an_eof_without_close_notify_is_not_a_clean_eof)
{
    SKIP_UNLESS_TLS();
    struct pair *p = run_bodies(reader_sees_truncation, writer_then_cut, 1 + (unsigned)_i);
    ck_assert_int_eq(p->cli.result, 0);
    ck_assert_int_eq(p->srv.result, 0);
    free(p);
}
END_TEST

static int write_into_a_full_socket(struct end *e)
{
    size_t n = 8 << 20;
    unsigned char *big = calloc(1, n);
    if (!big)
        return -ENOMEM;
    spool_timeout to;
    spool_timeout_enter(&to, 100 * SPOOL_MSEC);
    int rc = spool_stream_write(&e->s, big, n); /* the peer does not read */
    spool_timeout_exit(&to);
    free(big);
    if (rc != -ETIMEDOUT)
        return rc < 0 ? rc - 10000 : -6000;
    if (!strstr(spool_stream_tls_error(&e->s), "mid-record"))
        return -6001;
    char b[4];
    if (spool_stream_write(&e->s, "x", 1) != -ECONNABORTED || spool_stream_read(&e->s, b, 1) != -ECONNABORTED ||
        spool_stream_tls_shutdown(&e->s) != -ECONNABORTED)
        return -6002;
    shutdown(e->fd, SHUT_RDWR);
    return 0;
}

static int idle_until_eof(struct end *e)
{
    /* Reads nothing until the writer gave up; then drains to the EOF. */
    spool_sleep_ms(300);
    char b[4096];
    int n;
    while ((n = spool_recv(e->fd, b, sizeof b, 0)) > 0)
        ;
    return n;
}

START_TEST(a_write_cut_off_mid_record_breaks_the_session)
{
    SKIP_UNLESS_TLS();
    struct pair *p = run_bodies(idle_until_eof, write_into_a_full_socket, 1 + (unsigned)_i);
    ck_assert_int_eq(p->cli.result, 0);
    free(p);
}
END_TEST

/* ---- real programs: openssl s_client, openssl s_server, curl ------------- */

/* Starts argv with stdin from a pipe (*in, or /dev/null if in is NULL) and
 * stdout into a pipe (*out). */
static pid_t start_prog(const char *const argv[], int *in, int *out)
{
    int pi[2], po[2];
    ck_assert_int_eq(pipe2(pi, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (in) {
            dup2(pi[0], 0);
        } else {
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, 0);
        }
        dup2(po[1], 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pi[0]);
    close(po[1]);
    if (in)
        *in = pi[1];
    else
        close(pi[1]);
    *out = po[0];
    return pid;
}

/* Everything on fd until EOF (hang guard: 60 s), NUL-terminated. */
static void read_all(int fd, char *b, size_t cap)
{
    size_t len = 0;
    double end = now_s() + 60;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ck_assert_msg(now_s() < end, "the program's output did not end: '%.*s'", (int)len, b);
        ck_assert_int_ge(poll(&pfd, 1, 1000), 0);
        ssize_t n = read(fd, b + len, cap - 1 - len);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
        ck_assert_uint_lt(len, cap - 1);
    }
    b[len] = 0;
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    double end = now_s() + 60;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_s() < end)
        usleep(10000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("a program did not exit");
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A TCP listener on 127.0.0.1, any port (spool_tcp_listen resolves on
 * the blocking pool: task context). */
static int listen_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    return fd;
}

static unsigned local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

struct srv_one {
    int lfd;
    spool_tls_ctx *ctx;
    int rc;
    char alpn[32];
    char err[256];
};

static int serve_one(void *arg)
{
    struct srv_one *o = arg;
    int fd = spool_accept(o->lfd, NULL, NULL);
    if (fd < 0)
        return o->rc = fd;
    spool_stream s;
    unsigned char buf[1024];
    spool_stream_init(&s, fd, buf, sizeof buf);
    int rc = spool_stream_tls_accept(&s, o->ctx);
    if (rc == 0) {
        const char *a = spool_stream_tls_alpn(&s);
        snprintf(o->alpn, sizeof o->alpn, "%s", a ? a : "");
        char line[64];
        rc = spool_stream_readline(&s, line, sizeof line);
        if (rc == 5 && memcmp(line, "ping\n", 5) == 0)
            rc = spool_stream_write(&s, "pong\n", 5);
        else if (rc >= 0)
            rc = -7000;
        if (rc >= 0)
            rc = spool_stream_tls_shutdown(&s);
    }
    const char *why = spool_stream_tls_error(&s);
    snprintf(o->err, sizeof o->err, "%s", why ? why : "");
    spool_stream_tls_free(&s);
    close(fd);
    return o->rc = rc;
}

START_TEST(a_spool_server_talks_to_openssl_s_client)
{
    SKIP_UNLESS_TLS();
    struct srv_one o = {.ctx = server_ctx("localhost")};
    const char *alpn[] = {"spool-test", "http/1.1"};
    ck_assert_int_eq(spool_tls_ctx_set_alpn(o.ctx, alpn, 2), 0);
    o.lfd = listen_local();
    ck_assert_int_ge(o.lfd, 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", local_port(o.lfd));
    const char *argv[] = {"openssl", "s_client", "-connect", target, "-CAfile", P("ca.pem"),
                          "-verify_return_error", "-servername", "localhost", "-verify_hostname",
                          "localhost", "-alpn", "http/1.1", "-quiet", NULL};
    int in, out;
    pid_t pid = start_prog(argv, &in, &out);
    ck_assert_int_eq(write(in, "ping\n", 5), 5);
    ck_assert_int_eq(run_on(1 + (unsigned)_i, serve_one, &o), 0);
    ck_assert_msg(o.rc == 0, "server: %d (%s)", o.rc, o.err);
    ck_assert_str_eq(o.alpn, "http/1.1");
    char got[4096];
    read_all(out, got, sizeof got);
    close(in);
    ck_assert_msg(strstr(got, "pong\n"), "s_client printed '%s'", got);
    ck_assert_int_eq(wait_exit(pid), 0); /* it saw our close_notify and closed cleanly */
    close(out);
    close(o.lfd);
    spool_tls_ctx_free(o.ctx);
}
END_TEST

struct cli_one {
    unsigned port;
    spool_tls_ctx *ctx;
    int rc;
    char reply[64];
    char err[256];
};

static int client_one(void *arg)
{
    struct cli_one *c = arg;
    int fd = -1;
    uint64_t end = spool_now_ns() + HANG_GUARD_NS;
    while ((fd = spool_tcp_connect("127.0.0.1", c->port)) < 0 && spool_now_ns() < end)
        spool_sleep_ms(20); /* until s_server listens */
    if (fd < 0)
        return c->rc = fd;
    spool_stream s;
    unsigned char buf[1024];
    spool_stream_init(&s, fd, buf, sizeof buf);
    int rc = spool_stream_tls_connect(&s, c->ctx, "localhost");
    if (rc == 0)
        rc = spool_stream_write(&s, "hello\n", 6);
    if (rc >= 0)
        rc = spool_stream_readline(&s, c->reply, sizeof c->reply - 1);
    if (rc >= 0)
        c->reply[rc] = 0;
    if (rc >= 0)
        rc = spool_stream_tls_shutdown(&s);
    const char *why = spool_stream_tls_error(&s);
    snprintf(c->err, sizeof c->err, "%s", why ? why : "");
    spool_stream_tls_free(&s);
    close(fd);
    return c->rc = rc;
}

/* A port that was free a moment ago (s_server cannot say which it took). */
static unsigned free_port(void)
{
    int fd = listen_local();
    ck_assert_int_ge(fd, 0);
    unsigned port = local_port(fd);
    close(fd);
    return port;
}

START_TEST(a_spool_client_talks_to_openssl_s_server)
{
    SKIP_UNLESS_TLS();
    struct cli_one c = {.ctx = client_ctx(1), .port = free_port()};
    char accept[64];
    snprintf(accept, sizeof accept, "127.0.0.1:%u", c.port);
    /* -rev: each line comes back reversed; -naccept 1: one connection. */
    const char *argv[] = {"openssl", "s_server", "-accept", accept, "-naccept", "1", "-rev", "-cert",
                          P("localhost.pem"), "-key", P("localhost.key"), "-quiet", NULL};
    int out;
    pid_t pid = start_prog(argv, NULL, &out);
    ck_assert_int_eq(run_on(1 + (unsigned)_i, client_one, &c), 0);
    ck_assert_msg(c.rc == 0, "client: %d (%s)", c.rc, c.err);
    ck_assert_str_eq(c.reply, "olleh\n");
    ck_assert_int_eq(wait_exit(pid), 0);
    close(out);
    spool_tls_ctx_free(c.ctx);
}
END_TEST

START_TEST(curl_gets_hello_from_the_https_example)
{
    SKIP_UNLESS_TLS();
    if (system("curl --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_tls: SKIPPED: no curl\n");
        return;
    }
    ck_assert_msg(access(SPOOL_HTTP_SERVER, X_OK) == 0, "http_server not built");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        close(p[1]);
        const char *argv[] = {SPOOL_HTTP_SERVER, "--port", "0", "--workers", "2", "--tls",
                              P("localhost.pem"), P("localhost.key"), NULL};
        exec_built(argv);
        _exit(127);
    }
    close(p[1]);
    char line[1024];
    size_t len = 0;
    unsigned port = 0;
    double end = now_s() + 60;
    while (!port) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        ck_assert_msg(now_s() < end, "no 'listening on' line");
        ck_assert_int_ge(poll(&pfd, 1, 1000), 0);
        ssize_t n = read(p[0], line + len, sizeof line - 1 - len);
        ck_assert_msg(n != 0, "the server exited: %.*s", (int)len, line);
        if (n > 0)
            len += (size_t)n;
        line[len] = 0;
        const char *l = strstr(line, "listening on 127.0.0.1:");
        if (l && strchr(l, '\n'))
            port = (unsigned)atoi(l + strlen("listening on 127.0.0.1:"));
    }
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/plaintext", port);
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%u:127.0.0.1", port);
    /* Two requests on one connection (keep-alive), then a plain-HTTP
     * client is refused (the server speaks only TLS there). */
    const char *argv[] = {"curl", "-sS", "--max-time", "60", "--cacert", P("ca.pem"), "--resolve",
                          resolve, url, url, NULL};
    int out;
    pid_t cp = start_prog(argv, NULL, &out);
    char got[4096];
    read_all(out, got, sizeof got);
    close(out);
    ck_assert_int_eq(wait_exit(cp), 0);
    ck_assert_str_eq(got, "Hello, World!Hello, World!");
    /* A wrong CA: curl refuses the server. */
    const char *argv2[] = {"curl", "-sS", "--max-time", "60", "--resolve", resolve, url, NULL};
    cp = start_prog(argv2, NULL, &out);
    read_all(out, got, sizeof got);
    close(out);
    ck_assert_int_ne(wait_exit(cp), 0);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(pid), 0);
    close(p[0]);
}
END_TEST

static Suite *tls_suite(void)
{
    make_certs();
    if (!dir[0])
        fprintf(stderr, "test_tls: SKIPPING every test: %s\n",
                spool_tls_available() ? "no openssl command" : "spool was built without TLS");
    Suite *s = suite_create("tls");
    ADD_LOOP_TEST(s, client_and_server_talk_with_alpn_and_close_notify_is_a_clean_eof, 2);
    ADD_LOOP_TEST(s, a_few_mib_both_ways_at_once_arrive_intact, 2);
    ADD_TEST(s, a_wrong_hostname_is_refused_with_a_reason);
    ADD_TEST(s, an_expired_certificate_is_refused);
    ADD_TEST(s, an_unknown_ca_is_refused_and_verification_can_be_turned_off);
    ADD_TEST(s, bad_arguments_and_files_are_clear_errors);
    ADD_TEST(s, starttls_takes_the_bytes_buffered_before_it);
    ADD_TEST(s, a_server_requiring_a_client_certificate_refuses_a_client_without_one);
    ADD_LOOP_TEST(s, a_handshake_with_a_mute_peer_times_out_or_is_cancelled_and_ends_the_connection, 2);
    ADD_LOOP_TEST(s, an_eof_without_close_notify_is_not_a_clean_eof, 2);
    ADD_LOOP_TEST(s, a_write_cut_off_mid_record_breaks_the_session, 2);
    ADD_LOOP_TEST(s, a_spool_server_talks_to_openssl_s_client, 2);
    ADD_LOOP_TEST(s, a_spool_client_talks_to_openssl_s_server, 2);
    ADD_TEST(s, curl_gets_hello_from_the_https_example);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = check_main(tls_suite, 0);
    return rc == 0 && !dir[0] ? 77 : rc; /* every test skipped: ctest says so (SKIP_RETURN_CODE) */
}

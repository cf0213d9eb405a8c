/*
 * test_stream.c — spool_stream (io/stream.c) over socketpairs and pipes,
 * on 1 and 2 workers: buffered reads, readexactly's count at a short EOF
 * and, without a count, its all or nothing (a timed-out, cancelled or
 * short read consumes nothing), readline / readuntil however the bytes
 * arrive, the limit (-EMSGSIZE consumes nothing), whole writes with
 * backpressure against a slow reader, and cancelled or timed-out reads
 * that lose no byte.
 *
 * Loop tests run _i = 0..3: workers = 1 + (_i & 1), a pipe when _i & 2
 * (else a socketpair).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_util.h"

/* A one-way channel: rd is read, wr written (for a socketpair, the two
 * ends; for a pipe, its two fds). */
struct chan {
    int rd, wr;
    int pipe;
};

static void chan_open(struct chan *c, int pipe)
{
    int fds[2];
    c->pipe = pipe;
    if (pipe)
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    else
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    c->rd = fds[0];
    c->wr = fds[1];
}

/* The writer's end closed: the reader sees EOF (shutdown for a
 * socketpair, so the fd stays valid for the reader's checks). */
static void chan_eof(struct chan *c)
{
    if (c->wr >= 0)
        close(c->wr);
    c->wr = -1;
}

static void chan_close(struct chan *c)
{
    chan_eof(c);
    close(c->rd);
}

/* A plain write of all of str (small: the pipe or socket takes it). */
static void put(int fd, const char *str)
{
    size_t n = strlen(str);
    ck_assert_int_eq(write(fd, str, n), (ssize_t)n);
}

static int run_case(int i, spool_fn fn)
{
    return run_on(1 + (unsigned)(i & 1), fn, (void *)(intptr_t)((i & 2) != 0));
}

/* ---- read ---------------------------------------------------------------- */

static int main_read(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[8], dst[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);
    put(c.wr, "hello world");
    ck_assert_int_eq(spool_stream_read(&s, dst, 3), 3); /* fills 8, hands over 3 */
    ck_assert_int_eq(memcmp(dst, "hel", 3), 0);
    ck_assert_uint_eq(spool_stream_buffered(&s), 5);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 5); /* the buffer only */
    ck_assert_int_eq(memcmp(dst, "lo wo", 5), 0);
    ck_assert_uint_eq(spool_stream_buffered(&s), 0);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 3); /* straight into dst */
    ck_assert_int_eq(memcmp(dst, "rld", 3), 0);
    ck_assert_int_eq(spool_stream_read(&s, dst, 0), 0);
    chan_eof(&c);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 0);
    ck_assert_int_eq(spool_stream_read(&s, dst, 1), 0); /* EOF is sticky */
    chan_close(&c);
    return 0;
}

START_TEST(read_hands_over_buffered_bytes_first_and_returns_0_at_eof)
{
    ck_assert_int_eq(run_case(_i, main_read), 0);
}
END_TEST

/* ---- readexactly ---------------------------------------------------------------- */

struct dribble {
    int fd;
    const char *data;
    size_t chunk; /* bytes per write */
    int close_after;
};

/* Writes data in `chunk`-byte pieces with a yield or a short sleep
 * between them, then closes the fd if asked. */
static int dribble(void *arg)
{
    struct dribble *d = arg;
    size_t n = strlen(d->data);
    uint64_t rng = 7 + n;
    for (size_t off = 0; off < n; off += d->chunk) {
        size_t k = n - off < d->chunk ? n - off : d->chunk;
        if (spool_write(d->fd, d->data + off, k, -1) != (int)k)
            return -EIO;
        if (xorshift(&rng) & 1)
            spool_yield();
        else
            spool_sleep_ms(1);
    }
    if (d->close_after)
        close(d->fd);
    return 0;
}

static int main_readexactly(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[4], dst[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);
    struct dribble d = {.fd = c.wr, .data = "abcdefghijklmnopqrstuvwxyz0123456789", .chunk = 3,
                        .close_after = 1};
    spool_task *w = spool_spawn(dribble, &d);
    size_t got = 99;
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 2, &got), 2); /* through the buffer */
    ck_assert_uint_eq(got, 2);
    ck_assert_int_eq(memcmp(dst, "ab", 2), 0);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 20, &got), 20); /* mostly straight */
    ck_assert_uint_eq(got, 20);
    ck_assert_int_eq(memcmp(dst, "cdefghijklmnopqrstuv", 20), 0);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 0, &got), 0);
    /* 14 bytes are left: asking for 30 is a short EOF that says how many came. */
    memset(dst, 0, sizeof dst);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 30, &got), -ENODATA);
    ck_assert_uint_eq(got, 14);
    ck_assert_int_eq(memcmp(dst, "wxyz0123456789", 14), 0);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 1, &got), -ENODATA);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(spool_join(w), 0);
    c.wr = -1; /* closed by dribble */
    ck_assert_int_eq(spool_stream_readexactly(&s, NULL, 1, &got), -EINVAL);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, (size_t)INT32_MAX + 1, &got), -EINVAL);
    chan_close(&c);
    return 0;
}

START_TEST(readexactly_returns_n_or_enodata_with_the_count_that_came)
{
    ck_assert_int_eq(run_case(_i, main_readexactly), 0);
}
END_TEST

/* Bytes waiting in fd's kernel queue (written, not yet read by anyone). */
static int pending_in(int fd)
{
    int n = -1;
    ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
    return n;
}

/* readexactly(s, dst, 10, got) in a timeout scope, with 4 of the 10 bytes
 * in the fd and the rest never coming: returns its result once the read
 * has taken the 4 bytes from the fd before its deadline passed (if the
 * deadline came first, on a slow machine, it tries again with twice the
 * time; the bytes are still in the fd then). */
static int timed_out_readexactly(spool_stream *s, int rd, char *dst, size_t *got)
{
    for (uint64_t ms = 20;; ms *= 2) {
        spool_timeout to;
        ck_assert_int_eq(spool_timeout_enter(&to, ms * SPOOL_MSEC), 0);
        int rc = spool_stream_readexactly(s, dst, 10, got);
        ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
        if (pending_in(rd) == 0)
            return rc;
        ck_assert_msg(ms < 60000, "the 4 bytes were never read from the fd"); /* a hang guard */
    }
}

/* A blocked readexactly without a count, cancelled once it has surely
 * taken the 4 bytes written so far from the fd. */
struct whole_reader {
    spool_stream *s;
    char dst[16];
    int rc;
};

static int read_whole_10(void *arg)
{
    struct whole_reader *w = arg;
    w->rc = spool_stream_readexactly(w->s, w->dst, 10, NULL);
    return w->rc;
}

static int main_readexactly_whole(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[16], dst[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);

    /* Timed out after 4 of 10 bytes: nothing consumed, dst untouched;
     * the next read gets the 4 bytes, then the rest. */
    put(c.wr, "abcd");
    memset(dst, 'X', sizeof dst);
    ck_assert_int_eq(timed_out_readexactly(&s, c.rd, dst, NULL), -ETIMEDOUT);
    ck_assert_uint_eq(spool_stream_buffered(&s), 4);
    ck_assert_int_eq(dst[0], 'X');
    put(c.wr, "efghij");
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 10, NULL), 10);
    ck_assert_int_eq(memcmp(dst, "abcdefghij", 10), 0);
    ck_assert_uint_eq(spool_stream_buffered(&s), 0);

    /* The same, cancelled: the reader waits, 4 bytes come, the reader
     * takes them from the fd (the handshake: the fd's queue is empty
     * again), then it is cancelled. */
    struct whole_reader w = {.s = &s};
    memset(w.dst, 'X', sizeof w.dst);
    spool_task *t = spool_spawn(read_whole_10, &w);
    ck_assert_ptr_nonnull(t);
    put(c.wr, "klmn");
    uint64_t guard = spool_now_ns() + 60 * SPOOL_SEC;
    while (pending_in(c.rd) != 0) {
        ck_assert_msg(spool_now_ns() < guard, "the reader never took the bytes"); /* a hang guard */
        spool_sleep_ms(1);
    }
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(w.dst[0], 'X');
    ck_assert_uint_eq(spool_stream_buffered(&s), 4);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 4);
    ck_assert_int_eq(memcmp(dst, "klmn", 4), 0);

    /* With a count, the documented behaviour: the 4 bytes are the
     * caller's, stored in dst and consumed. */
    put(c.wr, "opqr");
    size_t got = 99;
    ck_assert_int_eq(timed_out_readexactly(&s, c.rd, dst, &got), -ETIMEDOUT);
    ck_assert_uint_eq(got, 4);
    ck_assert_int_eq(memcmp(dst, "opqr", 4), 0);
    ck_assert_uint_eq(spool_stream_buffered(&s), 0);

    /* Without a count, more than the buffer holds: -EINVAL, nothing
     * consumed. */
    put(c.wr, "stu");
    ck_assert_int_eq(spool_stream_read(&s, dst, 1), 1); /* 's'; "tu" stay buffered */
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, sizeof buf + 1, NULL), -EINVAL);
    ck_assert_uint_eq(spool_stream_buffered(&s), 2);

    /* EOF after 2 of 16 (the whole buffer: the largest n without a
     * count): -ENODATA, nothing consumed; the next read gets them, then
     * EOF. */
    chan_eof(&c);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, sizeof buf, NULL), -ENODATA);
    ck_assert_uint_eq(spool_stream_buffered(&s), 2);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 2);
    ck_assert_int_eq(memcmp(dst, "tu", 2), 0);
    ck_assert_int_eq(spool_stream_readexactly(&s, dst, 1, NULL), -ENODATA);
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 0);
    chan_close(&c);
    return 0;
}

START_TEST(readexactly_without_a_count_consumes_nothing_unless_it_succeeds)
{
    ck_assert_int_eq(run_case(_i, main_readexactly_whole), 0);
}
END_TEST

/* ---- readline / readuntil --------------------------------------------------------- */

static int main_lines(void *arg)
{
    int pipe = (int)(intptr_t)arg;
    /* Byte by byte, then 5 at a time: separators straddle every boundary. */
    for (size_t chunk = 1; chunk <= 5; chunk += 4) {
        struct chan c;
        chan_open(&c, pipe);
        char buf[32], dst[64];
        spool_stream s;
        ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);
        struct dribble d = {.fd = c.wr,
                            .data = "one\ntwo\r\n\r\n\nbody--XY--rest--X--XY--three",
                            .chunk = chunk,
                            .close_after = 1};
        spool_task *w = spool_spawn(dribble, &d);
        ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 4);
        ck_assert_int_eq(memcmp(dst, "one\n", 4), 0);
        ck_assert_int_eq(spool_stream_readuntil(&s, "\r\n\r\n", 4, dst, sizeof dst), 7);
        ck_assert_int_eq(memcmp(dst, "two\r\n\r\n", 7), 0);
        ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 1); /* an empty line */
        ck_assert_int_eq(dst[0], '\n');
        ck_assert_int_eq(spool_stream_readuntil(&s, "--XY--", 6, dst, sizeof dst), 10);
        ck_assert_int_eq(memcmp(dst, "body--XY--", 10), 0);
        ck_assert_int_eq(spool_stream_readuntil(&s, "--XY--", 6, dst, sizeof dst), 13);
        ck_assert_int_eq(memcmp(dst, "rest--X--XY--", 13), 0);
        /* EOF before a separator: what came, unterminated; then 0. */
        ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 5);
        ck_assert_int_eq(memcmp(dst, "three", 5), 0);
        ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 0);
        ck_assert_int_eq(spool_stream_readuntil(&s, "XY", 2, dst, sizeof dst), 0);
        ck_assert_int_eq(spool_join(w), 0);
        c.wr = -1;
        chan_close(&c);
    }
    return 0;
}

START_TEST(readline_and_readuntil_split_records_however_the_bytes_arrive)
{
    ck_assert_int_eq(run_case(_i, main_lines), 0);
}
END_TEST

static int main_limit(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[16], dst[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);
    put(c.wr, "0123456789abcdefghij\nabc\n0123456789abcde\nz");
    chan_eof(&c);
    /* 21 bytes before the first "\n": over the buffer's 16. */
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), -EMSGSIZE);
    ck_assert_uint_eq(spool_stream_buffered(&s), 16); /* nothing consumed */
    ck_assert_int_eq(spool_stream_readline(&s, dst, 8), -EMSGSIZE);
    ck_assert_int_eq(spool_stream_readuntil(&s, "j\n", 2, dst, sizeof dst), -EMSGSIZE);
    ck_assert_uint_eq(spool_stream_buffered(&s), 16);
    /* The next read sees every byte. */
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 16);
    ck_assert_int_eq(memcmp(dst, "0123456789abcdef", 16), 0);
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 5);
    ck_assert_int_eq(memcmp(dst, "ghij\n", 5), 0);
    /* The caller's cap is a limit too: "abc\n" needs 4. */
    ck_assert_int_eq(spool_stream_readline(&s, dst, 3), -EMSGSIZE);
    ck_assert_int_eq(spool_stream_readline(&s, dst, 4), 4);
    ck_assert_int_eq(memcmp(dst, "abc\n", 4), 0);
    /* A line exactly as long as the buffer fits. */
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 16);
    ck_assert_int_eq(memcmp(dst, "0123456789abcde\n", 16), 0);
    /* A separator that could never fit; bad arguments. */
    ck_assert_int_eq(spool_stream_readuntil(&s, "0123456789abcdefg", 17, dst, sizeof dst), -EINVAL);
    ck_assert_int_eq(spool_stream_readuntil(&s, "ab", 2, dst, 1), -EINVAL);
    ck_assert_int_eq(spool_stream_readuntil(&s, "", 0, dst, sizeof dst), -EINVAL);
    ck_assert_int_eq(spool_stream_readuntil(&s, NULL, 1, dst, sizeof dst), -EINVAL);
    ck_assert_int_eq(spool_stream_readline(&s, NULL, 4), -EINVAL);
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 1);
    ck_assert_int_eq(dst[0], 'z');
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 0);
    chan_close(&c);
    return 0;
}

START_TEST(a_line_over_the_limit_is_emsgsize_and_loses_no_byte)
{
    ck_assert_int_eq(run_case(_i, main_limit), 0);
}
END_TEST

/* ---- large transfers, backpressure ------------------------------------------------- */

enum { BIG = 8 << 20 };

struct big_writer {
    spool_stream s;
    unsigned char *data;
    atomic_int done;
};

static int write_big(void *arg)
{
    struct big_writer *b = arg;
    int rc = spool_stream_write(&b->s, b->data, BIG);
    atomic_store(&b->done, 1);
    return rc;
}

static int main_backpressure(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    struct big_writer *b = calloc(1, sizeof *b);
    b->data = malloc(BIG);
    unsigned char *in = malloc(BIG);
    ck_assert_ptr_nonnull(b->data);
    ck_assert_ptr_nonnull(in);
    uint64_t rng = 12345;
    for (size_t i = 0; i < BIG; i += 8) {
        uint64_t x = xorshift(&rng);
        memcpy(b->data + i, &x, 8);
    }
    char wbuf[1]; /* the write side needs no buffer; init wants one */
    ck_assert_int_eq(spool_stream_init(&b->s, c.wr, wbuf, sizeof wbuf), 0);
    spool_task *w = spool_spawn(write_big, b);
    char rbuf[4096];
    spool_stream r;
    ck_assert_int_eq(spool_stream_init(&r, c.rd, rbuf, sizeof rbuf), 0);
    /* The reader is slow: the writer is held back, not buffered. */
    size_t off = 0, got = 0;
    ck_assert_int_eq(spool_stream_readexactly(&r, in, 65536, &got), 65536);
    off = 65536;
    spool_sleep_ms(30);
    ck_assert_int_eq(atomic_load(&b->done), 0);
    /* Mixed reads: small (through the buffer), exact, large (straight). */
    uint64_t step = 99;
    unsigned naps = 0;
    while (off < BIG) {
        size_t want = 1 + xorshift(&step) % 20000;
        if (want > BIG - off)
            want = BIG - off;
        int n;
        if (step & 1) {
            n = spool_stream_readexactly(&r, in + off, want, &got); /* want may pass the buffer's size */
            REQUIRE(n == (int)want);
        } else {
            n = spool_stream_read(&r, in + off, want);
            REQUIRE(n > 0);
        }
        off += (size_t)n;
        if ((step & 0xf0) == 0 && naps++ < 40)
            spool_sleep_ms(1);
    }
    ck_assert_int_eq(spool_join(w), BIG);
    ck_assert_int_eq(memcmp(in, b->data, BIG), 0);
    chan_eof(&c);
    ck_assert_int_eq(spool_stream_read(&r, in, 16), 0);
    chan_close(&c);
    free(in);
    free(b->data);
    free(b);
    return 0;
}

START_TEST(eight_mib_against_a_slow_reader_suspends_the_writer_and_arrives_whole)
{
    ck_assert_int_eq(run_case(_i, main_backpressure), 0);
}
END_TEST

/* A reader and a writer at once on one socket stream: an echo. */
struct echo {
    spool_stream *s;
    int rounds;
};

static int echo_lines(void *arg)
{
    struct echo *e = arg;
    char line[128];
    int n, count = 0;
    while ((n = spool_stream_readline(e->s, line, sizeof line)) > 0) {
        if (spool_stream_write(e->s, line, (size_t)n) != n)
            return -EIO;
        count++;
    }
    return n < 0 ? n : count;
}

static int send_lines(void *arg)
{
    struct echo *e = arg;
    char line[64];
    for (int i = 0; i < e->rounds; i++) {
        int n = snprintf(line, sizeof line, "line %d of the echo\n", i);
        if (spool_stream_write(e->s, line, (size_t)n) != n)
            return -EIO;
    }
    return 0;
}

static int main_echo(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char b0[64], b1[256];
    spool_stream s0, s1;
    ck_assert_int_eq(spool_stream_init(&s0, sv[0], b0, sizeof b0), 0);
    ck_assert_int_eq(spool_stream_init(&s1, sv[1], b1, sizeof b1), 0);
    int rounds = SANITIZED ? 2000 : 20000;
    struct echo server = {&s1, 0}, client = {&s0, rounds};
    spool_task *srv = spool_spawn(echo_lines, &server);
    spool_task *snd = spool_spawn(send_lines, &client); /* writes s0 while we read it */
    char line[64], want[64];
    for (int i = 0; i < rounds; i++) {
        int n = snprintf(want, sizeof want, "line %d of the echo\n", i);
        int got = spool_stream_readline(&s0, line, sizeof line);
        REQUIRE(got == n && memcmp(line, want, (size_t)n) == 0);
    }
    ck_assert_int_eq(spool_join(snd), 0);
    shutdown(sv[0], SHUT_WR);
    ck_assert_int_eq(spool_join(srv), rounds);
    shutdown(sv[1], SHUT_WR);
    ck_assert_int_eq(spool_stream_readline(&s0, line, sizeof line), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(a_reader_and_a_writer_share_a_socket_stream)
{
    ck_assert_int_eq(run_on(1, main_echo, NULL), 0);
    ck_assert_int_eq(run_on(2, main_echo, NULL), 0);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------------- */

struct blocked {
    spool_stream *s;
    int kind; /* 0 readline, 1 readexactly(32), 2 read */
    char dst[64];
    size_t got;
    int rc;
    _Atomic int started; /* set as the task begins its read */
};

/* Waits (task context) until t's read has begun and the bytes written to
 * fd have left it: the reader took them into the stream and is about to
 * wait, or waits, for more. However slow the machine, a cancel from then
 * on finds those bytes in the stream, never still in the fd. */
static void wait_reader_took_all(struct blocked *b, int fd)
{
    for (;;) {
        int unread = -1;
        ck_assert_int_eq(ioctl(fd, FIONREAD, &unread), 0);
        if (atomic_load(&b->started) && unread == 0)
            return;
        spool_sleep_ms(1);
    }
}

static int blocked_read(void *arg)
{
    struct blocked *b = arg;
    atomic_store(&b->started, 1);
    if (b->kind == 0)
        b->rc = spool_stream_readline(b->s, b->dst, sizeof b->dst);
    else if (b->kind == 1)
        b->rc = spool_stream_readexactly(b->s, b->dst, 32, &b->got);
    else
        b->rc = spool_stream_read(b->s, b->dst, sizeof b->dst);
    return b->rc;
}

static int main_cancel(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[64], dst[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);

    /* A readline blocked after a partial line: cancelled, the part stays. */
    put(c.wr, "partial ");
    struct blocked b = {.s = &s, .kind = 0};
    spool_task *t = spool_spawn(blocked_read, &b);
    wait_reader_took_all(&b, c.rd);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_uint_eq(spool_stream_buffered(&s), 8);
    put(c.wr, "line\n");
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 13);
    ck_assert_int_eq(memcmp(dst, "partial line\n", 13), 0);

    /* A readexactly cancelled halfway: *got says what it took. */
    put(c.wr, "0123456789");
    struct blocked e = {.s = &s, .kind = 1};
    t = spool_spawn(blocked_read, &e);
    wait_reader_took_all(&e, c.rd);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_uint_eq(e.got, 10);
    ck_assert_int_eq(memcmp(e.dst, "0123456789", 10), 0);

    /* A plain read cancelled on an empty buffer; the data after it arrives whole. */
    struct blocked r = {.s = &s, .kind = 2};
    t = spool_spawn(blocked_read, &r);
    /* Most often the read waits in the kernel by the time of the cancel;
     * on a slow machine it may not have begun, and the contract holds
     * all the same. */
    wait_reader_took_all(&r, c.rd);
    spool_sleep_ms(10);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    put(c.wr, "next");
    ck_assert_int_eq(spool_stream_read(&s, dst, sizeof dst), 4);
    ck_assert_int_eq(memcmp(dst, "next", 4), 0);

    /* A timeout scope: -ETIMEDOUT, and the partial line is still there. */
    put(c.wr, "slow");
    spool_timeout to;
    spool_timeout_enter(&to, 10 * SPOOL_MSEC);
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    put(c.wr, "!\n");
    ck_assert_int_eq(spool_stream_readline(&s, dst, sizeof dst), 6);
    ck_assert_int_eq(memcmp(dst, "slow!\n", 6), 0);
    chan_close(&c);
    return 0;
}

START_TEST(a_cancelled_or_timed_out_read_keeps_the_buffered_bytes)
{
    ck_assert_int_eq(run_case(_i, main_cancel), 0);
}
END_TEST

/* Cancel racing data: every byte written is handed over by some read
 * (counted through *got), still buffered, or still in the fd. */
struct racer {
    spool_stream *s;
    unsigned char dst[4];
    size_t got;
    int rc;
};

static int race_read(void *arg)
{
    struct racer *r = arg;
    r->rc = spool_stream_readexactly(r->s, r->dst, 2, &r->got);
    return r->rc;
}

static int main_cancel_race(void *arg)
{
    struct chan c;
    chan_open(&c, (int)(intptr_t)arg);
    char buf[16];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, c.rd, buf, sizeof buf), 0);
    unsigned rounds = SANITIZED ? 500 : 5000, written = 0, taken = 0;
    uint64_t rng = 5;
    unsigned char next_in = 0;
    for (unsigned i = 0; i < rounds; i++) {
        struct racer r = {.s = &s};
        spool_task *t = spool_spawn(race_read, &r);
        if (xorshift(&rng) & 1)
            spool_yield();
        unsigned char byte = (unsigned char)written;
        REQUIRE(write(c.wr, &byte, 1) == 1);
        written++;
        spool_task_cancel(t);
        int rc = spool_join(t);
        REQUIRE(rc == 2 || rc == -ECANCELED);
        for (size_t k = 0; k < r.got; k++)
            REQUIRE(r.dst[k] == next_in++); /* in order, none skipped or repeated */
        taken += (unsigned)r.got;
    }
    chan_eof(&c);
    unsigned char rest[64];
    int n;
    while ((n = spool_stream_read(&s, rest, sizeof rest)) > 0) {
        for (int k = 0; k < n; k++)
            REQUIRE(rest[k] == next_in++);
        taken += (unsigned)n;
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(taken, written);
    chan_close(&c);
    return 0;
}

START_TEST(a_read_cancelled_as_data_arrives_loses_no_byte)
{
    ck_assert_int_eq(run_case(_i, main_cancel_race), 0);
}
END_TEST

/* ---- bad input, contexts ----------------------------------------------------------- */

static int main_errors(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char buf[8];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, sv[0], buf, sizeof buf), 0);
    close(sv[1]);
    /* A socket's write to a vanished peer: -EPIPE, no SIGPIPE. */
    ck_assert_int_eq(spool_stream_write(&s, "x", 1), -EPIPE);
    ck_assert_int_eq(spool_stream_write(&s, NULL, 1), -EINVAL);
    ck_assert_int_eq(spool_stream_write(&s, "", 0), 0);
    ck_assert_int_eq(spool_stream_read(&s, NULL, 1), -EINVAL);
    ck_assert_int_eq(spool_stream_read(NULL, buf, 1), -EINVAL);
    close(sv[0]);
    /* A closed fd: the read fails with the kernel's errno. */
    ck_assert_int_eq(spool_stream_read(&s, buf, 1), -EBADF);
    return 0;
}

START_TEST(bad_input_and_dead_fds_fail_with_an_errno)
{
    char buf[8];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, -1, buf, sizeof buf), -EBADF);
    ck_assert_int_eq(spool_stream_init(NULL, 0, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(spool_stream_init(&s, 0, NULL, 8), -EINVAL);
    ck_assert_int_eq(spool_stream_init(&s, 0, buf, 0), -EINVAL);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(spool_stream_init(&s, p[0], buf, sizeof buf), 0);
    ck_assert_int_eq(spool_stream_read(&s, buf, 1), -EPERM); /* I/O outside a task */
    ck_assert_int_eq(spool_stream_write(&s, "x", 1), -EPERM);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(run_on(1, main_errors, NULL), 0);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    ADD_LOOP_TEST(s, read_hands_over_buffered_bytes_first_and_returns_0_at_eof, 4);
    ADD_LOOP_TEST(s, readexactly_returns_n_or_enodata_with_the_count_that_came, 4);
    ADD_LOOP_TEST(s, readexactly_without_a_count_consumes_nothing_unless_it_succeeds, 4);
    ADD_LOOP_TEST(s, readline_and_readuntil_split_records_however_the_bytes_arrive, 4);
    ADD_LOOP_TEST(s, a_line_over_the_limit_is_emsgsize_and_loses_no_byte, 4);
    ADD_LOOP_TEST(s, eight_mib_against_a_slow_reader_suspends_the_writer_and_arrives_whole, 4);
    ADD_TEST(s, a_reader_and_a_writer_share_a_socket_stream);
    ADD_LOOP_TEST(s, a_cancelled_or_timed_out_read_keeps_the_buffered_bytes, 4);
    ADD_LOOP_TEST(s, a_read_cancelled_as_data_arrives_loses_no_byte, 4);
    ADD_TEST(s, bad_input_and_dead_fds_fail_with_an_errno);
    return s;
}

int main(void)
{
    return check_main(stream_suite, 120);
}

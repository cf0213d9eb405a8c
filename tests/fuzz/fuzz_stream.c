/*
 * fuzz_stream.c — libFuzzer target for spool's streams: readline,
 * readuntil, readexactly (with and without a count) and read, against an
 * exact model.
 *
 * For each input, a task writes a payload through a socketpair or a pipe
 * (spool_stream_write) in chunks whose sizes the input chooses, yielding
 * between chunks, then closes its end; another task reads it through a
 * spool_stream whose buffer size the input chooses, with a sequence of
 * calls the input chooses, then drains what is left with
 * spool_stream_read. Since the writer always sends everything and then
 * EOF, every call's outcome is determined by the payload alone, however
 * the bytes are split on the way; the reader checks each one exactly:
 *   - readuntil / readline: the first separator ending within
 *     min(cap, bufsize) bytes gives that line; else -EMSGSIZE with
 *     nothing consumed (and at least that many bytes buffered) if that
 *     many bytes remain; else, at EOF, all that remains (0 when nothing);
 *     -EINVAL for a separator longer than the limit;
 *   - readexactly with got: n bytes, or -ENODATA with *got = all that
 *     remained, those bytes in dst and consumed;
 *   - readexactly without got: n bytes, or -ENODATA with nothing
 *     consumed and everything that remained buffered; -EINVAL (nothing
 *     consumed) for n above the buffer's size;
 *   - read: 1..n bytes while any remain, 0 at EOF;
 *   - every byte returned equals the payload at the same offset, so
 *     bytes returned + bytes buffered + bytes not yet read = bytes
 *     written, in order; buffered never exceeds the buffer's size; at
 *     the end every byte has been returned, exactly once.
 * Every destination buffer is a heap block of exactly the size passed,
 * and the stream's buffer too, so ASan catches a write past either.
 * A call that waits more than 10 s is reported as a hang.
 *
 * Input layout: byte 0 picks the buffer size (low 4 bits) and a pipe
 * instead of a socketpair (bit 4); byte 1 is the length L of the control
 * block that follows; the rest is the payload. Read calls take two
 * control bytes each from the front of the block (kind, parameter);
 * the writer's chunk sizes come from its back (a byte c: c + 1 bytes).
 *
 * The runtime (one worker) starts once, in a thread of its own, and each
 * input is a task spawned into it (spool_spawn_on, spool_join_blocking):
 * no spool_run per input. FUZZ_STREAM_FRESH=1 in the environment runs a
 * fresh spool_run per input instead (slower; it covers start-up and
 * shutdown too).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spool/spool.h>

#define FAIL(...)                                                     \
    do {                                                              \
        fprintf(stderr, "fuzz_stream: line %d: ", __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                 \
        fputc('\n', stderr);                                          \
        abort();                                                      \
    } while (0)
#define CHECK(cond)                                   \
    do {                                              \
        if (!(cond))                                  \
            FAIL("check failed: %s", #cond);          \
    } while (0)
#define CHECK_RC(got, want)                                                              \
    do {                                                                                 \
        long g_ = (got), w_ = (want);                                                    \
        if (g_ != w_)                                                                    \
            FAIL("%s returned %ld (%s), expected %ld (off %zu, rem %zu, buffered %zu)", \
                 op_name, g_, g_ < 0 ? spool_strerror((int)g_) : "", w_, f->off,         \
                 f->len - f->off, spool_stream_buffered(&f->rs));                        \
    } while (0)

#define HANG_NS (10 * SPOOL_SEC)
#define MAX_OPS 512

static const size_t buf_sizes[16] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 64, 100, 256, 1024, 4096};

static const struct {
    const char *s;
    size_t n;
} seps[8] = {
    {"\n", 1}, {"\r\n", 2}, {"\r\n\r\n", 4}, {"ab", 2},
    {"aa", 2}, {"aab", 3},  {"\0", 1},       {"abcabd", 6},
};

struct fuzz {
    /* the input */
    const uint8_t *ctrl;
    size_t nctrl;
    const uint8_t *payload;
    size_t len;
    size_t bufsize;
    int use_pipe;
    /* the writer */
    int wfd;
    size_t written;   /* bytes the writer's calls have returned */
    size_t submitted; /* bytes handed to a write, returned or not (the reader may
                         get them before the write returns) */
    /* the reader */
    int rfd;
    spool_stream rs;
    unsigned char *rbuf;
    size_t off; /* payload bytes returned to the reader so far */
};

static int writer(void *arg)
{
    struct fuzz *f = arg;
    spool_stream ws;
    unsigned char wbuf[1];
    CHECK(spool_stream_init(&ws, f->wfd, wbuf, sizeof wbuf) == 0);
    size_t back = f->nctrl;
    while (f->written < f->len) {
        size_t chunk = f->len - f->written;
        if (back > 0) {
            size_t c = (size_t)f->ctrl[--back] + 1;
            if (c < chunk)
                chunk = c;
        }
        f->submitted = f->written + chunk;
        spool_timeout to;
        spool_timeout_enter(&to, HANG_NS);
        int rc = spool_stream_write(&ws, f->payload + f->written, chunk);
        spool_timeout_exit(&to);
        if (rc != (int)chunk)
            FAIL("stream_write of %zu bytes: %d (%s)", chunk, rc, spool_strerror(rc));
        f->written += chunk;
        spool_yield(); /* let the reader see a part */
    }
    if (f->use_pipe) {
        close(f->wfd);
        f->wfd = -1;
    } else {
        CHECK(spool_shutdown(f->wfd, SHUT_WR) == 0);
    }
    return 0;
}

/* Checks that dst[0, n) is the payload at f->off, and consumes it. */
static void took(struct fuzz *f, const char *op_name, const void *dst, size_t n)
{
    if (n > f->len - f->off)
        FAIL("%s returned %zu bytes, only %zu remain", op_name, n, f->len - f->off);
    if (n && memcmp(dst, f->payload + f->off, n) != 0)
        FAIL("%s returned %zu bytes that differ from the payload at offset %zu", op_name, n,
             f->off);
    f->off += n;
}

/* The end (exclusive) of the first sep in p[0, n), or 0 if none. */
static size_t first_sep_end(const uint8_t *p, size_t n, const char *sep, size_t seplen)
{
    if (n < seplen)
        return 0;
    const uint8_t *hit = memmem(p, n, sep, seplen);
    return hit ? (size_t)(hit - p) + seplen : 0;
}

static int timed(int rc)
{
    if (rc == -ETIMEDOUT)
        FAIL("a read waited %d s: hang", (int)(HANG_NS / SPOOL_SEC));
    return rc;
}

static void op_readuntil(struct fuzz *f, const char *op_name, const char *sep, size_t seplen,
                         size_t cap)
{
    size_t rem = f->len - f->off;
    size_t limit = cap < f->bufsize ? cap : f->bufsize;
    unsigned char *dst = malloc(cap);
    CHECK(dst);
    spool_timeout to;
    spool_timeout_enter(&to, HANG_NS);
    int rc = seplen == 1 && sep[0] == '\n' && (cap & 1)
                 ? spool_stream_readline(&f->rs, dst, cap)
                 : spool_stream_readuntil(&f->rs, sep, seplen, dst, cap);
    spool_timeout_exit(&to);
    timed(rc);
    size_t end = first_sep_end(f->payload + f->off, rem, sep, seplen);
    if (seplen > limit) {
        CHECK_RC(rc, -EINVAL);
    } else if (end && end <= limit) {
        CHECK_RC(rc, (long)end);
        took(f, op_name, dst, end);
    } else if (rem >= limit) {
        CHECK_RC(rc, -EMSGSIZE);
        if (spool_stream_buffered(&f->rs) < limit)
            FAIL("%s: -EMSGSIZE with %zu bytes buffered, limit %zu", op_name,
                 spool_stream_buffered(&f->rs), limit);
    } else {
        CHECK_RC(rc, (long)rem); /* EOF: the unterminated rest, maybe nothing */
        took(f, op_name, dst, rem);
    }
    free(dst);
}

static void op_readexactly(struct fuzz *f, const char *op_name, size_t n, int with_got)
{
    size_t rem = f->len - f->off;
    unsigned char *dst = malloc(n ? n : 1);
    CHECK(dst);
    size_t got = 12345;
    spool_timeout to;
    spool_timeout_enter(&to, HANG_NS);
    int rc = spool_stream_readexactly(&f->rs, dst, n, with_got ? &got : NULL);
    spool_timeout_exit(&to);
    timed(rc);
    if (with_got) {
        if (rem >= n) {
            CHECK_RC(rc, (long)n);
            CHECK(got == n);
        } else {
            CHECK_RC(rc, -ENODATA);
            if (got != rem)
                FAIL("%s: -ENODATA with *got %zu, %zu remained", op_name, got, rem);
        }
        took(f, op_name, dst, got);
    } else if (n > f->bufsize) {
        CHECK_RC(rc, -EINVAL);
    } else if (rem >= n) {
        CHECK_RC(rc, (long)n);
        took(f, op_name, dst, n);
    } else {
        CHECK_RC(rc, -ENODATA);
        if (spool_stream_buffered(&f->rs) != rem)
            FAIL("%s: -ENODATA with %zu bytes buffered, %zu remained", op_name,
                 spool_stream_buffered(&f->rs), rem);
    }
    free(dst);
}

static void op_read(struct fuzz *f, const char *op_name, size_t n)
{
    size_t rem = f->len - f->off;
    unsigned char *dst = malloc(n ? n : 1);
    CHECK(dst);
    spool_timeout to;
    spool_timeout_enter(&to, HANG_NS);
    int rc = spool_stream_read(&f->rs, dst, n);
    spool_timeout_exit(&to);
    timed(rc);
    if (n == 0 || rem == 0) {
        CHECK_RC(rc, 0);
    } else {
        if (rc < 1 || (size_t)rc > (n < rem ? n : rem))
            FAIL("%s(%zu) returned %d (%s), %zu remained", op_name, n, rc,
                 rc < 0 ? spool_strerror(rc) : "", rem);
        took(f, op_name, dst, (size_t)rc);
    }
    free(dst);
}

/* A size from a control byte: mostly small, sometimes around the buffer's
 * size, sometimes large. */
static size_t pick_size(const struct fuzz *f, uint8_t p)
{
    switch (p >> 6) {
    case 0:
    case 1: return p & 0x7f;                         /* 0..127 */
    case 2: { /* bufsize - 32 .. bufsize + 31 */
        long v = (long)f->bufsize + (long)(p & 0x3f) - 32;
        return v < 0 ? 0 : (size_t)v;
    }
    default: return (size_t)(p & 0x3f) * 512 + 1;   /* up to ~32 KiB */
    }
}

static void reader(struct fuzz *f)
{
    size_t front = 0, ops = 0;
    while (front + 1 < f->nctrl && ops++ < MAX_OPS) {
        uint8_t kind = f->ctrl[front], p = f->ctrl[front + 1];
        front += 2;
        size_t n = pick_size(f, p);
        switch (kind % 6) {
        case 0: /* readline */
            op_readuntil(f, "readline", "\n", 1, n ? n : 1);
            break;
        case 1: {
            size_t s = (kind >> 3) & 7;
            op_readuntil(f, "readuntil", seps[s].s, seps[s].n, n ? n : 1);
            break;
        }
        case 2:
            op_readexactly(f, "readexactly(got)", n, 1);
            break;
        case 3:
            op_readexactly(f, "readexactly", n, 0);
            break;
        case 4:
            op_read(f, "read", n);
            break;
        default:
            CHECK(spool_stream_buffered(&f->rs) <= f->bufsize);
            spool_yield();
            break;
        }
        size_t buffered = spool_stream_buffered(&f->rs);
        CHECK(buffered <= f->bufsize);
        if (f->off + buffered > f->submitted)
            FAIL("%zu bytes returned + %zu buffered > %zu handed to the writes", f->off, buffered,
                 f->submitted);
    }
    /* Drain: every byte left comes out, in order, then EOF, sticky. */
    for (;;) {
        size_t before = f->off;
        op_read(f, "read (drain)", 4096);
        if (f->off == before)
            break;
    }
    CHECK(f->off == f->len);
    CHECK(spool_stream_buffered(&f->rs) == 0);
    op_readuntil(f, "readline (after EOF)", "\n", 1, 16);
    op_readexactly(f, "readexactly(got) (after EOF)", 1, 1);
}

static int fuzz_one(void *arg)
{
    struct fuzz *f = arg;
    int fds[2];
    if (f->use_pipe)
        CHECK(pipe2(fds, O_CLOEXEC) == 0);
    else
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    f->rfd = fds[0];
    f->wfd = fds[1];
    f->rbuf = malloc(f->bufsize);
    CHECK(f->rbuf);
    CHECK(spool_stream_init(&f->rs, f->rfd, f->rbuf, f->bufsize) == 0);
    spool_task *w = spool_spawn(writer, f);
    CHECK(w);
    reader(f);
    CHECK(spool_join(w) == 0);
    CHECK(f->written == f->len);
    close(f->rfd);
    if (f->wfd >= 0)
        close(f->wfd);
    free(f->rbuf);
    return 0;
}

/* ---- the runtime: started once, in its own thread ------------------------ */

static spool_runtime *g_rt;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_fresh;

static int rt_main(void *arg)
{
    (void)arg;
    spool_event never;
    spool_event_init(&never);
    pthread_mutex_lock(&g_mu);
    g_rt = spool_runtime_current();
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
    spool_event_wait(&never); /* for the process's life */
    return 0;
}

static const spool_config g_cfg = {.workers = 1, .quiet_fallback = 1};

static void *rt_thread(void *arg)
{
    (void)arg;
    int rc = spool_run(rt_main, NULL, &g_cfg);
    FAIL("the fuzzing runtime stopped: spool_run returned %d", rc);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *fresh = getenv("FUZZ_STREAM_FRESH");
    g_fresh = fresh && *fresh == '1';
    if (g_fresh)
        return 0;
    pthread_t th;
    if (pthread_create(&th, NULL, rt_thread, NULL) != 0)
        FAIL("pthread_create failed");
    pthread_detach(th);
    pthread_mutex_lock(&g_mu);
    while (!g_rt)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct fuzz f = {0};
    f.bufsize = buf_sizes[data[0] & 15];
    f.use_pipe = (data[0] >> 4) & 1;
    f.nctrl = data[1] < size - 2 ? data[1] : size - 2;
    f.ctrl = data + 2;
    f.payload = data + 2 + f.nctrl;
    f.len = size - 2 - f.nctrl;
    f.wfd = f.rfd = -1;
    int rc;
    if (g_fresh) {
        rc = spool_run(fuzz_one, &f, &g_cfg);
    } else {
        spool_task *t = spool_spawn_on(g_rt, fuzz_one, &f);
        CHECK(t);
        rc = spool_join_blocking(t);
    }
    if (rc != 0)
        FAIL("the input's task returned %d (%s)", rc, spool_strerror(rc));
    return 0;
}

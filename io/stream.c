/*
 * stream.c — buffered reads and whole writes over an fd (spool.h,
 * "Streams"), on the I/O calls of socket.c and file.c.
 *
 * The read buffer is the caller's: buf[start, end) holds the bytes read
 * from the fd and not yet consumed. Nothing is consumed until it is
 * handed over (copied into the caller's dst and start advanced in the
 * same step, with no wait between), so a read that fails — cancelled,
 * timed out, -EMSGSIZE — leaves every byte it read in the buffer. The one
 * call that hands over before it has succeeded is readexactly with a
 * count (got): what it stored in dst is the caller's, and *got says how
 * much; without one it hands over all n bytes or nothing.
 *
 * A stream that carries a TLS session (tls.c) reads and writes through it
 * instead of the fd: the buffer then holds plaintext.
 */
#include "io.h"
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int spool_stream_init(spool_stream *s, int fd, void *buf, size_t bufsize)
{
    if (!s || !buf || bufsize == 0)
        return -EINVAL;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    s->fd = fd;
    s->is_socket = S_ISSOCK(st.st_mode);
    s->eof = 0;
    s->buf = buf;
    s->size = bufsize;
    s->start = s->end = 0;
    s->tls = NULL;
    return 0;
}

size_t spool_stream_buffered(const spool_stream *s)
{
    return s ? s->end - s->start : 0;
}

/* One read from the fd into p[0, n). Returns the count, 0 at EOF (and
 * marks it), or the error. */
static int fd_read(spool_stream *s, void *p, size_t n)
{
    if (n > INT_MAX)
        n = INT_MAX;
    int rc = s->tls         ? spool__tls_read(s, p, n)
             : s->is_socket ? spool_recv(s->fd, p, n, 0)
                            : spool_read(s->fd, p, n, -1);
    if (rc == 0)
        s->eof = 1;
    return rc;
}

/* Reads once into the free tail of the buffer (moving the buffered bytes
 * to the front first if the tail is full). The buffer must not be full.
 * Returns: the count, 0 at EOF, or the error. */
static int fill(spool_stream *s)
{
    if (s->start == s->end) {
        s->start = s->end = 0;
    } else if (s->end == s->size) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
    }
    int rc = fd_read(s, s->buf + s->end, s->size - s->end);
    if (rc > 0)
        s->end += (size_t)rc;
    return rc;
}

/* Hands over up to n buffered bytes into dst. Returns the count. */
static size_t take(spool_stream *s, void *dst, size_t n)
{
    size_t have = s->end - s->start;
    if (n > have)
        n = have;
    if (n) {
        memcpy(dst, s->buf + s->start, n);
        s->start += n;
    }
    if (s->start == s->end)
        s->start = s->end = 0;
    return n;
}

int spool_stream_read(spool_stream *s, void *dst, size_t n)
{
    if (!s || (!dst && n > 0))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (n > INT_MAX)
        n = INT_MAX;
    if (s->end > s->start)
        return (int)take(s, dst, n);
    if (s->eof)
        return 0;
    if (n >= s->size)
        return fd_read(s, dst, n); /* nothing buffered: no copy */
    int rc = fill(s);
    if (rc <= 0)
        return rc;
    return (int)take(s, dst, n);
}

/* readexactly without a count to report through: all or nothing. The n
 * bytes gather in the buffer (n fits it) and are handed over in one step
 * once they are all there; a call that fails hands over nothing, so every
 * byte it read stays buffered. */
static int readexactly_whole(spool_stream *s, void *dst, size_t n)
{
    if (n > s->size)
        return -EINVAL; /* could not be held back on failure: pass got */
    while (s->end - s->start < n) {
        if (s->eof)
            return -ENODATA;
        int rc = fill(s); /* the buffer is not full: it holds fewer than n <= size bytes */
        if (rc < 0)
            return rc;
    }
    take(s, dst, n);
    return (int)n;
}

int spool_stream_readexactly(spool_stream *s, void *dst, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    if (!s || (!dst && n > 0) || n > INT_MAX)
        return -EINVAL;
    if (!got)
        return readexactly_whole(s, dst, n);
    unsigned char *out = dst;
    size_t done = take(s, out, n);
    int rc = 0;
    while (done < n) {
        if (s->eof) {
            rc = -ENODATA;
            break;
        }
        if (n - done >= s->size) {
            rc = fd_read(s, out + done, n - done); /* large: straight into dst */
            if (rc > 0)
                done += (size_t)rc;
        } else {
            rc = fill(s);
            if (rc > 0)
                done += take(s, out + done, n - done);
        }
        if (rc < 0)
            break;
    }
    if (got)
        *got = done;
    return done == n ? (int)n : rc;
}

int spool_stream_readuntil(spool_stream *s, const void *sep, size_t seplen, void *dst, size_t cap)
{
    if (!s || !sep || seplen == 0 || !dst)
        return -EINVAL;
    size_t limit = cap < s->size ? cap : s->size;
    if (limit > INT_MAX)
        limit = INT_MAX;
    if (seplen > limit)
        return -EINVAL;
    size_t from = 0; /* buffered bytes searched already, less seplen - 1 */
    for (;;) {
        size_t have = s->end - s->start;
        size_t window = have < limit ? have : limit;
        if (window >= seplen && window - from >= seplen) {
            const unsigned char *base = s->buf + s->start;
            const unsigned char *hit = memmem(base + from, window - from, sep, seplen);
            if (hit)
                return (int)take(s, dst, (size_t)(hit - base) + seplen);
        }
        if (have >= limit)
            return -EMSGSIZE; /* any separator ends past the limit: consume nothing */
        from = have >= seplen ? have - seplen + 1 : 0;
        if (s->eof)
            return (int)take(s, dst, have); /* the unterminated last line (have < limit <= cap) */
        int rc = fill(s);
        if (rc < 0)
            return rc;
    }
}

int spool_stream_readline(spool_stream *s, void *dst, size_t cap)
{
    return spool_stream_readuntil(s, "\n", 1, dst, cap);
}

int spool_stream_write(spool_stream *s, const void *src, size_t n)
{
    if (!s || (!src && n > 0) || n > INT_MAX)
        return -EINVAL;
    if (s->tls)
        return n ? spool__tls_write(s, src, n) : 0;
    const unsigned char *p = src;
    size_t sent = 0;
    while (sent < n) {
        int rc = s->is_socket ? spool_send(s->fd, p + sent, n - sent, 0)
                              : spool_write(s->fd, p + sent, n - sent, -1);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return -EIO;
        sent += (size_t)rc;
    }
    return (int)n;
}

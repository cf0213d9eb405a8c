/*
 * fuzz_http_parse.c — libFuzzer target for the HTTP example's request
 * parser (examples/http_parse.c, the very file http_server compiles).
 *
 * The input is a byte stream as a client might send it on one
 * connection. The target walks it as the server does (empty lines before
 * a request line skipped, each request parsed, its Content-Length body
 * skipped), and checks for every parse:
 *   - the result is > 0, PARSE_INCOMPLETE or one of the three error
 *     statuses; a header block lies within the bytes given, ends with an
 *     empty line ("\n\n" or "\r\n\r\n" wording aside: its last byte is
 *     '\n'), and is at most HDR_LIMIT bytes;
 *   - PARSE_INCOMPLETE only while n <= HDR_LIMIT (so the server's 16 KiB
 *     input buffer never fills waiting for a header block);
 *   - the path (maybe empty: "GET ?q") lies inside the request line, holds
 *     no SP/CTL and no '?';
 *     method, minor version and keep_alive are in range;
 *   - it is a prefix function, as the server needs when a request
 *     arrives in pieces: every prefix of a header block that parses to h
 *     (prefix length < h) is PARSE_INCOMPLETE, and every longer input
 *     parses to the same h and the same fields.
 * ASan/UBSan check the memory accesses; the parser must not read past
 * p[n - 1] (the target hands it a heap copy of exactly n bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_http_parse: check failed: %s (line %d)\n", #cond, \
                    __LINE__);                                                       \
            abort();                                                                 \
        }                                                                            \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tables_init();
    return 0;
}

/* parse_request on a heap copy of exactly p[0..n), so that ASan sees a
 * read past the end. */
static int parse_copy(const char *p, size_t n, struct request *r, char **copy)
{
    char *c = malloc(n ? n : 1);
    CHECK(c);
    memcpy(c, p, n);
    int rc = parse_request(c, n, r);
    *copy = c;
    return rc;
}

static void check_result(const char *p, size_t n, int rc, const struct request *r)
{
    CHECK(rc == PARSE_INCOMPLETE || rc == PARSE_BAD || rc == PARSE_TOO_LARGE ||
          rc == PARSE_VERSION || rc > 0);
    if (rc == PARSE_INCOMPLETE)
        CHECK(n <= HDR_LIMIT);
    if (rc <= 0)
        return;
    size_t h = (size_t)rc;
    CHECK(h <= n && h <= HDR_LIMIT);
    CHECK(p[h - 1] == '\n');
    CHECK(r->method == M_GET || r->method == M_HEAD || r->method == M_OTHER);
    CHECK(r->minor >= 0 && r->minor <= 9);
    CHECK(r->keep_alive == 0 || r->keep_alive == 1);
    CHECK(r->content_length < 1000000000000000ull); /* at most 15 digits */
    const char *line_end = memchr(p, '\n', h);
    CHECK(line_end);
    /* path_len may be 0: a target that starts with its query ("GET ?x") */
    CHECK(r->path > p && r->path + r->path_len <= line_end);
    CHECK(r->path[-1] == ' ');
    for (size_t i = 0; i < r->path_len; i++) {
        unsigned char c = (unsigned char)r->path[i];
        CHECK(c > 0x20 && c != 0x7f && c != '?');
    }
}

/* The prefix property around a header block of length h found in
 * p[0..n) (r: its fields). Every prefix is checked for small blocks;
 * for long ones, the edges and a spread of points. */
static void check_prefixes(const char *p, size_t n, size_t h, const struct request *r)
{
    size_t step = h <= 256 ? 1 : h / 64;
    for (size_t k = 0; k < h; k += step) {
        size_t kk = k;
        for (int edge = 0; edge < 2; edge++, kk = h - 1 - k) {
            struct request rk;
            char *copy;
            int rc = parse_copy(p, kk, &rk, &copy);
            free(copy);
            if (rc != PARSE_INCOMPLETE) {
                fprintf(stderr, "fuzz_http_parse: the prefix of %zu bytes of a %zu-byte "
                                "header block parses to %d, not PARSE_INCOMPLETE\n",
                        kk, h, rc);
                abort();
            }
        }
    }
    /* Longer inputs (up to all that follows) parse to the same block. */
    size_t longer[2] = {h + (n - h) / 2, n};
    for (int i = 0; i < 2; i++) {
        struct request rl;
        char *copy;
        int rc = parse_copy(p, longer[i], &rl, &copy);
        CHECK(rc == (int)h);
        CHECK(rl.method == r->method && rl.minor == r->minor && rl.keep_alive == r->keep_alive &&
              rl.content_length == r->content_length && rl.path_len == r->path_len &&
              rl.path - copy == r->path - p);
        free(copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t pos = 0;
    int requests = 0;
    while (pos < size && requests < 64) {
        /* RFC 9112 §2.2, as the server does: skip empty lines first. */
        if (in[pos] == '\n') {
            pos++;
            continue;
        }
        if (in[pos] == '\r' && pos + 1 < size && in[pos + 1] == '\n') {
            pos += 2;
            continue;
        }
        const char *p = in + pos;
        size_t n = size - pos;
        struct request r;
        char *copy;
        int rc = parse_copy(p, n, &r, &copy);
        /* Check against the copy (r.path points into it). */
        check_result(copy, n, rc, &r);
        if (rc > 0) {
            struct request rr = r;
            rr.path = p + (r.path - copy);
            check_prefixes(p, n, (size_t)rc, &rr);
        }
        free(copy);
        if (rc <= 0)
            break; /* incomplete: wait for more; an error: the server closes */
        requests++;
        pos += (size_t)rc;
        if (r.content_length >= size - pos)
            break;
        pos += (size_t)r.content_length;
    }
    return 0;
}

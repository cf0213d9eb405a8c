/*
 * http_parse.c — the request parser of examples/http_server.c (see
 * http_parse.h): RFC 9112's request line and header fields, strictly.
 */
#include "http_parse.h"

#include <string.h>

/* tchar of RFC 9110: the bytes of a method and of a header name. */
static unsigned char is_tchar[256];
/* Bytes allowed in a header value: HTAB, SP, VCHAR, obs-text. */
static unsigned char is_vbyte[256];
/* Bytes allowed in a request target: VCHAR and obs-text (no SP, no CTL). */
static unsigned char is_tbyte[256];

void tables_init(void)
{
    for (int c = 0; c < 256; c++) {
        is_tchar[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        is_vbyte[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
        is_tbyte[c] = c > 0x20 && c != 0x7f;
    }
}

static int lower_eq(const char *p, size_t n, const char *lit, size_t litn)
{
    if (n != litn)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != lit[i])
            return 0;
    return 1;
}

/* The end of the line that starts at p (the byte after its '\n'), with
 * *eol set to where the line's content ends ('\r' or '\n'); NULL if no
 * '\n' yet, (char *)1 on a bare CR inside the line. */
static const char *line_end(const char *p, const char *end, const char **eol)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    const char *e = nl;
    if (e > p && e[-1] == '\r')
        e--;
    *eol = e;
    return nl + 1;
}

/* See http_parse.h. */
int parse_request(const char *p, size_t n, struct request *r)
{
    const char *end = p + n;
    const char *eol;
    const char *next = line_end(p, end, &eol);
    if (!next) {
        /* No whole request line yet: reject what can already be seen to be
         * wrong (binary garbage), else wait for more. */
        for (const char *q = p; q < end; q++) {
            unsigned char c = (unsigned char)*q;
            if (c != '\r' && (c < 0x20 || c == 0x7f))
                return PARSE_BAD;
        }
        return n > HDR_LIMIT ? PARSE_TOO_LARGE : PARSE_INCOMPLETE;
    }
    if (next - p > HDR_LIMIT)
        return PARSE_TOO_LARGE;

    /* request-line = method SP request-target SP HTTP-version */
    const char *q = p;
    while (q < eol && is_tchar[(unsigned char)*q])
        q++;
    if (q == p || q == eol || *q != ' ')
        return PARSE_BAD;
    size_t mlen = (size_t)(q - p);
    if (mlen == 3 && memcmp(p, "GET", 3) == 0)
        r->method = M_GET;
    else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
        r->method = M_HEAD;
    else
        r->method = M_OTHER;
    const char *t = ++q;
    const char *query = NULL;
    while (q < eol && is_tbyte[(unsigned char)*q]) {
        if (*q == '?' && !query)
            query = q;
        q++;
    }
    if (q == t || q == eol || *q != ' ')
        return PARSE_BAD;
    r->path = t;
    r->path_len = (size_t)((query ? query : q) - t);
    q++;
    if (eol - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[6] != '.' || q[5] < '0' || q[5] > '9' ||
        q[7] < '0' || q[7] > '9')
        return PARSE_BAD;
    if (q[5] != '1')
        return PARSE_VERSION;
    r->minor = q[7] - '0';

    /* header fields, up to the empty line */
    int conn_close = 0, conn_keep = 0, hosts = 0, headers = 0, have_length = 0;
    r->content_length = 0;
    const char *line = next;
    for (;;) {
        next = line_end(line, end, &eol);
        if (!next) {
            for (const char *s = line; s < end; s++)
                if (!is_vbyte[(unsigned char)*s] && *s != '\r')
                    return PARSE_BAD;
            return n > HDR_LIMIT ? PARSE_TOO_LARGE : PARSE_INCOMPLETE;
        }
        if (next - p > HDR_LIMIT)
            return PARSE_TOO_LARGE;
        if (eol == line)
            break; /* the empty line: done */
        if (++headers > MAX_HEADERS)
            return PARSE_TOO_LARGE;
        q = line;
        while (q < eol && is_tchar[(unsigned char)*q])
            q++;
        if (q == line || q == eol || *q != ':')
            return PARSE_BAD; /* empty name, obs-fold, space before ':', bad byte */
        const char *name = line;
        size_t nlen = (size_t)(q - line);
        q++;
        while (q < eol && (*q == ' ' || *q == '\t'))
            q++;
        const char *v = q;
        for (; q < eol; q++)
            if (!is_vbyte[(unsigned char)*q])
                return PARSE_BAD; /* CTL, or a bare CR */
        const char *ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vlen = (size_t)(ve - v);

        switch (nlen) {
        case 4:
            if (lower_eq(name, nlen, "host", 4))
                hosts++;
            break;
        case 10:
            if (lower_eq(name, nlen, "connection", 10)) {
                /* a comma-separated list of tokens */
                const char *s = v;
                while (s < ve) {
                    while (s < ve && (*s == ',' || *s == ' ' || *s == '\t'))
                        s++;
                    const char *b = s;
                    while (s < ve && *s != ',' && *s != ' ' && *s != '\t')
                        s++;
                    if (lower_eq(b, (size_t)(s - b), "close", 5))
                        conn_close = 1;
                    else if (lower_eq(b, (size_t)(s - b), "keep-alive", 10))
                        conn_keep = 1;
                }
            }
            break;
        case 14:
            if (lower_eq(name, nlen, "content-length", 14)) {
                if (vlen == 0 || vlen > 15)
                    return PARSE_BAD;
                uint64_t len = 0;
                for (size_t i = 0; i < vlen; i++) {
                    if (v[i] < '0' || v[i] > '9')
                        return PARSE_BAD;
                    len = len * 10 + (uint64_t)(v[i] - '0');
                }
                if (have_length && len != r->content_length)
                    return PARSE_BAD;
                have_length = 1;
                r->content_length = len;
            }
            break;
        case 17:
            if (lower_eq(name, nlen, "transfer-encoding", 17))
                return PARSE_BAD; /* chunked bodies: not supported */
            break;
        default:
            break;
        }
        line = next;
    }
    if (r->minor >= 1 && hosts != 1)
        return PARSE_BAD;
    if (hosts > 1)
        return PARSE_BAD;
    r->keep_alive = r->minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    return (int)(next - p);
}


/*
 * http_parse.h — the HTTP/1.1 request parser of examples/http_server.c,
 * in a file of its own so that tests/fuzz/fuzz_http_parse.c fuzzes the
 * very code the server runs. Plain C, no spool: copy both files with the
 * server.
 *
 * parse_request looks at the bytes of one request from its request line
 * on (the server drops empty lines before it) and either finds the whole
 * header block, says it needs more bytes, or names the error status.
 * It never reads past p[n - 1], never writes to p, and allocates nothing;
 * a request's path points into p.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HDR_LIMIT (8 * 1024)  /* request line + headers, CRLFs included */
#define MAX_HEADERS 100

enum {
    PARSE_INCOMPLETE = 0,
    PARSE_BAD = -400,
    PARSE_TOO_LARGE = -431,
    PARSE_VERSION = -505,
};

enum { M_GET, M_HEAD, M_OTHER };

struct request {
    int method;
    int minor;             /* HTTP/1.minor */
    int keep_alive;        /* after the Connection header and the version */
    const char *path;      /* the target, without its query */
    size_t path_len;
    uint64_t content_length;
};

/* Fills the byte-class tables; call once before parse_request. */
void tables_init(void);

/* Parses one request at p[0..n). Returns: the length of its header block
 * (> 0; *r is filled), PARSE_INCOMPLETE (no error in the bytes so far and
 * n <= HDR_LIMIT: read more), or a negative status for an error response
 * (PARSE_BAD, PARSE_TOO_LARGE, PARSE_VERSION). */
int parse_request(const char *p, size_t n, struct request *r);

#endif

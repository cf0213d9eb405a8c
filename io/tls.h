/*
 * tls.h — a stream's TLS session (tls.c): what stream.c calls instead of
 * recv and send when the stream carries one (spool.h, "TLS streams").
 */
#ifndef SPOOL_TLS_H
#define SPOOL_TLS_H

#include <spool/spool.h>

#include <stddef.h>

/* Reads up to n plaintext bytes (n > 0) into p through s's session.
 * Returns: the count, 0 at the peer's close_notify, or the error
 * (-ECONNRESET at an EOF without close_notify, -ECONNABORTED a failed or
 * broken session, the I/O calls', -EPROTO ...). Task context. */
int spool__tls_read(spool_stream *s, void *p, size_t n);

/* Writes all n plaintext bytes through s's session, sending every record
 * before it returns. Returns: n, or the error (a failure once records
 * were made breaks the session). Task context. */
int spool__tls_write(spool_stream *s, const void *p, size_t n);

#endif /* SPOOL_TLS_H */

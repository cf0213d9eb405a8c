/*
 * tls.c — TLS sessions on spool streams (spool.h, "TLS streams"), on
 * OpenSSL 3 when the build found it (SPOOL_HAVE_OPENSSL), else calls that
 * return -EOPNOTSUPP.
 *
 * OpenSSL never touches the socket: each session's SSL reads its records
 * from one memory BIO (in) and writes them to another (out), and the task
 * moves the bytes with the driver's own spool_recv / spool_send_all. So
 * OpenSSL is only ever entered between waits, never across one, and a
 * session costs no thread and works on both drivers. The loop of each call
 * is: lock, one SSL call, unlock; then, outside the lock, the I/O it asked
 * for (flush `out` to the socket, or recv into `in`).
 *
 * Locking. One reader and one writer may use a stream at once (the stream
 * rule), so the SSL and its BIOs are under the session's mutex, held only
 * around OpenSSL calls that do no I/O (never across a wait: a pthread
 * mutex held by a suspended task would block its worker). The reader owns
 * inbuf and net_eof, the writer outbuf; `out` is flushed by the writer
 * side only (write, shutdown, the handshake), so its bytes leave in order
 * from one task. What a read makes OpenSSL write (a TLS 1.3 KeyUpdate's
 * answer) waits in `out` for the next write or the shutdown.
 *
 * OpenSSL's error queue is per thread, and a task may resume on another
 * worker after any wait: as errno across a suspension (DESIGN.md), the
 * queue is read in the same stretch as the failing SSL call — under the
 * lock, with no wait between (fail(), tls_ctx_fail()) — and cleared
 * before each call (ERR_clear_error), so a stale entry another task left
 * on this thread is never taken for ours.
 *
 * No half-written record: once SSL_write has made records, they must all
 * reach the socket; a send that fails or is cancelled part-way breaks the
 * session (dead = -ECONNABORTED): nothing more is written, nor read.
 */
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef SPOOL_HAVE_OPENSSL

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>

#define NET_IN 17408            /* one recv: a whole record (16 KiB + header + expansion) */
#define WRITE_CHUNK (32 * 1024) /* plaintext per SSL_write: two records ... */
#define NET_OUT (2 * 17408)     /* ... that leave in one send */
#define ERRLEN 256

struct spool_tls_ctx {
    SSL_CTX *ssl;
    int role;
    unsigned verify;            /* SPOOL_TLS_VERIFY_* | SPOOL_TLS_REQUIRE_PEER_CERT */
    unsigned char *alpn;        /* the ALPN list in wire format (length-prefixed), or NULL */
    size_t alpn_len;
    char err[ERRLEN];           /* the last set-up call's failure */
};

struct spool__tls {
    pthread_mutex_t lock;       /* ssl, in, out, dead, write_closed, err: see the top */
    SSL *ssl;
    BIO *in, *out;              /* network -> ssl, ssl -> network (owned by ssl) */
    int fd;
    int dead;                   /* 0, or what every read and write returns (-ECONNABORTED) */
    int write_closed;           /* close_notify made: writes return -EPIPE */
    int net_eof;                /* the socket gave EOF (reader only) */
    char alpn[256];             /* the chosen protocol, "" none */
    char err[ERRLEN];           /* the last failure's reason, "" none */
    unsigned char inbuf[NET_IN];   /* the reader's */
    unsigned char outbuf[NET_OUT]; /* the writer's */
};

int spool_tls_available(void)
{
    return 1;
}

/* ---- errors ---------------------------------------------------------- */

/* The text of OpenSSL error e: its reason, with the library's name. */
static void err_text(unsigned long e, char *buf, size_t size)
{
    const char *reason = ERR_reason_error_string(e);
    const char *lib = ERR_lib_error_string(e);
    if (reason)
        snprintf(buf, size, "%s%s%s", lib ? lib : "", lib ? ": " : "", reason);
    else
        ERR_error_string_n(e, buf, size);
}

/* The -errno of error queue entry e. */
static int err_code(unsigned long e)
{
    if (ERR_SYSTEM_ERROR(e))
        return ERR_GET_REASON(e) ? -ERR_GET_REASON(e) : -EIO;
    if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
        return -ENOMEM;
    return -EINVAL;
}

/* A set-up call failed: takes the reason from the queue (same stretch as
 * the call) into ctx->err. Returns the -errno: a system error's (a file
 * that cannot be read) if the queue holds one, else dflt. */
static int tls_ctx_fail(spool_tls_ctx *ctx, int dflt, const char *what)
{
    unsigned long e, first = 0;
    int rc = dflt;
    while ((e = ERR_get_error()) != 0) {
        if (!first)
            first = e;
        if (ERR_SYSTEM_ERROR(e) || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            rc = err_code(e);
    }
    char why[ERRLEN - 64] = "";
    if (first)
        err_text(first, why, sizeof why);
    snprintf(ctx->err, sizeof ctx->err, "%s%s%s", what, first ? ": " : "", why);
    return rc;
}

/* The SSL call just made failed with SSL_get_error's ssl_err (lock held,
 * no wait since the call: the queue is this thread's and ours). Records
 * the reason in t->err and returns the -errno. */
static int fail(struct spool__tls *t, int ssl_err)
{
    unsigned long e = ERR_get_error(); /* the earliest: the cause */
    int rc;
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        SSL_get_verify_result(t->ssl) != X509_V_OK) {
        long vr = SSL_get_verify_result(t->ssl);
        snprintf(t->err, sizeof t->err, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
        rc = vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID ||
                     vr == X509_V_ERR_CRL_HAS_EXPIRED || vr == X509_V_ERR_CRL_NOT_YET_VALID
                 ? -EKEYEXPIRED
                 : -EKEYREJECTED;
    } else if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        err_text(e, t->err, sizeof t->err); /* a server that requires one (SPOOL_TLS_REQUIRE_PEER_CERT) */
        rc = -EKEYREJECTED;
    } else if (e) {
        err_text(e, t->err, sizeof t->err);
        rc = ERR_SYSTEM_ERROR(e) ? err_code(e)
             : ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? -ENOMEM
                                                        : -EPROTO;
    } else {
        snprintf(t->err, sizeof t->err, "TLS error (SSL_get_error %d)", ssl_err);
        rc = -EPROTO;
    }
    ERR_clear_error();
    return rc;
}

/* Writes the reason of a failure that is not OpenSSL's (lock held). */
static void set_err(struct spool__tls *t, const char *what, int rc)
{
    if (rc)
        snprintf(t->err, sizeof t->err, "%s (%s)", what, spool_strerror(rc));
    else
        snprintf(t->err, sizeof t->err, "%s", what);
}

/* ---- contexts -------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    const spool_tls_ctx *ctx = arg;
    unsigned char *pick;
    if (!ctx->alpn || SSL_select_next_proto(&pick, outlen, ctx->alpn, (unsigned)ctx->alpn_len, in,
                                            inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* nothing in common: go on without */
    *out = pick;
    return SSL_TLSEXT_ERR_OK;
}

int spool_tls_ctx_new(spool_tls_ctx **out, int role)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (role != SPOOL_TLS_CLIENT && role != SPOOL_TLS_SERVER)
        return -EINVAL;
    spool_tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -ENOMEM;
    ERR_clear_error();
    ctx->ssl = SSL_CTX_new(role == SPOOL_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!ctx->ssl) {
        ERR_clear_error();
        free(ctx);
        return -ENOMEM;
    }
    ctx->role = role;
    SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_RENEGOTIATION);
    if (role == SPOOL_TLS_CLIENT) {
        ctx->verify = SPOOL_TLS_VERIFY_PEER | SPOOL_TLS_VERIFY_HOSTNAME;
        SSL_CTX_set_default_verify_paths(ctx->ssl); /* a system without a CA store: none */
    } else {
        SSL_CTX_set_alpn_select_cb(ctx->ssl, alpn_select, ctx);
    }
    ERR_clear_error();
    *out = ctx;
    return 0;
}

void spool_tls_ctx_free(spool_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx->alpn);
    free(ctx);
}

int spool_tls_ctx_use_cert_file(spool_tls_ctx *ctx, const char *cert_file, const char *key_file)
{
    if (!ctx || !cert_file)
        return -EINVAL;
    ctx->err[0] = 0;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cert_file) != 1)
        return tls_ctx_fail(ctx, -EINVAL, "certificate");
    if (SSL_CTX_use_PrivateKey_file(ctx->ssl, key_file ? key_file : cert_file, SSL_FILETYPE_PEM) != 1)
        return tls_ctx_fail(ctx, -EINVAL, "private key");
    if (SSL_CTX_check_private_key(ctx->ssl) != 1)
        return tls_ctx_fail(ctx, -EINVAL, "private key");
    return 0;
}

int spool_tls_ctx_use_cert_pem(spool_tls_ctx *ctx, const void *cert_pem, size_t cert_len,
                               const void *key_pem, size_t key_len)
{
    if (!ctx || !cert_pem || cert_len > INT32_MAX || key_len > INT32_MAX)
        return -EINVAL;
    ctx->err[0] = 0;
    ERR_clear_error();
    int rc = 0;
    BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
    BIO *kb = key_pem ? BIO_new_mem_buf(key_pem, (int)key_len) : cb;
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    if (!cb || !kb) {
        rc = tls_ctx_fail(ctx, -ENOMEM, "memory");
        goto out;
    }
    leaf = PEM_read_bio_X509_AUX(cb, NULL, NULL, NULL);
    if (!leaf || SSL_CTX_use_certificate(ctx->ssl, leaf) != 1) {
        rc = tls_ctx_fail(ctx, -EINVAL, "certificate");
        goto out;
    }
    SSL_CTX_clear_chain_certs(ctx->ssl);
    X509 *ca;
    while ((ca = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx->ssl, ca) != 1) {
            X509_free(ca);
            rc = tls_ctx_fail(ctx, -ENOMEM, "certificate chain");
            goto out;
        }
    }
    ERR_clear_error(); /* the end of the PEM: "no start line" */
    if (!key_pem)
        (void)BIO_reset(cb); /* the key may come before the certificates */
    key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    if (!key || SSL_CTX_use_PrivateKey(ctx->ssl, key) != 1 || SSL_CTX_check_private_key(ctx->ssl) != 1) {
        rc = tls_ctx_fail(ctx, -EINVAL, "private key");
        goto out;
    }
out:
    X509_free(leaf);
    EVP_PKEY_free(key);
    if (kb && kb != cb)
        BIO_free(kb);
    BIO_free(cb);
    return rc;
}

int spool_tls_ctx_load_ca(spool_tls_ctx *ctx, const char *ca_file, const char *ca_dir)
{
    if (!ctx)
        return -EINVAL;
    ctx->err[0] = 0;
    ERR_clear_error();
    int ok = ca_file || ca_dir ? SSL_CTX_load_verify_locations(ctx->ssl, ca_file, ca_dir)
                               : SSL_CTX_set_default_verify_paths(ctx->ssl);
    return ok == 1 ? 0 : tls_ctx_fail(ctx, -EINVAL, "CA certificates");
}

int spool_tls_ctx_load_ca_pem(spool_tls_ctx *ctx, const void *pem, size_t len)
{
    if (!ctx || !pem || len > INT32_MAX)
        return -EINVAL;
    ctx->err[0] = 0;
    ERR_clear_error();
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return tls_ctx_fail(ctx, -ENOMEM, "memory");
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl);
    int n = 0, rc = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(store, x);
        X509_free(x);
        if (ok != 1) {
            rc = tls_ctx_fail(ctx, -EINVAL, "CA certificate");
            break;
        }
        n++;
    }
    BIO_free(b);
    if (!rc && n == 0)
        rc = tls_ctx_fail(ctx, -EINVAL, "CA certificates: none in the PEM");
    ERR_clear_error();
    return rc;
}

int spool_tls_ctx_set_verify(spool_tls_ctx *ctx, unsigned flags)
{
    const unsigned all = SPOOL_TLS_VERIFY_PEER | SPOOL_TLS_VERIFY_HOSTNAME | SPOOL_TLS_REQUIRE_PEER_CERT;
    if (!ctx || (flags & ~all) || ((flags & SPOOL_TLS_VERIFY_HOSTNAME) && !(flags & SPOOL_TLS_VERIFY_PEER)) ||
        ((flags & SPOOL_TLS_REQUIRE_PEER_CERT) && ctx->role != SPOOL_TLS_SERVER))
        return -EINVAL;
    ctx->verify = flags;
    return 0;
}

int spool_tls_ctx_set_alpn(spool_tls_ctx *ctx, const char *const *protos, size_t n)
{
    if (!ctx || (!protos && n > 0))
        return -EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = protos[i] ? strlen(protos[i]) : 0;
        if (l == 0 || l > 255)
            return -EINVAL;
        len += 1 + l;
    }
    if (len > 65535)
        return -EINVAL;
    unsigned char *wire = NULL;
    if (n) {
        wire = malloc(len);
        if (!wire)
            return -ENOMEM;
        unsigned char *p = wire;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(protos[i]);
            *p++ = (unsigned char)l;
            memcpy(p, protos[i], l);
            p += l;
        }
    }
    /* A client offers the list from the context; SSL_CTX_set_alpn_protos
     * returns 0 on success (sic). A server's callback reads ctx->alpn. */
    if (ctx->role == SPOOL_TLS_CLIENT && SSL_CTX_set_alpn_protos(ctx->ssl, wire, (unsigned)len) != 0) {
        free(wire);
        ERR_clear_error();
        return -ENOMEM;
    }
    free(ctx->alpn);
    ctx->alpn = wire;
    ctx->alpn_len = len;
    return 0;
}

const char *spool_tls_ctx_error(const spool_tls_ctx *ctx)
{
    return ctx ? ctx->err : NULL;
}

/* ---- sessions -------------------------------------------------------- */

/* Sends what OpenSSL wrote to `out`, in order (the writer side). */
static int flush(struct spool__tls *t)
{
    for (;;) {
        pthread_mutex_lock(&t->lock);
        int k = BIO_read(t->out, t->outbuf, sizeof t->outbuf);
        pthread_mutex_unlock(&t->lock);
        if (k <= 0)
            return 0;
        int rc = spool_send_all(t->fd, t->outbuf, (size_t)k, 0);
        if (rc < 0)
            return rc;
    }
}

/* Records went out in part, or not at all: the session is broken. */
static void break_session(struct spool__tls *t, int rc)
{
    pthread_mutex_lock(&t->lock);
    if (!t->dead) {
        t->dead = -ECONNABORTED;
        set_err(t, "write interrupted mid-record: the session is broken", rc);
    }
    pthread_mutex_unlock(&t->lock);
}

/* flush, and a failed flush breaks the session (records may be half
 * out). Returns: 0, or the send's error. */
static int flush_or_break(struct spool__tls *t)
{
    int rc = flush(t);
    if (rc < 0)
        break_session(t, rc);
    return rc;
}

/* One recv into `in` (the reader side). Returns the count, 0 at EOF, or
 * the error. */
static int feed(struct spool__tls *t)
{
    int rc = spool_recv(t->fd, t->inbuf, sizeof t->inbuf, 0);
    if (rc <= 0)
        return rc;
    pthread_mutex_lock(&t->lock);
    int w = BIO_write(t->in, t->inbuf, rc);
    pthread_mutex_unlock(&t->lock);
    return w == rc ? rc : -ENOMEM;
}

static int handshake(struct spool__tls *t)
{
    for (;;) {
        pthread_mutex_lock(&t->lock);
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        int rc = 0, want_read = 0;
        if (r == 1) {
            const unsigned char *p;
            unsigned len;
            SSL_get0_alpn_selected(t->ssl, &p, &len);
            if (p && len) {
                memcpy(t->alpn, p, len); /* len < 256 */
                t->alpn[len] = 0;
            }
        } else {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                want_read = 1;
            else
                rc = fail(t, e);
        }
        pthread_mutex_unlock(&t->lock);
        int sent = flush(t); /* our flight, or the alert that says why we give up */
        if (rc)
            return rc;
        if (sent < 0)
            return sent;
        if (!want_read)
            return 0;
        rc = feed(t);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            pthread_mutex_lock(&t->lock);
            set_err(t, "unexpected EOF (no close_notify): the peer closed the connection in the handshake", 0);
            pthread_mutex_unlock(&t->lock);
            return -ECONNRESET;
        }
    }
}

/* A session for s from ctx, attached, with s's buffered bytes moved into
 * `in` (the peer's first bytes). Returns 0, -ENOMEM. */
static int session_new(spool_stream *s, spool_tls_ctx *ctx, struct spool__tls **out)
{
    struct spool__tls *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out || pthread_mutex_init(&t->lock, NULL) != 0) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        ERR_clear_error();
        free(t);
        return -ENOMEM;
    }
    SSL_set_bio(t->ssl, t->in, t->out); /* ssl owns them now */
    t->fd = s->fd;
    if (s->end > s->start) {
        BIO_write(t->in, s->buf + s->start, (int)(s->end - s->start));
        s->start = s->end = 0;
    }
    *out = t;
    return 0;
}

/* The handshake, and what a failure leaves (see spool.h). */
static int start(spool_stream *s, struct spool__tls *t)
{
    s->tls = t;
    int rc = s->eof ? -ECONNRESET : handshake(t);
    if (rc < 0) {
        pthread_mutex_lock(&t->lock);
        t->dead = -ECONNABORTED;
        if (!t->err[0])
            set_err(t, "handshake failed", rc);
        pthread_mutex_unlock(&t->lock);
        shutdown(s->fd, SHUT_RDWR);
    }
    return rc;
}

static int check_stream(spool_stream *s, spool_tls_ctx *ctx, int role)
{
    if (!s || !ctx || ctx->role != role)
        return -EINVAL;
    if (s->tls)
        return -EBUSY;
    if (!s->is_socket)
        return -ENOTSOCK;
    if (!spool_current())
        return -EPERM;
    return 0;
}

int spool_stream_tls_connect(spool_stream *s, spool_tls_ctx *ctx, const char *server_name)
{
    int rc = check_stream(s, ctx, SPOOL_TLS_CLIENT);
    if (rc)
        return rc;
    if ((!server_name || !server_name[0]) && (ctx->verify & SPOOL_TLS_VERIFY_HOSTNAME))
        return -EINVAL; /* nothing to check the certificate against */
    struct spool__tls *t;
    rc = session_new(s, ctx, &t);
    if (rc)
        return rc;
    SSL_set_connect_state(t->ssl);
    SSL_set_verify(t->ssl, ctx->verify & SPOOL_TLS_VERIFY_PEER ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (server_name && server_name[0]) {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;
        int ok = 1;
        if (!is_ip)
            ok = SSL_set_tlsext_host_name(t->ssl, server_name) == 1; /* SNI: names only */
        if (ok && (ctx->verify & SPOOL_TLS_VERIFY_HOSTNAME)) {
            if (is_ip) {
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) == 1;
            } else {
                SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                ok = SSL_set1_host(t->ssl, server_name) == 1;
            }
        }
        if (!ok) {
            ERR_clear_error();
            s->tls = t;
            spool_stream_tls_free(s);
            return -EINVAL; /* a name OpenSSL refuses (too long, ...) */
        }
    }
    return start(s, t);
}

int spool_stream_tls_accept(spool_stream *s, spool_tls_ctx *ctx)
{
    int rc = check_stream(s, ctx, SPOOL_TLS_SERVER);
    if (rc)
        return rc;
    struct spool__tls *t;
    rc = session_new(s, ctx, &t);
    if (rc)
        return rc;
    SSL_set_accept_state(t->ssl);
    if (ctx->verify & SPOOL_TLS_REQUIRE_PEER_CERT)
        SSL_set_verify(t->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else
        SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
    return start(s, t);
}

int spool__tls_read(spool_stream *s, void *p, size_t n)
{
    struct spool__tls *t = s->tls;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        int rc = t->dead, want_read = 0;
        if (!rc) {
            size_t got = 0;
            ERR_clear_error();
            if (SSL_read_ex(t->ssl, p, n, &got) == 1) {
                rc = (int)got;
            } else {
                int e = SSL_get_error(t->ssl, 0);
                if (e == SSL_ERROR_ZERO_RETURN) {
                    rc = 0; /* close_notify: the clean EOF */
                } else if (e == SSL_ERROR_WANT_READ) {
                    want_read = 1;
                    if (t->net_eof) {
                        set_err(t, "unexpected EOF (no close_notify): the stream may be truncated", 0);
                        want_read = 0;
                        rc = -ECONNRESET;
                    }
                } else {
                    rc = fail(t, e);
                    t->dead = -ECONNABORTED;
                }
            }
        }
        pthread_mutex_unlock(&t->lock);
        if (!want_read)
            return rc;
        rc = feed(t); /* cancelled or failed: nothing lost, the records stay in `in` */
        if (rc < 0)
            return rc;
        if (rc == 0)
            t->net_eof = 1;
    }
}

int spool__tls_write(spool_stream *s, const void *p, size_t n)
{
    struct spool__tls *t = s->tls;
    const unsigned char *src = p;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < WRITE_CHUNK ? n - done : WRITE_CHUNK;
        size_t w = 0;
        pthread_mutex_lock(&t->lock);
        int rc = t->dead ? t->dead : t->write_closed ? -EPIPE : 0;
        if (!rc) {
            ERR_clear_error();
            if (SSL_write_ex(t->ssl, src + done, chunk, &w) != 1) {
                rc = fail(t, SSL_get_error(t->ssl, 0));
                t->dead = -ECONNABORTED;
            }
        }
        pthread_mutex_unlock(&t->lock);
        if (rc)
            return rc;
        rc = flush_or_break(t);
        if (rc < 0)
            return rc;
        done += w;
    }
    return (int)n;
}

int spool_stream_tls_shutdown(spool_stream *s)
{
    if (!s || !s->tls)
        return -EINVAL;
    if (!spool_current())
        return -EPERM;
    struct spool__tls *t = s->tls;
    pthread_mutex_lock(&t->lock);
    int rc = t->dead;
    if (!rc && !t->write_closed) {
        ERR_clear_error();
        int r = SSL_shutdown(t->ssl); /* 0: close_notify made, the peer's not seen yet; 1: both */
        if (r < 0) {
            rc = fail(t, SSL_get_error(t->ssl, r));
            t->dead = -ECONNABORTED;
        } else {
            t->write_closed = 1;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (rc)
        return rc;
    return flush_or_break(t);
}

void spool_stream_tls_free(spool_stream *s)
{
    if (!s || !s->tls)
        return;
    struct spool__tls *t = s->tls;
    SSL_free(t->ssl); /* and its BIOs */
    pthread_mutex_destroy(&t->lock);
    free(t);
    s->tls = NULL;
    s->start = s->end = 0;
}

const char *spool_stream_tls_alpn(const spool_stream *s)
{
    return s && s->tls && s->tls->alpn[0] ? s->tls->alpn : NULL;
}

const char *spool_stream_tls_error(const spool_stream *s)
{
    return s && s->tls && s->tls->err[0] ? s->tls->err : NULL;
}

#else /* !SPOOL_HAVE_OPENSSL: built without TLS */

int spool_tls_available(void)
{
    return 0;
}

int spool_tls_ctx_new(spool_tls_ctx **out, int role)
{
    (void)role;
    if (out)
        *out = NULL;
    return -EOPNOTSUPP;
}

void spool_tls_ctx_free(spool_tls_ctx *ctx)
{
    (void)ctx;
}

int spool_tls_ctx_use_cert_file(spool_tls_ctx *ctx, const char *cert_file, const char *key_file)
{
    return -EOPNOTSUPP;
}

int spool_tls_ctx_use_cert_pem(spool_tls_ctx *ctx, const void *cert_pem, size_t cert_len,
                               const void *key_pem, size_t key_len)
{
    return -EOPNOTSUPP;
}

int spool_tls_ctx_load_ca(spool_tls_ctx *ctx, const char *ca_file, const char *ca_dir)
{
    return -EOPNOTSUPP;
}

int spool_tls_ctx_load_ca_pem(spool_tls_ctx *ctx, const void *pem, size_t len)
{
    return -EOPNOTSUPP;
}

int spool_tls_ctx_set_verify(spool_tls_ctx *ctx, unsigned flags)
{
    return -EOPNOTSUPP;
}

int spool_tls_ctx_set_alpn(spool_tls_ctx *ctx, const char *const *protos, size_t n)
{
    return -EOPNOTSUPP;
}

const char *spool_tls_ctx_error(const spool_tls_ctx *ctx)
{
    return ctx ? "" : NULL;
}

int spool_stream_tls_connect(spool_stream *s, spool_tls_ctx *ctx, const char *server_name)
{
    return -EOPNOTSUPP;
}

int spool_stream_tls_accept(spool_stream *s, spool_tls_ctx *ctx)
{
    return -EOPNOTSUPP;
}

int spool_stream_tls_shutdown(spool_stream *s)
{
    return -EOPNOTSUPP;
}

void spool_stream_tls_free(spool_stream *s)
{
    (void)s;
}

const char *spool_stream_tls_alpn(const spool_stream *s)
{
    return NULL;
}

const char *spool_stream_tls_error(const spool_stream *s)
{
    return NULL;
}

/* Never called: no stream carries a session without TLS. */
int spool__tls_read(spool_stream *s, void *p, size_t n)
{
    return -EOPNOTSUPP;
}

int spool__tls_write(spool_stream *s, const void *p, size_t n)
{
    return -EOPNOTSUPP;
}

#endif /* SPOOL_HAVE_OPENSSL */

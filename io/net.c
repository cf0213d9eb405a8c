/*
 * net.c — listeners and connections by name: TCP (IPv4 and IPv6, names
 * resolved with getaddrinfo on the blocking pool) and Unix-domain sockets.
 */
#include "io.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct resolve {
    const char *host;
    char port[8];
    int passive;
    struct addrinfo *res;
};

/* getaddrinfo's error as an errno. */
static int gai_errno(int rc)
{
    switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return -errno;
    default:
        return -EINVAL;
    }
}

static int resolve_blocking(void *arg)
{
    struct resolve *r = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (r->passive ? AI_PASSIVE : AI_ADDRCONFIG);
    int rc = getaddrinfo(r->host, r->port, &hints, &r->res);
    return rc ? gai_errno(rc) : 0;
}

/* Resolves host:port on the blocking pool into r->res (freeaddrinfo it). */
static int resolve(struct resolve *r, const char *host, unsigned port, int passive)
{
    if (port > 65535)
        return -EINVAL;
    r->host = host;
    snprintf(r->port, sizeof r->port, "%u", port);
    r->passive = passive;
    r->res = NULL;
    return spool_to_thread(resolve_blocking, r);
}

/* A socket bound to addr and listening, or -errno. */
static int listen_on(const struct sockaddr *addr, socklen_t len, int backlog, int reuse)
{
    int fd = spool_socket(addr->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int one = 1;
    if ((reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
        bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int spool_tcp_listen(const char *host, unsigned port, int backlog)
{
    struct resolve r;
    int rc = resolve(&r, host, port, 1);
    if (rc)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = r.res; a; a = a->ai_next) {
        rc = listen_on(a->ai_addr, a->ai_addrlen, backlog, 1);
        if (rc >= 0)
            break;
    }
    freeaddrinfo(r.res);
    return rc;
}

int spool_tcp_connect(const char *host, unsigned port)
{
    if (!host)
        return -EINVAL; /* getaddrinfo would take NULL for the loopback address */
    struct resolve r;
    int rc = resolve(&r, host, port, 0);
    if (rc)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = r.res; a; a = a->ai_next) {
        int fd = spool_socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        rc = spool_connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc == 0) {
            rc = fd;
            break;
        }
        close(fd);
        if (rc == -ECANCELED || rc == -ETIMEDOUT)
            break; /* the caller gave up: no next address */
    }
    freeaddrinfo(r.res);
    return rc;
}

/* A sockaddr_un for path, or -EINVAL / -ENAMETOOLONG. */
static int unix_address(const char *path, struct sockaddr_un *sun)
{
    if (!path || !*path)
        return -EINVAL;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    strcpy(sun->sun_path, path);
    return 0;
}

int spool_unix_listen(const char *path, int backlog)
{
    struct sockaddr_un sun;
    int rc = unix_address(path, &sun);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from an earlier run; anything else stays and bind says EADDRINUSE */
    return listen_on((const struct sockaddr *)&sun, sizeof sun, backlog, 0);
}

int spool_unix_connect(const char *path)
{
    struct sockaddr_un sun;
    int rc = unix_address(path, &sun);
    if (rc)
        return rc;
    int fd = spool_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    rc = spool_connect(fd, (const struct sockaddr *)&sun, sizeof sun);
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

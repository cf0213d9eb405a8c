/*
 * echo_server.c — a TCP echo server: one task per connection, every wait
 * on io_uring. The C twin of asyncio's streams echo server:
 *
 *     async def handle(reader, writer):
 *         while data := await reader.read(65536):
 *             writer.write(data)
 *             await writer.drain()
 *         writer.close()
 *
 *     async def main():
 *         server = await asyncio.start_server(handle, "127.0.0.1", 8888)
 *         async with server:
 *             await server.serve_forever()
 *
 * usage: echo_server [--host HOST] [--port N] [--workers N] [--idle-ms MS]
 *   --host   address to bind (default 127.0.0.1)
 *   --port   TCP port (default 8888; 0: any free port, printed)
 *   --workers worker threads (default: one per online CPU)
 *   --idle-ms close a connection that sends nothing for that long, or
 *            does not take an echo within that long (default 60000;
 *            0: never), so idle clients cannot hold every fd
 * Prints "backend: DRIVER" (spool_backend_name(): io_uring or epoll) and
 * then "listening on HOST:PORT" on stderr once it accepts connections;
 * stops cleanly on SIGINT or SIGTERM (spool_signal_wait; the accept loop
 * is cancelled, then spool_run's shutdown cancels the connections still
 * open).
 *
 * The accept loop keeps serving when the process runs out of file
 * descriptors: accept's -EMFILE / -ENFILE make it sleep a few
 * milliseconds and try again (the pending connections wait in the
 * listen backlog meanwhile). Each connection task owns its fd from the
 * spawn on (spool_spawn_owned): if the task cannot start (no memory for
 * its stack), its drop closes the fd, so no socket is left behind.
 *
 * tests/test_echo_server.c includes this file with ECHO_SERVER_NO_MAIN
 * defined, to run the same server as a task of its own runtime.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spool/spool.h>

/* How long the accept loop sleeps when the process is out of fds. */
#define ECHO_BACKOFF_MS 5
/* Bytes read per recv. */
#define ECHO_BUF 16384
/* The idle timeout main gives the server (--idle-ms). */
#define ECHO_IDLE_MS 60000

/* A running server. Counters are for tests and reports: relaxed
 * increments, ordering nothing (readers wait for a count, then look). */
struct echo_server {
    const char *host;          /* bind address */
    unsigned port;             /* requested port; the bound one after start */
    int backlog;
    uint64_t idle_ns;          /* close a connection idle this long (echo_io); 0: never */
    int listen_fd;
    spool_task *accept_task;   /* the accept loop, joined by echo_server_stop */
    _Atomic uint64_t accepted; /* connections accepted */
    _Atomic uint64_t closed;   /* connections finished */
    _Atomic uint64_t backoffs; /* accept failures for lack of fds (EMFILE, ...) */
    _Atomic uint64_t errors;   /* connections ended by a recv/send error */
    _Atomic uint64_t idle;     /* connections closed by the idle timeout */
    _Atomic uint64_t unserved; /* connections whose task could not start */
};

struct echo_conn {
    struct echo_server *server;
    int fd;
};

/* recv, or send_all, within the server's idle timeout: -ETIMEDOUT if
 * the peer sends nothing (does not take all n bytes) within s->idle_ns. */
static int echo_io(const struct echo_server *s, int fd, char *buf, size_t n, int send)
{
    spool_timeout to;
    if (s->idle_ns)
        spool_timeout_enter(&to, s->idle_ns);
    int rc = send ? spool_send_all(fd, buf, n, 0) : spool_recv(fd, buf, n, 0);
    if (s->idle_ns)
        spool_timeout_exit(&to);
    return rc;
}

/* One connection: echoes what it reads until EOF, an error, the idle
 * timeout or cancel. Owns c (from the spawn on) and its fd. */
static int echo_conn_task(void *arg)
{
    struct echo_conn *c = arg;
    struct echo_server *s = c->server;
    int fd = c->fd;
    free(c);
    char buf[ECHO_BUF];
    int rc;
    for (;;) {
        rc = echo_io(s, fd, buf, sizeof buf, 0);
        if (rc <= 0)
            break;
        rc = echo_io(s, fd, buf, (size_t)rc, 1);
        if (rc < 0)
            break;
    }
    if (rc == -ETIMEDOUT)
        atomic_fetch_add_explicit(&s->idle, 1, memory_order_relaxed);
    else if (rc < 0 && rc != -ECANCELED)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    spool_close(fd); /* not a cancellation point */
    atomic_fetch_add_explicit(&s->closed, 1, memory_order_relaxed);
    /* A peer that vanished (reset, broken pipe) is not the server's
     * error: report nothing. */
    return 0;
}

/* echo_conn_task's drop (spool_spawn_owned): the task could not start
 * (or the spawn failed), so the connection is closed unserved. Runs in no
 * task (a worker's scheduler) or in the accept loop: plain close(2). */
static void echo_conn_drop(void *arg)
{
    struct echo_conn *c = arg;
    close(c->fd);
    atomic_fetch_add_explicit(&c->server->unserved, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->server->closed, 1, memory_order_relaxed);
    free(c);
}

/* Accepts from l, a task per connection, detached. Runs until
 * cancelled (returns 0) or the listener fails for good (its errno). */
static int echo_accept_conns(struct echo_server *s, spool_listener *l)
{
    for (;;) {
        int fd = spool_listener_accept(l, NULL, NULL);
        if (fd < 0) {
            switch (fd) {
            case -ECANCELED:
            case -ETIMEDOUT:
                return 0;
            case -EMFILE:
            case -ENFILE:
            case -ENOBUFS:
            case -ENOMEM:
            case -EBUSY:
                /* Out of fds, memory or SQEs: the connections we have go on;
                 * the new ones wait in the backlog until some close. */
                atomic_fetch_add_explicit(&s->backoffs, 1, memory_order_relaxed);
                if (spool_sleep_ms(ECHO_BACKOFF_MS) < 0)
                    return 0;
                continue;
            case -ECONNABORTED:
            case -EINTR:
            case -EAGAIN:
            case -EPROTO:
            case -EPERM:
                continue; /* that connection is gone; the next one */
            default:
                return fd; /* -EBADF, -EINVAL: the listener is broken */
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as asyncio does */
        struct echo_conn *c = malloc(sizeof *c);
        if (!c)
            close(fd);
        spool_task *t = NULL;
        if (c) {
            c->server = s;
            c->fd = fd;
            atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
            /* The task owns c and fd from here, whatever happens:
             * echo_conn_task or echo_conn_drop releases them (the drop at
             * once if the spawn fails). */
            t = spool_spawn_owned(echo_conn_task, c, echo_conn_drop);
        }
        if (!t) {
            atomic_fetch_add_explicit(&s->backoffs, 1, memory_order_relaxed);
            if (spool_sleep_ms(ECHO_BACKOFF_MS) < 0)
                return 0;
            continue;
        }
        spool_detach(t);
    }
}

/* The accept loop: one multishot accept (a spool_listener) on the
 * listening socket for the server's life. */
static int echo_accept_loop(void *arg)
{
    struct echo_server *s = arg;
    spool_listener *l = spool_listener_open(s->listen_fd);
    if (!l)
        return -errno;
    int rc = echo_accept_conns(s, l);
    spool_listener_close(l); /* not a cancellation point */
    return rc;
}

/* Binds, listens and starts the accept loop. s->port becomes the bound
 * port (useful with port 0). Returns: 0, or the listener's errno.
 * Context: task context. */
static int echo_server_start(struct echo_server *s)
{
    int fd = spool_tcp_listen(s->host, s->port, s->backlog > 0 ? s->backlog : 4096);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    s->listen_fd = fd;
    s->accept_task = spool_spawn(echo_accept_loop, s);
    if (!s->accept_task) {
        close(fd);
        s->listen_fd = -1;
        return -ENOMEM;
    }
    spool_task_set_name(s->accept_task, "echo accept loop");
    return 0;
}

/* Cancels the accept loop, waits for it and closes the listener; the
 * connections go on (spool_run's shutdown cancels them when main
 * returns). Returns: the accept loop's result (0 unless the listener
 * failed). Context: task context. */
static int echo_server_stop(struct echo_server *s)
{
    int rc = 0;
    if (s->accept_task) {
        spool_task_cancel(s->accept_task);
        spool_shield_begin(); /* wait for it even if we are cancelled */
        rc = spool_join(s->accept_task);
        spool_shield_end();
        s->accept_task = NULL;
    }
    if (s->listen_fd >= 0) {
        spool_close(s->listen_fd);
        s->listen_fd = -1;
    }
    return rc;
}

#ifndef ECHO_SERVER_NO_MAIN

struct opts {
    struct echo_server server;
    sigset_t stop_signals;
};

static int main_task(void *arg)
{
    struct opts *o = arg;
    struct echo_server *s = &o->server;
    int rc = echo_server_start(s);
    if (rc < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s:%u: %s\n", s->host, s->port,
                spool_strerror(rc));
        return rc;
    }
    fprintf(stderr, "backend: %s\nlistening on %s:%u\n", spool_backend_name(), s->host, s->port);
    /* The stop signals are blocked in every thread (main, before
     * spool_run): only this wait takes them. */
    int sig = spool_signal_wait(&o->stop_signals);
    rc = echo_server_stop(s);
    fprintf(stderr, "echo_server: %s; %llu connections accepted, %llu still open, "
                    "%llu closed idle, %llu unserved (no memory), %llu accept back-offs\n",
            sig > 0 ? strsignal(sig) : spool_strerror(sig),
            (unsigned long long)atomic_load(&s->accepted),
            (unsigned long long)(atomic_load(&s->accepted) - atomic_load(&s->closed)),
            (unsigned long long)atomic_load(&s->idle),
            (unsigned long long)atomic_load(&s->unserved),
            (unsigned long long)atomic_load(&s->backoffs));
    if (rc < 0)
        fprintf(stderr, "echo_server: accept loop failed: %s\n", spool_strerror(rc));
    if (sig < 0)
        return sig;
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_server [--host HOST] [--port N] [--workers N] [--idle-ms MS]\n");
    exit(2);
}

static unsigned long parse_num(const char *v, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n > max)
        usage();
    return n;
}

int main(int argc, char **argv)
{
    static struct opts o;
    o.server.host = "127.0.0.1";
    o.server.port = 8888;
    o.server.listen_fd = -1;
    o.server.idle_ns = ECHO_IDLE_MS * SPOOL_MSEC;
    spool_config cfg = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        if (!strcmp(a, "--host"))
            o.server.host = argv[++i];
        else if (!strcmp(a, "--port"))
            o.server.port = (unsigned)parse_num(argv[++i], 65535);
        else if (!strcmp(a, "--workers"))
            cfg.workers = (unsigned)parse_num(argv[++i], SPOOL_MAX_WORKERS);
        else if (!strcmp(a, "--idle-ms"))
            o.server.idle_ns = parse_num(argv[++i], 86400000UL) * SPOOL_MSEC;
        else
            usage();
    }
    /* Block the stop signals in every thread (the workers inherit this
     * mask) so that only spool_signal_wait takes them. */
    sigemptyset(&o.stop_signals);
    sigaddset(&o.stop_signals, SIGINT);
    sigaddset(&o.stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &o.stop_signals, NULL);
    int rc = spool_run(main_task, &o, &cfg);
    if (rc < 0) {
        fprintf(stderr, "echo_server: %s\n", spool_strerror(rc));
        return 1;
    }
    return 0;
}

#endif /* ECHO_SERVER_NO_MAIN */

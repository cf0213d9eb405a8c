/*
 * process.c — child processes (spool.h, "Subprocesses"): spawn with
 * posix_spawn, wait through a pidfd on the driver, signal through the
 * pidfd, communicate with a task per pipe.
 *
 * Why a pidfd, and no SIGCHLD
 *   A SIGCHLD handler is process-wide: a library that installs one takes
 *   it from the program, and the classic handler (waitpid(-1) in a loop)
 *   reaps every child, also those of other code, which then loses their
 *   status. asyncio went through four child watchers for this reason and
 *   settled on pidfds. A pidfd names one process; it polls readable when
 *   that process exits, so the wait is a poll on the worker's ring or
 *   epoll set like any other I/O (spool_poll), and waitid(P_PIDFD, ...,
 *   WNOHANG) then reaps exactly that child, never another.
 *
 * Why the pid cannot be reused between posix_spawn and pidfd_open
 *   The child is ours and nobody has reaped it: until it is reaped, its
 *   pid stays allocated to it (alive or zombie), so pidfd_open(pid) can
 *   only name our child. Two things break that: the kernel's auto-reap
 *   when SIGCHLD is ignored (SIG_IGN or SA_NOCLDWAIT: the child is
 *   reaped as it exits, its status gone, and its pid free for reuse), and
 *   another part of the program reaping with waitpid(-1). We refuse the
 *   first at spawn (-ECHILD, checked just before; a disposition changed
 *   concurrently by another thread is the program's race) and document
 *   the second; waitid then says ECHILD and so do we. From pidfd_open on,
 *   nothing can be confused: signals go through the pidfd
 *   (pidfd_send_signal), and a reaped child's pidfd says ESRCH.
 *
 * Why posix_spawn runs inline (not on the blocking pool)
 *   glibc's posix_spawn is clone(CLONE_VM | CLONE_VFORK): the calling
 *   thread is suspended from the clone until the child calls execve (or
 *   fails), and no page table is copied, so the cost does not grow with
 *   the parent's memory as fork's does: tens to hundreds of
 *   microseconds. Handing the call to a pool thread costs two thread
 *   switches and a thread for no gain; only the calling worker waits
 *   (others steal its queue meanwhile), as asyncio's, libuv's and
 *   Tokio's spawns wait on their loop threads. The child's exec failure
 *   comes back as posix_spawn's result (glibc >= 2.24 reports it and
 *   reaps the failed child itself), so -ENOENT leaves no zombie.
 *
 * Descriptors
 *   Every pipe is created O_CLOEXEC; the child's ends are moved above 2
 *   first (so that one dup2 cannot overwrite another's source when the
 *   parent has closed its own 0, 1 or 2), dup2'ed onto 0, 1, 2 in the
 *   child, and closed in the parent after the spawn. The parent's ends
 *   stay blocking on io_uring (an O_NONBLOCK pipe's read there can come
 *   back -EAGAIN instead of waiting) and are made O_NONBLOCK on epoll (as
 *   io/ready.c does to any pipe, and here also for ends that land on 0, 1
 *   or 2, which ready.c would otherwise send to the blocking pool).
 *
 * Who may touch a spool_process
 *   Its fields are written by spawn, by the one task waiting (wait,
 *   try_wait, communicate; communicate's own tasks each write only their
 *   pipe's fd) and by close; pidfd does not change from spawn to close,
 *   so spool_process_send_signal may run on any thread meanwhile.
 */
#include "io.h"

#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* spool_process.state */
enum { PROC_RUNNING = 0, PROC_REAPED = 1, PROC_LOST = 2 };

static int sys_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void clear(spool_process *p)
{
    p->pid = -1;
    p->stdin_fd = p->stdout_fd = p->stderr_fd = -1;
    p->pidfd = -1;
    p->state = PROC_LOST;
    p->status = 0;
}

/* Moves fd above the standard streams (keeping O_CLOEXEC). Returns the
 * fd to use, or -errno (fd closed either way on error). */
static int above_stdio(int fd)
{
    if (fd > STDERR_FILENO)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int err = errno;
    close(fd);
    return nfd < 0 ? -err : nfd;
}

/* What one spawn holds until it is done: the pipes' two ends per stream
 * (-1: none). */
struct spawn_fds {
    int parent[3];
    int child[3];
};

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

/* Sets up stream i (0 stdin, 1 stdout, 2 stderr) for `mode`: a pipe's
 * ends in f, a file action for the child. Returns 0 or -errno. */
static int setup_stdio(int i, spool_stdio mode, struct spawn_fds *f, posix_spawn_file_actions_t *fa,
                       bool nonblock)
{
    switch (mode) {
    case SPOOL_STDIO_INHERIT:
        return 0;
    case SPOOL_STDIO_DEVNULL:
        /* Opened in the child: no fd of ours to leak. */
        return -posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    case SPOOL_STDIO_STDOUT:
        if (i != 2)
            return -EINVAL;
        return -posix_spawn_file_actions_adddup2(fa, 1, 2);
    case SPOOL_STDIO_PIPE: {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        /* stdin: the child reads fds[0]; stdout, stderr: it writes fds[1]. */
        int child = i == 0 ? fds[0] : fds[1];
        f->parent[i] = i == 0 ? fds[1] : fds[0];
        f->child[i] = above_stdio(child);
        if (f->child[i] < 0)
            return f->child[i];
        if (nonblock) {
            int fl = fcntl(f->parent[i], F_GETFL);
            if (fl < 0 || fcntl(f->parent[i], F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        }
        return -posix_spawn_file_actions_adddup2(fa, f->child[i], i);
    }
    }
    return -EINVAL;
}

/* pidfd_open works here: 1 yes, or the -errno that says it does not
 * (ENOSYS: Linux < 5.3; EPERM: a seccomp filter), learned once per
 * process; 0 not asked yet. Relaxed: each thread may ask once more. */
static _Atomic int pidfd_support;

static int check_pidfd(void)
{
    int s = atomic_load_explicit(&pidfd_support, memory_order_relaxed);
    if (s)
        return s < 0 ? s : 0;
    int fd = sys_pidfd_open(getpid());
    if (fd < 0) {
        int err = -errno;
        if (err == -EMFILE || err == -ENFILE || err == -ENOMEM)
            return err; /* says nothing about support */
        atomic_store_explicit(&pidfd_support, err, memory_order_relaxed);
        return err;
    }
    close(fd);
    atomic_store_explicit(&pidfd_support, 1, memory_order_relaxed);
    return 0;
}

/* Reaps pid, which got SIGKILL, blocking a pool thread (or this one if
 * none can be had: a killed child is gone in microseconds). */
static int reap_blocking(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL); /* our unreaped child: the pid is still its */
    if (spool_to_thread(reap_blocking, (void *)(intptr_t)pid) < 0)
        reap_blocking((void *)(intptr_t)pid);
}

int spool_process_spawn(spool_process *p, const char *const argv[], const spool_process_options *opt)
{
    if (!p)
        return -EINVAL;
    clear(p);
    if (!argv || !argv[0])
        return -EINVAL;
    static const spool_process_options none;
    if (!opt)
        opt = &none;
    if ((unsigned)opt->in > SPOOL_STDIO_DEVNULL || (unsigned)opt->out > SPOOL_STDIO_DEVNULL ||
        (unsigned)opt->err > SPOOL_STDIO_STDOUT)
        return -EINVAL;
    if (!spool_in_task())
        return -EPERM;
    struct sigaction sa;
    if (sigaction(SIGCHLD, NULL, &sa) == 0 &&
        (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT)))
        return -ECHILD; /* children would be auto-reaped: see the top */
    int rc = check_pidfd();
    if (rc)
        return rc;

    struct spawn_fds f = {{-1, -1, -1}, {-1, -1, -1}};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return -rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -rc;
    }
    bool nonblock = spool__on_epoll();
    const spool_stdio modes[3] = {opt->in, opt->out, opt->err};
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = setup_stdio(i, modes[i], &f, &fa, nonblock);
    if (rc == 0 && opt->cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, opt->cwd);
    /* The workers' signal mask is the spool_run caller's (signals blocked
     * for spool_signal_wait): the child starts with none blocked, and
     * with SIGPIPE at its default (a parent that ignores it for -EPIPE
     * should not make `head` in the child see EPIPE instead). */
    sigset_t empty, pipe_set;
    sigemptyset(&empty);
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (rc == 0)
        rc = -posix_spawnattr_setsigmask(&attr, &empty);
    if (rc == 0)
        rc = -posix_spawnattr_setsigdefault(&attr, &pipe_set);
    if (rc == 0)
        rc = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (rc == 0) {
        char *const *env = opt->env ? (char *const *)opt->env : environ;
        rc = -posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, env);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fds(f.child, 3);
    if (rc != 0) {
        close_fds(f.parent, 3);
        return rc;
    }
    /* Our child, unreaped: pid cannot name another process (see the top). */
    int pidfd = sys_pidfd_open(pid);
    if (pidfd < 0) {
        rc = -errno;
        close_fds(f.parent, 3);
        kill_and_reap(pid);
        return rc;
    }
    p->pid = pid;
    p->stdin_fd = f.parent[0];
    p->stdout_fd = f.parent[1];
    p->stderr_fd = f.parent[2];
    p->pidfd = pidfd;
    p->state = PROC_RUNNING;
    return 0;
}

int spool_process_spawn_shell(spool_process *p, const char *command, const spool_process_options *opt)
{
    if (!command) {
        if (p)
            clear(p);
        return -EINVAL;
    }
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    return spool_process_spawn(p, argv, opt);
}

/* Reaps the child if it has exited (options: WNOHANG). Returns the wait
 * status, -EAGAIN still running, -ECHILD lost, or -errno. */
static int reap(spool_process *p, int options)
{
    if (p->state == PROC_REAPED)
        return p->status;
    if (p->state == PROC_LOST)
        return -ECHILD;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | options) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == ECHILD) {
            p->state = PROC_LOST;
            return -ECHILD;
        }
        return -errno;
    }
    if (si.si_pid == 0)
        return -EAGAIN; /* WNOHANG: not yet */
    /* The classic wait(2) encoding, for <sys/wait.h>'s macros. */
    int st;
    if (si.si_code == CLD_EXITED)
        st = (si.si_status & 0xff) << 8;
    else
        st = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
    p->status = st;
    p->state = PROC_REAPED;
    return st;
}

int spool_process_try_wait(spool_process *p)
{
    if (!p || p->pidfd < 0)
        return -EINVAL;
    return reap(p, WNOHANG);
}

int spool_process_wait(spool_process *p)
{
    if (!p || p->pidfd < 0)
        return -EINVAL;
    if (!spool_in_task())
        return -EPERM;
    for (;;) {
        /* Exited already: the status, without waiting (and so not a
         * cancellation point, as a stream read its buffer serves). */
        int rc = reap(p, WNOHANG);
        if (rc != -EAGAIN)
            return rc;
        /* Readable once the child has exited; a wait that gives up
         * leaves it running and waitable. */
        rc = spool_poll(p->pidfd, POLLIN);
        if (rc < 0)
            return rc;
    }
}

int spool_process_send_signal(spool_process *p, int sig)
{
    if (!p || p->pidfd < 0)
        return -EINVAL;
    return sys_pidfd_send_signal(p->pidfd, sig) < 0 ? -errno : 0;
}

int spool_process_terminate(spool_process *p)
{
    return spool_process_send_signal(p, SIGTERM);
}

int spool_process_kill(spool_process *p)
{
    return spool_process_send_signal(p, SIGKILL);
}

/* ---- communicate ------------------------------------------------------------ */

/* One pipe's job in communicate, run as a task of its group. */
struct pipe_job {
    int *fd;                      /* the field of p: closed and set to -1 when done */
    const char *in;               /* stdin: what to write */
    size_t n;
    spool_process_output *out;    /* stdout / stderr: where to store (NULL: drop) */
};

static void close_field(int *fd)
{
    close(*fd);
    *fd = -1;
}

/* A write to a pipe whose reader may have gone, which must not raise
 * SIGPIPE in the parent. The pipe gives no MSG_NOSIGNAL, and the
 * disposition is the program's; so SIGPIPE is blocked in this thread for
 * the one write(2) (no suspension in between: the task stays on this
 * thread), and the thread-directed SIGPIPE that an EPIPE raises is taken
 * back with sigtimedwait before the mask is restored (unless one was
 * already pending: that one is not ours to take). The fd is O_NONBLOCK
 * (set by the caller), so the call never blocks the worker.
 * Returns the count, or -errno. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, buf, n);
    int err = w < 0 ? errno : 0;
    if (err == EPIPE && !was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return w < 0 ? -err : w;
}

static int feed_stdin(void *arg)
{
    struct pipe_job *j = arg;
    int fd = *j->fd;
    size_t done = 0;
    while (done < j->n) {
        size_t chunk = j->n - done;
        if (chunk > INT_MAX)
            chunk = INT_MAX;
        ssize_t w = write_nosigpipe(fd, j->in + done, chunk);
        if (w >= 0) {
            done += (size_t)w;
            continue;
        }
        if (w == -EINTR)
            continue;
        if (w == -EPIPE)
            break; /* the child closed its stdin: the rest is dropped (asyncio) */
        if (w != -EAGAIN)
            return (int)w;
        int rc = spool_poll(fd, POLLOUT);
        if (rc < 0)
            return rc;
    }
    close_field(j->fd); /* EOF for the child */
    return 0;
}

/* The room a growable buffer keeps free for the next read. */
#define GROW_MIN ((size_t)64 * 1024)

static int drain_output(void *arg)
{
    struct pipe_job *j = arg;
    int fd = *j->fd;
    spool_process_output *o = j->out;
    char scratch[8192];
    for (;;) {
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (o && o->grow) {
            if (o->cap - o->len < GROW_MIN / 4) {
                size_t cap = o->cap < GROW_MIN ? GROW_MIN : o->cap * 2;
                if (cap < o->cap)
                    return -ENOMEM;
                char *d = realloc(o->data, cap);
                if (!d)
                    return -ENOMEM; /* o->data still holds what came */
                o->data = d;
                o->cap = cap;
            }
            dst = o->data + o->len;
            room = o->cap - o->len;
        } else if (o) {
            if (o->len == o->cap) {
                /* Full: more output is an error, EOF is not. Look
                 * without taking a byte. */
                int rc = spool_poll(fd, POLLIN);
                if (rc < 0)
                    return rc;
                if (rc & POLLIN)
                    return -EMSGSIZE;
                break; /* POLLHUP alone: EOF */
            }
            dst = o->data + o->len;
            room = o->cap - o->len;
        }
        int r = spool_read(fd, dst, room, -1);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        if (o)
            o->len += (size_t)r;
    }
    close_field(j->fd);
    return 0;
}

static int valid_output(const spool_process_output *o)
{
    return !o || o->grow || o->data || o->cap == 0;
}

int spool_process_communicate(spool_process *p, const void *input, size_t n, spool_process_output *out,
                              spool_process_output *err)
{
    if (!p || p->pidfd < 0 || (n > 0 && (!input || p->stdin_fd < 0)) || !valid_output(out) ||
        !valid_output(err) || (out && !out->grow && out->len > out->cap) ||
        (err && !err->grow && err->len > err->cap))
        return -EINVAL;
    if (!spool_in_task())
        return -EPERM;
    struct pipe_job jobs[3] = {
        {&p->stdin_fd, input, n, NULL},
        {&p->stdout_fd, NULL, 0, out},
        {&p->stderr_fd, NULL, 0, err},
    };
    /* The direct writes of feed_stdin need O_NONBLOCK (epoll runtimes
     * have it from the spawn); on io_uring it is put back if stdin stays
     * open, since that driver's reads and writes want blocking pipes. */
    int restore_fl = -1;
    if (p->stdin_fd >= 0 && n > 0) {
        int fl = fcntl(p->stdin_fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (!(fl & O_NONBLOCK)) {
            if (fcntl(p->stdin_fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
            restore_fl = fl;
        }
    } else if (p->stdin_fd >= 0) {
        close_field(&p->stdin_fd);
    }
    spool_group g;
    spool_group_init(&g);
    int rc = 0;
    static const spool_fn fns[3] = {feed_stdin, drain_output, drain_output};
    for (int i = 0; i < 3; i++) {
        if (*jobs[i].fd < 0)
            continue;
        if (!spool_group_spawn(&g, fns[i], &jobs[i])) {
            rc = -ENOMEM; /* fn and g are valid, the wait cannot have been cut: memory */
            spool_group_cancel(&g);
            break;
        }
    }
    /* Waits for all of them in every case (a cancelled or timed-out
     * caller cancels the group first): the jobs live on this stack. */
    int wrc = spool_group_wait(&g);
    if (rc == 0)
        rc = wrc;
    if (restore_fl >= 0 && p->stdin_fd >= 0)
        fcntl(p->stdin_fd, F_SETFL, restore_fl);
    if (rc < 0)
        return rc;
    return spool_process_wait(p);
}

int spool_process_close(spool_process *p)
{
    if (!p || p->pidfd < 0)
        return -EINVAL;
    if (!spool_in_task())
        return -EPERM;
    int *fds[3] = {&p->stdin_fd, &p->stdout_fd, &p->stderr_fd};
    for (int i = 0; i < 3; i++)
        if (*fds[i] >= 0)
            close_field(fds[i]);
    int rc = spool_process_wait(p);
    if (rc < 0 && rc != -ECHILD) {
        /* Cancelled, timed out (or a wait that could not be had): kill
         * and reap, shielded, so that no zombie is left. */
        spool_shield_begin();
        spool_process_kill(p);
        if (spool_process_wait(p) < 0 && p->state == PROC_RUNNING)
            reap(p, 0); /* the wait itself failed: block; SIGKILL ends it soon */
        spool_shield_end();
    }
    close(p->pidfd);
    p->pidfd = -1;
    return rc;
}

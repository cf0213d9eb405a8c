/*
 * driver.c — choosing a worker's driver, and the scheduler's side of the
 * seam (driver.h): each call goes to the io_uring driver (reactor.c) or
 * the epoll driver (epoll.c), after one branch on the runtime's choice.
 */
#include "driver.h"

#include "epoll.h"
#include "failpoint.h"
#include "reactor.h"
#include "scheduler.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/utsname.h>

const char *spool__backend_name(spool__backend b)
{
    return b == SPOOL__BACKEND_EPOLL ? "epoll" : "io_uring";
}

/* ---- choosing ------------------------------------------------------------ */

/* The opcodes spool's io_uring driver submits. */
static const struct {
    int op;
    const char *name;
} needed_ops[] = {
    {IORING_OP_MSG_RING, "MSG_RING"},   {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_READ, "READ"},           {IORING_OP_WRITE, "WRITE"},
    {IORING_OP_READV, "READV"},         {IORING_OP_WRITEV, "WRITEV"},
    {IORING_OP_FSYNC, "FSYNC"},         {IORING_OP_OPENAT, "OPENAT"},
    {IORING_OP_STATX, "STATX"},         {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_CONNECT, "CONNECT"},     {IORING_OP_ACCEPT, "ACCEPT"},
    {IORING_OP_RECV, "RECV"},           {IORING_OP_SEND, "SEND"},
    {IORING_OP_RECVMSG, "RECVMSG"},     {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_POLL_ADD, "POLL_ADD"},
};

/* The probe's verdict, once per process: 0 (io_uring usable) or a
 * negative errno, and why in words. */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_rc;
static char probe_why[256];
static _Atomic int fallback_said;

static const char *kernel_release(void)
{
    static struct utsname u;
    return uname(&u) == 0 ? u.release : "unknown";
}

/* Why io_uring_setup said rc, in words a person can act on. */
static void explain_setup_error(int rc)
{
    char disabled[8] = "";
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    if (f) {
        if (!fgets(disabled, sizeof disabled, f))
            disabled[0] = 0;
        fclose(f);
        disabled[strcspn(disabled, "\n")] = 0;
    }
    if (rc == -EPERM && disabled[0] && disabled[0] != '0')
        snprintf(probe_why, sizeof probe_why,
                 "io_uring_setup refused (EPERM): kernel.io_uring_disabled=%s on this host", disabled);
    else if (rc == -EPERM)
        snprintf(probe_why, sizeof probe_why,
                 "io_uring_setup refused (EPERM): a seccomp filter or container policy forbids it "
                 "(the default of Docker, containerd and Kubernetes' RuntimeDefault)");
    else if (rc == -ENOSYS)
        snprintf(probe_why, sizeof probe_why,
                 "io_uring_setup is missing (ENOSYS): Linux %s without io_uring, or a sandbox or an "
                 "emulator (qemu-user) without it",
                 kernel_release());
    else
        snprintf(probe_why, sizeof probe_why, "io_uring_setup failed: %s (Linux %s)", strerror(-rc),
                 kernel_release());
}

static void probe(void)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) {
        probe_rc = rc;
        explain_setup_error(rc);
        return;
    }
    /* A ring that can be set up but not entered (a seccomp filter that
     * lets io_uring_setup through and refuses io_uring_enter) is refused
     * all the same: a NOP must complete. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    struct io_uring_cqe *cqe = NULL;
    io_uring_prep_nop(sqe);
    rc = io_uring_submit_and_wait(&ring, 1);
    if (rc >= 0)
        rc = io_uring_peek_cqe(&ring, &cqe);
    if (rc < 0) {
        probe_rc = rc;
        snprintf(probe_why, sizeof probe_why, "io_uring_enter refused (%s): a seccomp filter or container policy "
                 "forbids it", strerror(-rc));
        io_uring_queue_exit(&ring);
        return;
    }
    io_uring_cqe_seen(&ring, cqe);
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    if (!p) {
        probe_rc = -EINVAL;
        snprintf(probe_why, sizeof probe_why, "the kernel cannot list its io_uring opcodes (Linux %s, before 5.6)",
                 kernel_release());
    } else {
        for (size_t i = 0; i < sizeof needed_ops / sizeof needed_ops[0]; i++) {
            if (!io_uring_opcode_supported(p, needed_ops[i].op)) {
                probe_rc = -EINVAL;
                snprintf(probe_why, sizeof probe_why, "io_uring lacks IORING_OP_%s (Linux %s)", needed_ops[i].name,
                         kernel_release());
                break;
            }
        }
        io_uring_free_probe(p);
    }
    io_uring_queue_exit(&ring);
}

/* SPOOL_BACKEND's value as a backend: 0 unset or empty, -1 unknown. */
static int backend_from_env(void)
{
    const char *env = getenv("SPOOL_BACKEND");
    if (!env || !*env || strcmp(env, "auto") == 0)
        return 0;
    if (strcmp(env, "io_uring") == 0)
        return SPOOL__BACKEND_URING;
    if (strcmp(env, "epoll") == 0)
        return SPOOL__BACKEND_EPOLL;
    return -1;
}

int spool__driver_choose(const spool_config *cfg, spool__backend *out)
{
    spool_backend asked = cfg ? cfg->backend : SPOOL_BACKEND_AUTO;
    if (asked == SPOOL_BACKEND_IO_URING || asked == SPOOL_BACKEND_EPOLL) {
        *out = asked == SPOOL_BACKEND_EPOLL ? SPOOL__BACKEND_EPOLL : SPOOL__BACKEND_URING;
        return 0;
    }
    if (asked != SPOOL_BACKEND_AUTO)
        return -EINVAL;
    int env = backend_from_env();
    if (env < 0)
        return -EINVAL;
    if (env > 0) {
        *out = (spool__backend)env;
        return 0;
    }
    pthread_once(&probe_once, probe);
    if (probe_rc == 0) {
        *out = SPOOL__BACKEND_URING;
        return 0;
    }
    *out = SPOOL__BACKEND_EPOLL;
    if (!(cfg && cfg->quiet_fallback) && !atomic_exchange(&fallback_said, 1))
        fprintf(stderr, "spool: %s; running on epoll (SPOOL_BACKEND=epoll chooses it without this line)\n",
                probe_why);
    return 0;
}

/* ---- the scheduler's side ------------------------------------------------ */

static bool on_epoll(const spool__worker *w)
{
    return w->on_epoll;
}

/* The epoll driver's wake-up of a task whose fd is ready (or whose
 * waiter it took out on request): the owner worker makes it runnable at
 * the back of the global queue, as an io_uring completion does. */
static void wake_ready(void *worker, spool_task *t)
{
    if (spool__unpark_claim(t))
        spool__wake_fifo(worker, t);
}

int spool__driver_init(spool__worker *w)
{
    w->on_epoll = w->rt->backend == SPOOL__BACKEND_EPOLL;
    if (on_epoll(w))
        return spool__failpoint_hit(SPOOL__FAIL_RING) ? -ENOMEM : spool__epoll_init(&w->ep);
    /* The reactor's on_cqe is io/'s to set, with its first SQE. */
    int rc = spool__reactor_init(&w->reactor);
    if (rc == 0)
        /* Release: pairs with the acquire loads of wakers (scheduler.c);
         * the start latch orders it before any of them anyway. */
        atomic_store_explicit(&w->ring_fd, spool__reactor_fd(&w->reactor), memory_order_release);
    return rc;
}

void spool__driver_exit(spool__worker *w)
{
    if (on_epoll(w))
        spool__epoll_exit(&w->ep);
    else
        spool__reactor_exit(&w->reactor);
}

int spool__driver_park(spool__worker *w, uint64_t timeout_ns)
{
    if (on_epoll(w))
        return spool__epoll_wait(&w->ep, timeout_ns, wake_ready, w);
    return spool__reactor_wait(&w->reactor, timeout_ns);
}

void spool__driver_poll(spool__worker *w)
{
    if (on_epoll(w))
        spool__epoll_wait(&w->ep, 0, wake_ready, w);
    else if (spool__reactor_enter_due(&w->reactor))
        spool__reactor_wait(&w->reactor, 0); /* submits, flushes, reaps; no wait */
    else
        spool__reactor_reap(&w->reactor);    /* no system call */
    spool__notify_if_queued(w); /* completions queued for anyone to take */
}

bool spool__driver_busy(spool__worker *w)
{
    if (on_epoll(w))
        return spool__epoll_busy(&w->ep);
    return w->io_inflight || io_uring_sq_ready(&w->reactor.ring);
}

int spool__driver_wake(spool__worker *from, spool__worker *target)
{
    if (on_epoll(from))
        return spool__epoll_wake(&target->ep);
    /* Acquire: pairs with the target's release store of its ring fd. */
    return spool__reactor_wake(&from->reactor, atomic_load_explicit(&target->ring_fd, memory_order_acquire));
}

int spool__driver_wake_epoll_from_anywhere(spool__worker *target)
{
    return spool__epoll_wake(&target->ep);
}

void spool__fd_set_drained(int fd)
{
    spool__epoll_set_drained(&spool__worker_current()->ep, fd);
}

bool spool__fd_take_drained(int fd)
{
    return spool__epoll_take_drained(&spool__worker_current()->ep, fd);
}

bool spool__on_epoll(void)
{
    spool__worker *w = spool__worker_current();
    return w && on_epoll(w);
}

/* ---- a task's wait for its fd (epoll) ------------------------------------ */

/* How long a task that asked another worker to let go of its waiter waits
 * before asking again (the request array may have been full). */
#define FD_WAIT_RETRY_NS (100u * 1000u * 1000u)

/* Takes the waiter out of its owner's table: directly on the owner (the
 * waiter is then done), else by a request; the owner wakes the task when
 * it has served it. */
static void give_up(spool__wait *wt, spool__worker *owner, spool__fd_waiter *fw)
{
    if (spool__worker_current() == owner) {
        spool__epoll_remove(&owner->ep, fw);
        return;
    }
    spool__epoll_request_remove(&owner->ep, fw);
    wt->own_deadline = spool_now_ns() + FD_WAIT_RETRY_NS;
    wt->armed = false; /* the next park arms a timer for it */
}

int spool__fd_wait(int fd, uint32_t events, const char *op)
{
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc)
        return rc;
    spool__wait_on(&wt, SPOOL__WAIT_IO, NULL); /* for spool_dump */
    wt.fd = fd;
    wt.op = op;
    spool__worker *owner = wt.w;
    spool__fd_waiter fw = {.task = wt.task, .fd = fd, .events = events};
    rc = spool__epoll_add(&owner->ep, &fw);
    if (rc)
        return rc;
    int err = 0;
    /* Acquire (both loads): pairs with the owner's release store of done,
     * so revents is the owner's once done reads 1. */
    while (!atomic_load_explicit(&fw.done, memory_order_acquire)) {
        int prc = spool__wait_park(&wt);
        if (atomic_load_explicit(&fw.done, memory_order_acquire))
            break;
        if (prc && !err) {
            err = prc;
            wt.shielded = true; /* until the owner lets go of fw */
            give_up(&wt, owner, &fw);
        } else if (err && spool_now_ns() >= wt.own_deadline) {
            give_up(&wt, owner, &fw); /* the request may have been dropped */
        }
    }
    spool__wait_end(&wt);
    /* Readiness that came with the cancellation took nothing: the
     * cancellation wins, and the caller's next try finds the data. */
    if (err)
        return err;
    return fw.revents ? (int)fw.revents : EPOLLERR;
}

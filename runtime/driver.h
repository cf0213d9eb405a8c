/*
 * driver.h — the seam between the scheduler and the kernel. Each worker
 * has one driver, of the kind its runtime chose once at spool_run:
 *
 *   io_uring (reactor.c, io/io.c)  completions: operations go to the
 *       kernel as SQEs, results come back as CQEs, a MSG_RING wakes a
 *       parked worker;
 *   epoll (epoll.c, io/ready.c)  readiness: a call tries its system call
 *       first and waits for its fd only on EAGAIN; an eventfd wakes a
 *       parked worker; regular files go to the blocking pool.
 *
 * The scheduler knows only the calls below: park until a deadline or a
 * wake-up, poll without waiting, wake another worker (from a worker or
 * from any thread), and whether operations are in flight. A task's side:
 * io/'s calls start operations through the driver of the worker they run
 * on (spool__io_start for io_uring, spool__fd_wait for epoll), and a
 * cancelled one waits for its driver to let go of its record.
 *
 * Choosing (spool__driver_choose): SPOOL_BACKEND in the environment, else
 * spool_config.backend, else a probe: a ring is set up and its opcodes
 * checked; where io_uring is refused (EPERM from a seccomp filter or
 * kernel.io_uring_disabled, ENOSYS, EINVAL, a missing opcode) epoll runs
 * instead, and one line on stderr says why (unless told to be quiet).
 */
#ifndef SPOOL_DRIVER_H
#define SPOOL_DRIVER_H

#include <spool/spool.h>
#include <stdbool.h>
#include <stdint.h>

struct spool__worker;
struct spool__runtime;

/* Which driver a runtime runs on. */
typedef enum spool__backend {
    SPOOL__BACKEND_URING = 1,
    SPOOL__BACKEND_EPOLL = 2,
} spool__backend;

/* Picks the driver for a runtime about to start: cfg's (or the
 * environment's) choice, else the probe's. Says on stderr, once per
 * process, why io_uring is not used when the probe refused it and
 * nothing asked for quiet. Returns 0 and sets *out, or -EINVAL for an
 * unknown SPOOL_BACKEND value or config field. A forced io_uring that
 * the kernel refuses is not an error here: the workers' ring set-up
 * fails, and spool_run returns that error. */
int spool__driver_choose(const spool_config *cfg, spool__backend *out);

/* The name of a backend ("io_uring", "epoll"). */
const char *spool__backend_name(spool__backend b);

/* Sets up w's driver on w's own thread (the owner of its ring or epoll
 * set). Returns 0 or a negative errno. */
int spool__driver_init(struct spool__worker *w);
void spool__driver_exit(struct spool__worker *w);

/* Parks w until a wake-up, an I/O event or timeout_ns (UINT64_MAX: no
 * limit), taking what came (completions wake their tasks). Returns the
 * number of wake-up messages taken, or a negative errno other than an
 * interruption. Owner only. */
int spool__driver_park(struct spool__worker *w, uint64_t timeout_ns);

/* Submits what is pending and takes what has come, without waiting;
 * then wakes an idle worker if that queued more than w takes itself.
 * Owner only. */
void spool__driver_poll(struct spool__worker *w);

/* Whether operations are in flight or waiting to go out on w's driver
 * (the scheduler then polls it while it looks for work). Owner only. */
bool spool__driver_busy(struct spool__worker *w);

/* Wakes worker `target` (parked or about to park) from worker `from`'s
 * thread. Returns 0 or a negative errno. */
int spool__driver_wake(struct spool__worker *from, struct spool__worker *target);

/* Wakes worker `target` from a thread outside the pool (remote.c
 * serialises the io_uring side, whose shared ring it owns). */
int spool__driver_wake_epoll_from_anywhere(struct spool__worker *target);

/* Waits until fd is ready for events (EPOLLIN or EPOLLOUT, maybe with
 * EPOLLPRI / EPOLLRDHUP) on an epoll runtime: the wait of io/ready.c's
 * calls after an EAGAIN. Cancellable, honours timeout scopes; a wait that
 * gives up waits, shielded, until the owner worker has let go of its
 * record. Returns the events seen (> 0), or -ECANCELED / -ETIMEDOUT,
 * -EPERM (outside a task; or an fd epoll cannot watch: a regular file),
 * -EBADF, -ENOMEM. `op` names the call that waits, for spool_dump (a
 * string literal: "recv"). Task context. */
int spool__fd_wait(int fd, uint32_t events, const char *op);

/* The epoll driver's drained hint for fd on the calling task's worker
 * (epoll.h, spool__epoll_set_drained): set it after a short read; take
 * it (true: it was set, and is cleared) before a read, to wait first.
 * Task context on an epoll runtime. */
void spool__fd_set_drained(int fd);
bool spool__fd_take_drained(int fd);

/* Whether the calling task's runtime runs on epoll (false outside a
 * task: the io_uring path then returns -EPERM as its first check). */
bool spool__on_epoll(void);

#endif /* SPOOL_DRIVER_H */

/*
 * signal.c — spool_signal_wait: a signalfd of its own per call, read on
 * the worker's ring (spool.h, "Signals").
 */
#include "io.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

int spool_signal_wait(const sigset_t *set)
{
    if (!set)
        return -EINVAL;
    /* Blocking (no SFD_NONBLOCK): io_uring waits for readiness itself;
     * on an O_NONBLOCK fd a read would just return -EAGAIN. */
    int fd = signalfd(-1, set, SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct signalfd_siginfo si;
    int rc = spool_read(fd, &si, sizeof si, -1);
    /* A plain close: through the ring it would fail once the task is
     * cancelled, and the read is over (the kernel is done with si). */
    close(fd);
    if (rc < 0)
        return rc;
    if (rc != (int)sizeof si)
        return -EIO;
    return (int)si.ssi_signo;
}

/*
 * lock.c — spool_lock: a bounded semaphore of one permit (sem.c), so it is
 * FIFO, hands the lock straight to the oldest waiter, and gives a waiter
 * that is cancelled or times out the same guarantees.
 */
#include <spool/spool.h>

#include <errno.h>

int spool_lock_init(spool_lock *lock)
{
    return lock ? spool_sem_init_bounded(&lock->sem, 1) : -EINVAL;
}

int spool_lock_acquire(spool_lock *lock)
{
    return lock ? spool_sem_acquire(&lock->sem) : -EINVAL;
}

int spool_lock_try_acquire(spool_lock *lock)
{
    return lock ? spool_sem_try_acquire(&lock->sem) : -EINVAL;
}

int spool_lock_release(spool_lock *lock)
{
    if (!lock)
        return -EINVAL;
    int rc = spool_sem_release(&lock->sem);
    return rc == -EOVERFLOW ? -EPERM : rc; /* it was not held */
}

int spool_lock_locked(const spool_lock *lock)
{
    if (!lock)
        return 0;
    /* Held unless its one permit is free (waiters imply held). */
    return spool_sem_value(&lock->sem) == 0;
}

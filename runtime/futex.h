/*
 * futex.h — the two futex calls plain threads block on (spool_join_blocking,
 * the queue's _blocking variants, blocking-pool hand-offs).
 */
#ifndef SPOOL_FUTEX_H
#define SPOOL_FUTEX_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sleeps while *word == expected (returns at once otherwise; may return
 * spuriously: callers loop). */
static inline void spool__futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

/* Wakes every thread sleeping on word. The word's memory may already be
 * gone (its owner saw the change and left): that only wakes nobody. */
static inline void spool__futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

#endif /* SPOOL_FUTEX_H */

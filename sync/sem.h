/*
 * sem.h — what the semaphore (sem.c) offers the rest of the library beyond
 * spool.h: an acquire whose wait spool_dump names as something else.
 */
#ifndef SPOOL_SEM_H
#define SPOOL_SEM_H

#include "wait.h"

#include <spool/spool.h>

/* spool_sem_acquire, with the wait described to spool_dump by as->kind,
 * as->obj, as->fd and as->op (the other fields of `as` are not read)
 * instead of as this semaphore: for a wait whose semaphore is a detail of
 * something else (a listener's accept waits for a permit per connection
 * its multishot accept queued, and says it is an accept on its fd).
 * Returns and errors: as spool_sem_acquire. */
int spool__sem_acquire_as(spool_sem *sem, const spool__wait *as);

#endif /* SPOOL_SEM_H */

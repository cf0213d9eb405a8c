/*
 * remote.h — remote.c's interface: the runtime seen from threads outside
 * its pool (their wake-ups, the global queue they push to, their record
 * cache), and the life cycle of that side. The rest of remote.c is public
 * (spool_spawn_on, spool_runtime_current).
 */
#ifndef SPOOL_REMOTE_H
#define SPOOL_REMOTE_H

#include <spool/spool.h>
#include <stdint.h>

struct spool__worker;
struct spool__runtime;

/* The worker-shaped record cache of threads outside the pool, or NULL. */
struct spool__worker *spool__remote_allocator(struct spool__runtime *rt);

/* Pushes t (runnable) on rt's global queue from any thread, and wakes a
 * parked worker for it. */
void spool__runtime_push_remote(struct spool__runtime *rt, spool_task *t);
/* The remote side's life cycle and record cache. close: no remote spawn
 * is accepted from now on, and every wait fails with -ECANCELED (sets
 * rt->cancelling). */
int spool__remote_init(struct spool__runtime *rt);
void spool__remote_destroy(struct spool__runtime *rt);
void spool__remote_close(struct spool__runtime *rt);
/* Waits until no plain thread is still touching the runtime after
 * queueing a task (the first step of tearing the runtime down). */
void spool__remote_quiesce(struct spool__runtime *rt);
void spool__remote_free_record(struct spool__runtime *rt, spool_task *t);
/* Like spool__notify (scheduler.h), for a thread that is not a worker of
 * rt. */
void spool__notify_remote(struct spool__runtime *rt);
/* Wakes worker `target` (parked or about to park) from a thread that is
 * not one of rt's workers, without claiming it (spool_dump's stop). */
void spool__remote_wake(struct spool__runtime *rt, struct spool__worker *target);
/* Holds / releases the lock under which threads outside the pool fill in
 * and free records (spool_dump reads records under it). */
void spool__remote_lock(struct spool__runtime *rt);
void spool__remote_unlock(struct spool__runtime *rt);
/* Tasks spawned from outside the pool so far; seq_cst. */
uint64_t spool__remote_spawned(struct spool__runtime *rt);

#endif /* SPOOL_REMOTE_H */

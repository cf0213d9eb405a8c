/*
 * blocking.h — blocking.c's interface: the blocking pool behind
 * spool_to_thread, created and destroyed with its runtime.
 */
#ifndef SPOOL_BLOCKING_H
#define SPOOL_BLOCKING_H

#include <stdint.h>

struct spool__runtime;

/* The blocking pool: created with the runtime, its threads on demand;
 * destroy joins them (none is busy by then: their callers are tasks, and
 * every task has ended). */
int spool__blocking_init(struct spool__runtime *rt, unsigned cap, uint64_t idle_ns);
void spool__blocking_destroy(struct spool__runtime *rt);

#endif /* SPOOL_BLOCKING_H */

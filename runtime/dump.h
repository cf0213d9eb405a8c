/*
 * dump.h — dump.c's interface: spool_dump's stop of the world as the
 * workers see it (the checkpoint at their scheduling points), the dump
 * itself for a thread outside the pool, and SIGQUIT in debug mode.
 */
#ifndef SPOOL_DUMP_H
#define SPOOL_DUMP_H

#include "worker.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

/* Whether a dump asks the workers to stop. Relaxed: a hint read at every
 * scheduler tick (one load of a line written twice a dump); the stop
 * itself re-reads it with acquire (spool__dump_pause). Any thread. */
static inline bool spool__dump_wanted(const spool__runtime *rt)
{
    return atomic_load_explicit(&rt->dump_stop, memory_order_relaxed) & 1u;
}

/* Stops w until the dump that asked for it is over. Called by w's own
 * loop between two tasks (no task of w running, no hand-off pending).
 * Owner only. */
void spool__dump_pause(spool__worker *w);

/* A worker's scheduling point: stops there while a dump runs. */
static inline void spool__dump_checkpoint(spool__worker *w)
{
    if (__builtin_expect(spool__dump_wanted(w->rt), 0))
        spool__dump_pause(w);
}

/* spool_dump for rt from a thread that is not one of its workers (the
 * SIGQUIT thread). Returns 0, -ENOMEM. */
int spool__dump(spool__runtime *rt, FILE *out);

/* Debug mode: SIGQUIT prints a dump on stderr (start: installs the
 * handler and starts the thread that dumps; stop: ends the thread and
 * puts back the disposition SIGQUIT had, unless the program installed
 * another meanwhile). Only one runtime of a process
 * holds SIGQUIT at a time; start does nothing for another. Called by
 * spool_run's thread. start returns 0 or a negative errno (the runtime
 * runs on without it). */
int spool__dump_signal_start(spool__runtime *rt);
void spool__dump_signal_stop(spool__runtime *rt);

#endif /* SPOOL_DUMP_H */

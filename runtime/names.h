/*
 * names.h — names.c's interface to the rest of the runtime: the name
 * table's side of freeing a record, and reading a name from a signal
 * handler (guard.c). spool_task_set_name and spool_task_name are public.
 */
#ifndef SPOOL_NAMES_H
#define SPOOL_NAMES_H

#include <spool/spool.h>

/* Drops t's entry from the name table. */
void spool__name_forget(spool_task *t);
/* spool_task_name for a signal handler (guard.c): NULL also when the
 * table's lock is held (by anyone: the interrupted code, maybe). */
const char *spool__task_name_in_signal(const spool_task *task);

#endif /* SPOOL_NAMES_H */

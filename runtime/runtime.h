/*
 * runtime.h — runtime.c's interface to the rest of the runtime: reports
 * about tasks, and the cancellation of every task once main has exited.
 * spool_run and the other public calls of runtime.c are in spool.h.
 */
#ifndef SPOOL_RUNTIME_H
#define SPOOL_RUNTIME_H

#include <spool/spool.h>
#include <stddef.h>

struct spool__worker;
struct spool__runtime;

/* Writes a task's name for reports into buf: "'name'" or "task 0x... (fn
 * 0x...)". */
void spool__task_describe(const spool_task *t, char *buf, size_t n);
/* Reports a detached task's failure. */
void spool__report_task_error(struct spool__runtime *rt, spool_task *t, int result);
/* Main has exited: cancel every task. Worker context. */
void spool__runtime_begin_cancel_all(struct spool__worker *w);

#endif /* SPOOL_RUNTIME_H */

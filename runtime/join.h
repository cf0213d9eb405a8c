/*
 * join.h — join.c's interface to the rest of the runtime: the exit path's
 * side of joining. (The join frame and the join word's values are in
 * task.h, with the record; the joins themselves are public calls.)
 */
#ifndef SPOOL_JOIN_H
#define SPOOL_JOIN_H

#include <spool/spool.h>

struct spool__worker;

/* The exit path's duties towards whoever owns the record: publish the
 * result to the joiner, or free a detached task. Worker context. */
void spool__task_publish_exit(struct spool__worker *w, spool_task *t);

#endif /* SPOOL_JOIN_H */

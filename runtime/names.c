/*
 * names.c — task names (spool_task_set_name), kept out of the 64-byte task
 * record: a process-wide table from record to name, under one mutex. Names
 * are for reports and debugging, so the table is off every hot path; a
 * record's NAMED state bit says whether it has an entry, so freeing an
 * unnamed record never looks here. The table is keyed by record; the
 * public calls take handles (task.h) and check them first.
 *
 * Orders: the table is under names_lock; the NAMED bit changes only under
 * it too (relaxed RMWs: they keep the park-token bits other threads CAS),
 * and is read without the lock as a hint: at worst a lookup under the
 * lock finds nothing, or a report racing spool_task_set_name misses the
 * name being set — which either order allows.
 */
#include "names.h"

#include "task.h"

#include <errno.h>
#include <stdlib.h>

#define BUCKETS 256u

struct name_entry {
    struct name_entry *next;
    const spool_task *task;
    const char *name;
};

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct name_entry *buckets[BUCKETS];

static struct name_entry **bucket_of(const spool_task *t)
{
    uintptr_t h = (uintptr_t)t / sizeof(spool_task);
    return &buckets[(h ^ (h >> 8)) % BUCKETS];
}

/* The link that points at t's entry, or at the NULL ending its bucket. */
static struct name_entry **find(const spool_task *t)
{
    struct name_entry **p = bucket_of(t);
    while (*p && (*p)->task != t)
        p = &(*p)->next;
    return p;
}

/* spool_task_set_name on a record. */
static int set_name(spool_task *task, const char *name)
{
    pthread_mutex_lock(&names_lock);
    struct name_entry **p = find(task);
    int rc = 0;
    if (*p && name) {
        (*p)->name = name;
    } else if (*p) {
        struct name_entry *e = *p;
        *p = e->next;
        free(e);
        atomic_fetch_and_explicit(&task->state, ~SPOOL__STATE_NAMED, memory_order_relaxed);
    } else if (name) {
        struct name_entry *e = malloc(sizeof *e);
        if (e) {
            *e = (struct name_entry){NULL, task, name};
            *p = e;
            atomic_fetch_or_explicit(&task->state, SPOOL__STATE_NAMED, memory_order_relaxed);
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&names_lock);
    return rc;
}

int spool_task_set_name(spool_task *handle, const char *name)
{
    if (!handle)
        return -EINVAL;
    spool_task *task = spool__handle_record(handle);
    if (spool__handle_stale(handle, task))
        return -EINVAL;
    return set_name(task, name);
}

/* The name of task, or NULL; names_lock held. */
static const char *name_locked(const spool_task *task)
{
    struct name_entry *e = *find(task);
    return e ? e->name : NULL;
}

const char *spool_task_name(const spool_task *handle)
{
    if (!handle)
        return NULL;
    const spool_task *task = spool__handle_record(handle);
    if (spool__handle_stale(handle, task) ||
        !(atomic_load_explicit(&task->state, memory_order_relaxed) & SPOOL__STATE_NAMED))
        return NULL;
    pthread_mutex_lock(&names_lock);
    const char *name = name_locked(task);
    pthread_mutex_unlock(&names_lock);
    return name;
}

const char *spool__task_name_in_signal(const spool_task *task)
{
    if (!(atomic_load_explicit(&task->state, memory_order_relaxed) & SPOOL__STATE_NAMED))
        return NULL;
    /* A trylock, never a wait: the interrupted code may hold the lock.
     * POSIX does not list the mutex calls as async-signal-safe; glibc's
     * trylock and unlock of a default mutex are an atomic exchange and a
     * store (with a futex wake only when a waiter sleeps), which is what
     * this leans on. The string outlives the lock: it must outlive its
     * task (spool_task_set_name's contract), and the task is alive. */
    if (pthread_mutex_trylock(&names_lock) != 0)
        return NULL;
    const char *name = name_locked(task);
    pthread_mutex_unlock(&names_lock);
    return name;
}

void spool__name_forget(spool_task *t)
{
    set_name(t, NULL);
}

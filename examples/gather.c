/*
 * gather.c — three tasks sleep at once; the whole takes as long as the
 * longest (3 s), not the sum (6 s). The C twin of:
 *
 *     import asyncio
 *
 *     async def task(name, delay):
 *         print(f"Task {name}: start")
 *         await asyncio.sleep(delay)
 *         print(f"Task {name}: done after {delay} s")
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         t0 = loop.time()
 *         await asyncio.gather(task("A", 2), task("B", 1), task("C", 3))
 *         print(f"All done in {loop.time() - t0:.1f} s")
 *
 *     asyncio.run(main())
 *
 * Output (asyncio):
 *     Task A: start
 *     Task B: start
 *     Task C: start
 *     Task B: done after 1 s
 *     Task A: done after 2 s
 *     Task C: done after 3 s
 *     All done in 3.0 s
 * spool prints the same lines in 3 s too, but the three "start" lines may
 * come in another order (C, B, A in some runs): the tasks start at the same
 * instant on every worker, and a worker runs the task spawned last first
 * (LIFO, for cache locality) while idle workers steal the oldest. The
 * "done" lines come 1 s apart, in asyncio's order.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <spool/spool.h>

/* What each task gets: its name and how long it sleeps. */
struct job {
    const char *name;
    unsigned delay_s;
};

static int task(void *arg)
{
    const struct job *job = arg;
    int rc;

    printf("Task %s: start\n", job->name);
    rc = spool_sleep_ms(job->delay_s * UINT64_C(1000));
    if (rc < 0)
        return rc;
    printf("Task %s: done after %u s\n", job->name, job->delay_s);
    return 0;
}

static int main_task(void *arg)
{
    static const struct job jobs[] = {{"A", 2}, {"B", 1}, {"C", 3}};
    spool_task *tasks[3];
    uint64_t t0 = spool_now_ns();
    int rc;

    (void)arg;
    for (int i = 0; i < 3; i++) {
        tasks[i] = spool_spawn(task, (void *)&jobs[i]);
        if (tasks[i] == NULL) {
            spool_gather(tasks, (size_t)i, NULL);
            return -ENOMEM;
        }
    }
    rc = spool_gather(tasks, 3, NULL);
    if (rc < 0)
        return rc;
    printf("All done in %.1f s\n", (double)(spool_now_ns() - t0) / SPOOL_SEC);
    return 0;
}

int main(void)
{
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0); /* line by line, even into a pipe */
    rc = spool_run(main_task, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "gather: %s\n", spool_strerror(rc));
        return 1;
    }
    return 0;
}

/*
 * semaphore.c — four one-second tasks behind a semaphore of two permits:
 * two run at a time, so the whole takes 2 s. The C twin of:
 *
 *     import asyncio
 *
 *     async def task(sem, i):
 *         async with sem:
 *             print(f"Task {i}: acquired")
 *             await asyncio.sleep(1)
 *             print(f"Task {i}: releasing")
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         t0 = loop.time()
 *         sem = asyncio.Semaphore(2)
 *         await asyncio.gather(*(task(sem, i) for i in range(4)))
 *         print(f"All done in {loop.time() - t0:.1f} s")
 *
 *     asyncio.run(main())
 *
 * Output (asyncio):
 *     Task 0: acquired
 *     Task 1: acquired
 *     Task 0: releasing
 *     Task 1: releasing
 *     Task 2: acquired
 *     Task 3: acquired
 *     Task 2: releasing
 *     Task 3: releasing
 *     All done in 2.0 s
 * spool prints the same lines in 2 s too, but which two tasks go first may
 * differ (3 and 2 in some runs: a worker runs the task spawned last first,
 * while idle workers steal the oldest), and lines printed at the same
 * instant on different workers may swap. Never more than two hold the
 * semaphore at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <spool/spool.h>

#define NTASKS 4

/* Embeddable: no malloc, no init call needed. */
static spool_sem sem = SPOOL_SEM_INIT(2);

static int task(void *arg)
{
    int i = (int)(intptr_t)arg;
    int rc = spool_sem_acquire(&sem); /* async with sem: */

    if (rc < 0)
        return rc;
    printf("Task %d: acquired\n", i);
    rc = spool_sleep_ms(1000);
    printf("Task %d: releasing\n", i);
    spool_sem_release(&sem);
    return rc;
}

static int main_task(void *arg)
{
    spool_task *tasks[NTASKS];
    uint64_t t0 = spool_now_ns();
    int rc;

    (void)arg;
    for (int i = 0; i < NTASKS; i++) {
        tasks[i] = spool_spawn(task, (void *)(intptr_t)i);
        if (tasks[i] == NULL) {
            spool_gather(tasks, (size_t)i, NULL);
            return -ENOMEM;
        }
    }
    rc = spool_gather(tasks, NTASKS, NULL);
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
        fprintf(stderr, "semaphore: %s\n", spool_strerror(rc));
        return 1;
    }
    return 0;
}

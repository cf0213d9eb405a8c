/*
 * subprocess.c — two child processes: sort(1) fed through a pipe and read
 * back with communicate, then a sleep(1) that outlives its timeout and is
 * killed. The C twin of:
 *
 *     import asyncio
 *     from asyncio.subprocess import PIPE
 *
 *     async def main():
 *         proc = await asyncio.create_subprocess_exec(
 *             "sort", stdin=PIPE, stdout=PIPE)
 *         out, _ = await proc.communicate(b"pear\napple\nfig\n")
 *         print(out.decode(), end="")
 *         print("sort returncode", proc.returncode)
 *
 *         proc = await asyncio.create_subprocess_exec("sleep", "10")
 *         try:
 *             async with asyncio.timeout(0.1):
 *                 await proc.wait()
 *         except TimeoutError:
 *             proc.kill()
 *             await proc.wait()
 *         print("sleep returncode", proc.returncode)
 *
 *     asyncio.run(main())
 *
 * Output (both):
 *     apple
 *     fig
 *     pear
 *     sort returncode 0
 *     sleep returncode -9
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <spool/spool.h>

/* asyncio's returncode from a wait status: the exit code, or -signal. */
static int returncode(int st)
{
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static int main_task(void *arg)
{
    spool_process p;
    int rc, st;

    (void)arg;
    /* proc = await asyncio.create_subprocess_exec("sort", stdin=PIPE, stdout=PIPE) */
    const char *sort[] = {"sort", NULL};
    spool_process_options pipes = {.in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE};
    rc = spool_process_spawn(&p, sort, &pipes);
    if (rc < 0) {
        fprintf(stderr, "sort: %s\n", spool_strerror(rc));
        return rc;
    }
    /* out, _ = await proc.communicate(b"pear\napple\nfig\n") */
    static const char input[] = "pear\napple\nfig\n";
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW; /* malloc'd: ours to free */
    st = spool_process_communicate(&p, input, sizeof input - 1, &out, NULL);
    spool_process_close(&p); /* pipes, pidfd: nothing left behind */
    if (st < 0) {
        free(out.data);
        fprintf(stderr, "sort: %s\n", spool_strerror(st));
        return st;
    }
    printf("%.*s", (int)out.len, out.data);
    printf("sort returncode %d\n", returncode(st));
    free(out.data);

    /* proc = await asyncio.create_subprocess_exec("sleep", "10") */
    const char *sleeper[] = {"sleep", "10", NULL};
    rc = spool_process_spawn(&p, sleeper, NULL);
    if (rc < 0) {
        fprintf(stderr, "sleep: %s\n", spool_strerror(rc));
        return rc;
    }
    spool_timeout to; /* async with asyncio.timeout(0.1): */
    spool_timeout_enter(&to, 100 * SPOOL_MSEC);
    st = spool_process_wait(&p); /* the child still runs if this times out */
    spool_timeout_exit(&to);
    if (st == -ETIMEDOUT) { /* except TimeoutError: */
        spool_process_kill(&p);
        st = spool_process_wait(&p);
    }
    spool_process_close(&p);
    if (st < 0) {
        fprintf(stderr, "sleep: %s\n", spool_strerror(st));
        return st;
    }
    printf("sleep returncode %d\n", returncode(st));
    return 0;
}

int main(void)
{
    return spool_run(main_task, NULL, NULL) < 0;
}

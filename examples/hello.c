/*
 * hello.c — the smallest spool program: the main task sleeps one second,
 * then prints "Hello, World!". The C twin of:
 *
 *     import asyncio
 *
 *     async def main():
 *         await asyncio.sleep(1)
 *         print("Hello, World!")
 *
 *     asyncio.run(main())
 */
#include <stdio.h>

#include <spool/spool.h>

static int main_task(void *arg)
{
    int rc;

    (void)arg;
    rc = spool_sleep_ms(1000);
    if (rc < 0)
        return rc;
    printf("Hello, World!\n");
    return 0;
}

int main(void)
{
    int rc = spool_run(main_task, NULL, NULL);

    if (rc < 0) {
        fprintf(stderr, "hello: %s\n", spool_strerror(rc));
        return 1;
    }
    return 0;
}

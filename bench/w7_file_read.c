/*
 * w7_file_read.c — W7 of shared/bench/WORKLOADS.md: read F files of
 * 16 KiB each from a temporary directory, at most 64 in flight; check the
 * total bytes. Figure: files/s ("files_per_s" in the JSON line);
 * per_op_ns = wall / F.
 *
 * Not timed: creating the directory and its F files (before the runtime
 * starts; they are then in the page cache, as on the Python side) and
 * removing them (after it ends). Timed: F tasks, each behind a semaphore
 * of 64 permits, that spool_open the file, spool_read it in 16 KiB
 * chunks until EOF (two reads: 16384 bytes, then 0) and spool_close it.
 *
 * Python twin (bench/asyncio/w7_file_read.py), what asyncio users write
 * (asyncio has no file I/O of its own):
 *     def read_file(path):
 *         with open(path, "rb") as f:
 *             return len(f.read())
 *     sem = asyncio.Semaphore(64)
 *     async def one(path):
 *         async with sem:
 *             return await asyncio.to_thread(read_file, path)
 *     sizes = await asyncio.gather(*[asyncio.create_task(one(p)) for p in paths])
 *
 * Checks: every task returned its file's size, the sizes add up to
 * F * 16384, and no more than 64 tasks held a permit at once
 * ("max_in_flight" in the JSON line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W7_DEFAULT_N 10000L
#define W7_FILE_SIZE 16384
#define W7_IN_FLIGHT 64

/* The state of one run (one static instance: the tasks get their index). */
static struct w7 {
    char dir[PATH_MAX / 2];  /* the temporary directory */
    long files;              /* files created in it */
    int setup_ok;            /* every file was created */
    spool_sem sem;
    atomic_int in_flight;
    atomic_int max_in_flight;
    char extra[96];          /* "files_per_s", "max_in_flight" */
} w7;

/* dir/NNNNNN, the name of file i. */
static void file_path(char *out, size_t size, long i)
{
    snprintf(out, size, "%s/%06ld", w7.dir, i);
}

/* Creates the directory and its n files with plain system calls, before
 * the runtime starts. */
static void file_read_setup(void *state, long n, bench_report *r)
{
    const char *tmp = getenv("TMPDIR");
    static char data[W7_FILE_SIZE];
    char path[PATH_MAX];

    (void)state;
    (void)r;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    snprintf(w7.dir, sizeof w7.dir, "%s/spool_w7_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(w7.dir) == NULL) {
        fprintf(stderr, "file_read: mkdtemp %s: %s\n", w7.dir, strerror(errno));
        w7.dir[0] = '\0';
        return;
    }
    for (w7.files = 0; w7.files < n; w7.files++) {
        file_path(path, sizeof path, w7.files);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data) {
            fprintf(stderr, "file_read: creating %s: %s\n", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return;
        }
        close(fd);
    }
    w7.setup_ok = 1;
}

/* Reads file i to its end. Returns: the bytes read, or a negative errno. */
static int read_one(long i)
{
    char path[PATH_MAX];
    char buf[W7_FILE_SIZE];
    int64_t total = 0;
    int fd, rc;

    file_path(path, sizeof path, i);
    fd = spool_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    for (;;) {
        rc = spool_read(fd, buf, sizeof buf, total);
        if (rc <= 0)
            break;
        total += rc;
    }
    int crc = spool_close(fd); /* closes even when cancelled (docs/io.md) */
    if (rc < 0)
        return rc;
    if (crc < 0)
        return crc;
    return total > INT_MAX ? -EFBIG : (int)total;
}

/* One task of the workload: file number `arg`, behind the semaphore. */
static int limited_read(void *arg)
{
    long i = (long)(intptr_t)arg;
    int rc, now, max;

    rc = spool_sem_acquire(&w7.sem);
    if (rc < 0)
        return rc;
    now = atomic_fetch_add_explicit(&w7.in_flight, 1, memory_order_relaxed) + 1;
    max = atomic_load_explicit(&w7.max_in_flight, memory_order_relaxed);
    while (now > max &&
           !atomic_compare_exchange_weak_explicit(&w7.max_in_flight, &max, now,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    rc = read_one(i);
    atomic_fetch_sub_explicit(&w7.in_flight, 1, memory_order_relaxed);
    int rel = spool_sem_release(&w7.sem);
    return rc < 0 ? rc : rel < 0 ? rel : rc;
}

static int file_read_task(void *state, bench_report *r)
{
    size_t n = (size_t)r->n, bad = 0;
    int64_t total = 0;
    bench_gathered g;
    int rc, max;

    (void)state;
    if (!w7.setup_ok) {
        r->ok = 0;
        return -EIO;
    }
    spool_sem_init(&w7.sem, W7_IN_FLIGHT);
    rc = bench_spawn_gather(r, n, limited_read, NULL, 1, &g);
    if (rc < 0)
        return rc;

    for (size_t i = 0; g.rc >= 0 && i < g.spawned; i++) {
        if (g.results[i] < 0) {
            if (bad++ == 0)
                fprintf(stderr, "file_read: file %zu: %s\n", i, spool_strerror(g.results[i]));
        } else {
            bad += g.results[i] != W7_FILE_SIZE;
            total += g.results[i];
        }
    }
    max = atomic_load(&w7.max_in_flight);
    if (bad != 0)
        fprintf(stderr, "file_read: %zu files failed or came out short\n", bad);
    if (total != (int64_t)n * W7_FILE_SIZE)
        fprintf(stderr, "file_read: read %lld bytes, expected %lld\n", (long long)total,
                (long long)n * W7_FILE_SIZE);
    if (max > W7_IN_FLIGHT)
        fprintf(stderr, "file_read: %d files in flight at once, limit %d\n", max, W7_IN_FLIGHT);
    r->ok = g.rc >= 0 && g.spawned == n && bad == 0 && total == (int64_t)n * W7_FILE_SIZE &&
            max <= W7_IN_FLIGHT;
    free(g.results);
    return 0;
}

/* After the run: removes the files and the directory (not timed), and adds
 * files_per_s and max_in_flight to the line. */
static void file_read_finish(void *state, bench_report *r)
{
    char path[PATH_MAX];
    double fps = r->wall_ns > 0 ? (double)r->n * 1e9 / (double)r->wall_ns : 0.0;

    (void)state;
    for (long i = 0; i < w7.files; i++) {
        file_path(path, sizeof path, i);
        unlink(path);
    }
    if (w7.dir[0] != '\0' && rmdir(w7.dir) != 0)
        fprintf(stderr, "file_read: rmdir %s: %s\n", w7.dir, strerror(errno));
    snprintf(w7.extra, sizeof w7.extra, "\"files_per_s\":%.1f,\"max_in_flight\":%d", fps,
             atomic_load(&w7.max_in_flight));
    r->extra = w7.extra;
}

static const bench_spec w7_spec = {
    .workload = "file_read",
    .default_n = W7_DEFAULT_N,
    .min_n = 0,
    .max_n = 10000000,
    .setup = file_read_setup,
    .task = file_read_task,
    .finish = file_read_finish,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &w7_spec, NULL);
}

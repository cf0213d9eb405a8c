/*
 * bench_util.c — the helpers every C benchmark shares: flags, RSS, the
 * JSON result line, the main() around a workload and the timed
 * spawn-and-gather of W1, W4 and W5 (see bench_util.h and
 * shared/bench/WORKLOADS.md).
 */
#include "bench_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spool/spool.h>

static void usage(FILE *f, const char *prog, long default_n)
{
    fprintf(f,
            "usage: %s [--n N] [--workers W]\n"
            "  --n N        workload size (default %ld)\n"
            "  --workers W  worker threads (default 0: one per online CPU)\n",
            prog, default_n);
}

/* Parses a whole decimal integer in [min, max] into *out.
 * Returns: 0, or -EINVAL (not a number, trailing junk, out of range). */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* If argv[*i] is `--name V` or `--name=V`, points *val at V (NULL when the
 * value is missing), advances *i past it and returns 1; else returns 0. */
static int match_flag(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t len = strlen(name);

    if (strncmp(a, name, len) != 0)
        return 0;
    if (a[len] == '=') {
        *val = a + len + 1;
        return 1;
    }
    if (a[len] != '\0')
        return 0;
    *val = (*i + 1 < argc) ? argv[++*i] : NULL;
    return 1;
}

int bench_parse(int argc, char **argv, long default_n, long min_n, long max_n,
                bench_args *out)
{
    const char *prog = argc > 0 ? argv[0] : "bench";
    long workers = 0;
    const char *val;

    out->n = default_n;
    out->workers = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, prog, default_n);
            return 1;
        }
        if (match_flag(argc, argv, &i, "--n", &val)) {
            if (parse_long(val, min_n, max_n, &out->n) < 0) {
                fprintf(stderr, "%s: --n wants an integer in [%ld, %ld], got '%s'\n",
                        prog, min_n, max_n, val ? val : "");
                usage(stderr, prog, default_n);
                return -EINVAL;
            }
        } else if (match_flag(argc, argv, &i, "--workers", &val)) {
            if (parse_long(val, 0, SPOOL_MAX_WORKERS, &workers) < 0) {
                fprintf(stderr, "%s: --workers wants an integer in [0, %u], got '%s'\n",
                        prog, SPOOL_MAX_WORKERS, val ? val : "");
                usage(stderr, prog, default_n);
                return -EINVAL;
            }
            out->workers = (unsigned)workers;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", prog, argv[i]);
            usage(stderr, prog, default_n);
            return -EINVAL;
        }
    }
    return 0;
}

long bench_peak_rss_kib(void)
{
    /* VmHWM, the high-water mark of this image's memory. Not ru_maxrss:
     * Linux carries that across exec, so a program started by a bigger
     * parent (the Python runner) reports the parent's peak. Never less
     * than the RSS read now (the counters are per-CPU and approximate);
     * bench/asyncio/common.py does the same. */
    long now = bench_current_rss_kib();
    long hwm = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &hwm) == 1)
            break;
    fclose(f);
    return hwm > now ? hwm : now;
}

long bench_current_rss_kib(void)
{
    unsigned long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    int got;

    if (f == NULL)
        return -errno;
    got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (got != 2 || page <= 0)
        return -EIO;
    return (long)(resident * (unsigned long)page / 1024);
}

int bench_report_print(const bench_report *r)
{
    double wall_s = (double)r->wall_ns / 1e9;
    double per_op_ns = r->ops > 0 ? (double)r->wall_ns / (double)r->ops : 0.0;
    int ok = r->ok != 0;

    printf("{\"workload\":\"%s\",\"impl\":\"spool\",\"backend\":\"%s\",\"variant\":\"\","
           "\"n\":%ld,\"wall_s\":%.6f,\"per_op_ns\":%.1f,\"peak_rss_kib\":%ld,"
           "\"base_rss_kib\":%ld,\"workers\":%d,\"ok\":%s%s%s}\n",
           r->workload, r->backend ? r->backend : "", r->n, wall_s, per_op_ns, bench_peak_rss_kib(),
           r->base_rss_kib, r->workers, ok ? "true" : "false",
           r->extra ? "," : "", r->extra ? r->extra : "");
    fflush(stdout);
    return ok ? 0 : 1;
}

/* What bench_main hands its main task. */
struct bench_run {
    const bench_spec *spec;
    void *state;
    bench_report *report;
};

static int bench_main_task(void *arg)
{
    struct bench_run *run = arg;

    run->report->workers = spool_workers();
    run->report->backend = spool_backend_name(); /* the driver it runs on, not what was asked */
    return run->spec->task(run->state, run->report);
}

int bench_main(int argc, char **argv, const bench_spec *spec, void *state)
{
    bench_report r = {.workload = spec->workload};
    struct bench_run run = {.spec = spec, .state = state, .report = &r};
    spool_config cfg = {0};
    bench_args args;
    int rc = bench_parse(argc, argv, spec->default_n, spec->min_n, spec->max_n, &args);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    r.n = args.n;
    r.ops = args.n * (spec->ops_per_n ? spec->ops_per_n : 1);
    if (spec->setup != NULL)
        spec->setup(state, args.n, &r);
    cfg.workers = args.workers;
    rc = spool_run(bench_main_task, &run, &cfg);
    if (rc < 0) {
        fprintf(stderr, "%s: spool_run: %s\n", spec->workload, spool_strerror(rc));
        r.ok = 0;
    }
    if (spec->finish != NULL)
        spec->finish(state, &r);
    return bench_report_print(&r);
}

int bench_spawn_gather(bench_report *r, size_t n, spool_fn fn, void *arg,
                       uintptr_t arg_step, bench_gathered *g)
{
    spool_task **tasks = malloc((n ? n : 1) * sizeof *tasks);
    int *results = malloc((n ? n : 1) * sizeof *results);
    uintptr_t next = (uintptr_t)arg;
    size_t spawned;
    uint64_t t0;
    int rc;

    if (tasks == NULL || results == NULL) {
        free(tasks);
        free(results);
        return -ENOMEM;
    }
    r->base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    for (spawned = 0; spawned < n; spawned++, next += arg_step) {
        tasks[spawned] = spool_spawn(fn, (void *)next);
        if (tasks[spawned] == NULL)
            break;
    }
    rc = spool_gather(tasks, spawned, results);
    r->wall_ns = spool_now_ns() - t0;

    if (spawned < n)
        fprintf(stderr, "%s: spool_spawn failed at task %zu of %zu\n", r->workload, spawned, n);
    if (rc < 0)
        fprintf(stderr, "%s: spool_gather: %s\n", r->workload, spool_strerror(rc));
    free(tasks);
    g->results = results;
    g->spawned = spawned;
    g->rc = rc;
    return 0;
}

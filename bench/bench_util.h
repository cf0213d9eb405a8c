/*
 * bench_util.h — what every C benchmark program of bench/ shares: the
 * command line (--n N, --workers W), the resident set size (peak and
 * current) and the one JSON line of shared/bench/WORKLOADS.md.
 *
 * A program describes itself in a bench_spec and its main() is
 * `return bench_main(argc, argv, &spec, &state);`: bench_main parses the
 * flags, starts the runtime, runs the workload's task (which fills the
 * bench_report: base RSS before the timed part, the wall time after it, and
 * whether the result checked out) and prints the line. The workloads that
 * spawn N tasks and gather them (W1, W4, W5) time that part with
 * bench_spawn_gather().
 */
#ifndef SPOOL_BENCH_UTIL_H
#define SPOOL_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <spool/spool.h>

/* The parsed command line. */
typedef struct bench_args {
    long n;           /* the workload's size (--n); its default when absent */
    unsigned workers; /* --workers; 0: one per online CPU (spool_config.workers) */
} bench_args;

/* Parses argv: `--n N` (or --n=N) with min_n <= N <= max_n, `--workers W`
 * (or --workers=W) with 0 <= W <= SPOOL_MAX_WORKERS, and --help.
 * Returns: 0 with *out filled; 1 after --help (usage printed on stdout);
 *   -EINVAL on a bad or unknown argument (a message and the usage printed
 *   on stderr). A program exits 0 on 1 and 2 on -EINVAL. */
int bench_parse(int argc, char **argv, long default_n, long min_n, long max_n,
                bench_args *out);

/* Returns: the peak resident set size of this process so far, in KiB:
 * getrusage's ru_maxrss, or the current RSS if that is more (ru_maxrss can
 * lag on kernels that count RSS per CPU); -errno if getrusage fails. */
long bench_peak_rss_kib(void);

/* Returns: the resident set size of this process now, in KiB (from
 * /proc/self/statm), or -errno. */
long bench_current_rss_kib(void);

/* One run's result, printed as the JSON line of WORKLOADS.md. */
typedef struct bench_report {
    const char *workload; /* the name in WORKLOADS.md: "spawn_join" */
    long n;               /* the size reported as "n" */
    long ops;             /* per_op_ns = wall_ns / ops (0: per_op_ns 0) */
    uint64_t wall_ns;     /* the timed part only */
    long base_rss_kib;    /* RSS just before the timed part */
    int workers;          /* spool_workers() seen inside the main task; 0 if unknown */
    const char *backend;  /* spool_backend_name() seen inside the main task:
                             "io_uring" or "epoll"; NULL (printed "") if it never ran */
    int ok;               /* nonzero: the result checked out */
    const char *extra;    /* more members, e.g. "\"fib_n\":25", or NULL */
} bench_report;

/* Prints r as one JSON line on stdout (peak RSS measured now, "backend"
 * from r->backend) and flushes.
 * Returns: the exit status for main(): 0 if r->ok, else 1. */
int bench_report_print(const bench_report *r);

/* A benchmark program: its workload and the three steps of its run. */
typedef struct bench_spec {
    const char *workload; /* the name in WORKLOADS.md, and its messages' prefix */
    long default_n;       /* --n: the default, */
    long min_n, max_n;    /* and the range allowed */
    long ops_per_n;       /* the report's ops: n times this (0: 1) */
    /* Before the runtime starts, with --n parsed and r->n and r->ops set
     * from it: prepares the state, and may change r->n and r->ops and set
     * r->extra. NULL: nothing to do. */
    void (*setup)(void *state, long n, bench_report *r);
    /* The main task, with r->workers and r->backend already set (and
     * r->n, the workload's size unless setup changed it): runs it, times it
     * (r->base_rss_kib, r->wall_ns) and checks it (r->ok).
     * Returns: the main task's result: 0, or a negative errno when it could
     *   not run (then the report says ok false). */
    int (*task)(void *state, bench_report *r);
    /* After spool_run returns, before the line is printed; NULL: none.
     * For the members only known then (r->extra). */
    void (*finish)(void *state, bench_report *r);
} bench_spec;

/* The whole main() of a benchmark program: parses argv (bench_parse with
 * the spec's --n), sets the report's n and ops, calls spec->setup, runs
 * spec->task as the main task of a runtime with --workers workers, says on
 * stderr if spool_run failed (and reports ok false), calls spec->finish
 * and prints the JSON line (bench_report_print).
 * Returns: main's exit status: 0 after --help or when the result checked
 *   out, 1 when it did not, 2 on a bad argument. */
int bench_main(int argc, char **argv, const bench_spec *spec, void *state);

/* What bench_spawn_gather() leaves for its caller to check. */
typedef struct bench_gathered {
    int *results;   /* each task's result, [0, spawned); set when rc >= 0; free() it */
    size_t spawned; /* the tasks spawned: n, unless spool_spawn failed */
    int rc;         /* spool_gather's result */
} bench_gathered;

/* The timed part of W1, W4 and W5, called from the main task: allocates
 * room for n tasks and their results, sets r->base_rss_kib, then spawns n
 * tasks and gathers them all, that time in r->wall_ns. Task i runs
 * fn(arg + i * arg_step): arg_step 1 with arg NULL hands each task its
 * index, arg_step 0 hands every task arg. Says on stderr (prefixed with
 * r->workload) if a spawn failed (it stops spawning there) or the gather
 * did; checking the results is the caller's.
 * Returns: 0 with *g filled, or -ENOMEM with nothing run (no room). */
int bench_spawn_gather(bench_report *r, size_t n, spool_fn fn, void *arg,
                       uintptr_t arg_step, bench_gathered *g);

#endif /* SPOOL_BENCH_UTIL_H */

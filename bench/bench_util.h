/*
 * bench_util.h — what every C benchmark program of bench/ shares: the
 * command line (--n N, --workers W), the resident set size (peak and
 * current) and the one JSON line of shared/bench/WORKLOADS.md.
 *
 * A program reads its flags with bench_parse(), fills a bench_report from
 * inside its main task (base RSS and the worker count before the timed part,
 * the wall time after it), and ends with `return bench_report_print(&r);`,
 * which prints the line and gives the exit status: 0 when ok, 1 when not.
 */
#ifndef SPOOL_BENCH_UTIL_H
#define SPOOL_BENCH_UTIL_H

#include <stdint.h>

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
    int ok;               /* nonzero: the result checked out */
    const char *extra;    /* more members, e.g. "\"fib_n\":25", or NULL */
} bench_report;

/* Prints r as one JSON line on stdout (peak RSS measured now) and flushes.
 * Returns: the exit status for main(): 0 if r->ok, else 1. */
int bench_report_print(const bench_report *r);

#endif /* SPOOL_BENCH_UTIL_H */

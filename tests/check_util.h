/*
 * check_util.h — what the check suites of tests/ share: SANITIZED, the
 * HANG_GUARD_NS, the cheap REQUIRE for hot loops, run_on(), record_of(), return_arg(), xorshift(),
 * join_thread() (spool_to_thread's fn for pthread_join), spin_ns(),
 * stats_snap() and alive_once_settled(), capture_begin()
 * and capture_end() (stderr into a string), exec_built() (a program of
 * this build, through the emulator of a cross build), SANITIZERS_LEAVE_SEGV_ALONE(),
 * the ADD_*_TEST macros that
 * give every test its own TCase, and check_main(), the whole main() of a
 * suite.
 *
 * Header only (static inline functions and macros): each test_<area>.c is
 * one program, and tests/CMakeLists.txt builds every test_*.c on its own.
 * A suite's own helpers stay in its file.
 */
#ifndef SPOOL_TESTS_CHECK_UTIL_H
#define SPOOL_TESTS_CHECK_UTIL_H

#include <check.h>
#include <pthread.h>
#include <spool/spool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 in an ASan or TSan build (where suites shrink their sizes), else 0. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* The bound on a wall-time wait that only guards against a hang: far
 * above the expected time on a machine ten times slower than a quiet one,
 * under a sanitizer, with other suites beside it. A test asserts what
 * happened (every sleeper got -ECANCELED, end >= start + duration), never
 * how fast; this bound only turns a hang into a failure, below the
 * per-case timeout (CK_DEFAULT_TIMEOUT: 120 s, times
 * CK_TIMEOUT_MULTIPLIER in sanitizer builds). */
#define HANG_GUARD_NS (60 * SPOOL_SEC)

/* ck_assert records its location with a write() on every call (check's
 * "last checkpoint"); hot loops use REQUIRE instead, which costs nothing
 * unless it fails. */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (__builtin_expect(!(cond), 0))                                              \
            ck_abort_msg("%s:%d: requirement failed: %s", __FILE__, __LINE__, #cond); \
    } while (0)

/* spool_run(fn, arg) on a runtime of `workers` workers (0: one per CPU).
 * Returns: spool_run's result. */
static inline int run_on(unsigned workers, spool_fn fn, void *arg)
{
    spool_config cfg = {.workers = workers};
    return spool_run(fn, arg, &cfg);
}

/* The task record a handle points into, as a number. A handle is its
 * record's address with the record's generation in the low 6 bits, which
 * the records' 64-byte alignment leaves free (runtime/task.h): two
 * handles with one record name two tasks that reused it. */
static inline uintptr_t record_of(const spool_task *handle)
{
    return (uintptr_t)handle & ~(uintptr_t)63;
}

/* A task that returns its argument, an integer passed as a pointer. */
static inline int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* xorshift64: the next pseudo-random number of the sequence in *s (which
 * must not start at 0). Cheap enough for the hot loops of races. */
static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* spool_to_thread's fn for pthread_join: arg points to the pthread_t.
 * Returns: what the thread returned, an int cast to a pointer (0 for
 * NULL), or -1000 if pthread_join failed. */
static inline int join_thread(void *arg)
{
    void *ret = NULL;
    if (pthread_join(*(pthread_t *)arg, &ret) != 0)
        return -1000;
    return (int)(intptr_t)ret;
}

/* Busy-waits (no wait point: the worker runs nothing else) for ns. */
static inline void spin_ns(uint64_t ns)
{
    uint64_t end = spool_now_ns() + ns;
    while (spool_now_ns() < end)
        ;
}

/* A snapshot of the current runtime's figures, on the heap (struct
 * spool_stats is over 12 KiB: not for a task's stack). The caller frees
 * it. */
static inline struct spool_stats *stats_snap(void)
{
    struct spool_stats *st = malloc(sizeof *st);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(spool_stats(st), 0);
    return st;
}

/* The tasks alive (main included) once that is down to main, or after
 * limit_ns. A worker counts a task's exit just after waking its joiner
 * (scheduler.c, finish_task), so right after a join returns the joined
 * task may still count as alive for a moment on 2+ workers. Task
 * context. */
static inline uint64_t alive_once_settled(uint64_t limit_ns)
{
    uint64_t until = spool_now_ns() + limit_ns;
    for (;;) {
        struct spool_stats *st = stats_snap();
        uint64_t alive = st->alive;
        free(st);
        if (alive == 1 || spool_now_ns() >= until)
            return alive;
        spool_sleep_ms(1);
    }
}

/* stderr into a temporary file between capture_begin and capture_end. */
struct capture {
    int saved;  /* the real stderr, dup'ed */
    FILE *file; /* where stderr goes meanwhile */
};

/* Sends stderr (flushed first) into a new temporary file. */
static inline void capture_begin(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    ck_assert_ptr_nonnull(c->file);
    c->saved = dup(STDERR_FILENO);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_eq(dup2(fileno(c->file), STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr and closes the file.
 * Returns: what was written to stderr since capture_begin (malloc'd,
 * NUL-terminated; the caller frees it). */
static inline char *capture_end(struct capture *c)
{
    fflush(stderr);
    ck_assert_int_eq(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
    close(c->saved);
    long len = ftell(c->file);
    ck_assert_int_ge(len, 0);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    rewind(c->file);
    size_t got = fread(buf, 1, (size_t)len, c->file);
    buf[got] = 0;
    fclose(c->file);
    /* Where the kernel refuses io_uring (a container, qemu-user) the
     * driver's choice says one line of its own, once per process, at the
     * first spool_run: it belongs to the machine, not to the test, so it
     * is taken out (test_driver checks that line). */
    static const char fallback[] = "; running on epoll (SPOOL_BACKEND=epoll chooses it without this line)\n";
    char *end = strstr(buf, fallback);
    if (end) {
        char *start = end;
        while (start > buf && start[-1] != '\n')
            start--;
        if (strncmp(start, "spool: ", 7) == 0)
            memmove(start, end + sizeof fallback - 1, strlen(end + sizeof fallback - 1) + 1);
    }
    return buf;
}

/* The program that runs this build's binaries: a cross build's qemu-user
 * (tests/CMakeLists.txt passes CMAKE_CROSSCOMPILING_EMULATOR), or "" where
 * they run themselves. */
#ifndef SPOOL_TEST_EMULATOR
#define SPOOL_TEST_EMULATOR ""
#endif

/* execv(argv[0], argv) for a program of this build, through the emulator
 * where there is one (a process under qemu-user cannot exec another
 * aarch64 program by itself without binfmt_misc). Returns only on failure,
 * with errno set. argv: at most 15 entries before its NULL. */
static inline void exec_built(const char *const argv[])
{
    const char *full[17];
    size_t n = 0;
    if (SPOOL_TEST_EMULATOR[0])
        full[n++] = SPOOL_TEST_EMULATOR;
    for (size_t i = 0; argv[i]; i++) {
        if (n == 16) {
            fprintf(stderr, "exec_built: more than 15 arguments\n");
            abort();
        }
        full[n++] = argv[i];
    }
    full[n] = NULL;
    execv(full[0], (char *const *)full);
}

/* For a suite whose tests expect a SIGSEGV to reach the kernel's default
 * action (or spool's handler): the sanitizers' own handlers would turn it
 * into a report and an exit code of their own. Defines the sanitizers'
 * default options (handle_segv=0); options from the environment still come
 * after these. Once per program, at file scope. */
#define SANITIZERS_LEAVE_SEGV_ALONE()                                   \
    const char *__asan_default_options(void);                          \
    const char *__asan_default_options(void) { return "handle_segv=0"; } \
    const char *__tsan_default_options(void);                          \
    const char *__tsan_default_options(void) { return "handle_segv=0"; }

/* Adds test fn to suite s in a TCase of its own, named after it. */
#define ADD_TEST(s, fn)                 \
    do {                                \
        TCase *tc_ = tcase_create(#fn); \
        tcase_add_test(tc_, fn);        \
        suite_add_tcase((s), tc_);      \
    } while (0)

/* The same for a loop test, run with _i from 0 to n - 1. */
#define ADD_LOOP_TEST(s, fn, n)               \
    do {                                      \
        TCase *tc_ = tcase_create(#fn);       \
        tcase_add_loop_test(tc_, fn, 0, (n)); \
        suite_add_tcase((s), tc_);            \
    } while (0)

/* The same for a test that passes only if it dies of signal sig. */
#define ADD_SIGNAL_TEST(s, fn, sig)                  \
    do {                                             \
        TCase *tc_ = tcase_create(#fn);              \
        tcase_add_test_raise_signal(tc_, fn, (sig)); \
        suite_add_tcase((s), tc_);                   \
    } while (0)

/* The main() of a suite: sets CK_DEFAULT_TIMEOUT to timeout_s seconds
 * unless the environment already sets it (timeout_s 0: leaves it alone,
 * so check's own default holds), then builds the suite with make_suite —
 * after the setenv, since check reads the variable as each TCase is
 * created — runs it and frees the runner.
 * Returns: main's exit status: 0 if every test passed, else 1. */
static inline int check_main(Suite *(*make_suite)(void), unsigned timeout_s)
{
    if (timeout_s != 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", timeout_s);
        setenv("CK_DEFAULT_TIMEOUT", secs, 0);
    }
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

#endif /* SPOOL_TESTS_CHECK_UTIL_H */

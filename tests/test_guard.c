/*
 * test_guard.c — a frame bigger than the guard page below a task's stack (a
 * 100,000-byte alloca on a 64 KiB stack) must still fault on that guard,
 * and the fault must be reported: the process dies of SIGSEGV after one
 * line on stderr naming the task, its stack size and the setting to raise
 * (runtime/guard.c). Without -fstack-clash-protection the frame jumps over
 * the guard and its writes land, silently, in the stack of the task below.
 *
 * The big frame is compiled with the build's flags (CMakeLists.txt adds
 * -fstack-clash-protection), as a user's task bodies get them from spool.pc
 * or the CMake package: what is tested is the pair, the flag and the
 * runtime's handler.
 *
 * Each test runs a runtime in a child process of its own (fork), with the
 * child's stderr going to a temporary file, and checks from the parent how
 * the child ended and what it wrote. Nothing is timed: a child that never
 * ends is caught by check's timeout.
 *
 * TSan builds install no handler (runtime/guard.c says why): there the
 * tests check only that the overflow dies of SIGSEGV without harming the
 * neighbour, and the one about a user's handler is skipped.
 */
#include <check.h>
#include <alloca.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "context.h" /* SPOOL_TSAN, as the library sees it */

#if defined(SPOOL_TSAN)
#define REPORTS 0 /* no overflow line in TSan builds */
#else
#define REPORTS 1
#endif

/* These tests check spool's SIGSEGV handling, not the sanitizers'. */
SANITIZERS_LEAVE_SEGV_ALONE()

#define STACK_SIZE ((size_t)64 * 1024)
#define BIG_FRAME 100000            /* the alloca: > stack + guard */
#define NEIGHBOUR_BYTES 40000       /* the neighbour's buffer, near its stack top */
#define WRITTEN 4096                /* bytes the big frame writes, at its low end */

/* How a child ended, and what it wrote on stderr. */
struct outcome {
    int status;  /* as waitpid gives it */
    char *err;   /* malloc'd, NUL-terminated */
};

/* Runs spool_run(fn, arg) with `workers` workers and 64 KiB stacks in a
 * child process whose stderr goes to a temporary file; a child whose
 * spool_run returns says so on stderr and exits 0. */
static struct outcome run_in_child(spool_fn fn, void *arg, unsigned workers)
{
    fflush(NULL);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dup2(fileno(f), STDERR_FILENO) != STDERR_FILENO)
            _exit(100);
        spool_config cfg = {.workers = workers, .stack_size = STACK_SIZE};
        int rc = spool_run(fn, arg, &cfg);
        fprintf(stderr, "child: spool_run returned %d, no fault (the scene's main returns the "
                        "bytes of the neighbour's buffer that changed)\n", rc);
        fflush(stderr);
        _exit(0);
    }
    struct outcome o;
    ck_assert_int_eq(waitpid(pid, &o.status, 0), pid);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    o.err = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(o.err);
    rewind(f);
    o.err[fread(o.err, 1, (size_t)len, f)] = 0;
    fclose(f);
    return o;
}

/* The line spool printed about the overflow (up to its newline, which
 * must be there), or NULL. */
static const char *overflow_line(const char *err)
{
    for (const char *l = err; *l; l = strchr(l, '\n') + 1) {
        if (!strchr(l, '\n'))
            return NULL;
        if (strncmp(l, "spool: ", 7) == 0 && strstr(l, "overflowed") &&
            strstr(l, "overflowed") < strchr(l, '\n'))
            return l;
    }
    return NULL;
}

/* Checks that the child died of SIGSEGV after a line that carries each of
 * `want` (on that line, not elsewhere); in TSan builds only the first. */
static void expect_report(struct outcome o, const char *const *want, size_t n)
{
    ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSEGV,
                  "the child did not die of SIGSEGV (%s %d); its stderr:\n%s",
                  WIFSIGNALED(o.status) ? "signal" : "exit status",
                  WIFSIGNALED(o.status) ? WTERMSIG(o.status) : WEXITSTATUS(o.status), o.err);
    if (!REPORTS)
        return;
    const char *line = overflow_line(o.err);
    ck_assert_msg(line, "no overflow line on stderr:\n%s", o.err);
    size_t len = (size_t)(strchr(line, '\n') - line);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memmem(line, len, want[i], strlen(want[i])),
                      "the overflow line lacks \"%s\": %.*s", want[i], (int)len, line);
}

/* A frame of BIG_FRAME bytes that writes WRITTEN bytes at its low end (the
 * end farthest from the caller, past the guard page) and keeps them. */
__attribute__((noinline)) static void big_frame(void)
{
    unsigned char *p = alloca(BIG_FRAME);
    memset(p, 0x5A, WRITTEN);
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* ---- a neighbour below: the scene -------------------------------- */

struct scene {
    spool_sem ready;  /* the neighbour's buffer is filled */
    spool_sem go;     /* the big frame is done: check the buffer */
};

/* Fills a buffer near the top of its stack, waits, and returns how many of
 * its bytes changed meanwhile. */
static int neighbour(void *arg)
{
    struct scene *s = arg;
    unsigned char buf[NEIGHBOUR_BYTES];
    memset(buf, 0xA5, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
    spool_sem_release(&s->ready);
    spool_sem_acquire(&s->go);
    __asm__ volatile("" : : "r"(buf) : "memory");
    int changed = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        changed += buf[i] != 0xA5;
    return changed;
}

static int named_big_frame(void *arg)
{
    struct scene *s = arg;
    big_frame();
    spool_sem_release(&s->go);
    return 0;
}

/* On one worker, stacks are carved in the order tasks first run: main's,
 * then the neighbour's, then the big frame's, each above the last with a
 * guard page between. The big frame's low end lands ~30 KB below the top
 * of the neighbour's stack: in its buffer. Returns the bytes changed. */
static int scene_main(void *arg)
{
    struct scene *s = arg;
    spool_sem_init(&s->ready, 0);
    spool_sem_init(&s->go, 0);
    spool_task *n = spool_spawn(neighbour, s);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(spool_sem_acquire(&s->ready), 0); /* it has its stack now */
    spool_task *t = spool_spawn(named_big_frame, s);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_set_name(t, "big-frame"), 0);
    ck_assert_int_eq(spool_join(t), 0);
    return spool_join(n);
}

START_TEST(a_frame_bigger_than_the_guard_faults_on_it_with_one_line_naming_the_task)
{
    struct scene s;
    struct outcome o = run_in_child(scene_main, &s, 1);
    const char *want[] = {"'big-frame'", "65536-byte stack", "spool_config.stack_size"};
    expect_report(o, want, sizeof want / sizeof *want);
    free(o.err);
}
END_TEST

/* ---- on a worker thread, unnamed ----------------------------------------- */

static _Atomic int big_frame_done;

static int unnamed_big_frame(void *arg)
{
    big_frame();
    atomic_store(&big_frame_done, 1);
    return 0;
}

/* Keeps worker 0 (the caller's thread) busy until the task is done, so it
 * runs on worker 1 (a thread spool made, with the alternate signal stack
 * spool gave it). */
static int busy_main(void *arg)
{
    spool_task *t = spool_spawn(unnamed_big_frame, NULL);
    ck_assert_ptr_nonnull(t);
    while (!atomic_load(&big_frame_done))
        ;
    return spool_join(t);
}

START_TEST(an_unnamed_task_on_a_worker_thread_is_named_by_its_function)
{
    struct outcome o = run_in_child(busy_main, NULL, 2);
    char fn[64];
    snprintf(fn, sizeof fn, "(fn %p)", (void *)(uintptr_t)unnamed_big_frame);
    const char *want[] = {fn, "65536-byte stack", "spool_config.stack_size"};
    expect_report(o, want, sizeof want / sizeof *want);
    free(o.err);
}
END_TEST

/* ---- faults that are not overflows --------------------------------------- */

/* Writes to arg: an address in the unmapped first page (not NULL itself,
 * which UBSan would catch before the fault). */
static int bad_write(void *arg)
{
    *(volatile int *)arg = 1;
    return 0;
}

static int null_main(void *arg)
{
    spool_task *t = spool_spawn(bad_write, (void *)(uintptr_t)64);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(a_fault_outside_a_guard_page_dies_of_sigsegv_without_the_line)
{
    struct outcome o = run_in_child(null_main, NULL, 1);
    ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSEGV, "not SIGSEGV; stderr:\n%s", o.err);
    ck_assert_msg(!overflow_line(o.err), "a bad write was reported as an overflow:\n%s", o.err);
    free(o.err);
}
END_TEST

/* ---- the user's own SIGSEGV handler ---------------------------------------- */

static void user_handler(int sig)
{
    static const char msg[] = "user handler ran\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(43);
    _exit(42);
}

/* Installs user_handler for SIGSEGV in this process (a test's own: check
 * forks one per test), to be inherited by the child. */
static void install_user_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = user_handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
}

START_TEST(a_fault_outside_a_guard_page_goes_to_the_users_handler)
{
    install_user_handler(); /* before the child's spool_run installs spool's */
    struct outcome o = run_in_child(null_main, NULL, 1);
    ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 42, "the user's handler did not end it; stderr:\n%s",
                  o.err);
    ck_assert_msg(strstr(o.err, "user handler ran\n") && !overflow_line(o.err), "stderr:\n%s", o.err);
    free(o.err);
}
END_TEST

START_TEST(an_overflow_is_reported_and_dies_of_sigsegv_even_with_a_users_handler)
{
    if (!REPORTS)
        return; /* TSan builds: no spool handler, the user's gets the fault */
    install_user_handler();
    struct scene s;
    struct outcome o = run_in_child(scene_main, &s, 1);
    const char *want[] = {"'big-frame'", "65536-byte stack", "spool_config.stack_size"};
    expect_report(o, want, sizeof want / sizeof *want);
    ck_assert_msg(!strstr(o.err, "user handler ran"), "stderr:\n%s", o.err);
    free(o.err);
}
END_TEST

/* ---- worker 0 is the caller's thread: its alternate stack is left as it was */

static int nothing(void *arg)
{
    return 0;
}

START_TEST(spool_run_leaves_the_callers_alternate_signal_stack_as_it_was)
{
    stack_t none = {.ss_flags = SS_DISABLE}, got;
    ck_assert_int_eq(sigaltstack(&none, NULL), 0);
    ck_assert_int_eq(run_on(1, nothing, NULL), 0);
    ck_assert_int_eq(sigaltstack(NULL, &got), 0);
    ck_assert_msg(got.ss_flags & SS_DISABLE, "spool_run left an alternate signal stack behind");

    static char mine[64 * 1024];
    stack_t own = {.ss_sp = mine, .ss_size = sizeof mine, .ss_flags = 0};
    ck_assert_int_eq(sigaltstack(&own, NULL), 0);
    ck_assert_int_eq(run_on(1, nothing, NULL), 0);
    ck_assert_int_eq(sigaltstack(NULL, &got), 0);
    ck_assert_ptr_eq(got.ss_sp, mine);
    ck_assert_uint_eq(got.ss_size, sizeof mine);
    ck_assert_int_eq(got.ss_flags & SS_DISABLE, 0);
    ck_assert_int_eq(sigaltstack(&none, NULL), 0);
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    ADD_TEST(s, a_frame_bigger_than_the_guard_faults_on_it_with_one_line_naming_the_task);
    ADD_TEST(s, an_unnamed_task_on_a_worker_thread_is_named_by_its_function);
    ADD_TEST(s, a_fault_outside_a_guard_page_dies_of_sigsegv_without_the_line);
    ADD_TEST(s, a_fault_outside_a_guard_page_goes_to_the_users_handler);
    ADD_TEST(s, an_overflow_is_reported_and_dies_of_sigsegv_even_with_a_users_handler);
    ADD_TEST(s, spool_run_leaves_the_callers_alternate_signal_stack_as_it_was);
    return s;
}

int main(void)
{
    return check_main(guard_suite, 120);
}

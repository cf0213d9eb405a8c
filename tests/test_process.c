/*
 * test_process.c — child processes (io/process.c) against real programs:
 * /bin/cat through pipes (also read with spool_stream_readline), /bin/sh
 * -c (exit codes, stderr, 2>&1, the environment and the working
 * directory), /bin/false, a program that does not exist (-ENOENT, no
 * zombie, no fd left), a child that ignores SIGTERM and dies of SIGKILL,
 * 10 MiB on stdout and stderr at once read by communicate, a cancelled
 * or timed-out wait that leaves the child waitable, communicate under a
 * timeout on a child that sleeps forever, close killing what it must,
 * EMFILE, SIGCHLD ignored, what the child inherits (no fd of the
 * runtime, no blocked signal), many tasks spawning at once, bad input.
 *
 * Every test ends by checking that the test process has no child left
 * (no zombie, nothing running: waitid(P_ALL) says ECHILD) and, where it
 * counts them, as many open fds as before. check runs each test in a
 * process of its own, so the children counted are this test's.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"

/* The number of open fds of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static int noop(void *arg)
{
    (void)arg;
    return 0;
}

/* The fds open before a test's runtimes: counted after one runtime has
 * come and gone, since the first one opens a pidfd of this process that
 * stays for the process's life (runtime/stack.c, for process_madvise). */
static int baseline_fds(void)
{
    ck_assert_int_eq(run_on(1, noop, NULL), 0);
    return count_fds();
}

/* No child of this process, running or zombie. */
static void assert_no_children(void)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
    ck_assert_msg(rc < 0 && errno == ECHILD, "a child is left: pid %d", (int)si.si_pid);
}

static const spool_process_options pipes_all = {
    .in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_PIPE};

/* ---- /bin/cat through pipes ----------------------------------------------------- */

static int main_cat(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"/bin/cat", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), 0);
    ck_assert_int_gt(p.pid, 0);
    ck_assert_int_ge(p.stdin_fd, 0);
    ck_assert_int_ge(p.stdout_fd, 0);
    ck_assert_int_ge(p.stderr_fd, 0);
    ck_assert_int_ne(fcntl(p.stdout_fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN);

    /* Line by line: cat answers each before we send the next. */
    char buf[256], line[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, p.stdout_fd, buf, sizeof buf), 0);
    for (int i = 0; i < 20; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "line %d\n", i);
        ck_assert_int_eq(spool_write(p.stdin_fd, msg, (size_t)len, -1), len);
        ck_assert_int_eq(spool_stream_readline(&s, line, sizeof line), len);
        ck_assert(memcmp(line, msg, (size_t)len) == 0);
    }
    ck_assert_int_eq(close(p.stdin_fd), 0);
    p.stdin_fd = -1;
    ck_assert_int_eq(spool_stream_readline(&s, line, sizeof line), 0); /* EOF */
    int st = spool_process_wait(&p);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    ck_assert_int_eq(spool_process_wait(&p), st); /* again: the same */
    ck_assert_int_eq(spool_process_send_signal(&p, SIGTERM), -ESRCH); /* reaped */
    ck_assert_int_eq(spool_process_close(&p), st);
    ck_assert_int_eq(spool_process_close(&p), -EINVAL);

    /* communicate: 1 MiB in, the same out. */
    size_t n = (size_t)1 << 20;
    char *in = malloc(n);
    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)(i * 7 + 3);
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), 0);
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW, err = SPOOL_PROCESS_OUTPUT_GROW;
    st = spool_process_communicate(&p, in, n, &out, &err);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(out.len, n);
    ck_assert(memcmp(out.data, in, n) == 0);
    ck_assert_uint_eq(err.len, 0);
    ck_assert_int_eq(p.stdin_fd, -1);
    ck_assert_int_eq(p.stdout_fd, -1);
    ck_assert_int_eq(p.stderr_fd, -1);
    ck_assert_int_eq(spool_process_close(&p), 0);
    free(out.data);
    free(err.data);
    free(in);
    return 0;
}

START_TEST(cat_echoes_its_input_through_pipes)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_cat, NULL), 0);
    ck_assert_int_eq(run_on(1, main_cat, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- /bin/sh -c: exit codes, stderr, env, cwd --------------------------------------- */

/* Runs `cmd` with opt, communicate with no input; returns the status and
 * fills out / err (growable: the caller frees). */
static int sh(const char *cmd, const spool_process_options *opt, spool_process_output *out,
              spool_process_output *err)
{
    spool_process p;
    int rc = spool_process_spawn_shell(&p, cmd, opt);
    ck_assert_int_eq(rc, 0);
    int st = spool_process_communicate(&p, NULL, 0, out, err);
    ck_assert_int_eq(spool_process_close(&p), st);
    return st;
}

static int main_sh(void *arg)
{
    (void)arg;
    spool_process_options o = {.out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_PIPE};
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW, err = SPOOL_PROCESS_OUTPUT_GROW;

    int st = sh("exit 3", &o, &out, &err);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 3);

    st = sh("echo to-out; echo to-err >&2; exit 0", &o, &out, &err);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(out.len, 7);
    ck_assert(memcmp(out.data, "to-out\n", 7) == 0);
    ck_assert_uint_eq(err.len, 7);
    ck_assert(memcmp(err.data, "to-err\n", 7) == 0);
    out.len = err.len = 0;

    /* 2>&1 */
    spool_process_options merged = {.out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_STDOUT};
    st = sh("echo a; echo b >&2", &merged, &out, NULL);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(out.len, 4);
    ck_assert(memcmp(out.data, "a\nb\n", 4) == 0);
    out.len = 0;

    /* The environment given, and only that. */
    const char *env[] = {"SPOOL_TEST_VAR=bar baz", NULL};
    spool_process_options with_env = o;
    with_env.env = env;
    st = sh("printf '%s|%s' \"$SPOOL_TEST_VAR\" \"${HOME:-unset}\"", &with_env, &out, NULL);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(out.len, strlen("bar baz|unset"));
    ck_assert(memcmp(out.data, "bar baz|unset", out.len) == 0);
    out.len = 0;

    /* The working directory. */
    spool_process_options in_root = o;
    in_root.cwd = "/";
    st = sh("pwd", &in_root, &out, NULL);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(out.len, 2);
    ck_assert(memcmp(out.data, "/\n", 2) == 0);
    out.len = 0;

    /* /dev/null in and out: cat ends at once, writes nowhere. */
    spool_process_options nulls = {.in = SPOOL_STDIO_DEVNULL, .out = SPOOL_STDIO_DEVNULL,
                                   .err = SPOOL_STDIO_DEVNULL};
    spool_process p;
    const char *cat[] = {"cat", NULL}; /* found in PATH */
    ck_assert_int_eq(spool_process_spawn(&p, cat, &nulls), 0);
    ck_assert_int_eq(p.stdin_fd, -1);
    ck_assert_int_eq(spool_process_wait(&p), 0);
    ck_assert_int_eq(spool_process_close(&p), 0);

    /* A fixed buffer: fits, then does not. */
    char small[8];
    spool_process_output fixed = SPOOL_PROCESS_OUTPUT_FIXED(small, sizeof small);
    st = sh("printf 12345678", &o, &fixed, NULL);
    ck_assert_int_eq(st, 0);
    ck_assert_uint_eq(fixed.len, 8);
    ck_assert(memcmp(small, "12345678", 8) == 0);
    fixed.len = 0;
    ck_assert_int_eq(spool_process_spawn_shell(&p, "printf 123456789; exec sleep 1000", &o), 0);
    ck_assert_int_eq(spool_process_communicate(&p, NULL, 0, &fixed, NULL), -EMSGSIZE);
    ck_assert_uint_eq(fixed.len, 8);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN); /* still runs */
    ck_assert_int_eq(spool_process_kill(&p), 0);
    st = spool_process_close(&p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);

    free(out.data);
    free(err.data);
    return 0;
}

START_TEST(sh_reports_exit_codes_stderr_and_honours_env_and_cwd)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_sh, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static int main_false(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"/bin/false", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), 0);
    int st = spool_process_wait(&p);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 1);
    ck_assert_int_eq(spool_process_try_wait(&p), st);
    ck_assert_int_eq(spool_process_close(&p), st);
    return 0;
}

START_TEST(false_exits_with_1)
{
    ck_assert_int_eq(run_on(2, main_false, NULL), 0);
    assert_no_children();
}
END_TEST

/* ---- spawn errors ------------------------------------------------------------------ */

/* spool_process_spawn(p, argv, opt) must fail with err, leaving p
 * empty. Under qemu-user (an emulated test run) a failed exec cannot be
 * seen: qemu runs posix_spawn's CLONE_VFORK child as a fork, so glibc
 * learns nothing of the exec and the child exits 127 instead; there that
 * outcome is accepted too (and the child reaped). */
static void expect_spawn_fails(const char *const argv[], const spool_process_options *opt, int err)
{
    spool_process p;
    int rc = spool_process_spawn(&p, argv, opt);
    if (SPOOL_TEST_EMULATOR[0] && rc == 0) {
        int st = spool_process_close(&p);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 127, "status %d", st);
        return;
    }
    ck_assert_int_eq(rc, err);
    ck_assert_int_eq(p.pid, -1);
    ck_assert_int_eq(p.stdin_fd, -1);
    ck_assert_int_eq(p.stdout_fd, -1);
    ck_assert_int_eq(p.stderr_fd, -1);
    ck_assert_int_eq(spool_process_close(&p), -EINVAL); /* nothing to close */
}

static int main_missing(void *arg)
{
    (void)arg;
    int fds = count_fds();
    const char *abs[] = {"/nonexistent/spool-no-such-program", NULL};
    expect_spawn_fails(abs, &pipes_all, -ENOENT);
    const char *in_path[] = {"spool-no-such-program", NULL};
    expect_spawn_fails(in_path, &pipes_all, -ENOENT);
    spool_process_options bad_cwd = pipes_all;
    bad_cwd.cwd = "/nonexistent/spool-dir";
    const char *cat[] = {"/bin/cat", NULL};
    expect_spawn_fails(cat, &bad_cwd, -ENOENT);
    const char *dir[] = {"/", NULL};
    expect_spawn_fails(dir, &pipes_all, -EACCES);
    ck_assert_int_eq(count_fds(), fds);
    return 0;
}

START_TEST(a_missing_program_or_cwd_is_enoent_with_no_zombie_and_no_fd_left)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_missing, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* Fills the fd table up to its limit: returns how many fds it opened
 * into fill[]. */
static int fill_fds(int *fill, int max)
{
    int n = 0;
    while (n < max) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ck_assert_int_eq(errno, EMFILE);
            break;
        }
        fill[n++] = fd;
    }
    return n;
}

static int main_emfile(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"/bin/true", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), 0); /* pidfd support known */
    ck_assert_int_eq(spool_process_close(&p), 0);
    int fds = count_fds();
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)fds + 64;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    static int fill[256];
    int n = fill_fds(fill, 256);
    ck_assert_int_gt(n, 0);

    /* No fd for the pipes. */
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), -EMFILE);
    /* One free: the first pipe cannot be had either (it needs two). */
    close(fill[--n]);
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), -EMFILE);
    /* Nothing to open but the pidfd, and no room for it: the child was
     * spawned, then killed and reaped. */
    fill[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fill[n], 0);
    n++;
    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), -EMFILE);
    ck_assert_int_eq(p.pid, -1);

    while (n > 0)
        close(fill[--n]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(count_fds(), fds);
    return 0;
}

START_TEST(out_of_fds_is_emfile_with_no_zombie_and_no_fd_left)
{
    ck_assert_int_eq(run_on(2, main_emfile, NULL), 0);
    assert_no_children();
}
END_TEST

static int main_sigchld_ignored(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"/bin/true", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), -ECHILD);
    return 0;
}

START_TEST(sigchld_ignored_is_refused_with_echild)
{
    signal(SIGCHLD, SIG_IGN);
    ck_assert_int_eq(run_on(1, main_sigchld_ignored, NULL), 0);
    signal(SIGCHLD, SIG_DFL);
    assert_no_children();
}
END_TEST

/* ---- signals ----------------------------------------------------------------------- */

static int main_ignores_term(void *arg)
{
    (void)arg;
    spool_process p;
    spool_process_options o = {.in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE};
    ck_assert_int_eq(spool_process_spawn_shell(
                         &p, "trap '' TERM; echo ready; while read l; do echo \"got $l\"; done", &o),
                     0);
    char buf[128], line[64];
    spool_stream s;
    ck_assert_int_eq(spool_stream_init(&s, p.stdout_fd, buf, sizeof buf), 0);
    ck_assert_int_eq(spool_stream_readline(&s, line, sizeof line), 6); /* the trap is set */
    ck_assert_int_eq(spool_process_terminate(&p), 0);
    /* The signal was sent before this line: an answer proves it survived. */
    ck_assert_int_eq(spool_write(p.stdin_fd, "x\n", 2, -1), 2);
    ck_assert_int_eq(spool_stream_readline(&s, line, sizeof line), 6);
    ck_assert(memcmp(line, "got x\n", 6) == 0);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN);
    ck_assert_int_eq(spool_process_kill(&p), 0);
    int st = spool_process_wait(&p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    ck_assert_int_eq(spool_process_close(&p), st);
    return 0;
}

START_TEST(a_child_ignoring_sigterm_survives_it_and_dies_of_sigkill)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_ignores_term, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- 10 MiB on stdout and stderr at once -------------------------------------------- */

#define TEN_MIB (10u * 1024 * 1024)

static int main_ten_mib(void *arg)
{
    (void)arg;
    spool_process p;
    spool_process_options o = {.out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_PIPE};
    ck_assert_int_eq(spool_process_spawn_shell(
                         &p, "head -c 10485760 /dev/zero & head -c 10485760 /dev/zero >&2; wait", &o),
                     0);
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW, err = SPOOL_PROCESS_OUTPUT_GROW;
    ck_assert_int_eq(spool_process_communicate(&p, NULL, 0, &out, &err), 0);
    ck_assert_uint_eq(out.len, TEN_MIB);
    ck_assert_uint_eq(err.len, TEN_MIB);
    for (size_t i = 0; i < TEN_MIB; i += 4096)
        REQUIRE(out.data[i] == 0 && err.data[i] == 0);
    ck_assert_int_eq(spool_process_close(&p), 0);
    free(out.data);
    free(err.data);

    /* The same with 10 MiB going in through cat while 10 MiB come out
     * of it and 10 MiB go to stderr: all three pipes full at once. */
    char *in = calloc(1, TEN_MIB);
    ck_assert_ptr_nonnull(in);
    spool_process_output out2 = SPOOL_PROCESS_OUTPUT_GROW, err2 = SPOOL_PROCESS_OUTPUT_GROW;
    spool_process_options all = pipes_all;
    ck_assert_int_eq(
        spool_process_spawn_shell(&p, "head -c 10485760 /dev/zero >&2 & cat; wait", &all), 0);
    ck_assert_int_eq(spool_process_communicate(&p, in, TEN_MIB, &out2, &err2), 0);
    ck_assert_uint_eq(out2.len, TEN_MIB);
    ck_assert_uint_eq(err2.len, TEN_MIB);
    ck_assert_int_eq(spool_process_close(&p), 0);
    free(out2.data);
    free(err2.data);
    free(in);
    return 0;
}

START_TEST(ten_mib_on_stdout_and_stderr_at_once_come_whole_without_deadlock)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_ten_mib, NULL), 0);
    ck_assert_int_eq(run_on(1, main_ten_mib, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A child that exits without reading its input: no SIGPIPE for us. */
static int main_no_sigpipe(void *arg)
{
    (void)arg;
    static char in[1 << 20];
    spool_process p;
    spool_process_options o = {.in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE};
    ck_assert_int_eq(spool_process_spawn_shell(&p, "exec head -c 10", &o), 0);
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW;
    ck_assert_int_eq(spool_process_communicate(&p, in, sizeof in, &out, NULL), 0);
    ck_assert_uint_eq(out.len, 10);
    ck_assert_int_eq(spool_process_close(&p), 0);
    free(out.data);
    const char *f[] = {"/bin/false", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, f, &o), 0);
    int st = spool_process_communicate(&p, in, sizeof in, NULL, NULL);
    ck_assert_int_eq(WEXITSTATUS(st), 1);
    ck_assert_int_eq(spool_process_close(&p), st);
    return 0;
}

START_TEST(a_child_that_does_not_read_its_input_raises_no_sigpipe)
{
    ck_assert_int_eq(run_on(2, main_no_sigpipe, NULL), 0);
    assert_no_children();
}
END_TEST

/* ---- cancellation and timeouts -------------------------------------------------------- */

static int wait_task(void *arg)
{
    return spool_process_wait(arg);
}

static int main_cancelled_wait(void *arg)
{
    (void)arg;
    spool_process p;
    spool_process_options o = {.in = SPOOL_STDIO_PIPE};
    /* Runs until it reads a line: alive whatever we wait for. */
    ck_assert_int_eq(spool_process_spawn_shell(&p, "read l; exit 7", &o), 0);

    spool_task *t = spool_spawn(wait_task, &p);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_sleep_ms(20), 0);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN); /* still running */

    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, 20 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_process_wait(&p), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN);

    /* Still waitable: let it finish. */
    ck_assert_int_eq(spool_write(p.stdin_fd, "go\n", 3, -1), 3);
    int st = spool_process_wait(&p);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 7);
    ck_assert_int_eq(spool_process_close(&p), st);

    /* The idiom of spool.h: kill on cancel. */
    ck_assert_int_eq(spool_process_spawn_shell(&p, "read l", &o), 0);
    spool_task_cancel(spool_current());
    st = spool_process_wait(&p);
    ck_assert_int_eq(st, -ECANCELED);
    ck_assert_int_eq(spool_shield_begin(), 0);
    ck_assert_int_eq(spool_process_kill(&p), 0);
    st = spool_process_wait(&p);
    ck_assert_int_eq(spool_shield_end(), 0);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    /* Cancelled: close's wait has nothing left to wait for. */
    ck_assert_int_eq(spool_process_close(&p), st);
    return 0;
}

START_TEST(a_cancelled_or_timed_out_wait_leaves_the_child_running_and_waitable)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_cancelled_wait, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static int main_communicate_timeout(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"sleep", "100000", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), 0);
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW, err = SPOOL_PROCESS_OUTPUT_GROW;
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, 50 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_process_communicate(&p, "abc", 3, &out, &err), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN);
    ck_assert_int_ge(p.stdout_fd, 0); /* unfinished pipes stay open */
    ck_assert_int_eq(spool_process_kill(&p), 0);
    int st = spool_process_wait(&p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    ck_assert_int_eq(spool_process_close(&p), st);
    free(out.data);
    free(err.data);

    /* close under a timeout: the child is killed and reaped all the same. */
    ck_assert_int_eq(spool_process_spawn(&p, argv, &pipes_all), 0);
    ck_assert_int_eq(spool_timeout_enter(&to, 20 * SPOOL_MSEC), 0);
    ck_assert_int_eq(spool_process_close(&p), -ETIMEDOUT);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    ck_assert_int_eq(p.pidfd, -1);
    return 0;
}

START_TEST(communicate_under_a_timeout_on_a_sleeping_child_times_out_and_kill_ends_it)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_communicate_timeout, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A task cancelled in communicate: its own tasks are cancelled and
 * joined, the child runs on, and close kills it. */
static int communicate_task(void *arg)
{
    return spool_process_communicate(arg, NULL, 0, NULL, NULL);
}

static int main_cancelled_communicate(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"sleep", "100000", NULL};
    spool_process_options o = {.out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_PIPE};
    ck_assert_int_eq(spool_process_spawn(&p, argv, &o), 0);
    spool_task *t = spool_spawn(communicate_task, &p);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_sleep_ms(20), 0);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(spool_process_try_wait(&p), -EAGAIN);
    ck_assert_int_eq(spool_process_kill(&p), 0);
    int st = spool_process_close(&p);
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    return 0;
}

START_TEST(a_cancelled_communicate_leaves_the_child_running)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(2, main_cancelled_communicate, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- many at once ------------------------------------------------------------------------ */

/* Spawns, talks to and closes children in a loop: several of these run
 * at once on every worker, so spawns, waits and communicates overlap. */
static int churn(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (int k = 0; k < 4; k++) {
        spool_process p;
        spool_process_options o = {.in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE};
        const char *argv[] = {"/bin/cat", NULL};
        int rc = spool_process_spawn(&p, argv, &o);
        if (rc < 0)
            return rc;
        char msg[32], got[32];
        int len = snprintf(msg, sizeof msg, "task %d round %d\n", i, k);
        spool_process_output out = SPOOL_PROCESS_OUTPUT_FIXED(got, sizeof got);
        int st = spool_process_communicate(&p, msg, (size_t)len, &out, NULL);
        int cst = spool_process_close(&p);
        if (st != 0 || cst != 0 || out.len != (size_t)len || memcmp(got, msg, (size_t)len) != 0)
            return -EIO;
    }
    return 0;
}

static int main_many(void *arg)
{
    (void)arg;
    enum { N = SANITIZED ? 8 : 32 };
    spool_task *t[N];
    int results[N];
    for (int i = 0; i < N; i++) {
        t[i] = spool_spawn(churn, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(t[i]);
    }
    ck_assert_int_eq(spool_gather(t, N, results), 0);
    return 0;
}

START_TEST(many_tasks_spawn_and_close_children_at_once)
{
    int fds = baseline_fds();
    ck_assert_int_eq(run_on(4, main_many, NULL), 0);
    assert_no_children();
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- what the child inherits ----------------------------------------------------------- */

/* Whether fd is open in this process without FD_CLOEXEC (a child
 * inherits it, as the test's runner may have wanted). */
static int inheritable(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && !(fl & FD_CLOEXEC);
}

static int main_inherits(void *arg)
{
    (void)arg;
    spool_process p;
    spool_process_options o = {.in = SPOOL_STDIO_PIPE, .out = SPOOL_STDIO_PIPE, .err = SPOOL_STDIO_PIPE};
    /* The child holds 0, 1, 2, what this process holds without
     * FD_CLOEXEC (check's temporary file, ...), and ls's own directory
     * fd, the lowest number left; the runtime's fds (rings, epoll sets,
     * eventfds, pidfds) and the other pipe ends must not be there. */
    const char *argv[] = {"ls", "/proc/self/fd", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, &o), 0);
    spool_process_output out = SPOOL_PROCESS_OUTPUT_GROW;
    ck_assert_int_eq(spool_process_communicate(&p, NULL, 0, &out, NULL), 0);
    ck_assert_int_eq(spool_process_close(&p), 0);
    char *save = NULL, *line;
    int seen = 0, own = 3;
    while (inheritable(own))
        own++;
    out.data[out.len - 1] = '\0';
    for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int fd = atoi(line);
        ck_assert_msg(fd <= 2 || fd == own || inheritable(fd), "the child inherited fd %d", fd);
        seen++;
    }
    ck_assert_int_ge(seen, 4);
    free(out.data);

    /* Signals the workers block (for spool_signal_wait) are not blocked in
     * the child: SIGTERM ends it. */
    const char *sl[] = {"sleep", "100000", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, sl, NULL), 0);
    ck_assert_int_eq(spool_process_terminate(&p), 0);
    int st = spool_process_close(&p);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGTERM);
    return 0;
}

START_TEST(the_child_inherits_no_runtime_fd_and_no_blocked_signal)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    ck_assert_int_eq(run_on(2, main_inherits, NULL), 0);
    assert_no_children();
}
END_TEST

/* ---- bad input, context ----------------------------------------------------------------- */

static int main_bad(void *arg)
{
    (void)arg;
    spool_process p;
    const char *argv[] = {"/bin/true", NULL};
    const char *empty[] = {NULL};
    ck_assert_int_eq(spool_process_spawn(NULL, argv, NULL), -EINVAL);
    ck_assert_int_eq(spool_process_spawn(&p, NULL, NULL), -EINVAL);
    ck_assert_int_eq(spool_process_spawn(&p, empty, NULL), -EINVAL);
    ck_assert_int_eq(spool_process_spawn_shell(&p, NULL, NULL), -EINVAL);
    spool_process_options bad = {.out = SPOOL_STDIO_STDOUT};
    ck_assert_int_eq(spool_process_spawn(&p, argv, &bad), -EINVAL);
    bad.out = (spool_stdio)9;
    ck_assert_int_eq(spool_process_spawn(&p, argv, &bad), -EINVAL);
    ck_assert_int_eq(spool_process_wait(NULL), -EINVAL);
    ck_assert_int_eq(spool_process_try_wait(NULL), -EINVAL);
    ck_assert_int_eq(spool_process_kill(NULL), -EINVAL);
    ck_assert_int_eq(spool_process_close(NULL), -EINVAL);
    ck_assert_int_eq(spool_process_communicate(NULL, NULL, 0, NULL, NULL), -EINVAL);

    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), 0);
    /* Input without a stdin pipe; a fixed output without a buffer. */
    ck_assert_int_eq(spool_process_communicate(&p, "x", 1, NULL, NULL), -EINVAL);
    spool_process_output nobuf = {NULL, 0, 4, 0};
    ck_assert_int_eq(spool_process_communicate(&p, NULL, 0, &nobuf, NULL), -EINVAL);
    ck_assert_int_eq(spool_process_send_signal(&p, 12345), -EINVAL);
    ck_assert_int_eq(spool_process_close(&p), 0);
    return 0;
}

START_TEST(bad_input_is_einval_and_outside_a_task_eperm)
{
    spool_process p;
    const char *argv[] = {"/bin/true", NULL};
    ck_assert_int_eq(spool_process_spawn(&p, argv, NULL), -EPERM);
    ck_assert_int_eq(run_on(1, main_bad, NULL), 0);
    assert_no_children();
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    ADD_TEST(s, cat_echoes_its_input_through_pipes);
    ADD_TEST(s, sh_reports_exit_codes_stderr_and_honours_env_and_cwd);
    ADD_TEST(s, false_exits_with_1);
    ADD_TEST(s, a_missing_program_or_cwd_is_enoent_with_no_zombie_and_no_fd_left);
    ADD_TEST(s, out_of_fds_is_emfile_with_no_zombie_and_no_fd_left);
    ADD_TEST(s, sigchld_ignored_is_refused_with_echild);
    ADD_TEST(s, a_child_ignoring_sigterm_survives_it_and_dies_of_sigkill);
    ADD_TEST(s, ten_mib_on_stdout_and_stderr_at_once_come_whole_without_deadlock);
    ADD_TEST(s, a_child_that_does_not_read_its_input_raises_no_sigpipe);
    ADD_TEST(s, a_cancelled_or_timed_out_wait_leaves_the_child_running_and_waitable);
    ADD_TEST(s, communicate_under_a_timeout_on_a_sleeping_child_times_out_and_kill_ends_it);
    ADD_TEST(s, a_cancelled_communicate_leaves_the_child_running);
    ADD_TEST(s, many_tasks_spawn_and_close_children_at_once);
    ADD_TEST(s, the_child_inherits_no_runtime_fd_and_no_blocked_signal);
    ADD_TEST(s, bad_input_is_einval_and_outside_a_task_eperm);
    return s;
}

int main(void)
{
    return check_main(process_suite, 120);
}

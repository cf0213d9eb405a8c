/*
 * test_driver.c — choosing the driver (runtime/driver.c): where a seccomp
 * filter refuses io_uring_setup with EPERM, as Docker's default profile
 * does, spool_run falls back to epoll, says why once on stderr, and the
 * seed's three programs and an echo round trip run; SPOOL_BACKEND and
 * spool_config.backend force a driver; a forced io_uring that is refused
 * is spool_run's error; a driver whose waits keep failing (io_uring_enter
 * refused) backs off and ends spool_run with the error.
 *
 * Each case runs in a child process of its own (the filter cannot be
 * lifted, and the probe's verdict is kept per process), with its stderr
 * in a file the parent reads.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <spool/spool.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"

#ifndef SPOOL_EXAMPLES_DIR
#define SPOOL_EXAMPLES_DIR ""
#endif

/* Whether this process has no io_uring at all: qemu-user (which also runs
 * no seccomp filters: PR_SET_SECCOMP says EINVAL there). Where it is
 * missing, io_uring is refused already, with ENOSYS instead of EPERM; the
 * cases that need io_uring_setup to work (a refused io_uring_enter) have
 * nothing to test. */
static bool io_uring_missing(void)
{
    return syscall(__NR_io_uring_setup, 0, NULL) < 0 && errno == ENOSYS;
}

/* The error io_uring_setup fails with under refuse_io_uring. */
static int refused_errno(void)
{
    return io_uring_missing() ? ENOSYS : EPERM;
}

/* Makes system call nr fail with EPERM from now on in this process and
 * its children (no extra tools: prctl and a four-instruction BPF). */
static void refuse_syscall(int nr)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp");
        _exit(99);
    }
}

/* What Docker's default profile does: io_uring_setup fails with EPERM
 * (where io_uring is missing already, it fails with ENOSYS as it is). */
static void refuse_io_uring(void)
{
    if (!io_uring_missing())
        refuse_syscall(__NR_io_uring_setup);
}

/* The CPU time (user + system) of the last child in_child reaped, and
 * the wall time it took. */
static uint64_t child_cpu_ns, child_wall_ns;

/* Runs fn in a child whose stderr goes to a temporary file; returns the
 * child's wait status, and its stderr in *err (malloc'd). */
static int in_child(int (*fn)(void), char **err)
{
    uint64_t t0 = spool_now_ns();
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(f), STDERR_FILENO);
        _exit(fn());
    }
    int status = 0;
    struct rusage ru;
    ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
    child_wall_ns = spool_now_ns() - t0;
    child_cpu_ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * SPOOL_SEC +
                   ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * SPOOL_USEC;
    long len = lseek(fileno(f), 0, SEEK_END);
    ck_assert_int_ge(len, 0);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = (size_t)pread(fileno(f), buf, (size_t)len, 0);
    buf[got <= (size_t)len ? got : 0] = 0;
    fclose(f);
    *err = buf;
    return status;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ---- an echo round trip and the backend's name -------------------------- */

static int echo_peer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    int n = spool_recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
        return -1;
    return spool_send_all(fd, buf, (size_t)n, 0) == n ? 0 : -2;
}

static int echo_main(void *arg)
{
    const char *want = arg;
    if (strcmp(spool_backend_name(), want) != 0)
        return 10;
    struct spool_stats *st = malloc(sizeof *st);
    if (!st || spool_stats(st) != 0 || strcmp(st->backend, want) != 0)
        return 11;
    free(st);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 12;
    spool_task *t = spool_spawn(echo_peer, (void *)(intptr_t)sv[1]);
    if (!t)
        return 13;
    char out[64];
    if (spool_sleep_ms(1) != 0 || spool_send_all(sv[0], "ping", 4, 0) != 4)
        return 14;
    if (spool_recv(sv[0], out, sizeof out, 0) != 4 || memcmp(out, "ping", 4) != 0)
        return 15;
    if (spool_join(t) != 0)
        return 16;
    spool_close(sv[0]);
    spool_close(sv[1]);
    return 0;
}

/* Under the filter: two runtimes fall back (the line comes once), each
 * does an echo round trip on epoll. */
static int child_refused(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_io_uring();
    for (int i = 0; i < 2; i++) {
        int rc = spool_run(echo_main, "epoll", NULL);
        if (rc != 0)
            return 20 + rc;
    }
    return 0;
}

START_TEST(where_io_uring_is_refused_it_runs_on_epoll_and_says_why_once)
{
    char *err = NULL;
    int status = in_child(child_refused, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    ck_assert_msg(count(err, "running on epoll") == 1, "stderr: %s", err);
    ck_assert_msg(count(err, refused_errno() == EPERM ? "(EPERM)" : "(ENOSYS)") == 1, "stderr: %s", err);
    free(err);
}
END_TEST

static int child_quiet(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_io_uring();
    spool_config cfg = {.quiet_fallback = 1};
    return spool_run(echo_main, "epoll", &cfg);
}

START_TEST(quiet_fallback_says_nothing)
{
    char *err = NULL;
    int status = in_child(child_quiet, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    ck_assert_msg(err[0] == 0, "stderr: %s", err);
    free(err);
}
END_TEST

static int child_forced_uring_refused(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_io_uring();
    spool_config cfg = {.backend = SPOOL_BACKEND_IO_URING};
    int rc = spool_run(echo_main, "io_uring", &cfg);
    if (rc != -refused_errno())
        return 30;
    setenv("SPOOL_BACKEND", "io_uring", 1);
    return spool_run(echo_main, "io_uring", NULL) == -refused_errno() ? 0 : 31;
}

START_TEST(a_forced_io_uring_that_is_refused_is_spool_runs_error)
{
    char *err = NULL;
    int status = in_child(child_forced_uring_refused, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    free(err);
}
END_TEST

/* SPOOL_BACKEND=epoll and the config field choose epoll silently; the
 * config wins over the environment; a name spool does not know is
 * -EINVAL. */
static int child_forced(void)
{
    setenv("SPOOL_BACKEND", "epoll", 1);
    if (spool_run(echo_main, "epoll", NULL) != 0)
        return 40;
    spool_config cfg = {.backend = SPOOL_BACKEND_EPOLL};
    unsetenv("SPOOL_BACKEND");
    if (spool_run(echo_main, "epoll", &cfg) != 0)
        return 41;
    setenv("SPOOL_BACKEND", "kqueue", 1);
    if (spool_run(echo_main, "epoll", NULL) != -EINVAL)
        return 42;
    if (spool_run(echo_main, "epoll", &cfg) != 0) /* the config's choice stands */
        return 43;
    cfg.backend = (spool_backend)7;
    return spool_run(echo_main, "epoll", &cfg) == -EINVAL ? 0 : 44;
}

START_TEST(spool_backend_and_the_config_force_a_driver)
{
    char *err = NULL;
    int status = in_child(child_forced, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    ck_assert_msg(err[0] == 0, "stderr: %s", err);
    free(err);
}
END_TEST

/* ---- io_uring_enter refused -------------------------------------------------- */

/* A filter that lets io_uring_setup through and refuses io_uring_enter:
 * the probe's NOP finds it, and epoll runs. */
static int child_enter_refused(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_syscall(__NR_io_uring_enter);
    return spool_run(echo_main, "epoll", NULL);
}

START_TEST(where_io_uring_enter_is_refused_it_runs_on_epoll)
{
    if (io_uring_missing()) { /* no io_uring_setup to let through */
        fprintf(stderr, "test_driver: io_uring is missing here (ENOSYS): refusing io_uring_enter is not tested\n");
        return;
    }
    char *err = NULL;
    int status = in_child(child_enter_refused, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    ck_assert_msg(count(err, "io_uring_enter refused") == 1 && count(err, "running on epoll") == 1,
                  "stderr: %s", err);
    free(err);
}
END_TEST

/* Main waits for I/O that can never be submitted. */
static int read_forever(void *arg)
{
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 1;
    char c;
    return spool_recv(sv[0], &c, 1, 0);
}

/* io_uring forced, its waits refused from the first: spool_run must not
 * spin nor hang, but say so once and end with the error. */
static int child_forced_enter_refused(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_syscall(__NR_io_uring_enter);
    spool_config cfg = {.workers = 2, .backend = SPOOL_BACKEND_IO_URING};
    int rc = spool_run(read_forever, NULL, &cfg);
    return rc == -EPERM ? 0 : 50;
}

START_TEST(a_driver_that_keeps_failing_ends_spool_run_with_its_error)
{
    if (io_uring_missing()) { /* no io_uring to force */
        fprintf(stderr, "test_driver: io_uring is missing here (ENOSYS): a failing forced io_uring is not tested\n");
        return;
    }
    char *err = NULL;
    int status = in_child(child_forced_enter_refused, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, stderr: %s", status, err);
    ck_assert_msg(count(err, "driver failed") == 1, "stderr: %s", err);
    /* Backing off, not spinning: a worker spinning on a wait that fails
     * at once burns a core for the whole second (two workers here);
     * backing off, the process sleeps nearly all of it. A fifth of the
     * wall time holds on a loaded machine, where a spinning process would
     * still get a third of a core. */
    ck_assert_msg(child_cpu_ns < child_wall_ns / 5, "CPU %llu ms in %llu ms",
                  (unsigned long long)(child_cpu_ns / SPOOL_MSEC), (unsigned long long)(child_wall_ns / SPOOL_MSEC));
    free(err);
}
END_TEST

/* ---- the seed's programs under the filter ---------------------------------- */

static const char *example_name;

static int child_example(void)
{
    unsetenv("SPOOL_BACKEND");
    refuse_io_uring();
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", SPOOL_EXAMPLES_DIR, example_name);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
        dup2(null, STDOUT_FILENO);
    const char *argv[] = {path, NULL};
    exec_built(argv);
    perror(path);
    return 98;
}

static const char *const seed_programs[] = {"hello", "gather", "semaphore"};

START_TEST(the_seeds_programs_run_where_io_uring_is_refused)
{
    if (!SPOOL_EXAMPLES_DIR[0])
        return; /* built without the examples */
    example_name = seed_programs[_i];
    char *err = NULL;
    int status = in_child(child_example, &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d, stderr: %s", example_name,
                  status, err);
    ck_assert_msg(count(err, "running on epoll") == 1, "%s: stderr: %s", example_name, err);
    free(err);
}
END_TEST

static Suite *driver_suite(void)
{
    Suite *s = suite_create("driver");
    ADD_TEST(s, where_io_uring_is_refused_it_runs_on_epoll_and_says_why_once);
    ADD_TEST(s, quiet_fallback_says_nothing);
    ADD_TEST(s, a_forced_io_uring_that_is_refused_is_spool_runs_error);
    ADD_TEST(s, spool_backend_and_the_config_force_a_driver);
    ADD_TEST(s, where_io_uring_enter_is_refused_it_runs_on_epoll);
    ADD_TEST(s, a_driver_that_keeps_failing_ends_spool_run_with_its_error);
    ADD_LOOP_TEST(s, the_seeds_programs_run_where_io_uring_is_refused, 3);
    return s;
}

int main(void)
{
    return check_main(driver_suite, 120);
}

/*
 * test_dump.c — spool_dump (runtime/dump.c): a service made to hang on
 * purpose (a task waiting on a semaphore nobody releases) is named in the
 * dump with its wait and a frame in the function that waits; a sleeper
 * shows its deadline, a reader its recv and fd, a joiner the task it
 * joins, a spool_to_thread caller its function; dumps taken again and
 * again while tasks ping-pong on every worker (TSan: the stop of the
 * world orders every read); a worker that does not stop is reported, not
 * waited for; SIGQUIT under SPOOL_DEBUG=1 prints the dump and the process
 * keeps running (this binary run again as a child); SIGQUIT is left alone
 * without debug mode, and put back after spool_run with it; bad input.
 *
 * The functions whose frames the dump must name are not static, and the
 * binary is linked with -rdynamic (tests/CMakeLists.txt: ENABLE_EXPORTS)
 * and built with frame pointers, so dladdr can name them.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"

/* This program's path, for the SIGQUIT test's child. */
static const char *self_path;

/* The dump of the current runtime, as a string (malloc'd). Task
 * context. */
static char *dump_string(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(spool_dump(f), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_ptr_nonnull(text);
    return text;
}

/* The paragraph of the task named `name` in dump d: from its line to the
 * next line that starts another task or ends the dump (malloc'd), or
 * NULL if no task has that name. */
static char *paragraph_of(const char *d, const char *name)
{
    char quoted[128];
    snprintf(quoted, sizeof quoted, "'%s'", name);
    const char *line = d;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (strncmp(line, "task ", 5) == 0) {
            const char *q = strstr(line, quoted);
            if (q && q < line + n) {
                const char *end = eol ? eol + 1 : line + n;
                while (*end && strncmp(end, "task ", 5) != 0 && strncmp(end, "spool dump:", 11) != 0) {
                    const char *e = strchr(end, '\n');
                    end = e ? e + 1 : end + strlen(end);
                }
                return strndup(line, (size_t)(end - line));
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* Dumps until the task named `name` shows `what` in its paragraph (its
 * wait may not have parked yet), or HANG_GUARD_NS passes. Returns the
 * paragraph (malloc'd); fails the test with the last dump if it never
 * does. Task context. */
static char *wait_for_paragraph(const char *name, const char *what)
{
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    for (;;) {
        char *d = dump_string();
        char *p = paragraph_of(d, name);
        if (p && strstr(p, what)) {
            free(d);
            return p;
        }
        if (spool_now_ns() >= until)
            ck_abort_msg("no '%s' in the paragraph of task '%s'; the last dump:\n%s", what, name, d);
        free(p);
        free(d);
        spool_sleep_ms(2);
    }
}

/* ---- the hung service ------------------------------------------------------ */

/* What the hung task's wait returned (after the test cancels it). */
static volatile int hang_result = 1;

int hang_on_semaphore(void *arg);
__attribute__((noinline)) int hang_on_semaphore(void *arg)
{
    spool_sem *sem = arg;
    int rc = spool_sem_acquire(sem); /* nobody releases it */
    hang_result = rc;                /* (no tail call: this frame stays) */
    return rc;
}

static int main_hang(void *arg)
{
    (void)arg;
    spool_sem sem = SPOOL_SEM_INIT(0);
    spool_task *t = spool_spawn(hang_on_semaphore, &sem);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_set_name(t, "hang"), 0);
    char want[64];
    snprintf(want, sizeof want, "waiting: semaphore %p", (void *)&sem);
    char *p = wait_for_paragraph("hang", want);
    /* Named, its wait, and a frame in the function that waits (symbolised
     * through the dynamic symbol table), below spool_sem_acquire's. */
    char handle[64];
    snprintf(handle, sizeof handle, "task %p 'hang'", (void *)t);
    ck_assert_msg(strncmp(p, handle, strlen(handle)) == 0, "paragraph:\n%s", p);
    ck_assert_msg(strstr(p, "hang_on_semaphore+0x"), "no frame in hang_on_semaphore:\n%s", p);
    ck_assert_msg(strstr(p, "spool_sem_acquire+0x"), "no frame in spool_sem_acquire:\n%s", p);
    ck_assert(strstr(p, "spool_sem_acquire+0x") < strstr(p, "hang_on_semaphore+0x"));
    free(p);
    /* The caller is shown running, with its own backtrace. */
    char *d = dump_string();
    ck_assert_msg(strstr(d, "running on worker"), "%s", d);
    ck_assert_msg(strstr(d, "spool_dump+0x"), "the caller's own frames:\n%s", d);
    ck_assert_msg(strstr(d, "spool dump: ") == d, "%s", d);
    /* The other workers were parked in their drivers (io_uring or epoll):
     * the dump woke each one, which stopped. */
    ck_assert_msg(!strstr(d, "did not stop"), "%s", d);
    free(d);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(hang_result, -ECANCELED);
    return 0;
}

START_TEST(a_task_hung_on_a_semaphore_is_named_with_its_wait_and_the_function_that_waits)
{
    ck_assert_int_eq(run_on(1, main_hang, NULL), 0);
    ck_assert_int_eq(run_on(4, main_hang, NULL), 0);
}
END_TEST

/* ---- each kind of wait ------------------------------------------------------- */

static int sleeper(void *arg)
{
    (void)arg;
    return spool_sleep_ms(3600 * 1000);
}

int read_and_wait(void *arg);
__attribute__((noinline)) int read_and_wait(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    int rc = spool_recv(fd, &c, 1, 0);
    hang_result = rc;
    return rc;
}

static int joiner(void *arg)
{
    return spool_join(arg);
}

/* Takes one connection from the listener arg, and closes it. */
static int acceptor(void *arg)
{
    int fd = spool_listener_accept(arg, NULL, NULL);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? fd : 0;
}

static _Atomic int release_thread_fn;

int blocking_fn(void *arg);
int blocking_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&release_thread_fn)) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 7;
}

static int to_thread_caller(void *arg)
{
    (void)arg;
    return spool_to_thread(blocking_fn, NULL);
}

static int main_each_wait(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    spool_task *sl = spool_spawn(sleeper, NULL);
    spool_task *rd = spool_spawn(read_and_wait, (void *)(intptr_t)sv[0]);
    spool_task *jn = spool_spawn(joiner, sl);
    atomic_store(&release_thread_fn, 0);
    spool_task *th = spool_spawn(to_thread_caller, NULL);
    ck_assert_int_eq(spool_task_set_name(sl, "sleeper"), 0);
    ck_assert_int_eq(spool_task_set_name(rd, "reader"), 0);
    ck_assert_int_eq(spool_task_set_name(jn, "joiner"), 0);
    ck_assert_int_eq(spool_task_set_name(th, "thread"), 0);
    int lfd = spool_tcp_listen("127.0.0.1", 0, 8);
    ck_assert_int_ge(lfd, 0);
    spool_listener *l = spool_listener_open(lfd);
    ck_assert_ptr_nonnull(l);
    spool_task *ac = spool_spawn(acceptor, l);
    ck_assert_int_eq(spool_task_set_name(ac, "acceptor"), 0);

    char *p = wait_for_paragraph("sleeper", "waiting: sleep, until in ");
    ck_assert_msg(strstr(p, "spool_sleep_ns+0x"), "%s", p);
    free(p);
    char want[96];
    snprintf(want, sizeof want, "waiting: I/O, recv on fd %d", sv[0]);
    p = wait_for_paragraph("reader", want);
    ck_assert_msg(strstr(p, "read_and_wait+0x"), "%s", p);
    free(p);
    snprintf(want, sizeof want, "waiting: join on task %p 'sleeper'", (void *)sl);
    p = wait_for_paragraph("joiner", want);
    free(p);
    p = wait_for_paragraph("thread", "waiting: to_thread, blocking_fn() on the blocking pool");
    free(p);
    /* An accept from a listener is an accept on its fd on either driver
     * (on io_uring the listener's multishot accept queues connections, and
     * the acceptor waits on a semaphore of the listener's own). */
    snprintf(want, sizeof want, "waiting: I/O, accept on fd %d", lfd);
    p = wait_for_paragraph("acceptor", want);
    free(p);

    atomic_store(&release_thread_fn, 1);
    ck_assert_int_eq(spool_join(th), 7);
    ck_assert_int_eq(send(sv[1], "x", 1, 0), 1);
    ck_assert_int_eq(spool_join(rd), 1);
    spool_task_cancel(sl);
    ck_assert_int_eq(spool_join(jn), -ECANCELED); /* the sleeper's result */
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
    int cfd = spool_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(cfd, 0);
    ck_assert_int_eq(spool_connect(cfd, (struct sockaddr *)&sa, salen), 0);
    ck_assert_int_eq(spool_join(ac), 0);
    close(cfd);
    ck_assert_int_eq(spool_listener_close(l), 0);
    close(lfd);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(each_wait_says_what_it_waits_on_a_sleep_its_deadline_io_its_call_and_fd_a_join_its_task)
{
    ck_assert_int_eq(run_on(1, main_each_wait, NULL), 0);
    ck_assert_int_eq(run_on(3, main_each_wait, NULL), 0);
}
END_TEST

/* A timed wait shows when its scope times out. */
static int timed_hang(void *arg)
{
    spool_timeout to;
    spool_timeout_enter(&to, 3600 * SPOOL_SEC);
    int rc = spool_sem_acquire(arg);
    spool_timeout_exit(&to);
    return rc;
}

static int main_timed(void *arg)
{
    (void)arg;
    spool_sem sem = SPOOL_SEM_INIT(0);
    spool_task *t = spool_spawn(timed_hang, &sem);
    spool_task_set_name(t, "timed");
    char *p = wait_for_paragraph("timed", ", times out in ");
    free(p);
    ck_assert_int_eq(spool_sem_release(&sem), 0);
    ck_assert_int_eq(spool_join(t), 0);
    return 0;
}

START_TEST(a_wait_under_a_timeout_scope_shows_when_it_times_out)
{
    ck_assert_int_eq(run_on(2, main_timed, NULL), 0);
}
END_TEST

/* ---- dumps while every worker is busy -------------------------------------------- */

struct pingpong {
    spool_sem a, b;
    _Atomic int *stop;
    unsigned long rounds;
};

static int ping(void *arg)
{
    struct pingpong *pp = arg;
    while (!atomic_load_explicit(pp->stop, memory_order_relaxed)) {
        if (spool_sem_release(&pp->a) != 0 || spool_sem_acquire(&pp->b) != 0)
            return -1;
        pp->rounds++;
    }
    spool_sem_release(&pp->a); /* the other side may be waiting */
    return 0;
}

static int pong(void *arg)
{
    struct pingpong *pp = arg;
    while (!atomic_load_explicit(pp->stop, memory_order_relaxed)) {
        if (spool_sem_acquire(&pp->a) != 0 || spool_sem_release(&pp->b) != 0)
            return -1;
    }
    spool_sem_release(&pp->b);
    return 0;
}

static int spinner(void *arg)
{
    _Atomic int *stop = arg;
    unsigned long n = 0;
    while (!atomic_load_explicit(stop, memory_order_relaxed)) {
        spool_yield();
        char buf[256];
        memset(buf, (int)n++, sizeof buf); /* writes to its own stack as the dumps read it */
        __asm__ volatile("" : : "r"(buf) : "memory");
    }
    return 0;
}

#define PAIRS 8
#define SPINNERS 4

static int main_busy(void *arg)
{
    unsigned dumps = (unsigned)(uintptr_t)arg;
    _Atomic int stop = 0;
    struct pingpong pp[PAIRS];
    spool_task *tasks[2 * PAIRS + SPINNERS];
    size_t n = 0;
    for (int i = 0; i < PAIRS; i++) {
        spool_sem_init(&pp[i].a, 0);
        spool_sem_init(&pp[i].b, 0);
        pp[i].stop = &stop;
        pp[i].rounds = 0;
        tasks[n++] = spool_spawn(ping, &pp[i]);
        tasks[n++] = spool_spawn(pong, &pp[i]);
    }
    for (int i = 0; i < SPINNERS; i++)
        tasks[n++] = spool_spawn(spinner, &stop);
    for (unsigned i = 0; i < dumps; i++) {
        char *d = dump_string();
        /* Every task is there, each once: the summary counts them all
         * (main and those, maybe a finished one from an earlier round). */
        const char *sum = strstr(d, "spool dump: ");
        sum = sum ? strstr(sum + 1, "spool dump: ") : NULL;
        ck_assert_msg(sum, "no summary line:\n%s", d);
        unsigned total = 0;
        ck_assert_int_eq(sscanf(sum, "spool dump: %u tasks", &total), 1);
        ck_assert_uint_ge(total, 2 * PAIRS + SPINNERS + 1);
        ck_assert_msg(!strstr(d, "did not stop"), "%s", d);
        free(d);
        spool_sleep_ms(1);
    }
    atomic_store(&stop, 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(spool_join(tasks[i]), 0);
    return 0;
}

START_TEST(dumps_taken_while_tasks_ping_pong_on_every_worker_see_every_task_and_race_nothing)
{
    unsigned dumps = SANITIZED ? 20 : 100;
    ck_assert_int_eq(run_on(4, main_busy, (void *)(uintptr_t)dumps), 0);
    ck_assert_int_eq(run_on(2, main_busy, (void *)(uintptr_t)dumps), 0);
}
END_TEST

/* Two tasks dump at once: one waits for the other (and lets it stop its
 * worker meanwhile). */
static int dumper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        char *d = dump_string();
        if (strstr(d, "did not stop")) {
            free(d);
            return -1;
        }
        free(d);
        spool_yield();
    }
    return 0;
}

static int main_two_dumpers(void *arg)
{
    (void)arg;
    spool_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spool_spawn(dumper, NULL);
    int results[4];
    ck_assert_int_eq(spool_gather(t, 4, results), 0);
    return 0;
}

START_TEST(tasks_that_dump_at_once_take_turns)
{
    ck_assert_int_eq(run_on(4, main_two_dumpers, NULL), 0);
}
END_TEST

/* ---- a worker that does not stop ------------------------------------------------ */

static _Atomic int hog_running, hog_stop;

static int hog(void *arg)
{
    (void)arg;
    atomic_store(&hog_running, 1);
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (!atomic_load(&hog_stop) && spool_now_ns() < until)
        ; /* computes without a wait point */
    return 0;
}

static int main_hog(void *arg)
{
    (void)arg;
    atomic_store(&hog_running, 0);
    atomic_store(&hog_stop, 0);
    spool_task *t = spool_spawn(hog, NULL);
    spool_task_set_name(t, "hog");
    while (!atomic_load(&hog_running))
        spool_yield(); /* lets one worker take the hog, and the other us */
    char *d = dump_string();
    atomic_store(&hog_stop, 1);
    ck_assert_msg(strstr(d, "did not stop within"), "%s", d);
    char *p = paragraph_of(d, "hog");
    ck_assert_msg(p && strstr(p, "(which did not stop: not walked)"), "%s", d);
    free(p);
    free(d);
    ck_assert_int_eq(spool_join(t), 0);
    return 0;
}

START_TEST(a_worker_whose_task_never_waits_is_reported_not_waited_for)
{
    ck_assert_int_eq(run_on(2, main_hog, NULL), 0);
}
END_TEST

/* ---- SIGQUIT ------------------------------------------------------------------- */

/* The child's main (this binary run with --sigquit-child under
 * SPOOL_DEBUG=1): a hung task, "ready" on stdout, then it waits for a
 * line on stdin; "still running" once it came. */
static int child_main(void *arg)
{
    (void)arg;
    spool_sem sem = SPOOL_SEM_INIT(0);
    spool_task *t = spool_spawn(hang_on_semaphore, &sem);
    spool_task_set_name(t, "hang");
    spool_sleep_ms(20);
    if (write(STDOUT_FILENO, "ready\n", 6) != 6)
        return 1;
    char buf[16];
    int n = spool_read(STDIN_FILENO, buf, sizeof buf, -1);
    if (n <= 0)
        return 2;
    if (write(STDOUT_FILENO, "still running\n", 14) != 14)
        return 3;
    spool_task_cancel(t);
    return spool_join(t) == -ECANCELED ? 0 : 4;
}

static int run_child(void)
{
    struct sigaction before;
    sigaction(SIGQUIT, NULL, &before);
    spool_config cfg = {.workers = 2};
    int rc = spool_run(child_main, NULL, &cfg);
    struct sigaction after;
    sigaction(SIGQUIT, NULL, &after);
    if (after.sa_handler != before.sa_handler)
        return 5; /* the disposition must be back */
    return rc;
}

/* Reads from fd into buf (NUL-terminated, growing *len) until `what`
 * appears or HANG_GUARD_NS passes. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *what)
{
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (!strstr(buf, what)) {
        if (spool_now_ns() >= until || *len + 1 >= cap)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0)
            return -1;
        *len += (size_t)n;
        buf[*len] = 0;
    }
    return 0;
}

START_TEST(sigquit_in_debug_mode_prints_the_dump_and_the_process_keeps_running)
{
    int in[2], out[2], err[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        setenv("SPOOL_DEBUG", "1", 1);
        const char *argv[] = {self_path, "--sigquit-child", NULL};
        exec_built(argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    static char obuf[4096], ebuf[1 << 16];
    size_t olen = 0, elen = 0;
    ck_assert_int_eq(read_until(out[0], obuf, sizeof obuf, &olen, "ready\n"), 0);
    ck_assert_int_eq(kill(pid, SIGQUIT), 0);
    ck_assert_msg(read_until(err[0], ebuf, sizeof ebuf, &elen, " finished not joined\n") == 0, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "'hang'"), "%s", ebuf);
    ck_assert_msg(strstr(ebuf, "waiting: semaphore"), "%s", ebuf);
    ck_assert_msg(strstr(ebuf, "hang_on_semaphore+0x"), "%s", ebuf);
    /* Woken from a thread outside the pool, parked workers stopped. */
    ck_assert_msg(!strstr(ebuf, "did not stop"), "%s", ebuf);
    /* Still running: it answers, and ends on its own. */
    ck_assert_int_eq(write(in[1], "go\n", 3), 3);
    ck_assert_int_eq(read_until(out[0], obuf, sizeof obuf, &olen, "still running\n"), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; stderr: %s", status, ebuf);
    close(in[1]);
    close(out[0]);
    close(err[0]);
}
END_TEST

static void mark_handler(int sig)
{
    (void)sig;
}

static int main_sees_handler(void *arg)
{
    struct sigaction now;
    sigaction(SIGQUIT, NULL, &now);
    return now.sa_handler == (void (*)(int))arg ? 1 : 0;
}

START_TEST(sigquit_is_left_alone_without_debug_mode_and_put_back_after_it)
{
    unsetenv("SPOOL_DEBUG");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mark_handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGQUIT, &sa, NULL), 0);
    spool_config cfg = {.workers = 2};
    ck_assert_int_eq(spool_run(main_sees_handler, (void *)mark_handler, &cfg), 1); /* ours, untouched */
    cfg.debug = 1;
    ck_assert_int_eq(spool_run(main_sees_handler, (void *)mark_handler, &cfg), 0); /* spool's */
    struct sigaction after;
    sigaction(SIGQUIT, NULL, &after);
    ck_assert(after.sa_handler == mark_handler);
}
END_TEST

static void mark_handler_2(int sig)
{
    (void)sig;
}

/* Installs the program's own SIGQUIT handler during a debug run. */
static int main_installs_handler(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mark_handler_2;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGQUIT, &sa, NULL);
}

START_TEST(a_sigquit_handler_the_program_installs_during_a_debug_run_is_kept)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mark_handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGQUIT, &sa, NULL), 0);
    spool_config cfg = {.workers = 2, .debug = 1};
    ck_assert_int_eq(spool_run(main_installs_handler, NULL, &cfg), 0);
    struct sigaction after;
    sigaction(SIGQUIT, NULL, &after);
    ck_assert(after.sa_handler == mark_handler_2); /* the program's choice, not the one before the run */
    /* And the next debug run still takes SIGQUIT, and gives it back. */
    ck_assert_int_eq(spool_run(main_sees_handler, (void *)mark_handler_2, &cfg), 0);
    sigaction(SIGQUIT, NULL, &after);
    ck_assert(after.sa_handler == mark_handler_2);
}
END_TEST

/* ---- SIGQUIT across start-up and shutdown ------------------------------------- */

/* The storm child (this binary run with --sigquit-storm-child): SIGQUIT
 * sent to the process every few tens of microseconds while it runs many
 * short runtimes in debug mode, so that dumps land while workers are still
 * starting (before their drivers exist) and while spool_run is returning,
 * and while tasks dump too. Between runs SIGQUIT is ours (a no-op), which each run must put back. */
static _Atomic int storm_stop;

static void storm_noop(int sig)
{
    (void)sig;
}

static void *storm_killer(void *arg)
{
    (void)arg;
    while (!atomic_load(&storm_stop)) {
        kill(getpid(), SIGQUIT);
        struct timespec ts = {0, 30 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int storm_child_task(void *arg)
{
    /* A dump of its own, on stderr (/dev/null), as the SIGQUIT thread's
     * come: the two kinds of dumper take turns. */
    if (spool_dump(stderr) != 0)
        return -1;
    return spool_sleep_ms(1) == 0 ? (int)(intptr_t)arg : -1;
}

static int storm_main(void *arg)
{
    (void)arg;
    spool_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spool_spawn(storm_child_task, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        if (spool_join(t[i]) != i)
            return 1;
    return 0;
}

static int run_storm_child(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = storm_noop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGQUIT, &sa, NULL) != 0)
        return 10;
    pthread_t killer;
    if (pthread_create(&killer, NULL, storm_killer, NULL) != 0)
        return 11;
    spool_config cfg = {.workers = 4, .debug = 1};
    int rc = 0;
    for (int i = 0; i < (SANITIZED ? 20 : 100) && rc == 0; i++)
        rc = spool_run(storm_main, NULL, &cfg);
    atomic_store(&storm_stop, 1);
    pthread_join(killer, NULL);
    struct sigaction after;
    sigaction(SIGQUIT, NULL, &after);
    if (after.sa_handler != storm_noop)
        return 12;
    return rc;
}

START_TEST(sigquit_while_runtimes_start_and_end_neither_hangs_nor_touches_other_fds)
{
    /* stdin is an empty file open for writing: a dump that woke a worker
     * whose driver did not exist yet would write its eventfd's 8 bytes
     * to fd 0 (a zeroed worker's), and the file would grow. */
    char path[] = "/tmp/spool_test_dump_stdinXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd, STDIN_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        unsetenv("SPOOL_DEBUG");
        const char *argv[] = {self_path, "--sigquit-storm-child", NULL};
        exec_built(argv);
        _exit(127);
    }
    int status = 0;
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && spool_now_ns() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the storm child hung");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_msg(st.st_size == 0, "%jd bytes were written to the child's stdin", (intmax_t)st.st_size);
    close(fd);
}
END_TEST

/* ---- the smallest stack --------------------------------------------------------- */

/* A dump from a task on the smallest stack spool allows, with a task
 * waiting under a timeout scope (the "%.3f" lines: printf's floating-point
 * path is the deepest the dump takes) and a hung one to walk. */
static int scoped_sleeper(void *arg)
{
    (void)arg;
    spool_timeout scope;
    spool_timeout_enter(&scope, 3600 * SPOOL_SEC);
    int rc = spool_sleep_ms(3600 * 1000);
    spool_timeout_exit(&scope);
    return rc;
}

static int main_small_stack(void *arg)
{
    (void)arg;
    spool_sem sem = SPOOL_SEM_INIT(0);
    spool_task *t = spool_spawn(hang_on_semaphore, &sem);
    spool_task *s = spool_spawn(scoped_sleeper, NULL);
    ck_assert_int_eq(spool_task_set_name(t, "hang"), 0);
    ck_assert_int_eq(spool_task_set_name(s, "scoped"), 0);
    char *p = wait_for_paragraph("hang", "waiting: semaphore");
    free(p);
    p = wait_for_paragraph("scoped", ", times out in ");
    free(p);
    spool_task_cancel(t);
    spool_task_cancel(s);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(spool_join(s), -ECANCELED);
    return 0;
}

START_TEST(a_dump_fits_on_the_smallest_stack)
{
    for (unsigned workers = 1; workers <= 4; workers *= 4) {
        spool_config cfg = {.workers = workers, .stack_size = SPOOL_MIN_STACK_SIZE};
        ck_assert_int_eq(spool_run(main_small_stack, NULL, &cfg), 0);
    }
}
END_TEST

/* ---- bad input ------------------------------------------------------------------ */

static int main_bad(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_dump(NULL), -EINVAL);
    return 0;
}

START_TEST(a_null_stream_is_einval_and_outside_a_task_eperm)
{
    ck_assert_int_eq(spool_dump(stderr), -EPERM);
    ck_assert_int_eq(run_on(1, main_bad, NULL), 0);
}
END_TEST

static Suite *dump_suite(void)
{
    Suite *s = suite_create("dump");
    ADD_TEST(s, a_task_hung_on_a_semaphore_is_named_with_its_wait_and_the_function_that_waits);
    ADD_TEST(s, each_wait_says_what_it_waits_on_a_sleep_its_deadline_io_its_call_and_fd_a_join_its_task);
    ADD_TEST(s, a_wait_under_a_timeout_scope_shows_when_it_times_out);
    ADD_TEST(s, dumps_taken_while_tasks_ping_pong_on_every_worker_see_every_task_and_race_nothing);
    ADD_TEST(s, tasks_that_dump_at_once_take_turns);
    ADD_TEST(s, a_worker_whose_task_never_waits_is_reported_not_waited_for);
    ADD_TEST(s, sigquit_in_debug_mode_prints_the_dump_and_the_process_keeps_running);
    ADD_TEST(s, sigquit_is_left_alone_without_debug_mode_and_put_back_after_it);
    ADD_TEST(s, a_sigquit_handler_the_program_installs_during_a_debug_run_is_kept);
    ADD_TEST(s, sigquit_while_runtimes_start_and_end_neither_hangs_nor_touches_other_fds);
    ADD_TEST(s, a_dump_fits_on_the_smallest_stack);
    ADD_TEST(s, a_null_stream_is_einval_and_outside_a_task_eperm);
    return s;
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 2 && strcmp(argv[1], "--sigquit-child") == 0)
        return run_child();
    if (argc == 2 && strcmp(argv[1], "--sigquit-storm-child") == 0)
        return run_storm_child();
    return check_main(dump_suite, 120);
}

/*
 * guard.c — what happens when a task runs off the bottom of its stack.
 *
 * Every task stack has a guard page below it (stack.c), and spool is built,
 * and tells its users to build, with -fstack-clash-protection, so that even
 * a frame bigger than the guard page touches it page by page instead of
 * jumping over it into the stack below. The access faults; this file turns
 * the bare SIGSEGV into the line Go prints for a goroutine's overflow:
 *
 *   spool: task 'name' (fn 0x...) overflowed its 65536-byte stack (fault
 *   at 0x... in its guard page); raise spool_config.stack_size
 *
 * then puts back the default action and returns, so the faulting access
 * runs again and the process dies of SIGSEGV, with its core dump and exit
 * status, as it would have without spool.
 *
 * The handler runs on an alternate signal stack (SA_ONSTACK): the task's
 * stack is exhausted, so the kernel could not push a signal frame there.
 * Each worker thread gets one at start (64 KiB above a guard page of its
 * own) and frees it at stop; other threads (the blocking pool, the user's)
 * get none, and an overflow of their own stack is none of ours.
 *
 * A fault is an overflow of ours if the kernel raised it (si_code > 0) on
 * a worker running a task, at an address in the guard page just below
 * that task's stack. Any other SIGSEGV goes to the action that was in
 * place when spool installed its handler: the user's handler (called as
 * the kernel would have: its mask, SA_NODEFER, SA_RESETHAND, SA_SIGINFO),
 * or the default action (the process dies of it), or nothing if it was
 * ignored and sent by a process (the kernel does not let a fault be
 * ignored).
 *
 * Sanitizers. ASan and TSan install their own SIGSEGV handlers unless told
 * handle_segv=0. Under ASan our sigaction replaces its handler (ASan lets
 * users do that with the default handle_segv=1), and it becomes the action
 * we pass other faults to, so they still get ASan's full report; an
 * overflow gets our line and a plain SIGSEGV instead. ASan gives each
 * thread an alternate signal stack of its own, which the workers then use
 * as it is. Under TSan nothing here is installed (REPORT_OVERFLOWS): TSan's
 * interceptor would run our handler inside its own signal wrapper, and
 * TSan's report of a fault we pass on then stops at "nested bug in the
 * same thread" without its stack trace; TSan's own report of an overflow
 * ("stack-overflow", with the task's stack trace) is worth more than our
 * line there.
 *
 * Everything the handler does is async-signal-safe: it reads its own
 * thread's worker, formats numbers by hand, and writes once with write(2).
 * The task's name comes from the name table under a trylock
 * (names.c, spool__task_name_in_signal), never a wait: the faulting
 * thread may be the one holding the lock.
 */
#include "guard.h"

#include "names.h"
#include "scheduler.h"
#include "stack.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The alternate signal stack's size: the kernel's signal frame (a few KiB
 * with AVX-512 state), our handler's few hundred bytes, and room for a
 * user handler we pass a fault to. Go gives its signal stacks 32 KiB. */
#define ALT_STACK_SIZE ((size_t)64 * 1024)
/* 0 in TSan builds: no handler, no alternate stacks (see above). */
#if defined(SPOOL_TSAN)
#define REPORT_OVERFLOWS 0
#else
#define REPORT_OVERFLOWS 1
#endif
/* The most bytes of a task's name the line carries. */
#define NAME_MAX_BYTES 64

/* The action in place before ours, and the page size: written once, by the
 * pthread_once below, before our handler is installed (the sigaction call
 * orders them before any signal delivered to it); read-only after. */
static struct sigaction prev_action;
static size_t page_bytes;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* This worker thread's alternate signal stack (the mapping, with its guard
 * page), or NULL if spool gave it none. Thread-local, and read only by the
 * thread's own worker start and stop, never in a task (a task may resume
 * on another thread, design.md). */
static __thread char *alt_map;

/* ---- building the line, by hand (no stdio in a handler) ------------------- */

struct line {
    char buf[320];
    size_t len;
};

static void put_str(struct line *l, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i] && l->len < sizeof l->buf - 1; i++)
        l->buf[l->len++] = s[i];
}

static void put_dec(struct line *l, uint64_t v)
{
    char d[20];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = d[--n];
}

static void put_hex(struct line *l, uintptr_t v)
{
    char d[2 * sizeof v];
    size_t n = 0;
    do {
        d[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    put_str(l, "0x", 2);
    while (n && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = d[--n];
}

/* ---- the handler ----------------------------------------------------------- */

/* If addr lies in the guard page below the stack of the task this thread
 * runs, writes the line and returns true. */
static bool report_overflow(const void *addr)
{
    spool__worker *w = spool__worker_current();
    spool_task *t = w ? w->current : NULL;
    spool__stack *s = t ? t->stack : NULL;
    if (!s || (uintptr_t)addr >= (uintptr_t)s->base || (uintptr_t)addr < (uintptr_t)s->base - spool__stack_guard_size())
        return false;
    struct line l = {.len = 0};
    put_str(&l, "spool: task ", SIZE_MAX);
    const char *name = spool__task_name_in_signal(t);
    if (name) {
        put_str(&l, "'", 1);
        put_str(&l, name, NAME_MAX_BYTES);
        put_str(&l, "'", 1);
    } else {
        put_hex(&l, (uintptr_t)t);
    }
    put_str(&l, " (fn ", SIZE_MAX);
    put_hex(&l, (uintptr_t)s->fn);
    put_str(&l, ") overflowed its ", SIZE_MAX);
    put_dec(&l, w->rt->stack_size);
    put_str(&l, "-byte stack (fault at ", SIZE_MAX);
    put_hex(&l, (uintptr_t)addr);
    put_str(&l, " in its guard page); raise spool_config.stack_size", SIZE_MAX);
    l.buf[l.len++] = '\n'; /* put_* leave room for it */
    for (size_t off = 0; off < l.len;) {
        ssize_t n = write(STDERR_FILENO, l.buf + off, l.len - off);
        if (n <= 0)
            break; /* nothing else to be done: the process dies anyway */
        off += (size_t)n;
    }
    return true;
}

static void set_default(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGSEGV, &dfl, NULL);
}

/* Hands a fault that is not ours to the action that was in place. */
static void pass_on(int sig, siginfo_t *info, void *uc)
{
    const struct sigaction *p = &prev_action;
    bool from_kernel = info->si_code > 0;
    if (!(p->sa_flags & SA_SIGINFO) && (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN)) {
        if (p->sa_handler == SIG_IGN && !from_kernel)
            return; /* a kill(2) of an ignored signal */
        /* The default action: a fault runs again on return and kills the
         * process; a sent signal is raised again, pending until then. */
        set_default();
        if (!from_kernel)
            raise(sig);
        return;
    }
    /* A handler: run it as the kernel would have. SIGSEGV is blocked now
     * (we do not set SA_NODEFER); the mask is restored when we return. */
    pthread_sigmask(SIG_BLOCK, &p->sa_mask, NULL);
    if (p->sa_flags & SA_NODEFER) {
        sigset_t segv;
        sigemptyset(&segv);
        sigaddset(&segv, sig);
        pthread_sigmask(SIG_UNBLOCK, &segv, NULL);
    }
    if (p->sa_flags & SA_RESETHAND)
        set_default();
    if (p->sa_flags & SA_SIGINFO)
        p->sa_sigaction(sig, info, uc);
    else
        p->sa_handler(sig);
}

static void on_segv(int sig, siginfo_t *info, void *uc)
{
    if (info->si_code > 0 && report_overflow(info->si_addr)) {
        /* The access faults again on return, now with the default
         * action: the process dies of SIGSEGV, dumping core. */
        set_default();
        return;
    }
    pass_on(sig, info, uc);
}

static void install(void)
{
    page_bytes = (size_t)sysconf(_SC_PAGESIZE);
    /* Two calls, not one with both arguments: with one, the kernel
     * installs ours before it writes back the old action, and a fault on
     * another thread in between would find prev_action unwritten. A
     * sigaction of the user's racing with the first spool_run can be lost
     * either way. */
    if (sigaction(SIGSEGV, NULL, &prev_action) != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}

void spool__guard_install(void)
{
    if (REPORT_OVERFLOWS)
        pthread_once(&install_once, install);
}

/* ---- alternate signal stacks ------------------------------------------------ */

void spool__guard_thread_start(void)
{
    stack_t cur;
    if (!REPORT_OVERFLOWS || sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return; /* the thread has one already: its owner's or a sanitizer's */
    /* page_bytes: set by install, which spool_run ran before starting
     * this thread (pthread_once, then pthread_create, order it). */
    size_t pg = page_bytes;
    char *map = mmap(NULL, pg + ALT_STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return;
    /* A guard page below it, so that a handler running out of it faults
     * instead of writing into whatever is mapped below. If that fails,
     * the stack is still better than none. */
    mprotect(map, pg, PROT_NONE);
    stack_t ss = {.ss_sp = map + pg, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(map, pg + ALT_STACK_SIZE);
        return;
    }
    alt_map = map;
}

void spool__guard_thread_stop(void)
{
    if (!alt_map)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(alt_map, page_bytes + ALT_STACK_SIZE);
    alt_map = NULL;
}

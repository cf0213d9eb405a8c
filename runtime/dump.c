/*
 * dump.c — spool_dump: every task of the runtime, what it is doing, and
 * a backtrace of each one that is switched out; and, in debug mode, the
 * SIGQUIT handler and thread that print it on stderr (as Go's runtime
 * does, except that the process keeps running).
 *
 * What a dump must not do
 *   A switched-out task can be resumed at any moment by whoever wakes it
 *   (a worker reaping its I/O, a task releasing its semaphore, a timer),
 *   on any worker: reading its saved registers and its stack while it
 *   runs again would read a moving target, and in C11 terms be a data
 *   race. The records themselves are rewritten by spawns and joins on
 *   every worker.
 *
 * Approaches rejected
 *   - A pin bit per task that a resumer must wait for: a load (and, to be
 *     exact, a fence) on every switch into a task, the hottest path there
 *     is, for a call made once in a blue moon; and it pins only tasks
 *     that are parked, not the records that spawns and joins rewrite.
 *   - Walking without stopping anything, validating each word: no fault,
 *     but torn and stale backtraces, and TSan would rightly call it racy.
 *
 * The approach: stop the world at scheduling points
 *   1. One dump at a time (rt->dump_lock). A task that finds another
 *      dump running yields (uncancellably) until it can take the lock:
 *      its worker must reach a scheduling point for the other dump.
 *   2. The dumper makes rt->dump_stop odd (generation g) and wakes every
 *      other worker through its driver (a parked worker would otherwise
 *      sleep up to SPOOL_PARK_MAX_NS).
 *   3. Each worker looks at dump_stop between two tasks (the top of its
 *      loop and of its search for work, spool__dump_checkpoint; a direct
 *      hand-off from task to task is refused while it is odd, so a worker
 *      cannot run a second task past the stop). Seeing g, it stores g in
 *      its dump_stopped (release) and sleeps on the word until it
 *      changes.
 *   4. The dumper waits, at most SPOOL_DUMP_STOP_NS, until it reads g in
 *      every other worker's dump_stopped (acquire). A worker it reads it
 *      from is stopped: everything it did before, and everything the
 *      tasks it ran did (a switch is a happens-before edge on one thread,
 *      and tasks reach a worker through queues that order them), happens
 *      before what the dumper reads next. No task runs on it until step 6.
 *      The dumper then takes the remote lock, under which threads outside
 *      the pool fill in and free records (spool_spawn_on, a thread's
 *      join), so those cannot change either.
 *   5. It reads every record of every slab (spool__task_for_each_record)
 *      and formats the dump into memory (open_memstream): the output
 *      stream's lock, which a task may hold, is never taken while the
 *      world is stopped.
 *   6. It stores g + 1 in dump_stop (release) and wakes the sleepers;
 *      each worker's acquire load of g + 1 orders the dumper's reads
 *      before anything the worker does next, so no task writes what the
 *      dumper is still reading. Then it writes the text to the stream.
 *   What still moves while the world is stopped, and why it is harmless:
 *   threads outside the pool (the blocking pool, plain threads releasing
 *   a semaphore) may unpark a parked task (atomic RMWs on its state word;
 *   the task is queued, not run) and write into the waiter records and
 *   call records on its stack, which the dumper does not read; the
 *   kernel may complete I/O into buffers on it, which the dumper does not
 *   read either. The dumper reads the saved frame-pointer and
 *   return-address words of each frame, the task's wait record (written
 *   only by the task) and its own record's fields.
 *
 * Limits
 *   - A worker that does not reach a scheduling point within
 *     SPOOL_DUMP_STOP_NS (a task that computes without waiting) is
 *     reported as "did not stop", with its task, which is not walked (nor
 *     is it later, when the dumper sees the worker's `shown` move on: on
 *     a weakly ordered machine that relaxed load orders nothing, unless
 *     the worker's late stop is seen too, an acquire load that does). The
 *     dump goes on, best effort: that task may still spawn, join or wake
 *     others while the dumper reads (it cannot resume a switched-out task:
 *     its worker stops before the next one). Every word a walk reads is
 *     checked to lie inside the task's own stack first, and a record's
 *     stack pointer is read once (stacks stay mapped until the runtime is
 *     destroyed), so what that task changes meanwhile may come out stale.
 *   - Backtraces follow frame pointers: the library is built with
 *     -fno-omit-frame-pointer (a cost known to be around 1%); a program
 *     built without them shows its frames up to the first of its own
 *     functions (the return address into it is in the library's frame),
 *     and the walk stops where a frame pointer leaves the task's stack or
 *     does not go up. Names come from dladdr: the dynamic symbol table,
 *     so an executable's own functions are named only if it was linked
 *     with -rdynamic (CMake: ENABLE_EXPORTS), and static functions never
 *     are; those print as object+offset, for addr2line.
 *   - A task's age counts from its first run, read from its worker's last
 *     clock reading (firing timers, the fairness tick's starvation check,
 *     parking, debug mode's slow-task check): no clock read is added to
 *     any path. So an age is an upper bound: a worker that runs tasks back
 *     to back with no timer pending, and finds the global queue non-empty
 *     at each fairness tick (which then skips the starvation check), does
 *     not read the clock at all, and dates its new tasks back to its last
 *     reading.
 *
 * Who may call: spool_dump, from a task (the caller is shown running,
 * with its own backtrace); spool__dump, from a thread outside the pool
 * (the SIGQUIT thread). Not from a signal handler (it allocates, locks
 * and calls dladdr), and not from a worker outside a task (-EPERM: it
 * would wait for its own worker to stop).
 */
#include "dump.h"

#include "atomics.h"
#include "futex.h"
#include "remote.h"
#include "scheduler.h"
#include "stack.h"
#include "task.h"
#include "wait.h"
#include "worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* How long a dump waits for the workers to stop: long enough for any
 * worker that is between tasks or parked (microseconds; tens of
 * milliseconds under TSan), short enough for a person waiting at a
 * terminal. */
#define SPOOL_DUMP_STOP_NS (1000u * 1000u * 1000u)
/* Frames printed per task at most. */
#define SPOOL_DUMP_MAX_FRAMES 48u

/* ---- the stop ------------------------------------------------------------- */

void spool__dump_pause(spool__worker *w)
{
    spool__runtime *rt = w->rt;
    /* Acquire: nothing needed from the dumper yet, but it makes g the
     * value this worker answers to. */
    uint32_t g = atomic_load_explicit(&rt->dump_stop, memory_order_acquire);
    if (!(g & 1u))
        return;
    /* Release: pairs with the dumper's acquire load in stop_world, which
     * then sees everything this worker and its tasks did. */
    atomic_store_explicit(&w->dump_stopped, g, memory_order_release);
    /* Acquire: pairs with the dumper's release store of g + 1 (resume),
     * so its reads come before this worker's next writes. */
    while (atomic_load_explicit(&rt->dump_stop, memory_order_acquire) == g)
        spool__futex_wait(&rt->dump_stop, g);
}

/* Asks every worker but `self` (NULL: the caller is no worker) to stop
 * and waits for them, at most SPOOL_DUMP_STOP_NS; stopped[i] says which
 * did. Returns the generation. The caller holds rt->dump_lock. */
static uint32_t stop_world(spool__runtime *rt, spool__worker *self, bool stopped[])
{
    uint32_t g = atomic_fetch_add_explicit(&rt->dump_stop, 1, memory_order_seq_cst) + 1; /* odd */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        spool__worker *w = &rt->workers[i];
        stopped[i] = w == self;
        if (w == self)
            continue;
        if (self)
            spool__driver_wake(self, w);
        else
            spool__remote_wake(rt, w);
    }
    uint64_t deadline = spool_now_ns() + SPOOL_DUMP_STOP_NS;
    long pause_ns = 20 * 1000;
    for (;;) {
        bool all = true;
        for (unsigned i = 0; i < rt->nworkers; i++) {
            if (!stopped[i])
                stopped[i] = atomic_load_explicit(&rt->workers[i].dump_stopped, memory_order_acquire) == g;
            all = all && stopped[i];
        }
        /* A runtime that is shutting down has no task left to show, and
         * its workers leave their loops without stopping. */
        if (all || spool_now_ns() >= deadline || atomic_load_explicit(&rt->shutdown, memory_order_acquire))
            return g;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 1000 * 1000)
            pause_ns *= 2;
    }
}

/* Lets the workers run again: the release store pairs with each stopped
 * worker's acquire load in spool__dump_pause. */
static void resume_world(spool__runtime *rt, uint32_t g)
{
    atomic_store_explicit(&rt->dump_stop, g + 1, memory_order_release);
    spool__futex_wake(&rt->dump_stop);
}

/* ---- backtraces ----------------------------------------------------------- */

/* One word of a task's stack, whose address the caller has checked lies
 * inside that stack. Not instrumented by ASan, for one case: a frame
 * pointer that code built without frame pointers left in its register
 * (there it is an ordinary register) may point at a poisoned redzone of a
 * live frame; the word is inside the stack all the same, so the read
 * cannot fault. The frame records of a real chain (saved fp, return
 * address) are never poisoned: test_dump passes under ASan without the
 * attribute too, with and without detect_stack_use_after_return.
 * ThreadSanitizer keeps watching: the stop orders these reads (without
 * it, test_dump's busy dumps are reported as races). */
__attribute__((no_sanitize_address, noinline)) static uintptr_t peek(uintptr_t addr)
{
    return *(const uintptr_t *)addr;
}

/* A return address as saved: on aarch64 a caller built with
 * -mbranch-protection=pac-ret signs its own x30, so the pointer
 * authentication code in the bits above the address is cleared (user
 * addresses have at most 48 bits on Linux unless a program asks for
 * more). */
static uintptr_t strip_pac(uintptr_t pc)
{
#if defined(__aarch64__)
    return pc & UINT64_C(0x0000ffffffffffff);
#else
    return pc;
#endif
}

/* Follows frame records from fp (each: the caller's fp, then the return
 * address) while they stay inside [lo, hi) and go up the stack; pcs[]
 * gets the return addresses after first (if not 0). Returns how many. */
static size_t walk_frames(uintptr_t lo, uintptr_t hi, uintptr_t fp, uintptr_t first, uintptr_t pcs[], size_t max)
{
    size_t n = 0;
    if (first && n < max)
        pcs[n++] = first;
    while (n < max) {
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) || (fp & (sizeof(uintptr_t) - 1)))
            break;
        uintptr_t next = peek(fp);
        uintptr_t ra = strip_pac(peek(fp + sizeof(uintptr_t)));
        if (!ra)
            break;
        pcs[n++] = ra;
        if (next <= fp) /* a chain must go up: this ends a loop, and the 0 that ends it */
            break;
        fp = next;
    }
    return n;
}

/* The return addresses of switched-out t, on stack st, from its saved
 * context (the frame of arch/switch_<arch>.S at ctx.sp: saved fp and
 * return address at fixed places). */
static size_t walk_saved(const spool_task *t, const spool__stack *st, size_t stack_size, uintptr_t pcs[],
                         size_t max)
{
    uintptr_t lo = (uintptr_t)st->base, hi = lo + stack_size;
    uintptr_t sp = (uintptr_t)t->ctx.sp;
#if defined(__x86_64__)
    const size_t frame = 64, fp_at = 48, pc_at = 56; /* switch_x86_64.S: rbp +48, return address +56 */
#else
    const size_t frame = 176, fp_at = 96, pc_at = 104; /* switch_aarch64.S: x29 +96, x30 +104 */
#endif
    if (sp < lo || sp > hi - frame || (sp & 15))
        return 0;
    return walk_frames(sp, hi, peek(sp + fp_at), strip_pac(peek(sp + pc_at)), pcs, max);
}

/* Prints pcs as backtrace lines, named by dladdr where it can. */
static void print_frames(FILE *f, const uintptr_t pcs[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        /* pc - 1: a return address may be the first byte after its
         * function (a call to a function that does not return). */
        int found = dladdr((void *)(pcs[i] - 1), &info);
        if (found && info.dli_sname && info.dli_saddr) {
            fprintf(f, "    #%-2zu 0x%012jx %s+0x%jx\n", i, (uintmax_t)pcs[i], info.dli_sname,
                    (uintmax_t)(pcs[i] - (uintptr_t)info.dli_saddr));
        } else if (found && info.dli_fname && info.dli_fbase) {
            const char *base = strrchr(info.dli_fname, '/');
            fprintf(f, "    #%-2zu 0x%012jx (%s+0x%jx)\n", i, (uintmax_t)pcs[i], base ? base + 1 : info.dli_fname,
                    (uintmax_t)(pcs[i] - (uintptr_t)info.dli_fbase));
        } else {
            fprintf(f, "    #%-2zu 0x%012jx ??\n", i, (uintmax_t)pcs[i]);
        }
    }
}

/* ---- one task ------------------------------------------------------------- */

struct dump_ctx {
    spool__runtime *rt;
    FILE *f;
    spool_task *self;              /* the calling task, or NULL */
    spool__worker *self_worker;
    bool *stopped;                 /* per worker; a late stop is noted (moving_worker_of) */
    uint32_t g;                    /* the stop's generation */
    /* Per worker that did not stop: the task it was running when the
     * dump gave up waiting (NULL: none). On the heap, with `stopped`:
     * the caller may be a task on the smallest stack. */
    spool_task **late;
    uint64_t now;
    unsigned running, runnable, waiting, finished;
};

/* "task 0x... 'name'" for record t. */
static void print_task_id(FILE *f, const spool_task *t)
{
    spool_task *handle = spool__task_handle(t);
    const char *name = spool_task_name(handle);
    if (name)
        fprintf(f, "task %p '%s'", (void *)handle, name);
    else
        fprintf(f, "task %p", (void *)handle);
}

/* Signed seconds from now to instant `at`, as "in 1.500 s" / "1.500 s ago". */
static void print_until(FILE *f, uint64_t now, uint64_t at)
{
    if (at >= now)
        fprintf(f, "in %.3f s", (double)(at - now) / 1e9);
    else
        fprintf(f, "%.3f s ago", (double)(now - at) / 1e9);
}

static const char *const kind_names[SPOOL__WAIT_KINDS] = {
    [SPOOL__WAIT_OTHER] = NULL,
    [SPOOL__WAIT_SLEEP] = "sleep",
    [SPOOL__WAIT_JOIN] = "join",
    [SPOOL__WAIT_IO] = "I/O",
    [SPOOL__WAIT_THREAD] = "to_thread",
    [SPOOL__WAIT_SEM] = "semaphore",
    [SPOOL__WAIT_LOCK] = "lock",
    [SPOOL__WAIT_EVENT] = "event",
    [SPOOL__WAIT_COND] = "condition",
    [SPOOL__WAIT_BARRIER] = "barrier",
    [SPOOL__WAIT_QUEUE_PUT] = "queue (put: full)",
    [SPOOL__WAIT_QUEUE_GET] = "queue (get: empty)",
    [SPOOL__WAIT_GROUP] = "task group",
    [SPOOL__WAIT_LISTENER] = "listener (closing)",
};

/* What parked task t, on stack st, waits on (its wait record, checked to
 * lie on its stack), after "waiting: ". */
static void print_wait(struct dump_ctx *c, const spool_task *t, const spool__stack *st)
{
    FILE *f = c->f;
    uintptr_t lo = (uintptr_t)st->base, hi = lo + c->rt->stack_size;
    const spool__wait *wt = st->waiting;
    /* Current while t is parked (every park sets it, in the wait whose
     * frame is live until the park returns): the check is a guard only.
     * Under ASan the record may live on ASan's fake stack (a heap block,
     * with detect_stack_use_after_return), outside t's own. */
#if defined(SPOOL_ASAN)
    bool outside = !wt;
    (void)lo;
    (void)hi;
#else
    bool outside = (uintptr_t)wt < lo || (uintptr_t)wt > hi - sizeof *wt;
#endif
    if (outside) {
        fputs("waiting (on something this dump cannot name)", f);
        return;
    }
    unsigned kind = wt->kind < SPOOL__WAIT_KINDS ? wt->kind : SPOOL__WAIT_OTHER;
    switch (kind) {
    case SPOOL__WAIT_SLEEP:
        fputs("waiting: sleep, until ", f);
        print_until(f, c->now, wt->own_deadline);
        break;
    case SPOOL__WAIT_JOIN: {
        const spool_task *target = wt->obj;
        fputs("waiting: join on ", f);
        if (target)
            print_task_id(f, target);
        else
            fputs("a task", f);
        if (wt->count > 1)
            fprintf(f, " and %u more", wt->count - 1);
        break;
    }
    case SPOOL__WAIT_IO:
        fprintf(f, "waiting: I/O, %s on fd %d", wt->op ? wt->op : "an operation", wt->fd);
        break;
    case SPOOL__WAIT_THREAD: {
        Dl_info info;
        union {
            const void *obj;
            void *p;
        } fn = {.obj = wt->obj};
        if (fn.p && dladdr(fn.p, &info) && info.dli_sname)
            fprintf(f, "waiting: to_thread, %s() on the blocking pool", info.dli_sname);
        else
            fprintf(f, "waiting: to_thread, function %p on the blocking pool", fn.p);
        break;
    }
    case SPOOL__WAIT_OTHER:
        fputs("waiting (on something this dump cannot name)", f);
        break;
    default:
        fprintf(f, "waiting: %s %p", kind_names[kind], wt->obj);
        break;
    }
    /* A deadline besides a sleep's own: a timeout scope in force, or a
     * retry of a cancel (wait.c arms the nearest). */
    uint64_t deadline = kind == SPOOL__WAIT_SLEEP ? UINT64_MAX : wt->own_deadline;
    if (!wt->shielded) {
        spool_timeout *s = spool__scope_in_force(t);
        if (s && s->effective < deadline)
            deadline = s->effective;
    }
    if (deadline != UINT64_MAX) {
        fputs(", times out ", f);
        print_until(f, c->now, deadline);
    }
    if (wt->shielded)
        fputs(" (shielded)", f);
}

/* The worker that did not stop and may be running t (its task when the
 * dump gave up waiting, or now), or -1. A worker that has stopped since
 * is counted stopped from here on: its acquire load orders everything it
 * did, that task's last steps included, before the reads that follow;
 * without it, seeing `shown` move on (a relaxed load) orders nothing, and
 * on a weakly ordered machine the task's record and stack could be read
 * as they were before its last switch. Never the caller's own worker. */
static int moving_worker_of(struct dump_ctx *c, const spool_task *t)
{
    for (unsigned i = 0; i < c->rt->nworkers; i++) {
        if (c->stopped[i])
            continue;
        if (atomic_load_explicit(&c->rt->workers[i].dump_stopped, memory_order_acquire) == c->g) {
            c->stopped[i] = true;
            continue;
        }
        if (c->late[i] == t || atomic_load_explicit(&c->rt->workers[i].shown, memory_order_relaxed) == t)
            return (int)i;
    }
    return -1;
}

/* One record (spool__task_for_each_record's callback). */
static void dump_record(spool_task *t, void *arg)
{
    struct dump_ctx *c = arg;
    FILE *f = c->f;
    int busy = moving_worker_of(c, t);
    struct spool__join_frame *join = atomic_load_explicit(&t->join, memory_order_relaxed);
    if (join == SPOOL__JOIN_FREED)
        return;
    if (busy >= 0) { /* its worker runs on: only what is atomic */
        c->running++;
        print_task_id(f, t);
        fprintf(f, ": running on worker %d (which did not stop: not walked)\n", busy);
        return;
    }
    /* Never handed out (slabs are zeroed): no function, no stack. A
     * spawned task has a function until its first run, a stack from then
     * until it exits, and a join word other than NULL once it has exited.
     * The stack pointer is read once: a task of a worker that did not
     * stop may exit meanwhile (and a second read find NULL); a stack read
     * stale stays mapped (stacks are unmapped only when the runtime is
     * destroyed), so what follows cannot fault, only come out stale. */
    spool__stack *st = t->stack;
    if (join == NULL && !st && !t->u.start.fn)
        return;
    if (join == SPOOL__JOIN_DONE) {
        c->finished++;
        print_task_id(f, t);
        fprintf(f, ": finished (result %d), not joined yet\n", t->result);
        return;
    }
    print_task_id(f, t);
    if (t == c->rt->main_task)
        fputs(" (main)", f);
    if (!st) {
        c->runnable++;
        fputs(": runnable, not started yet\n", f);
        return;
    }
    fputs(", age ", f);
    uint64_t started = st->started;
    fprintf(f, "%.3f s: ", started && started <= c->now ? (double)(c->now - started) / 1e9 : 0.0);
    uintptr_t pcs[SPOOL_DUMP_MAX_FRAMES];
    size_t n;
    if (t == c->self) {
        c->running++;
        fprintf(f, "running on worker %u (calling spool_dump)\n", c->self_worker->index);
        uintptr_t lo = (uintptr_t)st->base;
        n = walk_frames(lo, lo + c->rt->stack_size, (uintptr_t)__builtin_frame_address(0), 0, pcs,
                        SPOOL_DUMP_MAX_FRAMES);
    } else {
        uint32_t token = atomic_load_explicit(&t->state, memory_order_relaxed) & SPOOL__TOKEN_MASK;
        if (token == SPOOL__TOKEN_PARKED) {
            c->waiting++;
            print_wait(c, t, st);
            fputc('\n', f);
        } else {
            c->runnable++;
            fputs("runnable\n", f);
        }
        n = walk_saved(t, st, c->rt->stack_size, pcs, SPOOL_DUMP_MAX_FRAMES);
    }
    print_frames(f, pcs, n);
}

/* ---- the dump ------------------------------------------------------------- */

/* The dump of rt into f, with the world stopped as far as it would. */
static void dump_stopped(spool__runtime *rt, FILE *f, spool_task *self, spool__worker *self_worker,
                         bool stopped[], spool_task *late[], uint32_t g)
{
    struct dump_ctx c = {.rt = rt, .f = f, .self = self, .self_worker = self_worker, .stopped = stopped,
                         .g = g, .late = late, .now = spool_now_ns()};
    for (unsigned i = 0; i < rt->nworkers; i++)
        c.late[i] = stopped[i] ? NULL : atomic_load_explicit(&rt->workers[i].shown, memory_order_relaxed);
    fprintf(f, "spool dump: %u workers (%s)", rt->nworkers, spool__backend_name(rt->backend));
    if (self) {
        fputs(", called by ", f);
        print_task_id(f, self);
    }
    fputc('\n', f);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        spool__worker *w = &rt->workers[i];
        fprintf(f, "worker %u: ", i);
        if (w == self_worker) {
            fputs("running ", f);
            print_task_id(f, self);
            fputs(" (calling spool_dump)\n", f);
        } else if (stopped[i]) {
            fprintf(f, "stopped between tasks, %u queued\n", (unsigned)spool__deque_len(&w->deque));
        } else {
            spool_task *cur = c.late[i];
            fprintf(f, "did not stop within %u ms", (unsigned)(SPOOL_DUMP_STOP_NS / 1000000u));
            if (cur) {
                fputs(": running ", f);
                print_task_id(f, cur);
            }
            fputc('\n', f);
        }
    }
    spool__task_for_each_record(rt, dump_record, &c);
    fprintf(f, "spool dump: %u tasks: %u running, %u runnable, %u waiting, %u finished not joined\n",
            c.running + c.runnable + c.waiting + c.finished, c.running, c.runnable, c.waiting, c.finished);
}

/* The whole dump, for a caller holding nothing of the runtime's. */
static int dump(spool__runtime *rt, FILE *out, spool_task *self, spool__worker *self_worker)
{
    char *text = NULL;
    size_t len = 0;
    bool *stopped = malloc(rt->nworkers * sizeof *stopped);
    spool_task **late = malloc(rt->nworkers * sizeof *late);
    FILE *mem = stopped && late ? open_memstream(&text, &len) : NULL;
    if (!mem) {
        free(stopped);
        free(late);
        return -ENOMEM;
    }
    uint32_t g = stop_world(rt, self_worker, stopped);
    spool__remote_lock(rt);
    dump_stopped(rt, mem, self, self_worker, stopped, late, g);
    spool__remote_unlock(rt);
    resume_world(rt, g);
    free(stopped);
    free(late);
    int rc = fclose(mem) == 0 ? 0 : -ENOMEM;
    if (rc == 0) {
        fwrite(text, 1, len, out);
        fflush(out);
    }
    free(text);
    return rc;
}

int spool__dump(spool__runtime *rt, FILE *out)
{
    pthread_mutex_lock(&rt->dump_lock);
    int rc = dump(rt, out, NULL, NULL);
    pthread_mutex_unlock(&rt->dump_lock);
    return rc;
}

int spool_dump(FILE *out)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (!out)
        return -EINVAL;
    /* Another dump holds the lock and may be waiting for this worker to
     * stop: let it (the yield goes through the worker's loop). */
    while (pthread_mutex_trylock(&w->rt->dump_lock) != 0) {
        spool__yield_uncancellable(w);
        w = spool__worker_current(); /* maybe another worker now */
    }
    int rc = dump(w->rt, out, w->current, w);
    pthread_mutex_unlock(&w->rt->dump_lock);
    return rc;
}

/* ---- SIGQUIT in debug mode ---------------------------------------------------- */

/* The eventfd the handler writes to (-1: no runtime holds SIGQUIT), and
 * how many handlers are between their load of it and their write: the
 * runtime that lets go waits for zero before it closes the fd (a seq_cst
 * Dekker pair: the handler counts itself, then loads; the runtime clears
 * the fd, then loads the count). */
static _Atomic int sigquit_fd = -1;
static _Atomic unsigned sigquit_busy;

struct spool__dump_signal {
    pthread_t thread;
    int efd;
    _Atomic bool quit;
    struct sigaction old;
};

static void on_sigquit(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_fetch_add_explicit(&sigquit_busy, 1, memory_order_seq_cst);
    int fd = atomic_load_explicit(&sigquit_fd, memory_order_seq_cst);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(fd, &one, sizeof one); /* async-signal-safe */
        (void)r;
    }
    atomic_fetch_sub_explicit(&sigquit_busy, 1, memory_order_seq_cst);
    errno = saved;
}

static void *dump_thread(void *arg)
{
    spool__runtime *rt = arg;
    struct spool__dump_signal *s = rt->dump_signal;
    for (;;) {
        uint64_t n;
        ssize_t r = read(s->efd, &n, sizeof n);
        if (atomic_load_explicit(&s->quit, memory_order_acquire))
            return NULL;
        if (r == (ssize_t)sizeof n)
            spool__dump(rt, stderr);
    }
}

int spool__dump_signal_start(spool__runtime *rt)
{
    struct spool__dump_signal *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->efd = eventfd(0, EFD_CLOEXEC);
    if (s->efd < 0) {
        int rc = -errno;
        free(s);
        return rc;
    }
    int none = -1;
    if (!atomic_compare_exchange_strong_explicit(&sigquit_fd, &none, s->efd, memory_order_seq_cst,
                                                 memory_order_seq_cst)) {
        close(s->efd); /* another runtime holds SIGQUIT */
        free(s);
        return -EBUSY;
    }
    rt->dump_signal = s;
    /* The thread takes no signal: they are the program's business. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = -pthread_create(&s->thread, NULL, dump_thread, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigquit;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGQUIT, &sa, &s->old) == 0)
            return 0;
        rc = -errno;
        atomic_store_explicit(&s->quit, true, memory_order_release);
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof one);
        (void)w;
        pthread_join(s->thread, NULL);
    }
    atomic_store_explicit(&sigquit_fd, -1, memory_order_seq_cst);
    close(s->efd);
    free(s);
    rt->dump_signal = NULL;
    return rc;
}

void spool__dump_signal_stop(spool__runtime *rt)
{
    struct spool__dump_signal *s = rt->dump_signal;
    if (!s)
        return;
    /* The disposition SIGQUIT had goes back only if ours is still the
     * one in force: a handler the program installed during the run is
     * its choice, kept (the fd below closes all the same). */
    struct sigaction now;
    if (sigaction(SIGQUIT, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == on_sigquit)
        sigaction(SIGQUIT, &s->old, NULL);
    atomic_store_explicit(&s->quit, true, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w;
    pthread_join(s->thread, NULL);
    /* A handler that began before the disposition went back may still be
     * about to write: wait until none is between its load and its write. */
    atomic_store_explicit(&sigquit_fd, -1, memory_order_seq_cst);
    while (atomic_load_explicit(&sigquit_busy, memory_order_seq_cst))
        sched_yield();
    close(s->efd);
    free(s);
    rt->dump_signal = NULL;
}

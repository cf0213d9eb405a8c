/*
 * stack.c — the stack arena (see stack.h for the ownership rules).
 *
 * A chunk is one anonymous MAP_NORESERVE mapping holding
 * SPOOL_STACKS_PER_CHUNK slots of [guard page | stack]. Slots are carved
 * lazily, one at a time, and a stack's pages are touched only by its task,
 * so a runtime that needs a few stacks costs a few pages. The guards are
 * installed with MADV_GUARD_INSTALL (Linux 6.13+: page-table markers, no
 * extra VMA, and they survive MADV_DONTNEED) — all of a chunk's at once
 * through process_madvise where the kernel takes it (one system call
 * instead of 256: measured 0.4 us a guard instead of 0.7), one madvise per
 * carved slot otherwise; where the kernel refuses guard markers we fall
 * back to mprotect(PROT_NONE) per slot, which splits the VMA. The first
 * guard a process installs is checked to fault (guard_faults): qemu-user
 * answers MADV_GUARD_INSTALL with 0 and installs nothing, and a guard that
 * silently is not there must not pass for one. Either way a
 * task that overflows its stack faults on the guard (SIGSEGV) instead of
 * writing into its neighbour; for a frame bigger than the guard page, only
 * if it was compiled with -fstack-clash-protection (guard.c reports the
 * fault).
 */
#include "stack.h"

#include "context.h"
#include "depot.h"
#include "failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* uapi asm-generic/mman-common.h, Linux 6.13 */
#endif

struct spool__stack_chunk {
    spool__stack_chunk *next;
    char *map;
    size_t map_len;
    bool guarded;   /* every slot's guard was installed at creation */
    spool__stack slots[SPOOL_STACKS_PER_CHUNK];
};

/* 1: MADV_GUARD_INSTALL works; 0: use mprotect; -1: not known yet. Relaxed:
 * every thread that races to find out reaches the same answer. */
static _Atomic int guard_install_ok = -1;
/* 1: process_madvise takes MADV_GUARD_INSTALL; 0: it does not; -1: not
 * known yet. Relaxed, for the same reason. */
static _Atomic int batch_guard_ok = -1;

static size_t page_size(void)
{
    /* Relaxed: every thread that races to fill it stores the same value. */
    static _Atomic size_t cached;
    size_t pg = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!pg) {
        pg = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&cached, pg, memory_order_relaxed);
    }
    return pg;
}

/* Whether the guard page at p really is one: 1 if a write(2) from it into
 * a pipe fails with EFAULT (the kernel cannot read the page), 0 if the
 * write succeeds, -1 if it cannot tell (no pipe: no fds left). Used once
 * per process, on the first guard MADV_GUARD_INSTALL says it installed. */
static int guard_faults(const char *p)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    ssize_t n = write(fds[1], p, 1);
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return n < 0 && err == EFAULT ? 1 : 0;
}

/* GCC's -fstack-clash-protection probes a big frame once per the guard
 * size it assumes: one 4 KiB page on x86-64, 64 KiB on aarch64 (its
 * default there, --param stack-clash-protection-guard-size=16, made for
 * kernels with 64 KiB pages). A probe can only land in a guard at least
 * that big, so on aarch64 the guard is 64 KiB even with 4 KiB pages: more
 * address space, no more memory (guard markers or PROT_NONE). */
#if defined(__aarch64__)
#define CLASH_PROBE_INTERVAL ((size_t)64 * 1024)
#else
#define CLASH_PROBE_INTERVAL ((size_t)4096)
#endif

size_t spool__stack_guard_size(void)
{
    size_t pg = page_size();
    return pg > CLASH_PROBE_INTERVAL ? pg : CLASH_PROBE_INTERVAL;
}

int spool__stack_uses_guard_install(void)
{
    return atomic_load_explicit(&guard_install_ok, memory_order_relaxed) == 1;
}

static int install_guard(char *guard, size_t len)
{
    int ok = atomic_load_explicit(&guard_install_ok, memory_order_relaxed);
    if (ok != 0) {
        if (madvise(guard, len, MADV_GUARD_INSTALL) == 0) {
            int faults = ok == 1 ? 1 : guard_faults(guard);
            if (faults == 1) {
                atomic_store_explicit(&guard_install_ok, 1, memory_order_relaxed);
                return 0;
            }
            if (faults < 0) /* cannot tell yet: this guard by mprotect too */
                return mprotect(guard, len, PROT_NONE) == 0 ? 0 : -errno;
            /* Said yes, did nothing: mprotect from now on. */
        } else if (errno != EINVAL) {
            return -errno;
        }
        atomic_store_explicit(&guard_install_ok, 0, memory_order_relaxed);
    }
    return mprotect(guard, len, PROT_NONE) == 0 ? 0 : -errno;
}

void spool__stack_pool_init(spool__stack_pool *pool, size_t stack_size, spool__depot *depot_dirty,
                            spool__depot *depot_clean)
{
    size_t pg = page_size();
    pool->stack_size = (stack_size + pg - 1) & ~(pg - 1);
    pool->dirty = NULL;
    pool->clean = NULL;
    pool->nfree = 0;
    pool->depot_dirty = depot_dirty;
    pool->depot_clean = depot_clean;
    pool->chunks = NULL;
    pool->carved_in_last = SPOOL_STACKS_PER_CHUNK;
}

void spool__stack_pool_destroy(spool__stack_pool *pool)
{
    spool__stack_chunk *c = pool->chunks;
#if defined(SPOOL_TSAN)
    size_t carved = pool->carved_in_last; /* the newest chunk comes first */
    for (spool__stack_chunk *k = c; k; k = k->next, carved = SPOOL_STACKS_PER_CHUNK)
        for (size_t i = 0; i < carved; i++)
            spool__tsan_destroy(k->slots[i].tsan_fiber);
#endif
    while (c) {
        spool__stack_chunk *next = c->next;
        munmap(c->map, c->map_len);
        free(c);
        c = next;
    }
    pool->chunks = NULL;
    pool->dirty = pool->clean = NULL;
    pool->nfree = 0;
    pool->carved_in_last = SPOOL_STACKS_PER_CHUNK;
}

/* Installs the guard of every slot of c with one process_madvise call on
 * ourselves; false if the kernel does not offer that. */
static bool install_chunk_guards(spool__stack_pool *pool, spool__stack_chunk *c)
{
    int batch_ok = atomic_load_explicit(&batch_guard_ok, memory_order_relaxed);
    if (batch_ok == 0)
        return false;
    static _Atomic int self_pidfd = -1;
    int pidfd = atomic_load_explicit(&self_pidfd, memory_order_relaxed);
    if (pidfd < 0) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (fd < 0) {
            atomic_store_explicit(&batch_guard_ok, 0, memory_order_relaxed);
            return false;
        }
        int expected = -1;
        if (atomic_compare_exchange_strong_explicit(&self_pidfd, &expected, fd, memory_order_relaxed,
                                                    memory_order_relaxed))
            pidfd = fd; /* kept for the life of the process */
        else {
            close(fd);
            pidfd = expected;
        }
    }
    struct iovec iov[SPOOL_STACKS_PER_CHUNK];
    for (unsigned i = 0; i < SPOOL_STACKS_PER_CHUNK; i++) {
        iov[i].iov_base = c->map + i * (spool__stack_guard_size() + pool->stack_size);
        iov[i].iov_len = spool__stack_guard_size();
    }
    long done = syscall(SYS_process_madvise, pidfd, iov, SPOOL_STACKS_PER_CHUNK, MADV_GUARD_INSTALL, 0);
    if (done != (long)(SPOOL_STACKS_PER_CHUNK * spool__stack_guard_size())) {
        /* Refused or partial: guards are idempotent, so the per-slot path
         * may simply install them again. */
        atomic_store_explicit(&batch_guard_ok, 0, memory_order_relaxed);
        return false;
    }
    if (batch_ok < 0) {
        int faults = guard_faults(c->map);
        if (faults < 0)
            return false; /* cannot tell yet: the per-slot path decides */
        if (faults == 0) {
            /* Said yes, did nothing (see the top): mprotect per slot. */
            atomic_store_explicit(&batch_guard_ok, 0, memory_order_relaxed);
            atomic_store_explicit(&guard_install_ok, 0, memory_order_relaxed);
            return false;
        }
    }
    atomic_store_explicit(&batch_guard_ok, 1, memory_order_relaxed);
    atomic_store_explicit(&guard_install_ok, 1, memory_order_relaxed);
    return true;
}

static int new_chunk(spool__stack_pool *pool)
{
    spool__stack_chunk *c = spool__failpoint_hit(SPOOL__FAIL_STACK_CHUNK) ? NULL : malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->map_len = (spool__stack_guard_size() + pool->stack_size) * SPOOL_STACKS_PER_CHUNK;
    c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->map == MAP_FAILED) {
        free(c);
        return -ENOMEM;
    }
    /* Stacks are small and short-lived: huge pages would turn 4 KiB of
     * touched stack into 2 MiB of RSS. */
    madvise(c->map, c->map_len, MADV_NOHUGEPAGE);
    c->guarded = install_chunk_guards(pool, c);
    c->next = pool->chunks;
    pool->chunks = c;
    pool->carved_in_last = 0;
    return 0;
}

static spool__stack *carve(spool__stack_pool *pool)
{
    if (pool->carved_in_last == SPOOL_STACKS_PER_CHUNK && new_chunk(pool) != 0)
        return NULL;
    spool__stack_chunk *c = pool->chunks;
    size_t i = pool->carved_in_last;
    char *guard = c->map + i * (spool__stack_guard_size() + pool->stack_size);
    if (!c->guarded && install_guard(guard, spool__stack_guard_size()) != 0)
        return NULL;
    pool->carved_in_last = i + 1;
    spool__stack *s = &c->slots[i];
    s->base = guard + spool__stack_guard_size();
    s->next = NULL;
    s->dirty = false;
#if defined(SPOOL_TSAN)
    s->tsan_fiber = spool__tsan_create();
#endif
    return s;
}

static void push_free(spool__stack_pool *pool, spool__stack *s)
{
    spool__stack **list = s->dirty ? &pool->dirty : &pool->clean;
    s->next = *list;
    *list = s;
    pool->nfree++;
}

/* The first stack of one of the pool's free lists, or NULL. */
static spool__stack *pop_free(spool__stack_pool *pool, spool__stack **list)
{
    spool__stack *s = *list;
    if (s) {
        *list = s->next;
        pool->nfree--;
    }
    return s;
}

/* Takes a batch from the depots (warm stacks first: reusing them costs no
 * page fault); false if both were empty. */
static bool refill_from_depots(spool__stack_pool *pool)
{
    void *batch[SPOOL_STACK_BATCH];
    size_t n = 0;
    if (pool->depot_dirty)
        n = spool__depot_take(pool->depot_dirty, batch, SPOOL_STACK_BATCH, false);
    if (n == 0 && pool->depot_clean)
        n = spool__depot_take(pool->depot_clean, batch, SPOOL_STACK_BATCH, true); /* both dry: ask */
    for (size_t i = 0; i < n; i++)
        push_free(pool, batch[i]);
    return n > 0;
}

/* Moves up to max stacks of one free list to a depot; returns how many
 * the depot took (the rest, if it could not grow, stay here). */
static size_t spill_list(spool__stack_pool *pool, spool__stack **list, spool__depot *depot, size_t max)
{
    void *batch[SPOOL_STACK_BATCH];
    size_t n = 0;
    spool__stack *s;
    while (n < max && (s = pop_free(pool, list)))
        batch[n++] = s;
    if (n == 0)
        return 0;
    size_t kept = spool__depot_put(depot, batch, n);
    for (size_t i = kept; i < n; i++)
        push_free(pool, batch[i]);
    return kept;
}

/* Hands SPOOL_STACK_BATCH free stacks to the depots: purged ones to the
 * clean depot, the others, as they are, to the dirty one (purging here,
 * on a task's exit path, would cost a TLB shoot-down per stack). */
static void spill_to_depots(spool__stack_pool *pool)
{
    size_t n = spill_list(pool, &pool->clean, pool->depot_clean, SPOOL_STACK_BATCH);
    spill_list(pool, &pool->dirty, pool->depot_dirty, SPOOL_STACK_BATCH - n);
}

spool__stack *spool__stack_get(spool__stack_pool *pool)
{
    /* Warm stacks first, then purged ones, then the depots, then carve. */
    for (int refilled = 0;; refilled = 1) {
        spool__stack *s = pop_free(pool, &pool->dirty);
        if (!s)
            s = pop_free(pool, &pool->clean);
        if (s)
            return s;
        if (refilled || !refill_from_depots(pool))
            return carve(pool);
    }
}

void spool__stack_put(spool__stack_pool *pool, spool__stack *s)
{
    /* A recycled stack must not carry the poisoned redzones of the frames
     * its last task left behind. */
    spool__asan_unpoison(s->base, pool->stack_size);
    s->dirty = true;
    push_free(pool, s);
    if (pool->nfree > SPOOL_STACK_CACHE && pool->depot_dirty && pool->depot_clean &&
        spool__depot_low(pool->depot_dirty) && spool__depot_low(pool->depot_clean)) {
        /* One batch to stock the depots; everything past the cap if a
         * pool ran dry (it is carving meanwhile). */
        bool all = spool__depot_wanted(pool->depot_dirty) || spool__depot_wanted(pool->depot_clean);
        size_t before;
        do {
            before = pool->nfree;
            spill_to_depots(pool);
        } while (all && pool->nfree > SPOOL_STACK_CACHE && pool->nfree < before);
    }
}

bool spool__stack_purge_wanted(spool__stack_pool *pool)
{
    return pool->dirty || (pool->depot_dirty && atomic_load_explicit(&pool->depot_dirty->level,
                                                                     memory_order_relaxed) > 0);
}

static void purge_one(spool__stack_pool *pool, spool__stack *s)
{
    /* The guard page is outside the range, and MADV_GUARD_INSTALL markers
     * survive MADV_DONTNEED anyway. */
    madvise(s->base, pool->stack_size, MADV_DONTNEED);
    s->dirty = false;
}

size_t spool__stack_purge(spool__stack_pool *pool, size_t max)
{
    size_t n = 0;
    spool__stack *s;
    while (n < max && (s = pop_free(pool, &pool->dirty))) {
        purge_one(pool, s);
        push_free(pool, s);
        n++;
    }
    if (n < max && pool->depot_dirty && pool->depot_clean) {
        void *batch[SPOOL_STACK_BATCH];
        size_t want = max - n < SPOOL_STACK_BATCH ? max - n : SPOOL_STACK_BATCH;
        size_t got = spool__depot_take(pool->depot_dirty, batch, want, false);
        for (size_t i = 0; i < got; i++)
            purge_one(pool, batch[i]);
        size_t kept = spool__depot_put(pool->depot_clean, batch, got);
        for (size_t i = kept; i < got; i++)
            push_free(pool, batch[i]);
        n += got;
    }
    return n;
}

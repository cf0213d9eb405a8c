/*
 * atomics.h — the atomic helpers the runtime needs beyond <stdatomic.h>.
 */
#ifndef SPOOL_ATOMICS_H
#define SPOOL_ATOMICS_H

#include "context.h" /* defines __SANITIZE_THREAD__ under clang too */

#include <stdatomic.h>
#include <stdint.h>

/* A full (seq_cst) fence. ThreadSanitizer does not model fences, so in its
 * builds the fence becomes a seq_cst read-modify-write of one shared cell:
 * every fence then synchronises with every other, which TSan does see. That
 * is stronger than a fence (it may hide a race that needs the fence to be
 * weaker), never weaker, so TSan reports no false races on the Dekker
 * handshakes that rely on these fences. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic unsigned spool__tsan_fence_cell;
#define spool__fence_seq_cst() ((void)atomic_fetch_add_explicit(&spool__tsan_fence_cell, 0, memory_order_seq_cst))
#else
#define spool__fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#endif

/* Tells the CPU we are spinning: x86's PAUSE; on aarch64 ISB, which stalls
 * the core for a few tens of cycles as PAUSE does (YIELD is a no-op on
 * cores without SMT, which is most of them); a compiler barrier elsewhere. */
#if defined(__x86_64__) || defined(__i386__)
#define spool__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define spool__cpu_relax() __asm__ volatile("isb sy" ::: "memory")
#else
#define spool__cpu_relax() __asm__ volatile("" ::: "memory")
#endif

/* The padding that keeps atomics written by different threads on
 * different cache lines. x86-64's lines are 64 bytes, but its adjacent-line
 * prefetcher pulls them in pairs; aarch64's are 64 bytes on most server
 * cores and 128 on others (Apple's, some ThunderX). 128 covers every case
 * (crossbeam's CachePadded and Go's runtime make the same choice on
 * aarch64); x86-64 keeps 64, which the layouts were measured with. */
#if defined(__aarch64__)
#define SPOOL__CACHE_LINE 128
#else
#define SPOOL__CACHE_LINE 64
#endif

/* Adds n to a counter that only its owner writes and others only read
 * (statistics, the quiescence counts): a load and a store, not a locked
 * read-modify-write, since no other writer can interleave. `order` is the
 * store's: relaxed for figures read on their own, release where a reader
 * must see what happened before the count (scheduler.c, "Ending"). */
static inline void spool__owner_add(_Atomic uint64_t *counter, uint64_t n, memory_order order)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, order);
}

#endif /* SPOOL_ATOMICS_H */

/*
 * context.h — saved register contexts and the switch between them, with the
 * annotations that let AddressSanitizer and ThreadSanitizer follow a switch
 * (under GCC or clang).
 *
 * A context is one word: the stack pointer at which the switch frame of
 * arch/switch_<arch>.S was pushed. Everything else lives on that stack.
 */
#ifndef SPOOL_CONTEXT_H
#define SPOOL_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct spool__ctx {
    void *sp;
} spool__ctx;

/* Saves the caller's registers into *from and resumes *to. Returns when
 * something switches back to *from. Thread: whichever runs it. Saves and
 * restores the floating-point control state of both sides (x86-64: the
 * MXCSR and x87 control words; aarch64: FPCR). */
void spool__ctx_switch(spool__ctx *from, spool__ctx *to);

/* The scheduler's pair (see arch/switch_<arch>.S): a task switching to its
 * worker saves its control words and leaves them in force; a worker
 * switching to a task passes the words in force (spool__fp_words) and the
 * task's are loaded only if they differ. */
void spool__ctx_switch_out(spool__ctx *task, spool__ctx *sched);
void spool__ctx_switch_in(spool__ctx *sched, spool__ctx *task, uint64_t fp_now);

#if defined(__x86_64__)
/* The control words saved in a switched-out context: MXCSR | CW << 32. */
static inline uint64_t spool__fp_words(const spool__ctx *ctx)
{
    return *(const uint64_t *)ctx->sp & UINT64_C(0x0000FFFFFFFFFFFF);
}

/* The control words in force on this thread, in the same format. */
static inline uint64_t spool__fp_words_now(void)
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    return mxcsr | (uint64_t)cw << 32;
}

/* Loads control words in that format. */
static inline void spool__fp_words_load(uint64_t words)
{
    uint32_t mxcsr = (uint32_t)words;
    uint16_t cw = (uint16_t)(words >> 32);
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(cw));
}
#elif defined(__aarch64__)
/* The control word saved in a switched-out context: FPCR, whole. */
static inline uint64_t spool__fp_words(const spool__ctx *ctx)
{
    return *(const uint64_t *)ctx->sp;
}

/* The FPCR in force on this thread. */
static inline uint64_t spool__fp_words_now(void)
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}

/* Loads an FPCR value. */
static inline void spool__fp_words_load(uint64_t words)
{
    __asm__ volatile("msr fpcr, %0" : : "r"(words));
}
#endif

/* Prepares ctx so that the first switch to it calls entry(arg) on the stack
 * whose highest address is stack_top. entry must never return. */
void spool__ctx_init(spool__ctx *ctx, void *stack_top, void (*entry)(void *), void *arg);

/* ---- sanitizer hooks ----------------------------------------------------
 * ASan must be told which stack is about to run (start) and, once there,
 * that the switch is over (finish); TSan keeps one "fiber" per context and
 * must be told before each switch. Both compile to nothing otherwise. */
/* GCC defines __SANITIZE_*__; clang only answers __has_feature. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SPOOL_ASAN 1
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define spool__asan_start(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#define spool__asan_finish(save) __sanitizer_finish_switch_fiber((save), NULL, NULL)
#define spool__asan_unpoison(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
/* Without the sanitizer the arguments are not evaluated (the fields they
 * name exist only in sanitizer builds). */
#define spool__asan_start(save, bottom, size) ((void)0)
#define spool__asan_finish(save) ((void)0)
#define spool__asan_unpoison(addr, size) ((void)0)
#endif

#if defined(__SANITIZE_THREAD__)
#define SPOOL_TSAN 1
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define spool__tsan_current() __tsan_get_current_fiber()
#define spool__tsan_create() __tsan_create_fiber(0)
#define spool__tsan_destroy(f) __tsan_destroy_fiber(f)
/* flags 0: the switch is a happens-before edge, as it really is. */
#define spool__tsan_switch(f) __tsan_switch_to_fiber((f), 0)
#else
#define spool__tsan_current() ((void *)0)
#define spool__tsan_create() ((void *)0)
#define spool__tsan_destroy(f) ((void)0)
#define spool__tsan_switch(f) ((void)0)
#endif

#endif /* SPOOL_CONTEXT_H */

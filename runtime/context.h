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

typedef struct spool__ctx {
    void *sp;
} spool__ctx;

/* Saves the caller's registers into *from and resumes *to. Returns when
 * something switches back to *from. Thread: whichever runs it. */
void spool__ctx_switch(spool__ctx *from, spool__ctx *to);

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

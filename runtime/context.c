/*
 * context.c — building the first switch frame of a new context (the frame
 * layouts are documented in arch/switch_x86_64.S and arch/switch_aarch64.S).
 */
#include "context.h"

#include <stdint.h>
#include <string.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "spool: no context switch for this architecture (runtime/arch/ has x86-64 and aarch64)"
#endif

void spool__ctx_entry(void); /* arch/switch_<arch>.S */

void spool__ctx_init(spool__ctx *ctx, void *stack_top, void (*entry)(void *), void *arg)
{
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
#if defined(__x86_64__)
    uint64_t *frame = (uint64_t *)(top - 64);
    /* MXCSR 0x1F80 (all exceptions masked, round to nearest) and the x87
     * control word 0x037F (the same for x87): the ABI's initial values. */
    frame[0] = UINT64_C(0x1F80) | (UINT64_C(0x037F) << 32);
    frame[1] = 0;                   /* r15 */
    frame[2] = 0;                   /* r14 */
    frame[3] = (uintptr_t)entry;    /* r13 */
    frame[4] = (uintptr_t)arg;      /* r12 */
    frame[5] = 0;                   /* rbx */
    frame[6] = 0;                   /* rbp: ends frame-pointer walks */
    frame[7] = (uintptr_t)&spool__ctx_entry; /* return address; rsp = top after ret */
#else
    uint64_t *frame = (uint64_t *)(top - 176);
    memset(frame, 0, 176);
    /* frame[0], FPCR 0: round to nearest, no flush-to-zero, no traps (the
     * architecture's reset value; a new task starts from the ABI's
     * defaults whatever its worker's thread runs with, as on x86-64).
     * frame[12], x29 0: ends frame-pointer walks. d8-d15 and the other x
     * registers start as 0. */
    frame[2] = (uintptr_t)arg;                /* x19 */
    frame[3] = (uintptr_t)entry;              /* x20 */
    frame[13] = (uintptr_t)&spool__ctx_entry; /* x30; sp = top after ret */
#endif
    ctx->sp = frame;
}

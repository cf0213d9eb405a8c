/*
 * switch_aarch64.S — the aarch64 (AAPCS64) context switches and task entry.
 *
 *   void spool__ctx_switch(spool__ctx *from, spool__ctx *to);
 *   void spool__ctx_switch_out(spool__ctx *task, spool__ctx *sched);
 *   void spool__ctx_switch_in(spool__ctx *sched, spool__ctx *task, uint64_t fp_now);
 *
 * The same three entry points as switch_x86_64.S, with the same contract.
 * Each stores the callee-saved state of AAPCS64 (x19-x28, the frame
 * pointer x29, the link register x30, and the low 64 bits of v8-v15, that
 * is d8-d15) in a 176-byte frame below the current sp, stores sp in
 * from->sp, loads to->sp and restores the same frame from there. The
 * caller-saved registers need no saving: to the compiler these are
 * ordinary calls. The frame, from the saved sp upwards (sp stays 16-byte
 * aligned, as AAPCS64 requires at every instruction that uses it):
 *
 *   +0   FPCR (8 bytes)             +8   unused
 *   +16  x19  +24  x20  +32  x21  +40  x22  +48  x23  +56  x24
 *   +64  x25  +72  x26  +80  x27  +88  x28
 *   +96  x29 (frame pointer)        +104 x30 (return address)
 *   +112 d8   +120 d9   +128 d10  +136 d11  +144 d12  +152 d13
 *   +160 d14  +168 d15
 *
 * FPCR holds the rounding mode, flush-to-zero and the trap enables, which
 * the ABI makes callee-saved: a task that sets a rounding mode keeps it to
 * itself, as MXCSR and the x87 control word are kept on x86-64. FPSR (the
 * cumulative exception flags) is caller-saved status and is not switched,
 * as x86-64 does not switch MXCSR's flag bits apart from the rest. Writing
 * FPCR can be as slow as a pipeline flush on some cores, so the
 * scheduler's two switches split the work as on x86-64:
 *   - spool__ctx_switch saves FPCR and loads the target's when it differs
 *     from the one just saved (symmetric; tests use it);
 *   - spool__ctx_switch_out (task -> its worker) saves the task's FPCR and
 *     does not load the worker's: the worker's loop runs integer code only;
 *   - spool__ctx_switch_in (worker -> task) reads nothing: the worker
 *     passes the FPCR in force (fp_now, as the last switch_out saved it)
 *     and the task's is loaded only if it differs.
 * A worker restores its thread's own FPCR when it stops (runtime.c).
 *
 * spool__ctx_init (context.c) builds the frame on a fresh stack with x30
 * pointing at spool__ctx_entry, x29 = 0 (ends frame-pointer walks),
 * x19 = argument and x20 = entry function.
 *
 * Pointer authentication and BTI: these functions neither sign nor check
 * x30. The x30 they save is the raw return address `bl` left (a caller
 * built with -mbranch-protection signs its own x30 in its own prologue and
 * checks it in its own epilogue, on its own stack, which the switch
 * preserves), and `ret` needs no landing pad. Where the compiler builds
 * with BTI (__ARM_FEATURE_BTI_DEFAULT), each entry point starts with
 * `bti c` and the object is marked BTI- and PAC-compatible, so linking it
 * does not switch BTI off for the whole program.
 */
#if defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define LANDING_PAD hint 34 /* bti c */
#else
#define LANDING_PAD
#endif

/* Unwind notes for the frame below: where each saved register lies,
 * relative to the CFA (sp + 176 once the frame is there). */
.macro FRAME_CFI
        .cfi_rel_offset x19, 16
        .cfi_rel_offset x20, 24
        .cfi_rel_offset x21, 32
        .cfi_rel_offset x22, 40
        .cfi_rel_offset x23, 48
        .cfi_rel_offset x24, 56
        .cfi_rel_offset x25, 64
        .cfi_rel_offset x26, 72
        .cfi_rel_offset x27, 80
        .cfi_rel_offset x28, 88
        .cfi_rel_offset x29, 96
        .cfi_rel_offset x30, 104
        .cfi_rel_offset d8, 112
        .cfi_rel_offset d9, 120
        .cfi_rel_offset d10, 128
        .cfi_rel_offset d11, 136
        .cfi_rel_offset d12, 144
        .cfi_rel_offset d13, 152
        .cfi_rel_offset d14, 160
        .cfi_rel_offset d15, 168
.endm

/* Stores the callee-saved registers in a new frame. The notes come after
 * all the stores and are exact at every instruction: until a register's
 * store, its value is still in the register itself (the default rule);
 * after the stack swap they describe the other context's identical
 * frame, so a debugger or profiler can walk through a switch. */
.macro PUSH_FRAME
        sub     sp, sp, #176
        .cfi_adjust_cfa_offset 176
        stp     x29, x30, [sp, #96]
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        stp     d8, d9, [sp, #112]
        stp     d10, d11, [sp, #128]
        stp     d12, d13, [sp, #144]
        stp     d14, d15, [sp, #160]
        FRAME_CFI
.endm

/* Restores the frame PUSH_FRAME wrote and returns into the loaded context. */
.macro POP_FRAME_RET
        ldp     d14, d15, [sp, #160]
        .cfi_restore d14
        .cfi_restore d15
        ldp     d12, d13, [sp, #144]
        .cfi_restore d12
        .cfi_restore d13
        ldp     d10, d11, [sp, #128]
        .cfi_restore d10
        .cfi_restore d11
        ldp     d8, d9, [sp, #112]
        .cfi_restore d8
        .cfi_restore d9
        ldp     x27, x28, [sp, #80]
        .cfi_restore x27
        .cfi_restore x28
        ldp     x25, x26, [sp, #64]
        .cfi_restore x25
        .cfi_restore x26
        ldp     x23, x24, [sp, #48]
        .cfi_restore x23
        .cfi_restore x24
        ldp     x21, x22, [sp, #32]
        .cfi_restore x21
        .cfi_restore x22
        ldp     x19, x20, [sp, #16]
        .cfi_restore x19
        .cfi_restore x20
        ldp     x29, x30, [sp, #96]
        .cfi_restore x29
        .cfi_restore x30
        add     sp, sp, #176
        .cfi_adjust_cfa_offset -176
        ret
.endm

/* Label 2: restores the frame and returns; label 1 (branched to with the
 * whole frame in place): loads the FPCR saved in the frame, then does 2.
 * The notes after the return describe the frame again for the code at 1. */
.macro RETURN_LOADING_FPCR_AT_1
2:      POP_FRAME_RET
        .cfi_adjust_cfa_offset 176
        FRAME_CFI
1:      ldr     x10, [sp]
        msr     fpcr, x10
        b       2b
.endm

.macro FUNCTION name
        .globl  \name
        .hidden \name
        .type   \name, %function
        .p2align 4
\name:
.endm

        .text
/* x0 = from, x1 = to. x9-x11 are scratch (caller-saved). */
FUNCTION spool__ctx_switch
        .cfi_startproc
        LANDING_PAD
        PUSH_FRAME
        mrs     x9, fpcr
        str     x9, [sp]
        mov     x10, sp
        str     x10, [x0]
        ldr     x10, [x1]
        mov     sp, x10
        ldr     x11, [sp]
        cmp     x11, x9
        b.ne    1f
        RETURN_LOADING_FPCR_AT_1
        .cfi_endproc
        .size   spool__ctx_switch, .-spool__ctx_switch

/* x0 = task, x1 = sched. */
FUNCTION spool__ctx_switch_out
        .cfi_startproc
        LANDING_PAD
        PUSH_FRAME
        mrs     x9, fpcr
        str     x9, [sp]
        mov     x10, sp
        str     x10, [x0]
        ldr     x10, [x1]
        mov     sp, x10
        POP_FRAME_RET
        .cfi_endproc
        .size   spool__ctx_switch_out, .-spool__ctx_switch_out

/* x0 = sched, x1 = task, x2 = the FPCR in force. The worker's own frame
 * gets no FPCR: nothing loads it (switch_out does not). */
FUNCTION spool__ctx_switch_in
        .cfi_startproc
        LANDING_PAD
        PUSH_FRAME
        mov     x10, sp
        str     x10, [x0]
        ldr     x10, [x1]
        mov     sp, x10
        ldr     x11, [sp]
        cmp     x11, x2
        b.ne    1f
        RETURN_LOADING_FPCR_AT_1
        .cfi_endproc
        .size   spool__ctx_switch_in, .-spool__ctx_switch_in

/* First code a new task runs (reached by the first switch's `ret`):
 * entry(arg), which must never return. sp is the stack's 16-byte aligned
 * top here. x30 is marked undefined so that unwinders stop at this frame. */
FUNCTION spool__ctx_entry
        .cfi_startproc
        .cfi_undefined x30
        LANDING_PAD
        mov     x0, x19
        blr     x20
        brk     #0
        .cfi_endproc
        .size   spool__ctx_entry, .-spool__ctx_entry

#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
/* GNU property note: this object is BTI-compatible (bit 0: only where its
 * entry points carry `bti c`) and keeps return-address signing intact
 * (bit 1, PAC); see the AArch64 ELF ABI. */
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define FEATURE_BTI 1
#else
#define FEATURE_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define FEATURE_PAC 2
#else
#define FEATURE_PAC 0
#endif
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .word   4                   /* name size ("GNU\0") */
        .word   16                  /* descriptor size */
        .word   5                   /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .word   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .word   4                   /* property data size */
        .word   FEATURE_BTI | FEATURE_PAC
        .word   0                   /* padding to 8 bytes */
        .popsection
#endif
#endif /* __aarch64__ */
        .section .note.GNU-stack,"",%progbits

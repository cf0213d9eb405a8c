/*
 * switch_x86_64.S — the x86-64 (System V) context switches and task entry.
 *
 *   void spool__ctx_switch(spool__ctx *from, spool__ctx *to);
 *   void spool__ctx_switch_out(spool__ctx *task, spool__ctx *sched);
 *   void spool__ctx_switch_in(spool__ctx *sched, spool__ctx *task, uint64_t fp_now);
 *
 * Each saves the callee-saved registers (rbx, rbp, r12-r15) on the current
 * stack, stores rsp in from->sp, loads to->sp and pops the same frame from
 * there. Caller-saved registers need no saving: to the compiler these are
 * ordinary calls. The frame, from the saved sp upwards:
 *
 *   +0  MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   +8  r15   +16 r14   +24 r13   +32 r12   +40 rbx   +48 rbp
 *   +56 return address
 *
 * The control words (the ABI makes them callee-saved, so a task that sets a
 * rounding mode keeps it to itself) cost ~15 cycles to read and as much to
 * load, so the scheduler's two switches split the work:
 *   - spool__ctx_switch saves both sides' words and loads the target's
 *     when they differ from the ones just saved (symmetric; tests use it);
 *   - spool__ctx_switch_out (task -> its worker) saves the task's words
 *     and does not load the worker's: the worker's loop runs integer code
 *     only, under whatever words the last task had;
 *   - spool__ctx_switch_in (worker -> task) reads nothing: the worker
 *     passes the words in force (fp_now, MXCSR | CW << 32, as the last
 *     switch_out saved them) and the task's are loaded only if they differ.
 * A worker restores its thread's own words when it stops (runtime.c).
 *
 * spool__ctx_init (context.c) builds the frame on a fresh stack with the
 * return address pointing at spool__ctx_entry, r12 = argument and r13 =
 * entry function. switch_aarch64.S defines the same symbols for aarch64;
 * each file assembles to nothing on the other architecture (context.c
 * stops the build on one that has neither).
 */
#if defined(__x86_64__)

/* Pushes the callee-saved registers and the control-word slot, with unwind
 * notes that describe the frame as it is pushed; after the stack swap they
 * describe the other context's identical frame, so a debugger or profiler
 * can walk through a switch. */
.macro PUSH_FRAME
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r15, 0
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
.endm

/* Pops the frame PUSH_FRAME pushed and returns into the loaded context. */
.macro POP_FRAME_RET
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore rbp
        ret
.endm

/* Label 2: pops the frame and returns; label 1 (jumped to with the whole
 * frame pushed): loads the control words saved in the frame, then does 2. */
.macro RETURN_LOADING_CW_AT_1
2:      POP_FRAME_RET
        .cfi_adjust_cfa_offset 56
        .cfi_rel_offset rbp, 48
        .cfi_rel_offset rbx, 40
        .cfi_rel_offset r12, 32
        .cfi_rel_offset r13, 24
        .cfi_rel_offset r14, 16
        .cfi_rel_offset r15, 8
1:      ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     2b
.endm

.macro FUNCTION name
        .globl  \name
        .hidden \name
        .type   \name, @function
        .p2align 4
\name:
.endm

        .text
FUNCTION spool__ctx_switch
        .cfi_startproc
        PUSH_FRAME
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, %rax
        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        movl    (%rsp), %ecx
        cmpl    (%rax), %ecx
        jne     1f
        movzwl  4(%rsp), %ecx
        cmpw    4(%rax), %cx
        jne     1f
        RETURN_LOADING_CW_AT_1
        .cfi_endproc
        .size   spool__ctx_switch, .-spool__ctx_switch

FUNCTION spool__ctx_switch_out
        .cfi_startproc
        PUSH_FRAME
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        POP_FRAME_RET
        .cfi_endproc
        .size   spool__ctx_switch_out, .-spool__ctx_switch_out

FUNCTION spool__ctx_switch_in
        .cfi_startproc
        PUSH_FRAME
        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        cmpl    (%rsp), %edx
        jne     1f
        shrq    $32, %rdx
        cmpw    4(%rsp), %dx
        jne     1f
        RETURN_LOADING_CW_AT_1
        .cfi_endproc
        .size   spool__ctx_switch_in, .-spool__ctx_switch_in

/* First code a new task runs: entry(arg), which must never return. rsp is
 * 16-byte aligned here, so the call leaves the ABI's alignment for entry. */
FUNCTION spool__ctx_entry
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi
        callq   *%r13
        ud2
        .cfi_endproc
        .size   spool__ctx_entry, .-spool__ctx_entry
#endif /* __x86_64__ */
        .section .note.GNU-stack,"",%progbits

/*
 * switch_x86_64.S — the x86-64 (System V) context switch and task entry.
 *
 *   void spool__ctx_switch(spool__ctx *from, spool__ctx *to);
 *
 * Saves the callee-saved registers (rbx, rbp, r12-r15), MXCSR and the x87
 * control word on the current stack, stores rsp in from->sp, loads
 * to->sp and pops the same frame from there (the control words are loaded
 * only when they differ from the current ones). Caller-saved registers need no
 * saving: to the compiler this is an ordinary call. The frame, from the
 * saved sp upwards:
 *
 *   +0  MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   +8  r15   +16 r14   +24 r13   +32 r12   +40 rbx   +48 rbp
 *   +56 return address
 *
 * spool__ctx_init (context.c) builds the same frame on a fresh stack with
 * the return address pointing at spool__ctx_entry, r12 = argument and
 * r13 = entry function. aarch64 would get its own switch_aarch64.S with the
 * same two symbols.
 */
#if defined(__x86_64__)
        .text
        .globl  spool__ctx_switch
        .hidden spool__ctx_switch
        .type   spool__ctx_switch, @function
        .p2align 4
spool__ctx_switch:
        .cfi_startproc
        /* The unwind notes describe the frame as it is pushed; after the
         * stack swap they describe the other context's identical frame,
         * so a debugger or profiler can walk through a switch. */
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
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, %rax
        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        /* Load the control words only if they differ from the ones just
         * saved (almost never): ldmxcsr and fldcw cost ~15 cycles together,
         * a quarter of a semaphore hand-off. */
        movl    (%rsp), %ecx
        cmpl    (%rax), %ecx
        jne     1f
        movzwl  4(%rsp), %ecx
        cmpw    4(%rax), %cx
        jne     1f
2:      addq    $8, %rsp
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
        /* Out of line, entered with the full frame still pushed. */
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
        .cfi_endproc
        .size   spool__ctx_switch, .-spool__ctx_switch

/* First code a new task runs: entry(arg), which must never return. rsp is
 * 16-byte aligned here, so the call leaves the ABI's alignment for entry. */
        .globl  spool__ctx_entry
        .hidden spool__ctx_entry
        .type   spool__ctx_entry, @function
        .p2align 4
spool__ctx_entry:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi
        callq   *%r13
        ud2
        .cfi_endproc
        .size   spool__ctx_entry, .-spool__ctx_entry
#else
#error "spool: no context switch for this architecture yet (see switch_x86_64.S)"
#endif
        .section .note.GNU-stack,"",@progbits

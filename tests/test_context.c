/*
 * test_context.c — white-box tests of the context switch
 * (runtime/context.h, runtime/arch/switch_<arch>.S): values pass back and
 * forth, callee-saved registers and the floating-point control state belong
 * to each context, and a new context starts on an ABI-aligned stack.
 *
 * The contexts here are the test's own (no runtime): the main thread's
 * stack and coroutines on mmap'd stacks. Switches carry the same sanitizer
 * annotations as the runtime's, so the suite runs under ASan and TSan too.
 */
#include "context.h"

#include <check.h>
#include <fenv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "check_util.h"

/* ---- a tiny coroutine harness ------------------------------------------ */

typedef struct coro {
    spool__ctx ctx;
    char *stack;      /* lowest byte (the main thread's: from pthread_getattr_np) */
    size_t size;
    void *asan_fake;  /* ASan's fake-stack handle while switched out */
    void *tsan_fiber; /* TSan's fiber for this context */
    int mapped;       /* stack is ours to munmap */
} coro;

#define CORO_STACK ((size_t)256 * 1024)

/* Describes the calling thread's own context (the main thread's stack). */
static void coro_self(coro *c)
{
    memset(c, 0, sizeof *c);
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    ck_assert_int_eq(pthread_getattr_np(pthread_self(), &attr), 0);
    pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    c->stack = lo;
    c->size = size;
    c->tsan_fiber = spool__tsan_current();
}

/* A new context that will run entry(arg) on its own mmap'd stack, with a
 * PROT_NONE page below it. */
static void coro_new(coro *c, void (*entry)(void *), void *arg)
{
    memset(c, 0, sizeof *c);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, CORO_STACK + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    ck_assert_int_eq(mprotect(map, pg, PROT_NONE), 0);
    c->stack = map + pg;
    c->size = CORO_STACK;
    c->mapped = 1;
    c->tsan_fiber = spool__tsan_create();
    spool__ctx_init(&c->ctx, c->stack + c->size, entry, arg);
}

static void coro_free(coro *c)
{
    if (c->mapped) {
        spool__tsan_destroy(c->tsan_fiber);
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        munmap(c->stack - pg, c->size + pg);
    }
}

/* Switches from `from` (the running context) to `to`. */
static void coro_switch(coro *from, coro *to)
{
    spool__tsan_switch(to->tsan_fiber);
    spool__asan_start(&from->asan_fake, to->stack, to->size);
    spool__ctx_switch(&from->ctx, &to->ctx);
    spool__asan_finish(from->asan_fake);
}

/* First thing a coroutine's entry does: finish the switch that got here. */
static void coro_arrived(void)
{
    spool__asan_finish(NULL);
}

static coro main_co, co_a, co_b;

/* ---- values pass both ways ---------------------------------------------- */

#define PING_ROUNDS 100000

static volatile long ping_token, ping_reply;
static void *volatile entry_arg_seen;

static void ping_entry(void *arg)
{
    coro_arrived();
    entry_arg_seen = arg;
    for (;;) {
        ping_reply = ping_token * 2 + 1;
        coro_switch(&co_a, &main_co);
    }
}

START_TEST(switch_passes_values_back_and_forth_many_times)
{
    static int marker;
    coro_self(&main_co);
    coro_new(&co_a, ping_entry, &marker);
    for (long i = 0; i < PING_ROUNDS; i++) {
        ping_token = i;
        ping_reply = -1;
        coro_switch(&main_co, &co_a);
        ck_assert_int_eq(ping_reply, i * 2 + 1);
    }
    ck_assert_ptr_eq(entry_arg_seen, &marker);
    coro_free(&co_a);
}
END_TEST

/* Two coroutines hand control to each other directly, main only starts
 * and ends the chain. */
static volatile int chain[64];
static volatile int chain_len;

static void chain_a(void *arg)
{
    coro_arrived();
    for (int i = 0; i < 10; i++) {
        chain[chain_len++] = 'a';
        coro_switch(&co_a, &co_b);
    }
    coro_switch(&co_a, &main_co);
    abort(); /* never resumed again */
}

static void chain_b(void *arg)
{
    coro_arrived();
    for (;;) {
        chain[chain_len++] = 'b';
        coro_switch(&co_b, &co_a);
    }
}

START_TEST(coroutines_switch_directly_to_each_other)
{
    coro_self(&main_co);
    coro_new(&co_a, chain_a, NULL);
    coro_new(&co_b, chain_b, NULL);
    coro_switch(&main_co, &co_a);
    ck_assert_int_eq(chain_len, 20);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(chain[i], i % 2 ? 'b' : 'a');
    coro_free(&co_a);
    coro_free(&co_b);
}
END_TEST

/* ---- callee-saved registers --------------------------------------------- */

/* Writes garbage into every callee-saved register the compiler lets us
 * name, so that a switch that failed to restore them hands it back. */
static inline void clobber_callee_saved(void)
{
#if defined(__x86_64__)
    __asm__ volatile("movq $0x0BADBADBAD1, %%rbx\n\t"
                     "movq $0x0BADBADBAD2, %%r12\n\t"
                     "movq $0x0BADBADBAD3, %%r13\n\t"
                     "movq $0x0BADBADBAD4, %%r14\n\t"
                     "movq $0x0BADBADBAD5, %%r15\n\t" ::
                         : "rbx", "r12", "r13", "r14", "r15", "memory");
#elif defined(__aarch64__)
    /* x19-x28 and d8-d15 (x29 is the frame pointer, which GCC will not
     * let an asm clobber). */
    __asm__ volatile("mov x19, #0xBAD1\n\tmov x20, #0xBAD2\n\tmov x21, #0xBAD3\n\t"
                     "mov x22, #0xBAD4\n\tmov x23, #0xBAD5\n\tmov x24, #0xBAD6\n\t"
                     "mov x25, #0xBAD7\n\tmov x26, #0xBAD8\n\tmov x27, #0xBAD9\n\t"
                     "mov x28, #0xBADA\n\t"
                     "fmov d8, x19\n\tfmov d9, x20\n\tfmov d10, x21\n\tfmov d11, x22\n\t"
                     "fmov d12, x23\n\tfmov d13, x24\n\tfmov d14, x25\n\tfmov d15, x26\n\t" ::
                         : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
                           "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "memory");
#endif
}

static volatile long seed_main = 3, seed_co = 5;
static volatile int regs_rounds;

/* Many live values across a switch: more than the caller-saved registers
 * hold, so some sit in callee-saved ones. */
__attribute__((noinline)) static long many_locals_across_switch(long seed, coro *self, coro *other)
{
    long a = seed * 1, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13;
    long g = seed * 17, h = seed * 19, i = seed * 23, j = seed * 29, k = seed * 31, l = seed * 37;
    coro_switch(self, other);
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j + 11 * k + 12 * l;
}

/* The same with floating-point values: on aarch64, d8-d15 are callee-saved
 * and hold some of them across the switch. */
__attribute__((noinline)) static double many_doubles_across_switch(double seed, coro *self, coro *other)
{
    double a = seed * 1.5, b = seed * 2.5, c = seed * 3.5, d = seed * 4.5, e = seed * 5.5, f = seed * 6.5;
    double g = seed * 7.5, h = seed * 8.5, i = seed * 9.5, j = seed * 10.5;
    coro_switch(self, other);
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j;
}

static double expected_double_mix(double seed)
{
    double sum = 0;
    for (int i = 0; i < 10; i++)
        sum += (i + 1) * (seed * (i + 1.5));
    return sum;
}

static long expected_mix(long seed)
{
    static const long m[] = {1, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    long sum = 0;
    for (int i = 0; i < 12; i++)
        sum += (i + 1) * seed * m[i];
    return sum;
}

static volatile long co_mix;
static volatile double co_double_mix;

static void regs_entry(void *arg)
{
    coro_arrived();
    for (;;) {
        clobber_callee_saved();
        co_mix = many_locals_across_switch(seed_co, &co_a, &main_co);
        clobber_callee_saved();
        co_double_mix = many_doubles_across_switch((double)seed_co, &co_a, &main_co);
        regs_rounds++;
    }
}

START_TEST(callee_saved_registers_survive_a_switch)
{
    coro_self(&main_co);
    coro_new(&co_a, regs_entry, NULL);
    coro_switch(&main_co, &co_a); /* co parks inside many_locals_across_switch */
    for (int r = 0; r < 1000; r++) {
        clobber_callee_saved();
        long got = many_locals_across_switch(seed_main, &main_co, &co_a);
        ck_assert_int_eq(got, expected_mix(seed_main));
        clobber_callee_saved();
        double got_double = many_doubles_across_switch((double)seed_main, &main_co, &co_a);
        ck_assert(got_double == expected_double_mix((double)seed_main));
        /* The coroutine returned from its own calls, clobbered everything
         * and parked again: its locals came back intact too. */
        ck_assert_int_eq(co_mix, expected_mix(seed_co));
        ck_assert(co_double_mix == expected_double_mix((double)seed_co));
        ck_assert_int_eq(regs_rounds, r + 1);
    }
    coro_free(&co_a);
}
END_TEST

/* ---- floating-point control state --------------------------------------- */

/* The rounding-mode bits of the vector unit's control register, read from
 * the register itself (not through fegetround): x86-64's MXCSR.RC (13-14),
 * aarch64's FPCR.RMode (22-23). Their values for down and up: */
#if defined(__x86_64__)
#define HW_ROUND_DOWN 0x2000u
#define HW_ROUND_UP 0x4000u
static unsigned hw_rounding(void)
{
    return _mm_getcsr() & 0x6000u;
}

/* x86-64 also has the x87 unit, whose control word the switch keeps too. */
static unsigned x87_control_word(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}
#elif defined(__aarch64__)
#define HW_ROUND_DOWN (2u << 22)
#define HW_ROUND_UP (1u << 22)
static unsigned hw_rounding(void)
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (unsigned)fpcr & (3u << 22);
}
#endif

static volatile double fp_one = 1.0, fp_three = 3.0;

/* 1/3 rounded by the current rounding mode (SSE or aarch64's FP unit). */
static double sse_third(void)
{
    return fp_one / fp_three;
}

static volatile int fp_co_start_round, fp_co_start_hw;
static volatile unsigned fp_co_start_cw;
static volatile int fp_co_round_after_resume;
static volatile unsigned fp_co_hw_after_resume;
static volatile double fp_co_up, fp_co_down;

static void fp_entry(void *arg)
{
    coro_arrived();
    /* A new context starts with the ABI's defaults, whatever main set. */
    fp_co_start_round = fegetround();
    fp_co_start_hw = (int)hw_rounding();
#if defined(__x86_64__)
    fp_co_start_cw = x87_control_word();
#endif
    fesetround(FE_UPWARD);
    fp_co_up = sse_third();
    coro_switch(&co_a, &main_co);
    /* Main switched in with FE_DOWNWARD; ours is still FE_UPWARD. */
    fp_co_round_after_resume = fegetround();
    fp_co_hw_after_resume = hw_rounding();
    fp_co_down = sse_third(); /* computed with our own mode: must round up */
    coro_switch(&co_a, &main_co);
    abort();
}

START_TEST(rounding_mode_set_in_one_context_does_not_leak_into_the_other)
{
    coro_self(&main_co);
    coro_new(&co_a, fp_entry, NULL);
    fesetround(FE_DOWNWARD);
    double down = sse_third();
    coro_switch(&main_co, &co_a);

    ck_assert_int_eq(fp_co_start_round, FE_TONEAREST);
    ck_assert_int_eq(fp_co_start_hw, 0);
#if defined(__x86_64__)
    ck_assert_uint_eq(fp_co_start_cw & 0x0C00u, 0); /* x87 RC: nearest */
#endif
    /* Back in main: the coroutine's FE_UPWARD stayed there. */
    ck_assert_int_eq(fegetround(), FE_DOWNWARD);
    ck_assert_uint_eq(hw_rounding(), HW_ROUND_DOWN);
#if defined(__x86_64__)
    ck_assert_uint_eq(x87_control_word() & 0x0C00u, 0x0400u); /* x87 RC: down */
#endif
    ck_assert(sse_third() == down);
    ck_assert(fp_co_up > down);

    coro_switch(&main_co, &co_a);
    ck_assert_int_eq(fp_co_round_after_resume, FE_UPWARD);
    ck_assert_uint_eq(fp_co_hw_after_resume, HW_ROUND_UP);
    ck_assert(fp_co_down == fp_co_up);
    ck_assert_int_eq(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    coro_free(&co_a);
}
END_TEST

/* ---- stack alignment ----------------------------------------------------- */

static volatile uintptr_t align_entry_frame, align_callee_frame;
static volatile uintptr_t align_local_addr;
static volatile float align_sse_sum;
static char align_printed[64];

/* x86-64: the caller's rsp before the call is frame address + 16, and the
 * ABI wants it 16-aligned, so the frame address (rbp after push) is too.
 * aarch64: sp is 16-aligned at every instruction, and the frame record
 * (x29) sits at sp or above in 16-byte steps. */
__attribute__((noinline)) static void record_callee_frame(void)
{
    align_callee_frame = (uintptr_t)__builtin_frame_address(0);
}

/* x86-64: movaps on 16-byte stack slots, which faults (#GP -> SIGSEGV) if
 * rsp is off. aarch64: 16-byte vector loads and stores on the stack (an
 * access through a misaligned sp faults there whatever the instruction). */
__attribute__((noinline)) static float sse_on_stack(float x)
{
    _Alignas(16) float v[4] = {x, x + 1, x + 2, x + 3};
    _Alignas(16) float out[4];
#if defined(__x86_64__)
    volatile __m128 a = _mm_load_ps(v);
    volatile __m128 b = _mm_add_ps(a, a);
    _mm_store_ps(out, b);
#else
    typedef float v4f __attribute__((vector_size(16)));
    volatile v4f a = *(v4f *)v;
    volatile v4f b = a + a;
    *(v4f *)out = b;
#endif
    align_local_addr = (uintptr_t)v;
    return out[0] + out[1] + out[2] + out[3];
}

static void align_entry(void *arg)
{
    coro_arrived();
    align_entry_frame = (uintptr_t)__builtin_frame_address(0);
    record_callee_frame();
    align_sse_sum = sse_on_stack(1.0f);
    /* Variadic calls with floating-point arguments save vector registers
     * to the stack in glibc's prologue: the classic misalignment crash. */
    snprintf(align_printed, sizeof align_printed, "%.2f %.1f", 0.25, (double)align_sse_sum);
    coro_switch(&co_a, &main_co);
    abort();
}

START_TEST(a_new_context_runs_on_an_abi_aligned_stack)
{
    coro_self(&main_co);
    coro_new(&co_a, align_entry, NULL);
    coro_switch(&main_co, &co_a);
    ck_assert_uint_eq(align_entry_frame % 16, 0);
    ck_assert_uint_eq(align_callee_frame % 16, 0);
    ck_assert_uint_eq(align_local_addr % 16, 0);
    ck_assert(align_sse_sum == 2.0f * (1 + 2 + 3 + 4));
    ck_assert_str_eq(align_printed, "0.25 20.0");
    /* Everything ran on the coroutine's stack. */
    ck_assert(align_entry_frame > (uintptr_t)co_a.stack &&
              align_entry_frame <= (uintptr_t)co_a.stack + co_a.size);
    coro_free(&co_a);
}
END_TEST

/* spool__ctx_init aligns a top that is not 16-aligned itself. */
START_TEST(a_context_on_an_unaligned_stack_top_is_still_aligned)
{
    coro_self(&main_co);
    coro_new(&co_a, align_entry, NULL);
    spool__ctx_init(&co_a.ctx, co_a.stack + co_a.size - 24 - 5, align_entry, NULL);
    coro_switch(&main_co, &co_a);
    ck_assert_uint_eq(align_entry_frame % 16, 0);
    ck_assert_uint_eq(align_callee_frame % 16, 0);
    ck_assert(align_entry_frame < (uintptr_t)co_a.stack + co_a.size - 24 - 5);
    ck_assert_str_eq(align_printed, "0.25 20.0");
    coro_free(&co_a);
}
END_TEST

/* ---- unwinding ------------------------------------------------------------- */

void spool__ctx_entry(void); /* arch/switch_<arch>.S */

#define BT_MAX 64
static uintptr_t bt_frames[BT_MAX];
static volatile int bt_depth;

static _Unwind_Reason_Code bt_frame(struct _Unwind_Context *ctx, void *arg)
{
    (void)arg;
    uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
    if (ip == 0)
        return _URC_NORMAL_STOP; /* past the end: libgcc reports it with IP 0 */
    if (bt_depth == BT_MAX)
        return _URC_NORMAL_STOP; /* ran away */
    bt_frames[bt_depth++] = ip;
    return _URC_NO_REASON;
}

/* The unwinder itself, not backtrace(3), which stops where an address
 * repeats and so would hide a trampoline that unwinds to itself. */
__attribute__((noinline)) static void take_backtrace(void)
{
    bt_depth = 0;
    _Unwind_Backtrace(bt_frame, NULL);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void bt_entry(void *arg)
{
    coro_arrived();
    take_backtrace();
    coro_switch(&co_a, &main_co);
    abort();
}

/* The unwind tables (what debuggers, profilers and backtrace(3) read)
 * walk a task's stack up to the entry trampoline and stop there, instead
 * of running off into the frame's zeroed words. */
START_TEST(a_backtrace_inside_a_context_ends_at_its_entry)
{
    coro_self(&main_co);
    coro_new(&co_a, bt_entry, NULL);
    coro_switch(&main_co, &co_a);
    int n = bt_depth;
    ck_assert_int_ge(n, 3); /* take_backtrace, bt_entry, spool__ctx_entry */
    ck_assert_int_lt(n, BT_MAX);
    uintptr_t last = bt_frames[n - 1];
    uintptr_t entry = (uintptr_t)&spool__ctx_entry;
    ck_assert_msg(last > entry && last <= entry + 16, "the walk ended at %p, not in spool__ctx_entry (%p)",
                  (void *)last, (void *)entry);
    coro_free(&co_a);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *context_suite(void)
{
    Suite *s = suite_create("context");
    ADD_TEST(s, switch_passes_values_back_and_forth_many_times);
    ADD_TEST(s, coroutines_switch_directly_to_each_other);
    ADD_TEST(s, callee_saved_registers_survive_a_switch);
    ADD_TEST(s, rounding_mode_set_in_one_context_does_not_leak_into_the_other);
    ADD_TEST(s, a_new_context_runs_on_an_abi_aligned_stack);
    ADD_TEST(s, a_context_on_an_unaligned_stack_top_is_still_aligned);
    ADD_TEST(s, a_backtrace_inside_a_context_ends_at_its_entry);
    return s;
}

int main(void)
{
    return check_main(context_suite, 120);
}

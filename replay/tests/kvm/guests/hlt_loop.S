/* The easy case, as a baseline and for the tests that alter a log: the guest sleeps in HLT
 * between ticks, so (with a max_delay longer than the handler) every tick lands at a
 * synchronous landmark, mostly right after a HLT exit, where a missing or misplaced tick
 * leaves the replay halted with nothing to wake it. */
    .include "rr.inc"
    .text
    .global _start
_start:
    rr_set_trap_gate TIMER_VECTOR, rr_on_timer
    rr_start_timer
    xor %ebx, %ebx
1:  inc %rbx
    sti
    hlt
    jmp 1b

    rr_common

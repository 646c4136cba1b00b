/* The easy case, as a baseline and for the tests that alter a log: the guest sleeps in HLT
 * between ticks, so (with a max_delay longer than the handler) every tick lands at a
 * synchronous landmark, mostly right after a HLT exit, where a missing or misplaced tick
 * leaves the replay halted with nothing to wake it. */
    .include "rr.inc"
    rr_guest_start
    xor %ebx, %ebx
1:  inc %rbx
    sti
    hlt
    jmp 1b

    rr_common

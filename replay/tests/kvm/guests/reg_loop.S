/* Hard pattern 1: a register-only loop. No memory access and no exit, so every timer tick
 * lands at an asynchronous point; RIP takes the same two values over and over and only RAX
 * (and the flags) tell the iterations apart. */
    .include "rr.inc"
    rr_guest_start
    xor %eax, %eax
    sti
1:  inc %rax
    jmp 1b

    rr_common

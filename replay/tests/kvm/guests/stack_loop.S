/* Hard pattern 4: a loop that rewrites its own stack. Its counter lives alternately in RCX
 * and on the stack (push, increment in memory, pop), and a call/ret pair rewrites the return
 * address slot each iteration, so RSP and the top of the stack change under the landmarks. */
    .include "rr.inc"
    rr_guest_start
    xor %ecx, %ecx
    sti
1:  push %rcx
    incq (%rsp)
    pop %rcx
    call 2f
    jmp 1b
2:  ret

    rr_common

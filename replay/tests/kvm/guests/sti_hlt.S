/* Hard pattern 3a: the STI shadow. The loop sleeps in `sti; hlt` (an interrupt made pending
 * while IF=0 must wake the HLT, not land before it), then spins with IF=0 for about 2 ms at
 * this host's measured speed (longer than the timer period and than a 1 ms max_delay), so
 * ticks arrive both in a halt
 * (synchronous landmarks) and in the spin, where they are applied at asynchronous landmarks
 * and stay pending until the next `sti; hlt`: the HLT exit delivers them (record/replay do not
 * use the interrupt-window exit). */
    .include "rr.inc"
    rr_guest_start
    rr_instructions_per_100us %r12d
    imul $7, %r12d             /* iterations of the 3-instruction spin in 2.1 ms */
    xor %ebx, %ebx
    xor %edx, %edx
1:  inc %rbx
    sti
    hlt
    cli
    mov %r12d, %ecx
2:  inc %rdx
    dec %ecx
    jnz 2b
    jmp 1b

    rr_common

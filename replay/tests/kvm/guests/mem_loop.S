/* Hard pattern 2: a loop whose only changing state is in memory. Every GPR and RFLAGS are
 * the same at every iteration, so the fingerprint of a landmark in the loop matches at every
 * execution of its RIP: a breakpoint search cannot tell the iterations apart (it must then be
 * caught by a digest), a checkpoint can. */
    .include "rr.inc"
    rr_guest_start
    xor %eax, %eax
    sti
1:  incq rr_counter(%rip)
    jmp 1b

    rr_common

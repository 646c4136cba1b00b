/* A stop point that is cheap to find again: the inner loop's body is 48 instructions of
 * straight-line code, so any one instruction of it runs once per inner iteration, and every
 * pass of the outer loop makes an exit (a read of the PIC's mask). A tick that lands in the
 * body right after that exit lies one or two executions of its RIP away from the exit, which
 * is where --async auto's probe should choose a breakpoint landmark; later in the pass, a
 * checkpoint. RBX, which the timer handler mixes into the verdict, counts every instruction. */
    .include "rr.inc"
    rr_guest_start
    xor %ebx, %ebx
    sti
1:  in $0x21, %al
    mov $8, %r10d
2:  .rept 48
    add $1, %rbx
    .endr
    dec %r10
    jnz 2b
    jmp 1b

    rr_common

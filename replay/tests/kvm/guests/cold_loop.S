/* A stop point that is cheap to find again: the inner loop's body is 48 instructions of
 * straight-line code, so any one instruction of it runs once per inner iteration, and every
 * pass of the outer loop makes an exit (a read of the PIC's mask). A tick that lands in the
 * body right after that exit lies one or two executions of its RIP away from the exit, which
 * is where --async auto's probe should choose a breakpoint landmark; later in the pass, a
 * checkpoint. RBX, which the timer handler mixes into the verdict, counts every instruction.
 * A pass runs 8 inner iterations, or 100 us of guest time where that is more (about 49
 * instructions each): where an exit costs far more than 8 iterations (any host faster than
 * kvm_pvm's emulated CPL0; the KVM test box), nearly every tick would otherwise find the vCPU
 * in an exit and land synchronously. */
    .include "rr.inc"
    rr_guest_start
    rr_instructions_per_100us %eax
    xor %edx, %edx
    mov $49, %ecx
    div %ecx
    mov $8, %r11d
    cmp %r11d, %eax
    cmovb %r11d, %eax
    mov %eax, %r12d
    xor %ebx, %ebx
    sti
1:  in $0x21, %al
    mov %r12d, %r10d
2:  .rept 48
    add $1, %rbx
    .endr
    dec %r10
    jnz 2b
    jmp 1b

    rr_common

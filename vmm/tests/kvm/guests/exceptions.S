/* The guest's own software interrupts, through its IDT: INT3 and INT $0x80, twice each (the
 * second time must behave as the first). Each handler reports its code plus 1 if the frame's
 * RIP is the instruction after the INT, as the hardware puts it, and returns; then report 0x55. */
    .include "tiny.inc"

    .text
    .global _start
_start:
    set_gate 3, on_breakpoint
    set_gate 0x80, on_int80
    .rept 2
    lea 1f(%rip), %r12
    int3
1:  lea 2f(%rip), %r12
    int $0x80
2:
    .endr
    report 0x55
    shutdown_ok

/* r12 holds where the interrupt must return: reports \code + (saved RIP == r12). */
    .macro report_return code
    mov (%rsp), %rax
    xor %ecx, %ecx
    cmp %r12, %rax
    sete %cl
    lea \code(%rcx), %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    .endm

on_breakpoint:
    report_return 0x300
    iretq
on_int80:
    report_return 0x8000
    iretq

    idt_storage

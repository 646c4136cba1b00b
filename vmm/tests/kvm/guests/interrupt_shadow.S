/* Interrupt shadows. A timer interrupt is made pending while IF=0; then `sti; hlt` must wake
 * from the HLT (the interrupt arrives after the shadowed HLT, not before it and not never),
 * and `mov ss` must delay delivery past the instruction after it. The handler reports 0xaa. */
    .include "tiny.inc"
    .text
    .global _start
_start:
    set_gate TIMER_VECTOR, on_timer
    start_timer
    call wait_pending
    report 1
    sti
    hlt
    report 2              /* after the handler's 0xaa */
    cli
    call wait_pending
    report 3
    mov $4, %eax
    mov $TEST_PORT, %dx
    mov %ss, %cx
    sti
    mov %cx, %ss          /* in the STI shadow, and shadows the next instruction itself */
    out %eax, %dx         /* shadowed: reports 4 before the handler's 0xaa */
    nop
    cli
    report 5
    shutdown_ok

/* Spins with IF=0, with exits, until the PIC shows IRQ0 requested (OCW3: read IRR). */
wait_pending:
    mov $0x0a, %al
    out %al, $0x20
1:  in $0x20, %al
    test $1, %al
    jz 1b
    ret

on_timer:
    push %rax
    push %rdx
    report 0xaa
    eoi
    pop %rdx
    pop %rax
    iretq

    idt_storage
